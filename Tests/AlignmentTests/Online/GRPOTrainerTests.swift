import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

final class GRPOTrainerTests: XCTestCase {
    // MARK: - On-policy ratio

    /// μ = 1: π_old is the sampling policy itself, so every ratio is exactly 1 (no clipping); with
    /// μ = 2 the first pass is on-policy too (π_old from a forward over the same microbatches), the
    /// second is not.
    func testRatioIsExactlyOneWhenOnPolicy() {
        for layout in [true, false] {
            var c = OnlineFixtures.grpoConfig()
            c.sharedPrompt = layout
            c.epsilon = 0.01        // any ratio ≠ 1 would be clipped at once
            let t = OnlineFixtures.grpo(c)
            var m = t.trainStep()
            XCTAssertEqual(t.passStats.count, 1)
            XCTAssertEqual(t.passStats[0]["ratio/max_deviation"], 0, "shared prompt \(layout)")
            XCTAssertEqual(m["clip_ratio/region_mean"], 0)
            m = t.trainStep()
            XCTAssertEqual(t.passStats[0]["ratio/max_deviation"], 0, "after an update, still on-policy")

            c.numIterations = 2
            let t2 = OnlineFixtures.grpo(c)
            t2.trainStep()
            XCTAssertEqual(t2.passStats.count, 2)
            XCTAssertEqual(t2.passStats[0]["ratio/max_deviation"], 0, "first of μ = 2 passes")
            XCTAssertGreaterThan(t2.passStats[1]["ratio/max_deviation"]!, 0, "the second pass sees the updated policy")
            XCTAssertGreaterThan(t2.passStats[1]["clip_ratio/region_mean"]!, 0)
        }
    }

    // MARK: - Gradients

    /// The trainer's gradient of the step loss (μ = 2, so π_old and π differ once the policy is
    /// perturbed) against central differences of the loss computed independently: each completion
    /// run alone through the model, the four normalisations written out.
    func testStepGradientMatchesFiniteDifferences() {
        for (type, shared) in [(GRPOLossType.grpo, true), (.bnpo, false), (.dapo, true), (.drGRPO, true)] {
            var c = OnlineFixtures.grpoConfig()
            c.lossType = type
            c.sharedPrompt = shared
            c.numIterations = 2
            c.beta = 0.2
            c.epsilon = 0.05
            c.epsilonHigh = 0.1
            c.maskTruncatedCompletions = true
            let t = OnlineFixtures.grpo(c)
            let (prompts, responses) = t.core.sample(step: 0, reducer: t.reducer)
            t.prepare(prompts: prompts, responses: responses)
            var rng = RNG(seed: 4)
            for i in 0..<t.policy.params.count { t.policy.params[i] += 0.02 * rng.normal() }
            let r = t.rollout, n = r.count, L = r.L
            let active = (0..<n).map { !c.maskTruncatedCompletions || r.endedWithEOS[$0] }
            XCTAssertTrue(active.contains(false) || type != .grpo, "the check should include a masked completion")

            func loss() -> Double {
                var total = 0.0, sum = 0.0
                let micro = n / c.gradAccum
                for m in 0..<c.gradAccum {
                    let seqs = Array((m * micro)..<((m + 1) * micro))
                    let tokens = seqs.filter { active[$0] }.reduce(0) { $0 + r.length($1) }
                    switch type {
                    case .grpo: total += Double(seqs.count)
                    case .bnpo: total += 1
                    case .dapo: total += Double(tokens)
                    case .drGRPO: total += Double(seqs.count * c.maxCompletionLength)
                    }
                    for b in seqs where active[b] {
                        let lp = OnlineFixtures.logProbs(t.policy, prompt: r.prompts[b], response: r.responses[b], temperature: c.temperature)
                        var s = 0.0
                        for (k, x) in lp.enumerated() {
                            s += Double(GRPOLoss.token(logp: x, oldLogp: r.logprobs[b * L + k], refLogp: r.refLogprobs[b * L + k],
                                                       advantage: r.sequenceAdvantages[b], epsilonLow: c.epsilon, epsilonHigh: c.upperEpsilon,
                                                       beta: c.beta).loss)
                        }
                        switch type {
                        case .grpo: sum += s / Double(r.length(b))
                        case .bnpo: sum += s / Double(tokens)
                        case .dapo, .drGRPO: sum += s
                        }
                    }
                }
                return sum / total
            }

            t.policy.zeroGrad()
            let total = t.core.batches.reduce(0) { $0 + t.count($1) }
            var sums = GroupPassSums()
            for batch in t.core.batches {
                t.core.passes.policyGradient(batch, temperature: c.temperature) { lp, ent in
                    t.gradient(batch, logp: lp, entropy: ent, scale: 1 / total, sums: &sums)
                }
            }
            XCTAssertEqual(sums.loss, loss(), accuracy: 1e-4, "\(type): the trainer's loss")
            XCTAssertGreaterThan(sums.clipLow + sums.clipHigh, 0, "\(type): the check should cover clipped tokens")
            let grads = t.policy.grads!.array
            let lay = t.policy.layout
            let probes = [lay.offset("ln_f.bias") + 5, lay.offset("wte.weight") + 3 * 32 + 7, lay.offset("wpe.weight") + 6 * 32 + 1,
                          lay.offset("h.1.mlp.c_fc.weight") + 100, lay.offset("h.0.attn.c_attn.weight") + 40]
            for p in probes {
                let x = t.policy.params[p], h: Float = 1e-2
                t.policy.params[p] = x + h; let up = loss()
                t.policy.params[p] = x - h; let dn = loss()
                t.policy.params[p] = x
                let fd = (up - dn) / Double(2 * h)
                XCTAssertEqual(Double(grads[p]), fd, accuracy: 2e-3 + 0.05 * abs(fd), "\(type) parameter \(p)")
            }
        }
    }

    /// The shared-prompt rows give each completion the log-probs it gets alone.
    func testSharedPromptLayoutMatchesSeparateForwards() {
        var c = OnlineFixtures.grpoConfig()
        c.numIterations = 2
        let t = OnlineFixtures.grpo(c)
        let (p, r) = t.core.sample(step: 0, reducer: t.reducer)
        t.prepare(prompts: p, responses: r)
        // 8 completions a microbatch, 2 groups of 4: a row each, four continuations of the prompt.
        XCTAssertEqual(t.core.batches.map(\.n), [2, 2])
        XCTAssertEqual(t.core.batches[0].sequences.count, 8)
        XCTAssertEqual(t.core.batches[0].branches?.map(\.starts.count), [3, 3])
        let L = t.rollout.L
        for b in 0..<t.rollout.count {
            let alone = OnlineFixtures.logProbs(t.policy, prompt: t.rollout.prompts[b], response: t.rollout.responses[b], temperature: c.temperature)
            let ref = OnlineFixtures.logProbs(t.reference!, prompt: t.rollout.prompts[b], response: t.rollout.responses[b], temperature: c.temperature)
            for k in 0..<alone.count {
                XCTAssertEqual(t.rollout.logprobs[b * L + k], alone[k], accuracy: 1e-4, "completion \(b) token \(k)")
                XCTAssertEqual(t.rollout.refLogprobs[b * L + k], ref[k], accuracy: 1e-4)
            }
        }
    }

    /// dapo's normaliser is the step's token count whatever the split: grad_accum 1 and 2 give the
    /// same gradient; bnpo's is each microbatch's token count, so its gradient changes with the split.
    func testDAPOIsInvariantToGradientAccumulation() {
        var grads: [GRPOLossType: [[Float]]] = [:]
        for type in [GRPOLossType.dapo, .bnpo] {
            for accum in [1, 2] {
                var c = OnlineFixtures.grpoConfig()
                c.lossType = type
                c.gradAccum = accum
                c.sharedPrompt = false
                let t = OnlineFixtures.grpo(c)
                let (p, r) = t.core.sample(step: 0, reducer: t.reducer)
                t.prepare(prompts: p, responses: r)
                _ = t.core.pass(optimizer: t.optimizer, lr: 0, reducer: LocalReducer.shared, count: { t.count($0) }) {
                    t.gradient($0, logp: $1, entropy: $2, scale: $3, sums: &$4)
                }
                grads[type, default: []].append(t.policy.grads!.array)
            }
        }
        let scale = grads[.dapo]![0].map(abs).max()!
        XCTAssertGreaterThan(scale, 1e-3)
        XCTAssertLessThan(maxAbsDiff(grads[.dapo]![0], grads[.dapo]![1]), 1e-5 * scale)
        XCTAssertGreaterThan(maxAbsDiff(grads[.bnpo]![0], grads[.bnpo]![1]), 1e-3 * scale)
    }

    /// With mask_truncated_completions, a completion without EOS sends no gradient.
    func testMaskedTruncatedCompletionsSendNoGradient() {
        var c = OnlineFixtures.grpoConfig()
        c.maskTruncatedCompletions = true
        let t = OnlineFixtures.grpo(c)
        let prompts = t.core.groupPrompts(step: 0)
        // Completions 0 and 5 never end (10 tokens, no EOS); the others end.
        let responses: [[Int32]] = (0..<prompts.count).map { i in
            i == 0 || i == 5 ? [Int32](repeating: 3, count: 10) : [Int32](repeating: Int32(2 + i % 5), count: 1 + i % 4) + [1]
        }
        t.prepare(prompts: prompts, responses: responses)
        XCTAssertEqual(t.rollout.endedWithEOS.filter { !$0 }.count, 2)
        var sums = GroupPassSums()
        for batch in t.core.batches {
            let lp = [Float](repeating: -1, count: batch.rows.count)
            let d = t.gradient(batch, logp: lp, entropy: lp, scale: 1, sums: &sums)
            for (j, b) in batch.sequences.enumerated() {
                let g = d[batch.seqStart[j]..<batch.seqStart[j + 1]]
                if b == 0 || b == 5 { XCTAssertTrue(g.allSatisfy { $0 == 0 }, "masked completion \(b)") }
            }
        }
        XCTAssertEqual(sums.tokens, Double((0..<16).filter { $0 != 0 && $0 != 5 }.reduce(0) { $0 + t.rollout.length($1) }))
    }

    // MARK: - End to end

    /// GRPO against "number of 3s in the completion (capped at 4)" raises the mean reward clearly
    /// within a few dozen steps.
    func testGRPORaisesAProgrammaticReward() throws {
        var c = OnlineFixtures.grpoConfig()
        c.steps = 20
        c.batchSize = 4
        c.numGenerations = 8
        c.gradAccum = 2
        c.numIterations = 4
        c.lr = 1e-3
        let t = OnlineFixtures.grpo(c)
        var rewards: [Double] = []
        t.hooks.log = { _, m in rewards.append(m["reward"]!) }
        try t.run()
        let first = rewards.prefix(5).reduce(0, +) / 5, last = rewards.suffix(5).reduce(0, +) / 5
        print("GRPO e2e rewards: \(rewards.map { String(format: "%.2f", $0) }.joined(separator: " ")); memory \(t.memoryBytes) bytes")
        XCTAssertGreaterThan(last, first + 0.75, "mean reward did not rise clearly")
    }

    // MARK: - Exact resume

    func testResumedRunEqualsUninterruptedRun() throws {
        var c = OnlineFixtures.grpoConfig()
        c.numIterations = 2
        c.steps = 4
        let dir = OnlineFixtures.tempDir("grpo-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = OnlineFixtures.grpo(c)
        var fullLogs: [Int: [String: Double]] = [:]
        full.hooks.log = { fullLogs[$0] = OnlineFixtures.deterministic($1) }
        try full.run()

        let first = OnlineFixtures.grpo(c)
        first.trainStep(); first.trainStep()
        try CheckpointStore.save(root: dir, step: first.step) { try first.save(to: $0) }
        let second = OnlineFixtures.grpo(c)
        second.policy.params.zero()
        try second.restore(from: CheckpointStore.latest(root: dir)!)
        XCTAssertEqual(second.step, 2)
        var resumed: [Int: [String: Double]] = [:]
        second.hooks.log = { resumed[$0] = OnlineFixtures.deterministic($1) }
        try second.run()
        XCTAssertEqual(second.policy.params.array, full.policy.params.array)
        XCTAssertEqual(second.optimizer.m.array, full.optimizer.m.array)
        XCTAssertEqual(second.optimizer.v.array, full.optimizer.v.array)
        XCTAssertEqual(second.optimizer.t, full.optimizer.t)
        for s in [3, 4] { XCTAssertEqual(resumed[s], fullLogs[s], "metrics of step \(s)") }
        XCTAssertNotEqual(full.policy.params.array, PPOFixtures.sft.params.array)
    }

    func testRestoreRefusesAStepBeyondTheConfig() throws {
        let dir = OnlineFixtures.tempDir("grpo-steps")
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = OnlineFixtures.grpoConfig()
        let t = OnlineFixtures.grpo(c)
        t.trainStep(); t.trainStep(); t.trainStep()
        try t.save(to: dir.creatingDirectory())
        c.steps = 2
        XCTAssertThrowsError(try OnlineFixtures.grpo(c).restore(from: dir)) { e in
            XCTAssertTrue("\(e)".contains("beyond the configured grpo.steps (2)"), "\(e)")
        }
    }

    // MARK: - Metrics, memory, β = 0

    func testMetricNamesAndMemory() {
        let t = OnlineFixtures.grpo(OnlineFixtures.grpoConfig())
        let m = t.trainStep()
        let expected: Set<String> = [
            "reward", "reward_std", "frac_reward_zero_std", "kl", "entropy", "clip_ratio/low_mean", "clip_ratio/high_mean",
            "clip_ratio/region_mean", "completions/mean_length", "completions/min_length", "completions/max_length",
            "completions/clipped_ratio", "completions/mean_terminated_length", "loss", "grad_norm", "lr",
            "time/generate_s", "time/score_s", "time/optimize_s", "tokens_per_s", "completions_per_s",
        ]
        XCTAssertEqual(Set(m.keys), expected)
        for (k, v) in m { XCTAssertTrue(v.isFinite, "\(k) = \(v)") }
        XCTAssertEqual(m["kl"], 0, "the first step's policy is the reference")
        XCTAssertEqual(m["reward"]!, Double(t.rollout.scores.reduce(0, +)) / 16, accuracy: 1e-6)
        let mem = t.memoryBreakdown
        XCTAssertNil(mem["value"], "GRPO keeps no value model")
        XCTAssertEqual(mem["policy"], t.policy.parameterCount * 16)
        XCTAssertEqual(mem["reference"], t.policy.parameterCount * 4)
        XCTAssertEqual(t.memoryBytes, mem.values.reduce(0, +))
        XCTAssertTrue(t.rollout.values.isEmpty && t.rollout.returns.isEmpty && t.rollout.rewards.isEmpty, "no per-token value arrays")
    }

    /// At the quickstart's shape GRPO holds the policy, the reference and no value model: well
    /// under PPO's memory with its value model (and its optimizer) for the same prompts per step.
    func testMemoryAtTheQuickstartShapeIsBelowPPOs() {
        let g = GPTConfig(vocabSize: 2048, context: 256, nLayer: 4, nHead: 4, nEmbd: 128)
        var rc = g
        rc.scalarHead = true
        let sft = GPT(config: g, seed: 1), rm = GPT(config: rc, seed: 2)
        let prompts = (0..<4).map { _ in [Int32](repeating: 5, count: 200) }
        var pc = PPOConfig()
        pc.rolloutBatchSize = 32
        pc.responseLength = 48
        let m = PPOTrainer.makeModels(sft: sft, rewardModel: rm, valueModel: .separate, seed: 3)
        let ppo = PPOTrainer(policy: m.policy, reference: m.reference, value: m.value, reward: RewardModelScorer(model: rm, pad: 0),
                             prompts: prompts, config: pc, pad: 0, seed: 1)
        var c = GRPOConfig()
        c.batchSize = 4
        c.numGenerations = 8
        c.gradAccum = 4              // 8 completions a microbatch, as PPO's 32 / 4 minibatches
        c.maxCompletionLength = 48
        let grpo = GRPOTrainer(policy: GPT(copying: sft), reference: GPT(copying: sft), reward: RewardModelScorer(model: rm, pad: 0),
                               prompts: prompts, config: c, pad: 0, seed: 1)
        let mb = { (x: Int) in String(format: "%.1f MB", Double(x) / 1_048_576) }
        print("GRPO quickstart memory: \(mb(grpo.memoryBytes)) = " + grpo.memoryBreakdown.sorted { $0.key < $1.key }.map { "\($0.key) \(mb($0.value))" }.joined(separator: ", ")
              + "; PPO: \(mb(ppo.memoryBytes))")
        XCTAssertNil(grpo.memoryBreakdown["value"])
        XCTAssertNotNil(ppo.memoryBreakdown["value"])
        XCTAssertLessThan(grpo.memoryBytes, ppo.memoryBytes - ppo.memoryBreakdown["value"]! / 2)
        XCTAssertEqual(GroupRollout.maxRows(completions: 32, groupSize: 8, microSize: 8), 1)
        XCTAssertEqual(GroupRollout.maxRows(completions: 12, groupSize: 3, microSize: 4), 2, "[0 0 0 1 | 1 1 2 2 | 2 3 3 3]: a row a group in each")
        XCTAssertEqual(GroupRollout.maxRows(completions: 16, groupSize: 4, microSize: 8), 2)
        XCTAssertEqual(GroupRollout.perRow(groupSize: 8, microSize: 4), 4)
        XCTAssertEqual(grpo.core.passes.workspaces.map(\.maxB), [1], "one row holds the microbatch's 8 completions of one group: no halves")
        XCTAssertEqual(grpo.core.passes.workspaces[0].maxT, grpo.core.schedule.longest + 8 * 48)
        XCTAssertLessThan(grpo.memoryBreakdown["rollout"]!, ppo.memoryBreakdown["rollout"]!)
    }

    /// β = 0: no reference is kept or run, no `kl` metric, less memory.
    func testBetaZeroKeepsNoReference() {
        var c = OnlineFixtures.grpoConfig()
        let withRef = OnlineFixtures.grpo(c)
        c.beta = 0
        let t = OnlineFixtures.grpo(c)
        XCTAssertNil(t.reference)
        XCTAssertNil(t.memoryBreakdown["reference"])
        XCTAssertTrue(t.rollout.refLogprobs.isEmpty)
        XCTAssertLessThan(t.memoryBytes, withRef.memoryBytes)
        let m = t.trainStep()
        XCTAssertNil(m["kl"])
        XCTAssertTrue(m["loss"]!.isFinite)
    }

    func testSamplesHook() throws {
        var c = OnlineFixtures.grpoConfig()
        c.steps = 2
        c.samplesEvery = 2
        c.samplesCount = 3
        let t = OnlineFixtures.grpo(c)
        var reported: [(Int, [[String: String]])] = []
        t.hooks.samples = { reported.append(($0, $1)) }
        var checkpoints: [Int] = []
        t.hooks.checkpoint = { checkpoints.append($0) }
        try t.run()
        XCTAssertEqual(reported.map(\.0), [1, 2])
        XCTAssertEqual(reported[1].1.count, 3)
        XCTAssertEqual(reported[1].1[0]["completion"], t.decode(t.rollout.responses[0]))
        XCTAssertEqual(Float(reported[1].1[0]["advantage"]!), t.rollout.sequenceAdvantages[0])
        XCTAssertEqual(checkpoints, [2])
    }

    /// The divergence guard stops a run whose loss is non-finite three steps in a row.
    func testDivergenceGuardStopsTheRun() {
        final class NaNReward: RewardFunction {
            var name: String { "nan" }
            func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float] { responses.map { _ in .nan } }
        }
        var c = OnlineFixtures.grpoConfig()
        c.steps = 5
        let t = OnlineFixtures.grpo(c, reward: NaNReward())
        XCTAssertThrowsError(try t.run()) { e in
            XCTAssertTrue("\(e)".contains("grpo: training diverged"), "\(e)")
        }
        XCTAssertEqual(t.step, 3)
    }

    /// The benchmark runs (its figure is printed, not asserted).
    func testBenchmarkStepRuns() {
        let r = GRPOTrainer.benchmarkStep(config: GPTConfig(vocabSize: 64, context: 32, nLayer: 1, nHead: 2, nEmbd: 16), prompts: 2,
                                          promptLength: 8, generations: 4, completionLength: 6, steps: 1)
        XCTAssertGreaterThan(r.stepSeconds, 0)
        XCTAssertEqual(r.completionsPerSecond, 8 / r.stepSeconds, accuracy: 1e-9)
    }
}
