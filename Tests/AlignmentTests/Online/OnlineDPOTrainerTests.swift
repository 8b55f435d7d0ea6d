import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

final class OnlineDPOTrainerTests: XCTestCase {
    func testRewardJudge() {
        final class Table: RewardFunction {
            var name: String { "table" }
            func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float] { responses.map { Float($0.first ?? 0) } }
        }
        let rng = { (i: Int) in RNG(seed: 1).split("pair", i) }
        let judge = OnlineDPOTrainer.judge(reward: Table())
        let p: [[Int32]] = [[4], [4], [4]]
        XCTAssertEqual(judge(p, [[5, 1], [7, 1], [6, 1]], [[6, 1], [5, 1], [6, 1]], rng), [1, 0, 0], "higher score wins, the first on a tie")
        // The missing-EOS penalty moves a completion without EOS below one with it.
        let penalised = OnlineDPOTrainer.judge(reward: Table(), stopToken: 1, missingEOSPenalty: 3)
        XCTAssertEqual(penalised([[4], [4]], [[7, 2], [7, 1]], [[5, 1], [5, 2]], rng), [1, 0])
    }

    /// Policy = reference: every implicit reward is 0 and the sigmoid loss is log 2.
    func testFirstStepStartsAtLog2() {
        let t = OnlineFixtures.onlineDPO(OnlineFixtures.onlineDPOConfig())
        let m = t.trainStep()
        XCTAssertEqual(m["loss"]!, log(2.0), accuracy: 1e-6)
        XCTAssertEqual(m["rewards/chosen"]!, 0, accuracy: 1e-6)
        XCTAssertEqual(m["objective/kl"]!, 0, accuracy: 1e-6)
        XCTAssertGreaterThan(m["objective/entropy"]!, 0)
        XCTAssertEqual(t.lastPairs.count, 8)
        for (i, pair) in t.lastPairs.enumerated() {
            XCTAssertGreaterThanOrEqual(pair.chosen.filter { $0 == 3 }.count, pair.rejected.filter { $0 == 3 }.count, "pair \(i) follows the judge")
        }
        let expected: Set<String> = ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                                     "logps/rejected", "objective/kl", "objective/entropy", "objective/non_score_reward", "beta", "grad_norm",
                                     "lr", "val/contain_eos_token", "completions/mean_length", "time/generate_s", "time/judge_s",
                                     "time/optimize_s", "tokens_per_s"]
        XCTAssertEqual(Set(m.keys), expected)
    }

    /// The online step's loss terms are DPO's: the same pairs evaluated by `DPOTrainer` give the
    /// same losses and implicit rewards (both run `DPOPairLoss`; this pins the wiring).
    func testLossIsTheDPOTrainersLoss() {
        for type in [DPOLossType.sigmoid, .ipo] {
            var c = OnlineFixtures.onlineDPOConfig()
            c.lossType = type
            c.beta = 0.5
            let t = OnlineFixtures.onlineDPO(c)
            var rng = RNG(seed: 3)
            for i in 0..<t.policy.params.count { t.policy.params[i] += 0.02 * rng.normal() }
            let before = GPT(copying: t.policy)
            let pairs = DPOToy.pairs(count: 8, seed: 5, lengths: 2...6).map { PreferenceExample(prompt: Array($0.prompt.prefix(4)), chosen: $0.chosen, rejected: $0.rejected) }
            let m = t.train(pairs: pairs)
            var d = c.dpo
            d.steps = 1
            let dpo = DPOTrainer(policy: before, reference: GPT(copying: PPOFixtures.sft), config: d, train: pairs, valid: pairs, pad: 0, seed: 1)
            let terms = dpo.evaluatePairs()
            XCTAssertEqual(m["loss"]!, terms.map(\.loss).reduce(0, +) / 8, accuracy: 1e-5, "\(type)")
            XCTAssertEqual(m["rewards/margins"]!, terms.reduce(0) { $0 + $1.chosenReward - $1.rejectedReward } / 8, accuracy: 1e-5)
        }
    }

    /// The gradient of the mean pair loss by central differences (the loss recomputed by forwards).
    func testGradientMatchesFiniteDifferences() {
        let t = OnlineFixtures.onlineDPO(OnlineFixtures.onlineDPOConfig())
        var rng = RNG(seed: 6)
        for i in 0..<t.policy.params.count { t.policy.params[i] += 0.02 * rng.normal() }
        let pairs = DPOToy.pairs(count: 4, seed: 9, lengths: 2...6).map { PreferenceExample(prompt: Array($0.prompt.prefix(4)), chosen: $0.chosen, rejected: $0.rejected) }
        func loss() -> Double {
            var s = 0.0
            _ = t.pairLoss.process(pairs, cached: nil, gradScale: nil, dropoutStream: 0) { s += $0.loss }
            return s / 4
        }
        t.policy.zeroGrad()
        _ = t.pairLoss.process(pairs, cached: nil, gradScale: 0.25, dropoutStream: 0) { _ in }
        let g = t.policy.grads!.array, lay = t.policy.layout
        for p in [lay.offset("ln_f.bias") + 3, lay.offset("wte.weight") + 4 * 32 + 2, lay.offset("h.0.mlp.c_proj.weight") + 77] {
            let x = t.policy.params[p], h: Float = 1e-2
            t.policy.params[p] = x + h; let up = loss()
            t.policy.params[p] = x - h; let dn = loss()
            t.policy.params[p] = x
            let fd = (up - dn) / Double(2 * h)
            XCTAssertEqual(Double(g[p]), fd, accuracy: 2e-3 + 0.05 * abs(fd), "parameter \(p)")
        }
    }

    /// Online DPO judged by "more 3s is better" raises the number of 3s the policy writes.
    func testOnlineDPORaisesAProgrammaticReward() throws {
        var c = OnlineFixtures.onlineDPOConfig()
        c.steps = 24
        c.batchSize = 16
        c.lr = 3e-3
        c.beta = 0.1
        var means: [Double] = []
        let counter = CountReward()
        let judge: PreferenceJudge = { p, a, b, stream in
            let s = counter.scores(prompts: p + p, responses: a + b)
            means.append(Double(s.reduce(0, +)) / Double(s.count))
            return OnlineDPOTrainer.judge(reward: counter)(p, a, b, stream)
        }
        let t = OnlineFixtures.onlineDPO(c, judge: judge)
        try t.run()
        let first = means.prefix(5).reduce(0, +) / 5, last = means.suffix(5).reduce(0, +) / 5
        print("Online DPO e2e rewards: \(means.map { String(format: "%.2f", $0) }.joined(separator: " ")); memory \(t.memoryBytes) bytes")
        XCTAssertGreaterThan(last, first + 0.75, "mean reward did not rise clearly")
    }

    /// A judge that draws (a noisy labeler) from each pair's stream: a resumed run sees the same
    /// judgements and ends with the same bits.
    func testResumedRunEqualsUninterruptedRun() throws {
        let noisy: PreferenceJudge = { p, a, b, stream in
            (0..<p.count).map { i in
                let d = Float(b[i].filter { $0 == 3 }.count - a[i].filter { $0 == 3 }.count)
                var rng = stream(i)
                return rng.uniform() < 1 / (1 + exp(-d)) ? 1 : 0
            }
        }
        let c = OnlineFixtures.onlineDPOConfig()
        let dir = OnlineFixtures.tempDir("odpo-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = OnlineFixtures.onlineDPO(c, judge: noisy)
        var fullLogs: [Int: [String: Double]] = [:]
        full.hooks.log = { fullLogs[$0] = OnlineFixtures.deterministic($1) }
        try full.run()
        let first = OnlineFixtures.onlineDPO(c, judge: noisy)
        first.trainStep(); first.trainStep()
        try CheckpointStore.save(root: dir, step: first.step) { try first.save(to: $0) }
        let second = OnlineFixtures.onlineDPO(c, judge: noisy)
        second.policy.params.zero()
        try second.restore(from: CheckpointStore.latest(root: dir)!)
        var resumed: [Int: [String: Double]] = [:]
        second.hooks.log = { resumed[$0] = OnlineFixtures.deterministic($1) }
        try second.run()
        XCTAssertEqual(second.policy.params.array, full.policy.params.array)
        XCTAssertEqual(second.optimizer.m.array, full.optimizer.m.array)
        for s in [3, 4] { XCTAssertEqual(resumed[s], fullLogs[s], "metrics of step \(s)") }
        XCTAssertEqual(second.lastChoices, full.lastChoices)
    }

    func testMemoryHasNoValueModel() {
        let t = OnlineFixtures.onlineDPO(OnlineFixtures.onlineDPOConfig())
        XCTAssertEqual(Set(t.memoryBreakdown.keys), ["policy", "reference", "workspaces", "generator"])
    }
}

extension OnlineFixtures {
    static func onlineDPOConfig() -> OnlineDPOConfig {
        var c = OnlineDPOConfig()
        c.steps = 4
        c.batchSize = 8
        c.gradAccum = 2
        c.maxCompletionLength = 10
        c.temperature = 0.9
        c.stopToken = PPOFixtures.eos
        c.lr = 3e-4
        c.checkpointEvery = 0
        c.samplesEvery = 0
        return c
    }

    static func onlineDPO(_ c: OnlineDPOConfig, judge: PreferenceJudge? = nil, seed: UInt64 = 1) -> OnlineDPOTrainer {
        OnlineDPOTrainer(policy: GPT(copying: PPOFixtures.sft), reference: GPT(copying: PPOFixtures.sft),
                         judge: judge ?? OnlineDPOTrainer.judge(reward: CountReward()), prompts: prompts, config: c,
                         pad: PPOFixtures.pad, seed: seed)
    }
}
