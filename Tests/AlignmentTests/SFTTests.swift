import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

/// Copy task: prompt "a b c d SEP", completion "a b c d EOS".
func copyTask(count: Int, seed: UInt64, vocab: Int = 12) -> [SequenceExample] {
    var rng = RNG(seed: seed)
    let sep = Int32(vocab - 2), eos = Int32(vocab - 1)
    return (0..<count).map { _ in
        let s = (0..<4).map { _ in Int32(rng.int(vocab - 3)) }
        return SequenceExample(prompt: s + [sep], completion: s + [eos])
    }
}

final class SFTTests: XCTestCase {
    let config = GPTConfig(vocabSize: 12, context: 12, nLayer: 2, nHead: 2, nEmbd: 32)

    func makeTrainer(steps: Int, seed: UInt64 = 1) -> SFTTrainer {
        var c = SFTConfig()
        c.steps = steps
        c.batchSize = 16
        c.lr = 3e-3
        c.schedule = LRSchedule(kind: .cosine, warmupSteps: 10, minLRRatio: 0.1)
        c.evalEvery = 0
        c.checkpointEvery = 0
        let data = copyTask(count: 400, seed: 2)
        let model = GPT(config: config, seed: seed)
        return SFTTrainer(model: model, config: c, source: ShuffledEpochs(data, batchSize: 16, microPerStep: 1, seed: seed),
                          valid: copyTask(count: 64, seed: 3), pad: 0, maxLength: 12, seed: seed)
    }

    func testCopyTaskLossGoesToNearZero() throws {
        let t = makeTrainer(steps: 300)
        let before = t.evaluate()
        XCTAssertGreaterThan(before, 2.0)
        try t.run()
        let after = t.evaluate()
        XCTAssertLessThan(after, 0.05, "held-out copy loss \(after) (was \(before))")
    }

    func testGradientAccumulationEqualsOneBigBatch() {
        // Two microbatches of 8 = one batch of 16 with the same examples: same update.
        let data = copyTask(count: 16, seed: 4)
        struct Fixed: BatchSource {
            let items: [SequenceExample], split: Bool
            func examples(step: Int, micro: Int) -> [SequenceExample] { split ? Array(items[(micro * 8)..<(micro * 8 + 8)]) : items }
        }
        var c = SFTConfig()
        c.steps = 1; c.evalEvery = 0; c.checkpointEvery = 0
        var outs: [[Float]] = []
        for split in [false, true] {
            c.batchSize = split ? 8 : 16
            c.gradAccum = split ? 2 : 1
            let m = GPT(config: config, seed: 9)
            let t = SFTTrainer(model: m, config: c, source: Fixed(items: data, split: split), valid: [], pad: 0, maxLength: 12, seed: 9)
            t.trainStep()
            outs.append(m.params.array)
        }
        var maxDiff: Float = 0
        for (a, b) in zip(outs[0], outs[1]) { maxDiff = max(maxDiff, abs(a - b)) }
        XCTAssertLessThan(maxDiff, 1e-6)
        XCTAssertNotEqual(outs[0], GPT(config: config, seed: 9).params.array)
    }

    func testResumedRunEqualsUninterruptedRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sft-resume-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = makeTrainer(steps: 20)
        try full.run()
        let first = makeTrainer(steps: 20)
        for _ in 0..<8 { first.trainStep() }
        try CheckpointStore.save(root: dir, step: first.step) { try first.save(to: $0) }
        let second = makeTrainer(steps: 20, seed: 1)
        // Scramble the fresh model to prove the weights come from the checkpoint.
        second.model.params.zero()
        try second.restore(from: CheckpointStore.latest(root: dir)!)
        XCTAssertEqual(second.step, 8)
        try second.run()
        XCTAssertEqual(second.model.params.array, full.model.params.array, "resumed weights differ from the uninterrupted run")
        XCTAssertEqual(second.optimizer.m.array, full.optimizer.m.array)
    }

    func testTruncationRule() {
        let e = SequenceExample(prompt: [1, 2, 3, 4, 5, 6], completion: [7, 8, 9, 10])
        XCTAssertEqual(truncate(e, maxLength: 8, maxCompletion: 3), SequenceExample(prompt: [2, 3, 4, 5, 6], completion: [7, 8, 9]))
        XCTAssertEqual(truncate(e, maxLength: 20, maxCompletion: 10), e)
        XCTAssertEqual(truncate(e, maxLength: 4, maxCompletion: 10), SequenceExample(prompt: [6], completion: [7, 8, 9]))
    }

    func testBatchRowsPredictCompletionTokensOnly() {
        let b = TokenBatch([SequenceExample(prompt: [5, 6], completion: [7, 8]), SequenceExample(prompt: [1], completion: [2])], pad: 0)
        XCTAssertEqual(b.T, 4)
        XCTAssertEqual(b.tokens, [5, 6, 7, 8, 1, 2, 0, 0])
        XCTAssertEqual(b.rows, [1, 2, 4])
        XCTAssertEqual(b.targets, [7, 8, 2])
        XCTAssertEqual(b.rowStart, [0, 2, 3])
    }
}
