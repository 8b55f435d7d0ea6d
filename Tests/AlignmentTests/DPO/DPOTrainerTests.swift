import XCTest
@testable import Alignment
import Engine
import Files
import GPT

final class DPOTrainerTests: XCTestCase {
    func makeTrainer(steps: Int, policy: GPT? = nil, reference: GPT? = nil, precompute: Bool = true,
                     gradAccum: Int = 1, batchSize: Int = 8, trainPairs: Int = 40, configure: (inout DPOConfig) -> Void = { _ in }) -> DPOTrainer {
        var c = DPOToy.dpoConfig(steps: steps, batchSize: batchSize)
        c.gradAccum = gradAccum
        c.precomputeRefLogProbs = precompute
        c.schedule = LRSchedule(kind: .linear, warmupSteps: 3, minLRRatio: 0)
        configure(&c)
        let p = policy ?? DPOToy.randomModel(seed: 11, scale: 0.1)
        let ref = reference ?? GPT(copying: p)
        return DPOTrainer(policy: p, reference: ref, config: c, train: DPOToy.pairs(count: trainPairs, seed: 21, lengths: 3...7),
                          valid: DPOToy.pairs(count: 20, seed: 22, lengths: 3...7), pad: DPOToy.pad, seed: 5)
    }

    /// Policy == reference: z = 0 for every pair, so every implicit reward is 0 and the sigmoid loss is log 2.
    func testAtInitializationLossIsLog2AndRewardsAreZero() {
        for precompute in [true, false] {
            let t = makeTrainer(steps: 1, precompute: precompute)
            let pairs = t.evaluatePairs()
            XCTAssertEqual(pairs.count, 20)
            for p in pairs {
                XCTAssertEqual(p.chosenReward, 0, "precompute=\(precompute)")
                XCTAssertEqual(p.rejectedReward, 0)
                XCTAssertEqual(p.loss, Foundation.log(2.0), accuracy: 1e-12)
                XCTAssertLessThan(p.chosenLogp, -1)  // real, non-trivial log-probs
            }
            let m = t.evaluate()
            XCTAssertEqual(m["eval/loss"]!, Foundation.log(2.0), accuracy: 1e-12)
            XCTAssertEqual(m["eval/rewards/margins"], 0)
            XCTAssertEqual(m["eval/rewards/accuracies"], 0)
            XCTAssertEqual(Set(m.keys), ["eval/loss", "eval/rewards/chosen", "eval/rewards/rejected", "eval/rewards/margins",
                                         "eval/rewards/accuracies", "eval/logps/chosen", "eval/logps/rejected"])
            // The first training step (cached reference computed in other batches) starts at log 2 too.
            let s = t.trainStep()
            XCTAssertEqual(s["loss"]!, Foundation.log(2.0), accuracy: 1e-5)
            XCTAssertEqual(s["rewards/chosen"]!, 0, accuracy: 1e-5)
            for k in ["grad_norm", "lr", "pairs_per_s", "tokens_per_s", "logps/chosen", "logps/rejected"] { XCTAssertNotNil(s[k], k) }
            XCTAssertGreaterThan(s["grad_norm"]!, 0)
        }
    }

    func testCachedAndOnTheFlyReferenceGiveTheSameTraining() {
        let a = makeTrainer(steps: 4, precompute: true), b = makeTrainer(steps: 4, precompute: false)
        for _ in 0..<4 {
            let ma = a.trainStep(), mb = b.trainStep()
            XCTAssertEqual(ma["loss"]!, mb["loss"]!, accuracy: 1e-4)
            XCTAssertEqual(ma["rewards/margins"]!, mb["rewards/margins"]!, accuracy: 1e-4)
        }
        XCTAssertEqual(a.referencePasses, 1)
        XCTAssertEqual(b.referencePasses, 0)
        XCTAssertFalse(b.hasReferenceCache)
    }

    func testReferenceFreeUsesZeroReferenceLogProbs() {
        let t = makeTrainer(steps: 1) { $0.referenceFree = true }
        XCTAssertNil(t.reference)
        for p in t.evaluatePairs() {
            XCTAssertEqual(p.chosenReward, 0.1 * p.chosenLogp, accuracy: 1e-12)
            XCTAssertEqual(p.margin, p.chosenLogp - p.rejectedLogp, accuracy: 1e-12)
        }
    }

    /// IPO's convention: the trainer hands dpoLoss the completion lengths, so the log-probs it uses
    /// (and reports) are per-token averages of the sequence sums.
    func testIPOUsesLogProbsAveragedOverCompletionTokens() {
        let t = makeTrainer(steps: 1) { $0.lossType = .ipo }
        let pb = PreferenceBatch(t.valid, pad: DPOToy.pad)
        let ws = GPTWorkspace(config: t.policy.config, maxB: 2 * t.valid.count, maxT: 16)
        let sums = pb.sequenceLogProbs(model: t.policy, ws: ws, logp: Scratch())
        let n = t.valid.count
        for (i, p) in t.evaluatePairs().enumerated() {
            XCTAssertEqual(p.chosenLogp, sums[i] / Double(t.valid[i].chosen.count), accuracy: 1e-5)
            XCTAssertEqual(p.rejectedLogp, sums[n + i] / Double(t.valid[i].rejected.count), accuracy: 1e-5)
            XCTAssertEqual(p.loss, 25, accuracy: 1e-9)  // z = 0: (0 − 1/(2·0.1))²
        }
    }

    func testTrainingRaisesRewardAccuracyAndMargins() {
        let t = makeTrainer(steps: 15)
        try! t.run()
        let m = t.evaluate()
        XCTAssertGreaterThan(m["eval/rewards/margins"]!, 0)
        XCTAssertLessThan(m["eval/loss"]!, Foundation.log(2.0))
    }

    func testResumedRunEqualsUninterruptedRun() throws {
        for precompute in [true, false] {
            let dir = DPOToy.tempDir("resume")
            defer { try? FileManager.default.removeItem(at: dir) }
            let full = makeTrainer(steps: 8, precompute: precompute, gradAccum: 2, batchSize: 4, trainPairs: 20)
            try full.run()
            let first = makeTrainer(steps: 8, precompute: precompute, gradAccum: 2, batchSize: 4, trainPairs: 20)
            for _ in 0..<3 { first.trainStep() }
            try CheckpointStore.save(root: dir, step: first.step) { try first.save(to: $0) }
            let ckpt = CheckpointStore.latest(root: dir)!
            XCTAssertEqual(FileManager.default.fileExists(atPath: ckpt.appendingPathComponent(DPOTrainer.referenceCacheFile).path), precompute)
            let second = makeTrainer(steps: 8, precompute: precompute, gradAccum: 2, batchSize: 4, trainPairs: 20)
            second.policy.params.zero()  // the weights must come from the checkpoint
            try second.restore(from: ckpt)
            XCTAssertEqual(second.step, 3)
            try second.run()
            XCTAssertEqual(second.referencePasses, 0, "the resumed run recomputed the reference log-probs")
            XCTAssertEqual(second.policy.params.array, full.policy.params.array, "resumed weights differ (precompute=\(precompute))")
            XCTAssertEqual(second.optimizer.m.array, full.optimizer.m.array)
            XCTAssertEqual(second.optimizer.v.array, full.optimizer.v.array)
            XCTAssertEqual(second.evaluate(), full.evaluate())
        }
    }

    func testReferenceCacheRoundTripsAndRejectsAnotherRun() throws {
        let dir = DPOToy.tempDir("cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("ref.json")
        let a = makeTrainer(steps: 1)
        try a.saveReferenceCache(to: url)
        XCTAssertEqual(a.referencePasses, 1)
        let b = makeTrainer(steps: 1)
        try b.loadReferenceCache(from: url)
        XCTAssertEqual(b.refTrain, a.refTrain)  // Doubles, bit for bit
        XCTAssertEqual(b.refValid, a.refValid)
        XCTAssertEqual(b.evaluate(), a.evaluate())
        XCTAssertEqual(b.referencePasses, 0)

        // Another reference model.
        let other = DPOToy.randomModel(seed: 11, scale: 0.1)
        other.params[0] += 1
        let c = makeTrainer(steps: 1, reference: other)
        XCTAssertThrowsError(try c.loadReferenceCache(from: url)) { XCTAssertTrue("\($0)".contains("other reference weights"), "\($0)") }
        // Other truncation (hence other pairs).
        let d = makeTrainer(steps: 1) { $0.maxCompletionLength = 4 }
        XCTAssertThrowsError(try d.loadReferenceCache(from: url)) { XCTAssertTrue("\($0)".contains("other training pairs"), "\($0)") }
        // Garbage.
        try DurableFile.write("{}", to: url)
        XCTAssertThrowsError(try b.loadReferenceCache(from: url)) { XCTAssertTrue("\($0)".contains(url.path), "\($0)") }
    }

    func testPairOrderIsAPureFunctionOfSeedAndStep() {
        let a = PairEpochs(count: 10, batchSize: 4, microPerStep: 2, seed: 3), b = PairEpochs(count: 10, batchSize: 4, microPerStep: 2, seed: 3)
        let seqA = (0..<5).flatMap { s in (0..<2).flatMap { a.indices(step: s, micro: $0) } }
        let seqB = (0..<5).reversed().flatMap { s in (0..<2).flatMap { b.indices(step: s, micro: $0) } }
        XCTAssertEqual(seqA.count, 40)
        XCTAssertEqual(Set(seqA[0..<10]), Set(0..<10))  // one epoch covers every pair once
        XCTAssertEqual(Array(seqA[0..<8]), Array(seqB[32..<40]))
        XCTAssertNotEqual(Array(seqA[0..<10]), Array(seqA[10..<20]))  // reshuffled each epoch
    }
}
