import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

/// Rollout processing on hand-made responses: truncation, scores, reward placement, masks.
final class PPORolloutTests: XCTestCase {
    let prompts: [[Int32]] = [[4, 5, 6], [7, 8, 9, 10], [11, 12, 13], [14, 15, 4, 5]]
    // Sequence 0 ends with EOS then junk; 1 never ends (cut at L = 10); 2 is EOS at once; 3 ends at its last slot.
    let responses: [[Int32]] = [[3, 3, 1, 9, 9, 9], [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], [1, 5], [2, 2, 2, 2, 2, 2, 2, 2, 2, 1]]

    func makeTrainer(mode: MissingEOSMode, pad: Int32 = 0, clip: Float? = nil) -> (PPOTrainer, FixedReward) {
        var c = PPOFixtures.ppoConfig()
        c.rolloutBatchSize = 4
        c.missingEOSPenalty = 2
        c.missingEOSMode = mode
        c.scoreClip = clip
        let reward = FixedReward([0.5, 1.5, -0.25, 3])
        return (PPOFixtures.trainer(c, reward: reward, pad: pad), reward)
    }

    func testTruncationPenaltyAndRewardPlacement() {
        for mode in [MissingEOSMode.subtract, .replace] {
            let (t, reward) = makeTrainer(mode: mode)
            let m = t.makeRollout(prompts: prompts, responses: responses)
            let r = t.rollout, L = r.L
            XCTAssertEqual(reward.seenResponses, [[3, 3, 1], Array(responses[1].prefix(10)), [1], responses[3]], "the reward sees postprocessed responses")
            XCTAssertEqual(r.endedWithEOS, [true, false, true, true])
            XCTAssertEqual(r.scores, [0.5, mode == .subtract ? -0.5 : -2, -0.25, 3])
            XCTAssertEqual(m["val/num_eos_tokens"], 3)
            XCTAssertEqual(m["response_length"], Double(3 + 10 + 1 + 10) / 4)
            XCTAssertEqual(m["objective/scores"]!, Double(r.scores.reduce(0, +)) / 4, accuracy: 1e-6)
            let lengths = [3, 10, 1, 10]
            let beta = Float(t.kl.value)
            for b in 0..<4 {
                for i in 0..<L {
                    let k = b * L + i
                    XCTAssertEqual(r.mask[k], i < lengths[b])
                    if i >= lengths[b] {
                        XCTAssertEqual(r.rewards[k], 0); XCTAssertEqual(r.advantages[k], 0); XCTAssertEqual(r.values[k], 0)
                        continue
                    }
                    // r_t = −β·KL_t, plus the score on the last real token.
                    let expected = -beta * r.kl[k] + (i == lengths[b] - 1 ? r.scores[b] : 0)
                    XCTAssertEqual(r.rewards[k], expected, accuracy: 1e-6, "b=\(b) t=\(i)")
                }
            }
            // The scores reach the returns through GAE: with γ = 1 the last token's return is
            // its reward (no bootstrap past the end).
            for b in 0..<4 {
                let k = b * L + lengths[b] - 1
                XCTAssertEqual(r.returns[k], r.rewards[k], accuracy: 1e-5)
            }
        }
    }

    func testScoreClip() {
        let (t, _) = makeTrainer(mode: .subtract, clip: 1)
        t.makeRollout(prompts: prompts, responses: responses)
        XCTAssertEqual(t.rollout.scores, [0.5, -0.5, -0.25, 1])
    }

    /// Tokens after EOS and the padding id never reach a loss: changing both gives identical
    /// rollouts, losses and updated weights.
    func testPaddingNeverEntersTheLosses() {
        var results: [([String: Double], [Float], [Float])] = []
        for (pad, junk) in [(Int32(0), Int32(9)), (Int32(13), Int32(2))] {
            let (t, _) = makeTrainer(mode: .subtract, pad: pad)
            var rs = responses
            rs[0] = [3, 3, 1, junk, junk, junk]
            rs[2] = [1, junk]
            var m = t.makeRollout(prompts: prompts, responses: rs)
            m.merge(t.optimize(iteration: 0, lr: 1e-3, valueLR: 1e-3)) { _, b in b }
            results.append((m, t.policy.params.array, t.value!.params.array))
        }
        XCTAssertEqual(results[0].0, results[1].0, "metrics differ when only padding changes")
        XCTAssertEqual(results[0].1, results[1].1, "policy weights differ when only padding changes")
        XCTAssertEqual(results[0].2, results[1].2, "value weights differ when only padding changes")
        XCTAssertNotEqual(results[0].1, PPOFixtures.sft.params.array)
    }

    /// With policy = reference = π_old, the first minibatch sees ratio 1 exactly: no KL, no
    /// clipping, approxkl 0, and the rollout's KL penalty is exactly 0 (k1 and k3).
    func testFirstMinibatchIsOnPolicy() {
        for est in [KLEstimator.k1, .k3] {
            var c = PPOFixtures.ppoConfig()
            c.klEstimator = est
            let t = PPOFixtures.trainer(c)
            let m = t.trainIteration()
            XCTAssertEqual(m["objective/kl"], 0)
            XCTAssertEqual(m["objective/non_score_reward"], 0)
            let first = t.minibatchStats[0]
            XCTAssertEqual(first["policy/approxkl"], 0)
            XCTAssertEqual(first["policy/clipfrac"], 0)
            XCTAssertEqual(first["val/ratio"], 1)
            XCTAssertEqual(first["val/clipfrac"], 0)
            // Later minibatches are off-policy: the update moved the policy.
            XCTAssertGreaterThan(t.minibatchStats.last!["policy/approxkl"]!, 0)
            // The next rollout is measured against the moved policy: KL ≠ 0.
            XCTAssertNotEqual(t.trainIteration()["objective/kl"], 0)
        }
    }

    /// Alignment of rows: the recomputed log π_old of response token t (read at position P+t−1,
    /// logits / temperature) matches the sampler's own log-prob of that token, and V(s_t) equals
    /// the value model's output at the last token of prompt + response[..<t] run on its own.
    func testLogProbsAndValuesSitAtTheRightPositions() {
        let t = PPOFixtures.trainer(PPOFixtures.ppoConfig())
        let batch = t.promptBatch(iteration: 0)
        var rngs = (0..<batch.count).map { t.samplingRNG(iteration: 0, index: $0) }
        let gen = t.generator.generate(prompts: batch, options: SamplingOptions(temperature: 0.9, maxNewTokens: 10, eosId: 1), rngs: &rngs)
        t.makeRollout(prompts: batch, responses: gen.map(\.tokens))
        XCTAssertEqual(t.rollout.responses, gen.map(\.tokens))
        let L = t.rollout.L
        for b in 0..<batch.count {
            for i in 0..<gen[b].tokens.count {
                XCTAssertEqual(t.rollout.logprobs[b * L + i], gen[b].logprobs[i], accuracy: 1e-4, "b=\(b) t=\(i)")
            }
        }
        let value = t.value!
        let ws = GPTWorkspace(config: value.config, maxB: 1, maxT: 24)
        for b in [0, 3] {
            for i in [0, gen[b].tokens.count - 1] {
                let context = batch[b] + gen[b].tokens.prefix(i)
                context.withUnsafeBufferPointer { value.forward(tokens: $0.baseAddress!, B: 1, T: context.count, ws: ws) }
                var out = [Float](repeating: 0, count: context.count)
                value.scalarHead(ws: ws, out: &out)
                XCTAssertEqual(t.rollout.values[b * L + i], out[context.count - 1], accuracy: 1e-4, "V(s_\(i)) of sequence \(b)")
            }
        }
    }

    /// Metric names are exactly the documented ones.
    func testMetricNames() {
        let t = PPOFixtures.trainer(PPOFixtures.ppoConfig())
        let m = t.trainIteration()
        let expected: Set<String> = [
            "objective/kl", "objective/entropy", "objective/non_score_reward", "objective/rlhf_reward", "objective/scores",
            "objective/kl_coef", "policy/approxkl", "policy/clipfrac", "policy/entropy", "loss/policy", "loss/value",
            "val/clipfrac", "val/ratio", "val/explained_variance", "val/num_eos_tokens", "response_length", "tokens_per_s", "lr",
            "time/generate_s", "time/score_s", "time/optimize_s",
        ]
        XCTAssertEqual(Set(m.keys), expected)
        for (k, v) in m { XCTAssertTrue(v.isFinite, "\(k) = \(v)") }
        XCTAssertEqual(t.minibatchStats.count, 2 * 2)   // epochs × minibatches
    }
}
