import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

final class RLOOTrainerTests: XCTestCase {
    /// The reward of a completion is its score minus β·Σ_t KL_t, and its advantage that reward
    /// minus the mean of the other k − 1 rewards of its prompt.
    func testKLPenaltyAndLeaveOneOutAdvantages() {
        for est in KLEstimator.allCases {
            var c = OnlineFixtures.rlooConfig()
            c.beta = 0.3
            c.klEstimator = est
            let t = OnlineFixtures.rloo(c)
            // Move the policy away from the reference so that the KL is not 0.
            var rng = RNG(seed: 8)
            for i in 0..<t.policy.params.count { t.policy.params[i] += 0.02 * rng.normal() }
            let (p, r) = t.core.sample(step: 0, reducer: t.reducer)
            let m = t.prepare(prompts: p, responses: r)
            let b = t.rollout, L = b.L, k = c.numGenerations
            var rewards: [Double] = []
            for i in 0..<b.count {
                var kl = 0.0
                for s in 0..<b.length(i) { kl += Double(OnlineMath.kl(logp: b.logprobs[i * L + s], refLogp: b.refLogprobs[i * L + s], estimator: est)) }
                XCTAssertEqual(t.sequenceKL[i], kl, accuracy: 1e-9)
                rewards.append(Double(b.scores[i]) - 0.3 * kl)
            }
            XCTAssertGreaterThan(t.sequenceKL.map(abs).max()!, 1e-3, "the KL should not vanish")
            for i in 0..<b.count {
                let g = i / k
                let others = (g * k..<(g * k + k)).filter { $0 != i }.map { rewards[$0] }
                XCTAssertEqual(Double(b.sequenceAdvantages[i]), rewards[i] - others.reduce(0, +) / Double(k - 1), accuracy: 1e-5, "\(est) A[\(i)]")
            }
            XCTAssertEqual(m["objective/rlhf_reward"]!, rewards.reduce(0, +) / Double(b.count), accuracy: 1e-9)
            XCTAssertNotNil(m["kl"])
        }
    }

    func testNormalizedAdvantages() {
        var c = OnlineFixtures.rlooConfig()
        c.normalizeAdvantages = true
        let t = OnlineFixtures.rloo(c)
        let (p, r) = t.core.sample(step: 0, reducer: t.reducer)
        t.prepare(prompts: p, responses: r)
        let a = t.rollout.sequenceAdvantages.map(Double.init)
        let (mean, std) = GroupAdvantages.moments(a)
        XCTAssertEqual(mean, 0, accuracy: 1e-6)
        if std > 0 { XCTAssertEqual(std, 1, accuracy: 1e-3) }
    }

    /// The first update is on-policy: the sequence ratio is exactly 1 (β > 0 runs π_old's forward
    /// over the same microbatches; β = 0 and μ = 1 use the training forward's own log-probs).
    func testRatioIsExactlyOneOnTheFirstPass() {
        for beta in [0.05, 0] {
            var c = OnlineFixtures.rlooConfig()
            c.beta = beta
            c.numIterations = 2
            c.epsilon = 0.01
            let t = OnlineFixtures.rloo(c)
            t.trainStep()
            XCTAssertEqual(t.passStats[0]["ratio/max_deviation"], 0, "β = \(beta)")
            XCTAssertGreaterThan(t.passStats[1]["ratio/max_deviation"]!, 0)
        }
    }

    /// The trainer's gradient of the mean sequence surrogate against central differences of the
    /// loss computed from each completion run alone.
    func testStepGradientMatchesFiniteDifferences() {
        var c = OnlineFixtures.rlooConfig()
        c.numIterations = 2
        c.epsilon = 0.1
        c.epsilonHigh = 0.15
        let t = OnlineFixtures.rloo(c)
        let (p, r) = t.core.sample(step: 0, reducer: t.reducer)
        t.prepare(prompts: p, responses: r)
        var rng = RNG(seed: 4)
        for i in 0..<t.policy.params.count { t.policy.params[i] += 0.01 * rng.normal() }
        let b = t.rollout, L = b.L
        func loss() -> Double {
            var s = 0.0
            for i in 0..<b.count {
                let lp = OnlineFixtures.logProbs(t.policy, prompt: b.prompts[i], response: b.responses[i], temperature: c.temperature)
                let logRatio = lp.enumerated().reduce(0.0) { $0 + Double($1.element) - Double(b.logprobs[i * L + $1.offset]) }
                s += Double(OnlineMath.clippedSurrogate(logRatio: logRatio, advantage: b.sequenceAdvantages[i], epsilonLow: c.epsilon,
                                                        epsilonHigh: c.upperEpsilon).loss)
            }
            return s / Double(b.count)
        }
        t.policy.zeroGrad()
        var sums = GroupPassSums()
        for batch in t.core.batches {
            t.core.passes.policyGradient(batch, temperature: c.temperature) { lp, ent in
                t.gradient(batch, logp: lp, entropy: ent, scale: 1 / Double(b.count), sums: &sums)
            }
        }
        XCTAssertEqual(sums.loss, loss(), accuracy: 1e-4)
        XCTAssertGreaterThan(sums.clipLow + sums.clipHigh, 0, "the check should cover clipped completions")
        let grads = t.policy.grads!.array, lay = t.policy.layout
        for p in [lay.offset("ln_f.bias") + 5, lay.offset("wte.weight") + 3 * 32 + 7, lay.offset("h.1.mlp.c_fc.weight") + 100,
                  lay.offset("h.0.attn.c_attn.weight") + 40] {
            let x = t.policy.params[p], h: Float = 1e-2
            t.policy.params[p] = x + h; let up = loss()
            t.policy.params[p] = x - h; let dn = loss()
            t.policy.params[p] = x
            let fd = (up - dn) / Double(2 * h)
            XCTAssertEqual(Double(grads[p]), fd, accuracy: 2e-3 + 0.05 * abs(fd), "parameter \(p)")
        }
    }

    func testRLOORaisesAProgrammaticReward() throws {
        var c = OnlineFixtures.rlooConfig()
        c.steps = 20
        c.batchSize = 4
        c.numGenerations = 8
        c.numIterations = 2
        c.lr = 2e-3
        c.beta = 0.02
        let t = OnlineFixtures.rloo(c)
        var rewards: [Double] = []
        t.hooks.log = { _, m in rewards.append(m["reward"]!) }
        try t.run()
        let first = rewards.prefix(5).reduce(0, +) / 5, last = rewards.suffix(5).reduce(0, +) / 5
        print("RLOO e2e rewards: \(rewards.map { String(format: "%.2f", $0) }.joined(separator: " ")); memory \(t.memoryBytes) bytes")
        XCTAssertGreaterThan(last, first + 0.75, "mean reward did not rise clearly")
        XCTAssertNil(t.memoryBreakdown["value"])
    }

    func testResumedRunEqualsUninterruptedRun() throws {
        var c = OnlineFixtures.rlooConfig()
        c.numIterations = 2
        let dir = OnlineFixtures.tempDir("rloo-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = OnlineFixtures.rloo(c)
        var fullLogs: [Int: [String: Double]] = [:]
        full.hooks.log = { fullLogs[$0] = OnlineFixtures.deterministic($1) }
        try full.run()
        let first = OnlineFixtures.rloo(c)
        first.trainStep(); first.trainStep()
        try CheckpointStore.save(root: dir, step: first.step) { try first.save(to: $0) }
        let second = OnlineFixtures.rloo(c)
        second.policy.params.zero()
        try second.restore(from: CheckpointStore.latest(root: dir)!)
        var resumed: [Int: [String: Double]] = [:]
        second.hooks.log = { resumed[$0] = OnlineFixtures.deterministic($1) }
        try second.run()
        XCTAssertEqual(second.policy.params.array, full.policy.params.array)
        XCTAssertEqual(second.optimizer.m.array, full.optimizer.m.array)
        XCTAssertEqual(second.optimizer.v.array, full.optimizer.v.array)
        for s in [3, 4] { XCTAssertEqual(resumed[s], fullLogs[s], "metrics of step \(s)") }
    }

    func testMetricNames() {
        let t = OnlineFixtures.rloo(OnlineFixtures.rlooConfig())
        let m = t.trainStep()
        let expected: Set<String> = [
            "reward", "reward_std", "frac_reward_zero_std", "kl", "objective/rlhf_reward", "entropy", "clip_ratio/low_mean",
            "clip_ratio/high_mean", "clip_ratio/region_mean", "completions/mean_length", "completions/min_length",
            "completions/max_length", "completions/clipped_ratio", "completions/mean_terminated_length", "loss", "grad_norm", "lr",
            "time/generate_s", "time/score_s", "time/optimize_s", "tokens_per_s", "completions_per_s",
        ]
        XCTAssertEqual(Set(m.keys), expected)
        for (k, v) in m { XCTAssertTrue(v.isFinite, "\(k) = \(v)") }
    }
}

extension OnlineFixtures {
    static func rlooConfig() -> RLOOConfig {
        var c = RLOOConfig()
        c.steps = 4
        c.batchSize = 4
        c.numGenerations = 4
        c.gradAccum = 2
        c.maxCompletionLength = 10
        c.temperature = 0.9
        c.stopToken = PPOFixtures.eos
        c.lr = 3e-4
        c.checkpointEvery = 0
        c.samplesEvery = 0
        return c
    }

    static func rloo(_ c: RLOOConfig, reward: RewardFunction = CountReward(), seed: UInt64 = 1) -> RLOOTrainer {
        RLOOTrainer(policy: GPT(copying: PPOFixtures.sft), reference: GPT(copying: PPOFixtures.sft), reward: reward,
                    prompts: prompts, config: c, pad: PPOFixtures.pad, seed: seed)
    }
}
