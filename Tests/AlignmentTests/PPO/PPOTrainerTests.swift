import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

final class PPOTrainerTests: XCTestCase {
    // MARK: - Exact resume

    func testResumedRunEqualsUninterruptedRun() throws {
        for kind in [ValueModelKind.separate, .shared] {
            var c = PPOFixtures.ppoConfig()
            c.iterations = 4
            c.adaptiveKL = true
            c.horizon = 50           // make the controller move visibly
            c.valueModel = kind
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ppo-resume-\(getpid())-\(kind)")
            defer { try? FileManager.default.removeItem(at: dir) }

            let full = PPOFixtures.trainer(c)
            var fullLogs: [Int: [String: Double]] = [:]
            full.hooks.log = { fullLogs[$0] = $1 }
            try full.run()

            let first = PPOFixtures.trainer(c)
            first.trainIteration(); first.trainIteration()
            try CheckpointStore.save(root: dir, step: first.iteration) { try first.save(to: $0) }

            let second = PPOFixtures.trainer(c)
            second.policy.params.zero()          // the weights must come from the checkpoint
            second.value?.params.zero()
            try second.restore(from: CheckpointStore.latest(root: dir)!)
            XCTAssertEqual(second.iteration, 2)
            var resumedLogs: [Int: [String: Double]] = [:]
            second.hooks.log = { resumedLogs[$0] = $1 }
            try second.run()

            XCTAssertEqual(second.policy.params.array, full.policy.params.array, "\(kind): resumed policy differs")
            XCTAssertEqual(second.policyOptimizer.m.array, full.policyOptimizer.m.array)
            XCTAssertEqual(second.policyOptimizer.v.array, full.policyOptimizer.v.array)
            XCTAssertEqual(second.value?.params.array, full.value?.params.array, "\(kind): resumed value model differs")
            XCTAssertEqual(second.valueOptimizer?.m.array, full.valueOptimizer?.m.array)
            XCTAssertEqual(second.kl, full.kl)
            XCTAssertNotEqual(full.kl.value, c.klCoef, "the adaptive controller should have moved")
            for it in [3, 4] {
                var a = resumedLogs[it]!, b = fullLogs[it]!
                for k in ["tokens_per_s", "time/generate_s", "time/score_s", "time/optimize_s"] { a[k] = nil; b[k] = nil }   // wall clock
                XCTAssertEqual(a, b, "\(kind): metrics of iteration \(it) differ")
            }
        }
    }

    func testRestoreRejectsACheckpointOfAnotherValueModelKind() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ppo-kind-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = PPOFixtures.ppoConfig()
        try PPOFixtures.trainer(c).save(to: dir.creatingDirectory())
        c.valueModel = .shared
        XCTAssertThrowsError(try PPOFixtures.trainer(c).restore(from: dir)) { e in
            XCTAssertTrue("\(e)".contains("score.weight is missing") || "\(e)".contains("separate value model"), "\(e)")
        }
    }

    /// Rollout prompts are epochs over the prompt list, each a fresh shuffle, a pure function of the iteration.
    func testPromptBatchesAreShuffledEpochs() {
        let t = PPOFixtures.trainer(PPOFixtures.ppoConfig(), promptCount: 64)   // 8 iterations of 8 per epoch
        let all = PPOFixtures.prompts(count: 64, seed: 9)
        let epoch0 = (0..<8).flatMap { t.promptBatch(iteration: $0) }
        let epoch1 = (8..<16).flatMap { t.promptBatch(iteration: $0) }
        func sorted(_ x: [[Int32]]) -> [[Int32]] { x.sorted { $0.lexicographicallyPrecedes($1) } }
        XCTAssertEqual(sorted(epoch0), sorted(all))
        XCTAssertEqual(sorted(epoch1), sorted(all))
        XCTAssertNotEqual(epoch0, all)
        XCTAssertNotEqual(epoch0, epoch1)
        XCTAssertEqual(t.promptBatch(iteration: 3), PPOFixtures.trainer(PPOFixtures.ppoConfig(), promptCount: 64).promptBatch(iteration: 3))
    }

    // MARK: - Gradient accumulation and gradients

    /// Microbatches only split the work: gradAccum 1 and 2 give the same update.
    func testGradientAccumulationDoesNotChangeTheUpdate() {
        var params: [[Float]] = []
        for accum in [1, 2] {
            var c = PPOFixtures.ppoConfig()
            c.gradAccum = accum
            let t = PPOFixtures.trainer(c)
            t.trainIteration()
            params.append(t.policy.params.array + t.value!.params.array)
        }
        XCTAssertLessThan(maxAbsDiff(params[0], params[1]), 1e-6)
        XCTAssertGreaterThan(maxAbsDiff(params[0], PPOFixtures.sft.params.array + PPOFixtures.rewardModel.params.array), 1e-5)
    }

    /// The trainer's gradient of the minibatch loss against central differences of the loss
    /// computed independently from forward passes (shared value head: both heads share the trunk).
    func testMinibatchGradientMatchesFiniteDifferences() {
        var c = PPOFixtures.ppoConfig()
        c.valueModel = .shared
        c.vfCoef = 0.5
        let t = PPOFixtures.trainer(c)
        t.makeRollout(prompts: t.promptBatch(iteration: 0), responses: t.sample(t.promptBatch(iteration: 0), iteration: 0))
        // Perturb the policy away from π_old so that ratios ≠ 1 and values ≠ V_old.
        var rng = RNG(seed: 4)
        for i in 0..<t.policy.params.count { t.policy.params[i] += 0.01 * rng.normal() }
        let indices = [0, 2, 5, 7]
        let tokens = indices.reduce(0) { $0 + t.rollout.length($1) }

        func loss() -> Double {
            var s = 0.0
            for part in [[0, 2], [5, 7]] {
                let b = t.microBatch(part)
                var lp = [Float](repeating: 0, count: b.rows.count), v = [Float](repeating: 0, count: b.n * b.T)
                b.tokens.withUnsafeBufferPointer { t.policy.forward(tokens: $0.baseAddress!, B: b.n, T: b.T, ws: t.ws) }
                t.policy.tokenLogProbs(ws: t.ws, rows: b.rows, targets: b.targets, temperature: c.temperature, logp: &lp)
                t.policy.scalarHead(ws: t.ws, out: &v)
                for k in 0..<b.rows.count {
                    let i = b.slots[k]
                    s += Double(PPOMath.policyLoss(newLogp: lp[k], oldLogp: t.rollout.logprobs[i], advantage: t.rollout.advantages[i], cliprange: c.cliprange).loss)
                    s += c.vfCoef * Double(PPOMath.valueLoss(value: v[Int(b.rows[k])], oldValue: t.rollout.values[i], ret: t.rollout.returns[i], cliprange: c.cliprangeValue).loss)
                }
            }
            return s / Double(tokens)
        }

        t.policy.zeroGrad()
        var sums = PPOSums()
        for part in [[0, 2], [5, 7]] { t.trainMicrobatch(t.microBatch(part), scale: 1 / Float(tokens), sums: &sums) }
        XCTAssertGreaterThan(sums.policyClipped + sums.valueClipped, 0, "the check should cover clipped tokens too")
        let grads = t.policy.grads!.array
        let lay = t.policy.layout
        let probes = [lay.offset("score.bias"), lay.offset("score.weight") + 3, lay.offset("ln_f.bias") + 5,
                      lay.offset("wte.weight") + 3 * 32 + 7, lay.offset("h.1.mlp.c_fc.weight") + 100, lay.offset("h.0.attn.c_attn.weight") + 40]
        for p in probes {
            let x = t.policy.params[p], h: Float = 1e-2
            t.policy.params[p] = x + h; let up = loss()
            t.policy.params[p] = x - h; let dn = loss()
            t.policy.params[p] = x
            let fd = (up - dn) / Double(2 * h)
            XCTAssertEqual(Double(grads[p]), fd, accuracy: 2e-3 + 0.05 * abs(fd), "parameter \(p)")
        }
    }

    // MARK: - End to end

    /// PPO against "number of 3s in the response (capped at 4)" from the SFT model raises the
    /// mean score clearly within a few dozen iterations while the KL stays finite.
    func testPPORaisesAProgrammaticReward() throws {
        var c = PPOFixtures.ppoConfig()
        c.iterations = 16
        c.rolloutBatchSize = 16
        c.numMiniBatches = 2
        c.gradAccum = 1
        c.numPPOEpochs = 4
        c.lr = 1e-3
        c.klCoef = 0.02
        c.missingEOSPenalty = nil
        let t = PPOFixtures.trainer(c)
        var scores: [Double] = [], kls: [Double] = [], times: [Double] = []
        t.hooks.log = { _, m in scores.append(m["objective/scores"]!); kls.append(m["objective/kl"]!) }
        var last = Clock.now()
        t.hooks.checkpoint = { _ in }
        t.hooks.shouldStop = { let n = Clock.now(); times.append(n - last); last = n; return false }
        try t.run()
        let first5 = scores.prefix(5).reduce(0, +) / 5, last5 = scores.suffix(5).reduce(0, +) / 5
        print("PPO e2e scores: \(scores.map { String(format: "%.2f", $0) }.joined(separator: " "))")
        print("PPO e2e kl: \(kls.map { String(format: "%.2f", $0) }.joined(separator: " "))")
        print(String(format: "PPO e2e: first-5 mean %.3f, last-5 mean %.3f, %.3f s/iteration, memory %d bytes",
                     first5, last5, times.reduce(0, +) / Double(times.count), t.memoryBytes))
        XCTAssertGreaterThan(last5, first5 + 0.75, "mean score did not rise clearly")
        XCTAssertTrue(kls.allSatisfy { $0.isFinite })
    }

    func testSharedValueHeadTrains() {
        var c = PPOFixtures.ppoConfig()
        c.valueModel = .shared
        c.iterations = 3
        let t = PPOFixtures.trainer(c)
        let head = t.policy.layout["score.weight"]!
        let before = Array(t.policy.params.array[head.offset..<(head.offset + head.count)])
        var losses: [Double] = []
        for _ in 0..<3 { losses.append(t.trainIteration()["loss/value"]!) }
        XCTAssertTrue(losses.allSatisfy { $0.isFinite })
        XCTAssertNotEqual(Array(t.policy.params.array[head.offset..<(head.offset + head.count)]), before)
        XCTAssertNil(t.valueOptimizer)
    }

    func testSamplesHookAndMemoryReport() throws {
        var c = PPOFixtures.ppoConfig()
        c.iterations = 2
        c.samplesEvery = 2
        c.samplesCount = 3
        let t = PPOFixtures.trainer(c)
        t.decode = { $0.map { $0 == 1 ? "<eos>" : "w\($0)" }.joined(separator: " ") }
        var reported: [(Int, [[String: String]])] = []
        t.hooks.samples = { reported.append(($0, $1)) }
        try t.run()
        XCTAssertEqual(reported.map(\.0), [1, 2])
        XCTAssertEqual(reported[1].1.count, 3)
        XCTAssertEqual(reported[1].1[0]["completion"], t.decode(t.rollout.responses[0]))
        XCTAssertEqual(Float(reported[1].1[0]["score"]!), t.rollout.scores[0])
        let mem = t.memoryBreakdown
        XCTAssertEqual(mem["policy"], t.policy.parameterCount * 16)
        XCTAssertEqual(mem["value"], t.value!.parameterCount * 16)
        XCTAssertEqual(t.memoryBytes, mem.values.reduce(0, +))
    }

    /// Memory figure of a quickstart-like shape (printed for the report).
    func testQuickstartMemoryFigure() {
        let g = GPTConfig(vocabSize: 2048, context: 256, nLayer: 4, nHead: 4, nEmbd: 128)
        var rc = g
        rc.scalarHead = true
        let sft = GPT(config: g, seed: 1), rm = GPT(config: rc, seed: 2)
        var c = PPOConfig()
        c.rolloutBatchSize = 32
        c.responseLength = 48
        let m = PPOTrainer.makeModels(sft: sft, rewardModel: rm, valueModel: .separate, seed: 3)
        let prompts = (0..<4).map { _ in [Int32](repeating: 5, count: 200) }
        let t = PPOTrainer(policy: m.policy, reference: m.reference, value: m.value,
                           reward: RewardModelScorer(model: rm, pad: 0), prompts: prompts, config: c, pad: 0, seed: 1)
        let mb = { (x: Int) in String(format: "%.1f MB", Double(x) / 1_048_576) }
        print("PPO quickstart memory: \(mb(t.memoryBytes)) = " + t.memoryBreakdown.sorted { $0.key < $1.key }.map { "\($0.key) \(mb($0.value))" }.joined(separator: ", "))
        XCTAssertGreaterThan(t.memoryBytes, 4 * 16 * m.policy.parameterCount)
    }
}

extension URL {
    func creatingDirectory() throws -> URL {
        try FileManager.default.createDirectory(at: self, withIntermediateDirectories: true)
        return self
    }
}
