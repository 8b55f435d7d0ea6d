import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

final class RewardModelEndToEndTests: XCTestCase {
    /// Pairs of random completions labeled by a programmatic preference (more 3s is better, up to
    /// 4); the reward model learns it to ≥ 90% held-out accuracy.
    func testLearnsAProgrammaticPreference() throws {
        let train = rmCountingPairs(count: 800, seed: 21)
        let valid = rmCountingPairs(count: 200, seed: 22)
        var c = RewardModelConfig()
        c.steps = 40
        c.batchSize = 16
        c.lr = 2e-3
        c.schedule = LRSchedule(kind: .cosine, warmupSteps: 10, minLRRatio: 0.1)
        c.evalEvery = 20
        c.checkpointEvery = 0
        let sft = GPT(config: rmGPTConfig, seed: 3)
        let model = RewardModelTrainer.initialize(from: sft, seed: 4)
        let t = RewardModelTrainer(model: model, config: c, train: train, valid: valid, pad: 0, seed: 5)
        let before = t.evaluate()
        var logs: [(Int, [String: Double])] = []
        t.hooks.log = { logs.append(($0, $1)) }
        let t0 = Date()
        let last = try t.run()
        let secs = Date().timeIntervalSince(t0)
        let acc = last["eval/accuracy"]!
        print("reward model end to end: held-out accuracy \(before["eval/accuracy"]!) -> \(acc), eval/loss \(before["eval/loss"]!) -> \(last["eval/loss"]!), \(logs.count) steps in \(String(format: "%.1f", secs)) s, bias \(t.bias)")
        let pps = logs.map { $0.1["pairs_per_s"]! }.reduce(0, +) / Double(logs.count)
        print("mean pairs_per_s (debug build):", pps)
        print("eval/accuracy by step:", logs.compactMap { l in l.1["eval/accuracy"].map { (l.0, $0) } })
        XCTAssertGreaterThanOrEqual(acc, 0.9, "held-out accuracy \(acc)")
        XCTAssertLessThan(last["eval/loss"]!, before["eval/loss"]!)
        XCTAssertEqual(logs.count, c.steps)
        XCTAssertEqual(logs.filter { $0.1["eval/accuracy"] != nil }.map(\.0), [20, 40])
        XCTAssertNotNil(last["reward/bias"])
        // The scorer PPO gets ranks chosen above rejected, as the trainer's raw rewards do.
        let s = t.scorer()
        let rc = s.scores(prompts: valid.map(\.prompt), responses: valid.map(\.chosen))
        let rr = s.scores(prompts: valid.map(\.prompt), responses: valid.map(\.rejected))
        let scorerAcc = Double(zip(rc, rr).filter { $0 > $1 }.count) / Double(valid.count)
        XCTAssertEqual(scorerAcc, acc, accuracy: 0.011)
    }
}
