import XCTest
@testable import Alignment
import Foundation

/// GRPO's token loss, its gradient, and the four loss normalisations against hand-computed values.
final class GRPOLossTests: XCTestCase {
    // Two microbatches of per-token losses; the second's last completion is masked (truncated).
    //   micro 0: A = [1, 3] (2 tokens), B = [2] (1 token)
    //   micro 1: C = [1, 1, 7, 1] (4 tokens), D = [0.5, 0.5] masked
    // max_completion_length 4.
    let losses: [[[Double]]] = [[[1, 3], [2]], [[1, 1, 7, 1], [0.5, 0.5]]]
    let active = [[true, true], [true, false]]

    func testGRPONormalisation() {
        // Mean over each completion's tokens, then over the 4 completions (D counts, with 0):
        // (4/2 + 2/1 + 10/4 + 0) / 4 = 6.5/4.
        XCTAssertEqual(GRPOLoss.stepLoss(losses, active: active, type: .grpo, maxCompletionLength: 4), 1.625, accuracy: 1e-12)
    }

    func testBNPONormalisation() {
        // Each microbatch's token mean, averaged over microbatches: (6/3 + 10/4) / 2.
        XCTAssertEqual(GRPOLoss.stepLoss(losses, active: active, type: .bnpo, maxCompletionLength: 4), 2.25, accuracy: 1e-12)
    }

    func testDAPONormalisation() {
        // Σ over the step's loss tokens / their count: (6 + 10) / 7.
        XCTAssertEqual(GRPOLoss.stepLoss(losses, active: active, type: .dapo, maxCompletionLength: 4), 16.0 / 7, accuracy: 1e-12)
    }

    func testDrGRPONormalisation() {
        // Σ / (max_completion_length × completions) = 16 / (4 × 4).
        XCTAssertEqual(GRPOLoss.stepLoss(losses, active: active, type: .drGRPO, maxCompletionLength: 4), 1.0, accuracy: 1e-12)
        // Without the mask D counts: (16 + 1) / 16.
        XCTAssertEqual(GRPOLoss.stepLoss(losses, active: [[true, true], [true, true]], type: .drGRPO, maxCompletionLength: 4),
                       17.0 / 16, accuracy: 1e-12)
    }

    func testNormalisationWeights() {
        let g = GRPOLoss.normalization(.grpo, lengths: [2, 4], active: [true, false], maxCompletionLength: 8)
        XCTAssertEqual(g.count, 2); XCTAssertEqual(g.weights, [0.5, 0])
        let b = GRPOLoss.normalization(.bnpo, lengths: [2, 4], active: [true, true], maxCompletionLength: 8)
        XCTAssertEqual(b.count, 1); XCTAssertEqual(b.weights, [1.0 / 6, 1.0 / 6])
        let d = GRPOLoss.normalization(.dapo, lengths: [2, 4], active: [true, false], maxCompletionLength: 8)
        XCTAssertEqual(d.count, 2); XCTAssertEqual(d.weights, [1, 0])
        let r = GRPOLoss.normalization(.drGRPO, lengths: [2, 4], active: [true, true], maxCompletionLength: 8)
        XCTAssertEqual(r.count, 16); XCTAssertEqual(r.weights, [1, 1])
    }

    func testTokenLossByHand() {
        // log π = −1, log π_old = −1.2 (ρ = e^0.2 = 1.2214028), log π_ref = −0.9 (log r = 0.1), A = 2, β = 0.1.
        // k3 = e^0.1 − 1 − 0.1 = 0.0051709181; dk3/dlogπ = 1 − e^0.1 = −0.1051709181.
        let rho = exp(0.2), k3 = exp(0.1) - 1.1, dk3 = 1 - exp(0.1)
        // ε_high = 0.28: ρ < 1.28, unclipped: ℓ = −Aρ + βk3, dℓ = −Aρ + β dk3.
        var t = GRPOLoss.token(logp: -1, oldLogp: -1.2, refLogp: -0.9, advantage: 2, epsilonLow: 0.2, epsilonHigh: 0.28, beta: 0.1)
        XCTAssertEqual(Double(t.loss), -2 * rho + 0.1 * k3, accuracy: 1e-5)
        XCTAssertEqual(Double(t.dLogp), -2 * rho + 0.1 * dk3, accuracy: 1e-5)
        XCTAssertEqual(Double(t.kl), k3, accuracy: 1e-7)
        XCTAssertFalse(t.term.clippedHigh)
        // ε_high = 0.2: ρ > 1.2 with A > 0 is clipped: ℓ = −A·1.2 + βk3, the surrogate gives no gradient.
        t = GRPOLoss.token(logp: -1, oldLogp: -1.2, refLogp: -0.9, advantage: 2, epsilonLow: 0.2, epsilonHigh: 0.2, beta: 0.1)
        XCTAssertEqual(Double(t.loss), -2.4 + 0.1 * k3, accuracy: 1e-5)
        XCTAssertEqual(Double(t.dLogp), 0.1 * dk3, accuracy: 1e-6)
        XCTAssertTrue(t.term.clippedHigh); XCTAssertFalse(t.term.clippedLow)
        // A < 0 and ρ < 1 − ε: the low clip.
        t = GRPOLoss.token(logp: -1.5, oldLogp: -1, refLogp: nil, advantage: -1, epsilonLow: 0.2, epsilonHigh: 0.2, beta: 0.1)
        XCTAssertTrue(t.term.clippedLow)
        XCTAssertEqual(Double(t.loss), 0.8, accuracy: 1e-6)     // max(−A·e^−0.5, −A·0.8) = 0.8
        XCTAssertEqual(t.kl, 0)                                  // no reference: no KL term
        // ρ = 1 exactly when log π = log π_old.
        XCTAssertEqual(GRPOLoss.token(logp: -0.7, oldLogp: -0.7, refLogp: -0.7, advantage: 1, epsilonLow: 0.2, epsilonHigh: 0.2, beta: 0.04).term.ratio, 1)
    }

    /// dℓ/d log π by central differences in every regime (inside, clipped high, clipped low, both signs of A).
    func testTokenGradientByFiniteDifferences() {
        let cases: [(Double, Float, Double)] = [(0.1, 2, 0.28), (0.3, 2, 0.2), (-0.4, -1, 0.2), (0.3, -1, 0.2), (-0.4, 1.5, 0.2), (0, 0.7, 0.2)]
        for (logRatio, a, high) in cases {
            let old: Float = -1.3, ref: Float = -0.8
            func loss(_ x: Double) -> Double {
                Double(GRPOLoss.token(logp: Float(x), oldLogp: old, refLogp: ref, advantage: a, epsilonLow: 0.2, epsilonHigh: high, beta: 0.3).loss)
            }
            let x = Double(old) + logRatio, h = 1e-3
            let g = GRPOLoss.token(logp: Float(x), oldLogp: old, refLogp: ref, advantage: a, epsilonLow: 0.2, epsilonHigh: high, beta: 0.3).dLogp
            XCTAssertEqual(Double(g), (loss(x + h) - loss(x - h)) / (2 * h), accuracy: 2e-3, "log ρ = \(logRatio), A = \(a)")
        }
    }

    /// RLOO's sequence surrogate: the gradient with respect to each token's log-prob is dℓ/d log ρ.
    func testSequenceSurrogateGradientByFiniteDifferences() {
        let tokens: [Double] = [-1.0, -0.5, -2.0], old: [Double] = [-1.1, -0.45, -2.2]
        for a: Float in [1.3, -0.8] {
            func loss(_ lp: [Double]) -> Double {
                let r = zip(lp, old).reduce(0) { $0 + $1.0 - $1.1 }
                return Double(OnlineMath.clippedSurrogate(logRatio: r, advantage: a, epsilonLow: 0.2, epsilonHigh: 0.3).loss)
            }
            let r = zip(tokens, old).reduce(0) { $0 + $1.0 - $1.1 }
            let g = OnlineMath.clippedSurrogate(logRatio: r, advantage: a, epsilonLow: 0.2, epsilonHigh: 0.3).dLogp
            for k in 0..<3 {
                var up = tokens, dn = tokens
                up[k] += 1e-3; dn[k] -= 1e-3
                XCTAssertEqual(Double(g), (loss(up) - loss(dn)) / 2e-3, accuracy: 2e-3, "A = \(a), token \(k)")
            }
        }
    }

    func testKLGradient() {
        for (lp, ref) in [(Float(-1), Float(-1.5)), (-2, -1.5), (-0.3, -0.3)] {
            for est in KLEstimator.allCases {
                let h: Float = 1e-3
                let fd = (OnlineMath.kl(logp: lp + h, refLogp: ref, estimator: est) - OnlineMath.kl(logp: lp - h, refLogp: ref, estimator: est)) / (2 * h)
                XCTAssertEqual(OnlineMath.klGradient(logp: lp, refLogp: ref, estimator: est), fd, accuracy: 2e-3, "\(est) at \(lp), \(ref)")
            }
        }
    }
}
