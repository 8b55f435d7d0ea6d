import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

// MARK: - Helpers

/// Tiny reward-model shape used by these tests (vocab 16, EOS 15, pad 0).
let rmGPTConfig = GPTConfig(vocabSize: 16, context: 16, nLayer: 2, nHead: 2, nEmbd: 32)
let rmEOS: Int32 = 15

/// The counting task: score(completion) = min(#token 3, 4); prompt of 4 tokens, completions of
/// `length` tokens (each 3 with probability 0.3) then EOS; chosen = higher score, ties dropped.
/// Token 0 (pad) never occurs.
func rmCountingPairs(count: Int, seed: UInt64, length: Int = 6) -> [PairExample] {
    var rng = RNG(seed: seed)
    func completion() -> [Int32] {
        (0..<length).map { _ in
            if rng.uniform() < 0.3 { return 3 }
            var t: Int32
            repeat { t = Int32(1 + rng.int(14)) } while t == 3
            return t
        } + [rmEOS]
    }
    func score(_ c: [Int32]) -> Int { min(c.filter { $0 == 3 }.count, 4) }
    var out: [PairExample] = []
    while out.count < count {
        let prompt = (0..<4).map { _ in Int32(1 + rng.int(14)) }
        let a = completion(), b = completion()
        let sa = score(a), sb = score(b)
        if sa == sb { continue }
        out.append(PairExample(prompt: prompt, chosen: sa > sb ? a : b, rejected: sa > sb ? b : a))
    }
    return out
}

func rmMakeTrainer(steps: Int, seed: UInt64 = 1, train: [PairExample]? = nil, configure: (inout RewardModelConfig) -> Void = { _ in }) -> RewardModelTrainer {
    var c = RewardModelConfig()
    c.steps = steps
    c.batchSize = 8
    c.lr = 1e-3
    c.schedule = LRSchedule(kind: .cosine, warmupSteps: 5, minLRRatio: 0.1)
    c.evalEvery = 0
    c.checkpointEvery = 0
    configure(&c)
    let sft = GPT(config: rmGPTConfig, seed: 7)
    let model = RewardModelTrainer.initialize(from: sft, seed: seed)
    return RewardModelTrainer(model: model, config: c, train: train ?? rmCountingPairs(count: 200, seed: 2),
                              valid: rmCountingPairs(count: 32, seed: 3), pad: 0, seed: seed)
}

final class RewardModelTests: XCTestCase {

    // MARK: - Loss

    func testLossAndGradientMatchClosedForm() {
        let rc: [Float] = [1.0, -2.0, 0, 0.25, 40, -40, 300, -300]
        let rr: [Float] = [0.5, 1.0, 0, 0.25, -40, 40, -300, 300]
        for (m, c) in [(0.0, 0.0), (0.7, 0.0), (0.0, 0.01), (1.5, 0.05)] {
            let r = RewardModelLoss.compute(chosen: rc, rejected: rr, margin: m, centerCoef: c)
            for i in rc.indices {
                let x = Double(rc[i]) - Double(rr[i]) - m
                let s = Double(rc[i]) + Double(rr[i])
                // −log σ(x) = log(1 + e^−x); for |x| ≥ 30 use its asymptotes.
                let nls = x > 30 ? exp(-x) : (x < -30 ? -x + exp(x) : log(1 + exp(-x)))
                let sigNeg = x > 30 ? exp(-x) : (x < -30 ? 1 - exp(x) : 1 / (1 + exp(x)))
                XCTAssertEqual(r.losses[i], nls + c * s * s, accuracy: 1e-12 * max(1, abs(nls)), "pair \(i), m \(m), c \(c)")
                XCTAssertEqual(r.dChosen[i], -sigNeg + 2 * c * s, accuracy: 1e-12, "pair \(i)")
                XCTAssertEqual(r.dRejected[i], sigNeg + 2 * c * s, accuracy: 1e-12, "pair \(i)")
                XCTAssertTrue(r.losses[i].isFinite && r.dChosen[i].isFinite && r.dRejected[i].isFinite)
                // Finite difference of the per-pair loss in r_c (Double) where it is well conditioned.
                if abs(x) < 20 {
                    let h = 1e-5
                    func loss(_ a: Double, _ b: Double) -> Double { RewardModelLoss.negLogSigmoid(a - b - m) + c * (a + b) * (a + b) }
                    let fd = (loss(Double(rc[i]) + h, Double(rr[i])) - loss(Double(rc[i]) - h, Double(rr[i]))) / (2 * h)
                    XCTAssertEqual(fd, r.dChosen[i], accuracy: 1e-7)
                }
            }
        }
        // Known values: −log σ(0) = log 2; a huge wrong-way difference costs its size.
        let r = RewardModelLoss.compute(chosen: [0, -1e4], rejected: [0, 1e4])
        XCTAssertEqual(r.losses[0], log(2), accuracy: 1e-15)
        XCTAssertEqual(r.dChosen[0], -0.5, accuracy: 1e-15)
        XCTAssertEqual(r.losses[1], 2e4, accuracy: 1e-9)
        XCTAssertEqual(r.dChosen[1], -1)
        XCTAssertEqual(r.dRejected[1], 1)
    }

    func testMetricsOfPairs() {
        var s = RewardPairStats()
        s.add(chosen: [2, 0, 1], rejected: [1, 0, 3], losses: [0.1, 0.2, 0.3])
        let m = s.metrics(prefix: "eval/")
        XCTAssertEqual(m["eval/accuracy"]!, 1.0 / 3, accuracy: 1e-12)  // the tie counts as wrong
        XCTAssertEqual(m["eval/margin"]!, (1.0 + 0 - 2) / 3, accuracy: 1e-12)
        XCTAssertEqual(m["eval/loss"]!, 0.2, accuracy: 1e-12)
        XCTAssertEqual(m["eval/reward/mean"]!, 7.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(m["eval/reward/min"], 0)
        XCTAssertEqual(m["eval/reward/max"], 3)
    }

    // MARK: - Where the reward is read

    func testRewardIsReadAtTheLastRealToken() {
        let t = rmMakeTrainer(steps: 1)
        let short = SequenceExample(prompt: [4, 5, 6], completion: [7, 3, rmEOS])
        let long = SequenceExample(prompt: [4, 5, 6, 8], completion: [9, 3, 3, 2, 1, rmEOS])
        let alone = t.reader.rawScores(TokenBatch([short], pad: 0))[0]
        // Padding after the sequence (a longer neighbour, a fixed T) does not change its reward.
        let padded = t.reader.rawScores(TokenBatch([short, long], pad: 0))[0]
        XCTAssertEqual(padded, alone, accuracy: 1e-5)
        var batch = TokenBatch([short], pad: 0, fixedT: 12)
        let fixed = t.reader.rawScores(batch)[0]
        XCTAssertEqual(fixed, alone, accuracy: 1e-5)
        // Changing tokens after the last real token does not either.
        for k in 6..<12 { batch.tokens[k] = Int32(1 + k % 14) }
        XCTAssertEqual(t.reader.rawScores(batch)[0], fixed, accuracy: 1e-6)
        // Changing the last real token does.
        batch.tokens[5] = 3
        XCTAssertGreaterThan(abs(t.reader.rawScores(batch)[0] - fixed), 1e-4)
        // Training reads each sequence at its last real token in the one-row-per-pair layout:
        // row 0 = [4 5 6 | 7 3 15 | 9 15] (3 shared), row 1 = [1 2] with the rejected [1] inside it.
        let pack = RewardPairPack(chosen: [[4, 5, 6, 7, 3, 15], [1, 2]], rejected: [[4, 5, 6, 9, 15], [1]], pad: 0)
        XCTAssertEqual(pack.T, 8)
        XCTAssertEqual(pack.tokens, [4, 5, 6, 7, 3, 15, 9, 15, 1, 2, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(pack.branches, [PrefixBranch(prefix: 3, start: 6), PrefixBranch(prefix: 1, start: 2)])
        XCTAssertEqual(pack.chosenRows, [5, 8 + 1])
        XCTAssertEqual(pack.rejectedRows, [7, 8 + 0])
    }

    /// Training scores each pair in one row (common prefix once); the scores must be those of the
    /// two sequences scored separately, as PPO's scorer reads them — whatever the pair shares:
    /// only the prompt, the first completion tokens too, all of one sequence, or everything.
    func testOneRowPerPairGivesTheScoresOfSeparateSequences() {
        let t = rmMakeTrainer(steps: 1)
        var rng = RNG(seed: 21)
        for i in 0..<t.model.params.count { t.model.params[i] += rng.normal() * 0.1 }
        let pairs = [
            PairExample(prompt: [1, 2, 4, 5], chosen: [3, 3, rmEOS], rejected: [7, rmEOS]),
            PairExample(prompt: [6, 2], chosen: [3, 8, 9, 3, rmEOS], rejected: [3, 8, 4, rmEOS]),   // share "3 8"
            PairExample(prompt: [9, 9, 1], chosen: [3, 3, 3, rmEOS], rejected: [3, 3]),            // rejected inside chosen
            PairExample(prompt: [2, 7], chosen: [4], rejected: [4, 3, 3, rmEOS]),                   // chosen inside rejected
            PairExample(prompt: [5, 5, 5], chosen: [3, rmEOS], rejected: [3, rmEOS]),               // identical
        ]
        let (pack, rc, rr) = t.forward(pairs)
        XCTAssertEqual(pack.T, 9)   // pairs 0 and 1: 7 + 6 tokens, 4 of them shared
        let separate = t.reader.scores(prompts: pairs.map(\.prompt) + pairs.map(\.prompt), responses: pairs.map(\.chosen) + pairs.map(\.rejected))
            .map { $0 - t.reader.bias }
        for i in pairs.indices {
            XCTAssertEqual(rc[i], separate[i], accuracy: 1e-5, "chosen of pair \(i)")
            XCTAssertEqual(rr[i], separate[pairs.count + i], accuracy: 1e-5, "rejected of pair \(i)")
        }
        XCTAssertGreaterThan(Set(rc.map { Int($0 * 1e4) }).count, 3, "scores should differ between sequences")
    }

    /// Scoring lays consecutive completions of one prompt (a GRPO group, best-of-N's samples) in
    /// one row behind one copy of the prompt: each score must be the sequence's score alone, in
    /// runs of one to five, across the batches of `maxBatch`, with an empty completion among them,
    /// and with a lone sequence beside a shared row longer than the context.
    func testSharedPromptScoringGivesTheScoresOfSeparateSequences() {
        let t = rmMakeTrainer(steps: 1)
        var rng = RNG(seed: 5)
        for i in 0..<t.model.params.count { t.model.params[i] += rng.normal() * 0.1 }
        let a: [Int32] = [1, 2, 4, 5], b: [Int32] = [6, 2], c: [Int32] = [9, 9, 1]
        let prompts = [a, a, a, b, c, c, c, c, c, a, b, b, b, b, b, a]
        let responses: [[Int32]] = prompts.indices.map { k in
            let n = k >= 12 && k < 15 ? 7 : 1 + (k * 5) % 7
            return k == 4 ? [] : (0..<n).map { _ in Int32(1 + rng.int(14)) } + (k % 3 == 0 ? [rmEOS] : [])
        }
        XCTAssertGreaterThan(2 + (12..<15).reduce(0) { $0 + responses[$1].count }, rmGPTConfig.context, "batch [b b b a]: a shared row past the context")
        let alone = prompts.indices.map { t.reader.rawScores(TokenBatch([SequenceExample(prompt: prompts[$0], completion: responses[$0])], pad: 0))[0] }
        let scorer = RewardModelScorer(model: t.model, pad: 0, maxBatch: 4)
        let shared = scorer.scores(prompts: prompts, responses: responses)
        for k in prompts.indices { XCTAssertEqual(shared[k], alone[k], accuracy: 2e-5, "sequence \(k)") }
        XCTAssertGreaterThan(Set(alone.map { Int($0 * 1e4) }).count, 6, "scores should differ between sequences")
        // Batch [c c c c] is one row of four: its prompt once and the four completions.
        let rows = SharedPrefixRows(groups: [(sequences: (5..<9).map { c + responses[$0] }, prefix: 3)], pad: 0)
        XCTAssertEqual(rows.B, 1)
        XCTAssertEqual(rows.T, 3 + (5..<9).reduce(0) { $0 + responses[$1].count })
        XCTAssertEqual(rows.branches[0].starts.count, 3)
    }

    /// The whole training gradient (loss → last-token head → trunk) against finite differences,
    /// and no gradient at all through padding.
    func testTrainingGradientMatchesFiniteDifferences() {
        let t = rmMakeTrainer(steps: 1) { $0.margin = 0.3; $0.centerRewardsCoef = 0.05 }
        var pairs = Array(rmCountingPairs(count: 4, seed: 11))
        pairs[1].chosen = [3, 3, rmEOS]  // different lengths, so some sequences are padded
        pairs[2].rejected = [5, rmEOS]
        let n = pairs.count
        func loss() -> Double {
            let (_, rc, rr) = t.forward(pairs)
            return RewardModelLoss.compute(chosen: rc, rejected: rr, margin: 0.3, centerCoef: 0.05).losses.reduce(0, +) / Double(n)
        }
        t.model.zeroGrad()
        var stats = RewardPairStats()
        t.accumulate(pairs, scale: 1 / Double(n), stats: &stats)
        let g = t.model.grads!.array
        XCTAssertEqual(stats.loss / Double(n), loss(), accuracy: 1e-9)
        // The pad token (0) occurs only after last real tokens: its embedding gets no gradient.
        let wte = t.model.layout["wte.weight"]!
        XCTAssertTrue(g[wte.offset..<(wte.offset + rmGPTConfig.nEmbd)].allSatisfy { $0 == 0 })
        // The largest gradients, plus the head, against central differences.
        var idx = Array(g.indices).sorted { abs(g[$0]) > abs(g[$1]) }.prefix(12).map { $0 }
        idx.append(t.model.layout["score.bias"]!.offset)
        let p = t.model.params
        for i in idx {
            let h: Float = 1e-2, old = p[i]
            p[i] = old + h; let up = loss()
            p[i] = old - h; let down = loss()
            p[i] = old
            let fd = (up - down) / (2 * Double(h))
            XCTAssertEqual(Double(g[i]), fd, accuracy: 2e-3 + 0.03 * abs(fd), "parameter \(i)")
        }
        XCTAssertGreaterThan(abs(g[idx[0]]), 1e-3)
    }

    // MARK: - Normalization

    func testNormalizationCentersTheScorerOnItsSet() throws {
        let t = rmMakeTrainer(steps: 10)
        try t.run()  // normalizes on the training pairs' chosen completions at the end
        XCTAssertTrue(t.normalized)
        let set = try t.normalizationSet()
        XCTAssertEqual(set.count, t.train.count)
        let s = t.scorer()
        XCTAssertEqual(s.bias, t.bias)
        let raw = RewardModelScorer(model: t.model, pad: 0).scores(prompts: set.map(\.prompt), responses: set.map(\.completion))
        XCTAssertGreaterThan(abs(raw.reduce(0, +) / Float(raw.count)), 1e-3, "raw rewards were already centred: the test proves nothing")
        let centred = s.scores(prompts: set.map(\.prompt), responses: set.map(\.completion))
        XCTAssertEqual(Double(centred.reduce(0, +)) / Double(centred.count), 0, accuracy: 1e-5)

        // On policy samples.
        let u = rmMakeTrainer(steps: 3) { $0.normalizeOn = .policySamples }
        XCTAssertThrowsError(try u.run()) { XCTAssertTrue("\($0)".contains("policy_samples")) }
        XCTAssertEqual(u.step, 0, "missing samples must be reported before training")
        u.policySamples = rmCountingPairs(count: 40, seed: 9).map { SequenceExample(prompt: $0.prompt, completion: $0.rejected) }
        try u.run()
        let ps = u.scorer().scores(prompts: u.policySamples.map(\.prompt), responses: u.policySamples.map(\.completion))
        XCTAssertEqual(Double(ps.reduce(0, +)) / Double(ps.count), 0, accuracy: 1e-5)
        XCTAssertNotEqual(u.bias, 0)
    }

    // MARK: - Resume

    func testResumedRunEqualsUninterruptedRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rm-resume-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = rmMakeTrainer(steps: 12) { $0.gradAccum = 2 }
        try full.run()
        let first = rmMakeTrainer(steps: 12) { $0.gradAccum = 2 }
        for _ in 0..<5 { first.trainStep() }
        try CheckpointStore.save(root: dir, step: first.step) { try first.save(to: $0) }
        let second = rmMakeTrainer(steps: 12) { $0.gradAccum = 2 }
        second.model.params.zero()  // the weights must come from the checkpoint
        try second.restore(from: CheckpointStore.latest(root: dir)!)
        XCTAssertEqual(second.step, 5)
        try second.run()
        XCTAssertEqual(second.model.params.array, full.model.params.array, "resumed weights differ from the uninterrupted run")
        XCTAssertEqual(second.optimizer.m.array, full.optimizer.m.array)
        XCTAssertEqual(second.optimizer.v.array, full.optimizer.v.array)
        XCTAssertEqual(second.bias, full.bias)
        XCTAssertNotEqual(full.bias, 0)

        // The final checkpoint carries the bias, and its scorer is the trainer's.
        try CheckpointStore.save(root: dir, step: full.step) { try full.save(to: $0) }
        let loaded = try RewardModelTrainer.loadScorer(from: CheckpointStore.latest(root: dir)!, pad: 0)
        XCTAssertEqual(loaded.bias, full.bias)
        let prompts = full.valid.map(\.prompt), responses = full.valid.map(\.chosen)
        XCTAssertEqual(loaded.scores(prompts: prompts, responses: responses), full.scorer().scores(prompts: prompts, responses: responses))
        let third = rmMakeTrainer(steps: 12)
        try third.restore(from: CheckpointStore.latest(root: dir)!)
        XCTAssertEqual(third.bias, full.bias)
        XCTAssertTrue(third.normalized)
    }

    func testGradientAccumulationEqualsOneBigBatch() {
        // Step 0 of (8 pairs × 2 microbatches) and of (16 pairs × 1) see the same 16 pairs.
        let a = rmMakeTrainer(steps: 1) { $0.batchSize = 16 }
        let b = rmMakeTrainer(steps: 1) { $0.batchSize = 8; $0.gradAccum = 2 }
        XCTAssertEqual(Set(a.pairs(step: 0, micro: 0).map { "\($0)" }),
                       Set((b.pairs(step: 0, micro: 0) + b.pairs(step: 0, micro: 1)).map { "\($0)" }))
        let before = a.model.params.array
        let ma = a.trainStep(), mb = b.trainStep()
        // Compare the accumulated gradients (Adam's first step is ≈ lr·sign(g), which magnifies
        // rounding in near-zero gradients, so the updated weights are not the right yardstick).
        let ga = a.model.grads!.array, gb = b.model.grads!.array
        var maxDiff: Float = 0, maxG: Float = 0
        for (x, y) in zip(ga, gb) { maxDiff = max(maxDiff, abs(x - y)); maxG = max(maxG, abs(x)) }
        XCTAssertGreaterThan(maxG, 1e-3)
        XCTAssertLessThan(maxDiff, 1e-5 * maxG)
        XCTAssertNotEqual(a.model.params.array, before)
        XCTAssertEqual(ma["loss"]!, mb["loss"]!, accuracy: 1e-6)
        for k in ["loss", "accuracy", "margin", "reward/mean", "reward/min", "reward/max", "grad_norm", "lr", "pairs_per_s"] {
            XCTAssertNotNil(ma[k], k)
        }
    }

    // MARK: - Model and config

    func testInitializationCopiesTheTrunkAndResetsTheHead() {
        let sft = GPT(config: rmGPTConfig, seed: 5)
        let m = RewardModelTrainer.initialize(from: sft, seed: 6)
        XCTAssertTrue(m.config.scalarHead)
        for t in sft.layout.tensors {
            let o = m.layout[t.name]!
            XCTAssertEqual(Array(m.params.array[o.offset..<(o.offset + o.count)]), Array(sft.params.array[t.offset..<(t.offset + t.count)]), t.name)
        }
        let w = m.layout["score.weight"]!
        let head = Array(m.params.array[w.offset..<(w.offset + w.count)])
        let std = (head.reduce(0) { $0 + Double($1 * $1) } / Double(head.count)).squareRoot()
        XCTAssertEqual(std, 1 / Double(rmGPTConfig.nEmbd + 1).squareRoot(), accuracy: 0.07)
        XCTAssertEqual(m.params[m.layout["score.bias"]!.offset], 0)
    }

}
