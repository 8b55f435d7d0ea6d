import XCTest
@testable import Alignment
import Engine
import GPT

/// The sequence log-prob that DPO differentiates, and how its gradient reaches the model.
final class DPOSequenceTests: XCTestCase {
    let pairs = [
        PreferenceExample(prompt: [5, 6, 7, 2], chosen: [3, 3, 9, 1], rejected: [8, 1]),
        PreferenceExample(prompt: [4, 2], chosen: [10, 11, 12, 13, 3, 1], rejected: [3, 14, 15, 9, 9, 1]),
        PreferenceExample(prompt: [9, 8, 7, 6, 5, 2], chosen: [3, 1], rejected: [1]),
    ]

    /// log π(y_t | x, y_<t) by a separate forward of each growing prefix and a log-softmax in Double.
    func prefixLogProb(_ model: GPT, prompt: [Int32], completion: [Int32]) -> Double {
        let seq = prompt + completion
        let ws = GPTWorkspace(config: model.config, maxB: 1, maxT: seq.count)
        var total = 0.0
        for t in prompt.count..<seq.count {
            let prefix = Array(seq[0..<t])
            prefix.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: 1, T: t, ws: ws) }
            let z = model.logits(ws: ws, rows: [t - 1]).map(Double.init)
            let mx = z.max()!
            let lse = mx + Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - mx) })
            total += z[Int(seq[t])] - lse
        }
        return total
    }

    func testSequenceLogProbIsSumOfPrefixTokenLogProbs() {
        for shared in [false, true] { checkSequenceLogProbs(sharedPrompt: shared) }
    }

    func checkSequenceLogProbs(sharedPrompt: Bool) {
        let model = DPOToy.randomModel(seed: 3)
        let pb = PreferenceBatch(pairs, pad: 0, sharedPrompt: sharedPrompt)
        let ws = GPTWorkspace(config: model.config, maxB: 6, maxT: 16)
        let seq = pb.sequenceLogProbs(model: model, ws: ws, logp: Scratch())
        XCTAssertEqual(seq.count, 6)
        for (i, p) in pairs.enumerated() {
            let w = prefixLogProb(model, prompt: p.prompt, completion: p.chosen)
            let l = prefixLogProb(model, prompt: p.prompt, completion: p.rejected)
            XCTAssertEqual(seq[i], w, accuracy: 1e-4 * max(1, abs(w)), "chosen of pair \(i), shared prompt \(sharedPrompt)")
            XCTAssertEqual(seq[3 + i], l, accuracy: 1e-4 * max(1, abs(l)), "rejected of pair \(i), shared prompt \(sharedPrompt)")
            XCTAssertEqual(pb.tokenCount(i), p.chosen.count)
            XCTAssertEqual(pb.tokenCount(3 + i), p.rejected.count)
        }
        // Sanity: the values are not trivially equal (the model is far from uniform).
        XCTAssertGreaterThan(abs(seq[0] - seq[3]), 0.1)
    }

    func testPaddingAndBatchCompanionsDoNotChangeSequenceLogProbs() {
        let model = DPOToy.randomModel(seed: 4)
        let ws = GPTWorkspace(config: model.config, maxB: 6, maxT: 32)
        for shared in [false, true] {
            let base = PreferenceBatch(pairs, pad: 0, sharedPrompt: shared).sequenceLogProbs(model: model, ws: ws, logp: Scratch())
            // Other padding token, more padding (past the context of 16 in the shared layout: clamped positions).
            let padded = PreferenceBatch(pairs, pad: 13, fixedT: shared ? 24 : 16, sharedPrompt: shared)
                .sequenceLogProbs(model: model, ws: ws, logp: Scratch())
            for (a, b) in zip(base, padded) { XCTAssertEqual(a, b, accuracy: 1e-5, "shared prompt \(shared)") }
            // Pair 2 alone (much less padding than beside pair 1).
            let alone = PreferenceBatch([pairs[2]], pad: 0, sharedPrompt: shared).sequenceLogProbs(model: model, ws: ws, logp: Scratch())
            XCTAssertEqual(alone[0], base[2], accuracy: 1e-5)
            XCTAssertEqual(alone[1], base[5], accuracy: 1e-5)
        }
    }

    /// One sequence per pair with the rejected completion masked from the chosen one gives the
    /// separate layout's loss terms and gradients (up to float rounding) with fewer tokens.
    func testSharedPromptLayoutMatchesSeparateSequences() {
        var grads: [[Float]] = [], terms: [[DPOLossTerms]] = [], tokens: [Int] = []
        for shared in [false, true] {
            let policy = DPOToy.randomModel(seed: 12, scale: 0.3)
            var c = DPOToy.dpoConfig(steps: 1, batchSize: 3)
            c.precomputeRefLogProbs = false
            c.rpoAlpha = 0.5
            c.sharedPrompt = shared
            let t = DPOTrainer(policy: policy, reference: DPOToy.randomModel(seed: 13, scale: 0.3), config: c, train: pairs, valid: [], pad: 0, seed: 1)
            policy.zeroGrad()
            var out: [DPOLossTerms] = []
            tokens.append(t.process(pairs, cached: nil, gradScale: 1.0 / 3, dropoutStream: 0) { out.append($0) })
            terms.append(out)
            grads.append(policy.grads!.array)
        }
        // Σ(2·|x| + |y_w| + |y_l|) = 45 tokens against Σ(|x| + |y_w| + |y_l|) = 33: each prompt once.
        XCTAssertEqual(tokens, [45, 33])
        for (a, b) in zip(terms[0], terms[1]) {
            XCTAssertEqual(a.chosenLogp, b.chosenLogp, accuracy: 1e-4)
            XCTAssertEqual(a.rejectedLogp, b.rejectedLogp, accuracy: 1e-4)
            XCTAssertEqual(a.loss, b.loss, accuracy: 1e-5)
        }
        let norm = grads[0].reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        XCTAssertGreaterThan(norm, 1e-2)
        let diff = zip(grads[0], grads[1]).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        XCTAssertLessThan(diff / norm, 1e-4, "gradients of the two layouts differ")
        // The position embedding receives the rejected tokens' gradient at their own positions:
        // no gradient reaches positions beyond the longest prompt + completion (8).
        let policy = DPOToy.randomModel(seed: 12, scale: 0.3)
        let wpe = policy.layout.offset("wpe.weight"), C = policy.config.nEmbd
        for pos in 8..<policy.config.context {
            XCTAssertEqual(grads[1][(wpe + pos * C)..<(wpe + (pos + 1) * C)].reduce(0) { $0 + abs($1) }, 0, "wpe row \(pos)")
        }
    }

    /// The loss's gradient reaches the hidden states only at rows that predict completion tokens:
    /// rows predicting prompt tokens and padding rows get exactly zero.
    func testGradientReachesOnlyCompletionRows() {
        for shared in [false, true] { checkGradientRows(sharedPrompt: shared) }
    }

    func checkGradientRows(sharedPrompt: Bool) {
        let model = DPOToy.randomModel(seed: 5)
        var c = DPOToy.dpoConfig(steps: 1, batchSize: 3)
        c.precomputeRefLogProbs = false
        c.sharedPrompt = sharedPrompt
        let t = DPOTrainer(policy: model, reference: DPOToy.randomModel(seed: 6), config: c, train: pairs, valid: [], pad: 0, seed: 1)
        model.zeroGrad()
        _ = t.process(pairs, cached: nil, gradScale: 1, dropoutStream: 0) { _ in }
        let batch = PreferenceBatch(pairs, pad: 0, sharedPrompt: sharedPrompt).batch
        let C = model.config.nEmbd
        // Rows predicting completion tokens, from the pairs. Separate layout: sequence b's positions
        // |prompt|−1 … |prompt|+|y|−2. Shared layout (row b = pair b): the chosen rows as before, the
        // rejected ones at |prompt|−1 and |prompt|+|y_w| … |prompt|+|y_w|+|y_l|−2.
        var predicting = Set<Int>()
        if sharedPrompt {
            for (b, p) in pairs.enumerated() {
                let P = p.prompt.count, start = P + p.chosen.count
                for t in (P - 1)..<(start - 1) { predicting.insert(b * batch.T + t) }
                predicting.insert(b * batch.T + P - 1)
                for t in start..<(start + p.rejected.count - 1) { predicting.insert(b * batch.T + t) }
            }
        } else {
            for (b, (prompt, y)) in (pairs.map { ($0.prompt, $0.chosen) } + pairs.map { ($0.prompt, $0.rejected) }).enumerated() {
                for t in (prompt.count - 1)..<(prompt.count + y.count - 1) { predicting.insert(b * batch.T + t) }
            }
        }
        var nonzeroRows = 0
        for r in 0..<(batch.B * batch.T) {
            let norm = (0..<C).reduce(Float(0)) { $0 + abs(t.ws.hiddenGrad[r * C + $1]) }
            if predicting.contains(r) {
                if norm > 0 { nonzeroRows += 1 }
            } else {
                XCTAssertEqual(norm, 0, "row \(r) (b=\(r / batch.T), t=\(r % batch.T)) is not a completion row but has a gradient (shared prompt \(sharedPrompt))")
            }
        }
        XCTAssertEqual(nonzeroRows, predicting.count)
    }

    /// The whole DPO loss (mean over pairs) differentiated through the model: the directional
    /// derivative along the computed gradient and along a random direction matches finite differences.
    func testWholeModelGradientMatchesFiniteDifferences() {
        for (type, shared) in [(DPOLossType.sigmoid, true), (.ipo, true), (.sigmoid, false)] {
            let reference = DPOToy.randomModel(seed: 7, scale: 0.2)
            let policy = GPT(copying: reference)
            var rng = RNG(seed: 8)
            for i in 0..<policy.params.count { policy.params[i] += rng.normal() * 0.02 }
            var c = DPOToy.dpoConfig(steps: 1, batchSize: 3)
            c.lossType = type
            c.beta = 0.5
            c.rpoAlpha = 0.3
            c.precomputeRefLogProbs = false
            c.sharedPrompt = shared
            let t = DPOTrainer(policy: policy, reference: reference, config: c, train: pairs, valid: [], pad: 0, seed: 1)
            func loss() -> Double {
                var s = 0.0
                _ = t.process(pairs, cached: nil, gradScale: nil, dropoutStream: 0) { s += $0.loss }
                return s / 3
            }
            policy.zeroGrad()
            _ = t.process(pairs, cached: nil, gradScale: 1.0 / 3, dropoutStream: 0) { _ in }
            let g = policy.grads!.array.map(Double.init)
            let gnorm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
            XCTAssertGreaterThan(gnorm, 1e-3)
            var random = (0..<g.count).map { _ in Double(rng.normal()) }
            let rn = random.reduce(0) { $0 + $1 * $1 }.squareRoot()
            random = random.map { $0 / rn }
            for (name, dir) in [("gradient", g.map { $0 / gnorm }), ("random", random)] {
                let analytic = zip(g, dir).reduce(0) { $0 + $1.0 * $1.1 }
                let saved = policy.params.array
                let h = 1e-2
                for i in 0..<saved.count { policy.params[i] = saved[i] + Float(h * dir[i]) }
                let lp = loss()
                for i in 0..<saved.count { policy.params[i] = saved[i] - Float(h * dir[i]) }
                let lm = loss()
                for i in 0..<saved.count { policy.params[i] = saved[i] }
                let fd = (lp - lm) / (2 * h)
                XCTAssertEqual(analytic, fd, accuracy: 0.02 * max(abs(fd), gnorm * 0.05), "\(type), shared prompt \(shared), along the \(name) direction")
            }
        }
    }
}
