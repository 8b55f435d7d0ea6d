import XCTest
@testable import Alignment
import Foundation

final class PPOMathTests: XCTestCase {
    // MARK: - GAE

    func testGAEAgainstHandComputedValues() {
        // One row of L = 4: three real tokens and one padding entry (whose junk must be ignored).
        // γ = 0.9, λ = 0.8 (γλ = 0.72), rewards r = [0.1, −0.2, 1.0 | 5], values V = [0.5, 0.4, 0.3 | 9].
        //   t=2: δ = 1.0 + 0.9·0   − 0.3 =  0.7               A = 0.7
        //   t=1: δ = −0.2 + 0.9·0.3 − 0.4 = −0.33             A = −0.33 + 0.72·0.7   = 0.174
        //   t=0: δ = 0.1 + 0.9·0.4 − 0.5 = −0.04              A = −0.04 + 0.72·0.174 = 0.08528
        // Returns R = A + V = [0.58528, 0.574, 1.0]; padding gives A = R = 0.
        let (a, r) = PPOMath.gae(rewards: [0.1, -0.2, 1.0, 5], values: [0.5, 0.4, 0.3, 9], mask: [true, true, true, false],
                                 L: 4, gamma: 0.9, lam: 0.8)
        let expectA: [Float] = [0.08528, 0.174, 0.7, 0], expectR: [Float] = [0.58528, 0.574, 1.0, 0]
        for i in 0..<4 {
            XCTAssertEqual(a[i], expectA[i], accuracy: 1e-6, "A[\(i)]")
            XCTAssertEqual(r[i], expectR[i], accuracy: 1e-6, "R[\(i)]")
        }
    }

    func testGAERowsAreIndependentAndLambdaOneGivesDiscountedReturns() {
        // Row 0: the example above; row 1: γ = 1, λ = 1 → A_t = Σ_{k≥t} r_k − V_t (Monte Carlo).
        let rewards: [Float] = [0.1, -0.2, 1.0, 5, 1, 2, 3, 4]
        let values: [Float] = [0.5, 0.4, 0.3, 9, 0.5, 0.5, 0.5, 0.5]
        let mask = [true, true, true, false, true, true, true, true]
        let (a, r) = PPOMath.gae(rewards: rewards, values: values, mask: mask, L: 4, gamma: 1, lam: 1)
        XCTAssertEqual(Array(r[4..<8]), [10, 9, 7, 4])
        XCTAssertEqual(Array(a[4..<8]), [9.5, 8.5, 6.5, 3.5])
        XCTAssertEqual(r[2], 1.0, accuracy: 1e-7)   // the padding's reward 5 never flows back
        XCTAssertEqual(r[0], 0.9, accuracy: 1e-6)   // 0.1 − 0.2 + 1.0
    }

    func testPaddingJunkDoesNotChangeGAE() {
        let mask = [true, true, false, false]
        let a = PPOMath.gae(rewards: [1, 2, 0, 0], values: [0.5, 0.1, 0, 0], mask: mask, L: 4, gamma: 1, lam: 0.95)
        let b = PPOMath.gae(rewards: [1, 2, 7, -3], values: [0.5, 0.1, 100, -8], mask: mask, L: 4, gamma: 1, lam: 0.95)
        XCTAssertEqual(a.advantages, b.advantages)
        XCTAssertEqual(a.returns, b.returns)
    }

    // MARK: - Whitening

    func testWhiteningOverValidEntries() {
        let x: [Float] = [1, 2, 3, 10, 100, -50]
        let mask = [true, true, true, true, false, false]
        let w = PPOMath.whiten(x, mask: mask)
        let (mean, variance, n) = PPOMath.maskedMoments(w, mask: mask)
        XCTAssertEqual(n, 4)
        XCTAssertEqual(mean, 0, accuracy: 1e-6)
        XCTAssertEqual(variance, 1, accuracy: 1e-5)
        XCTAssertEqual(w[4], 0)
        XCTAssertEqual(w[5], 0)
        // Hand check: mean 4, unbiased var ((−3)²+(−2)²+(−1)²+6²)/3 = 50/3.
        XCTAssertEqual(Double(w[0]), -3 / (50.0 / 3).squareRoot(), accuracy: 1e-6)

        // shift_mean false (rewards): the mean stays, the spread becomes 1.
        let r = PPOMath.whiten(x, mask: mask, shiftMean: false)
        let m2 = PPOMath.maskedMoments(r, mask: mask)
        XCTAssertEqual(m2.mean, 4, accuracy: 1e-5)
        XCTAssertEqual(m2.variance, 1, accuracy: 1e-5)
    }

    // MARK: - KL estimators and controller

    func testKLEstimators() {
        // log π = −1, log π_ref = −1.5: k1 = 0.5; log r = −0.5, k3 = e^{−0.5} − 1 + 0.5 = 0.10653066.
        XCTAssertEqual(PPOMath.kl(logp: -1, refLogp: -1.5, estimator: .k1), 0.5, accuracy: 1e-7)
        XCTAssertEqual(PPOMath.kl(logp: -1, refLogp: -1.5, estimator: .k3), 0.10653066, accuracy: 1e-7)
        // log π < log π_ref: k1 negative, k3 still positive: log r = 0.5, k3 = e^{0.5} − 1 − 0.5.
        XCTAssertEqual(PPOMath.kl(logp: -2, refLogp: -1.5, estimator: .k1), -0.5, accuracy: 1e-7)
        XCTAssertEqual(PPOMath.kl(logp: -2, refLogp: -1.5, estimator: .k3), 0.14872127, accuracy: 1e-7)
        XCTAssertEqual(PPOMath.kl(logp: -0.7, refLogp: -0.7, estimator: .k1), 0)
        XCTAssertEqual(PPOMath.kl(logp: -0.7, refLogp: -0.7, estimator: .k3), 0)
    }

    func testAdaptiveKLControllerSteps() {
        var c = KLController(value: 0.05, adaptive: true, target: 6, horizon: 10_000)
        c.update(currentKL: 9, samples: 32)      // error clip(0.5) = 0.2 → ×(1 + 0.2·32/10⁴)
        XCTAssertEqual(c.value, 0.05 * 1.00064, accuracy: 1e-15)
        c.update(currentKL: 6.6, samples: 32)    // error 0.1 → ×1.00032
        XCTAssertEqual(c.value, 0.05 * 1.00064 * 1.00032, accuracy: 1e-15)
        c.update(currentKL: 0, samples: 100)     // error clip(−1) = −0.2 → ×(1 − 0.002)
        XCTAssertEqual(c.value, 0.05 * 1.00064 * 1.00032 * 0.998, accuracy: 1e-15)
        var fixed = KLController(value: 0.05)
        fixed.update(currentKL: 100, samples: 64)
        XCTAssertEqual(fixed.value, 0.05)
    }

    // MARK: - Clipped losses and their gradients

    func testClippedPolicyLossAndGradient() {
        let old: Float = -1, eps = 0.2
        func term(_ ratio: Float, _ a: Float) -> PPOMath.PolicyTerm {
            PPOMath.policyLoss(newLogp: old + log(ratio), oldLogp: old, advantage: a, cliprange: eps)
        }
        // A > 0, ρ inside: ℓ = −Aρ, gradient −Aρ.
        var t = term(1.1, 2)
        XCTAssertEqual(t.loss, -2.2, accuracy: 1e-5); XCTAssertEqual(t.dLogp, -2.2, accuracy: 1e-5); XCTAssertFalse(t.clipped)
        // A > 0, ρ above 1+ε: max(−3, −2.4) = −2.4 (clipped), no gradient.
        t = term(1.5, 2)
        XCTAssertEqual(t.loss, -2.4, accuracy: 1e-5); XCTAssertEqual(t.dLogp, 0); XCTAssertTrue(t.clipped)
        // A > 0, ρ below 1−ε: max(−1, −1.6) = −1 (unclipped keeps the gradient).
        t = term(0.5, 2)
        XCTAssertEqual(t.loss, -1, accuracy: 1e-5); XCTAssertEqual(t.dLogp, -1, accuracy: 1e-5); XCTAssertFalse(t.clipped)
        // A < 0, ρ above 1+ε: max(3, 2.4) = 3, gradient −Aρ = 3.
        t = term(1.5, -2)
        XCTAssertEqual(t.loss, 3, accuracy: 1e-5); XCTAssertEqual(t.dLogp, 3, accuracy: 1e-5); XCTAssertFalse(t.clipped)
        // A < 0, ρ below 1−ε: max(1, 1.6) = 1.6 (clipped), no gradient.
        t = term(0.5, -2)
        XCTAssertEqual(t.loss, 1.6, accuracy: 1e-5); XCTAssertEqual(t.dLogp, 0); XCTAssertTrue(t.clipped)
        // A < 0, ρ inside.
        t = term(0.9, -2)
        XCTAssertEqual(t.loss, 1.8, accuracy: 1e-5); XCTAssertEqual(t.dLogp, 1.8, accuracy: 1e-5)
        // Finite differences in log π_new away from the clip boundaries.
        for (ratio, a) in [(Float(1.1), Float(2)), (1.5, 2), (0.5, 2), (1.5, -2), (0.5, -2), (0.9, -2), (1.0, 0.7)] {
            let x = Double(old) + Double(log(ratio)), h = 1e-3
            let up = PPOMath.policyLoss(newLogp: Float(x + h), oldLogp: old, advantage: a, cliprange: eps).loss
            let dn = PPOMath.policyLoss(newLogp: Float(x - h), oldLogp: old, advantage: a, cliprange: eps).loss
            XCTAssertEqual(Double(term(ratio, a).dLogp), Double(up - dn) / (2 * h), accuracy: 2e-3, "ρ=\(ratio) A=\(a)")
        }
    }

    func testClippedValueLossAndGradient() {
        let eps = 0.2
        // V_old = 1, R = 2, V = 1.1 inside: ½(0.9)² = 0.405, gradient V − R = −0.9.
        var t = PPOMath.valueLoss(value: 1.1, oldValue: 1, ret: 2, cliprange: eps)
        XCTAssertEqual(t.loss, 0.405, accuracy: 1e-6); XCTAssertEqual(t.dValue, -0.9, accuracy: 1e-6); XCTAssertFalse(t.clipped)
        // V = 1.5 moved towards R beyond the clip: V_c = 1.2, max(0.25, 0.64) → clipped, ½·0.64, no gradient.
        t = PPOMath.valueLoss(value: 1.5, oldValue: 1, ret: 2, cliprange: eps)
        XCTAssertEqual(t.loss, 0.32, accuracy: 1e-6); XCTAssertEqual(t.dValue, 0); XCTAssertTrue(t.clipped)
        // V = 1.5 moved away from R = 0: unclipped term larger, ½·2.25, gradient 1.5.
        t = PPOMath.valueLoss(value: 1.5, oldValue: 1, ret: 0, cliprange: eps)
        XCTAssertEqual(t.loss, 1.125, accuracy: 1e-6); XCTAssertEqual(t.dValue, 1.5, accuracy: 1e-6); XCTAssertFalse(t.clipped)
        // V = 0.5 below the clip, R = 2: (V−R)² = 2.25 > (0.8−2)² = 1.44, gradient −1.5.
        t = PPOMath.valueLoss(value: 0.5, oldValue: 1, ret: 2, cliprange: eps)
        XCTAssertEqual(t.loss, 1.125, accuracy: 1e-6); XCTAssertEqual(t.dValue, -1.5, accuracy: 1e-6)
        for (v, r) in [(Float(1.1), Float(2)), (1.5, 2), (1.5, 0), (0.5, 2), (0.5, -1)] {
            let h: Float = 1e-3
            let up = PPOMath.valueLoss(value: v + h, oldValue: 1, ret: r, cliprange: eps).loss
            let dn = PPOMath.valueLoss(value: v - h, oldValue: 1, ret: r, cliprange: eps).loss
            XCTAssertEqual(PPOMath.valueLoss(value: v, oldValue: 1, ret: r, cliprange: eps).dValue, (up - dn) / (2 * h), accuracy: 2e-3, "V=\(v) R=\(r)")
        }
    }

    func testExplainedVariance() {
        let mask = [true, true, true, true, false]
        XCTAssertEqual(PPOMath.explainedVariance(values: [1, 2, 3, 4, 9], returns: [1, 2, 3, 4, 0], mask: mask), 1, accuracy: 1e-12)
        XCTAssertEqual(PPOMath.explainedVariance(values: [0, 0, 0, 0, 9], returns: [1, 2, 3, 4, 0], mask: mask), 0, accuracy: 1e-12)
    }

    // MARK: - Postprocessing

    func testEOSTruncationAndScores() {
        XCTAssertTrue(PPORollout.truncate([5, 6, 1, 7, 1, 8], stopToken: 1, maxLength: 10) == ([5, 6, 1], true))
        XCTAssertTrue(PPORollout.truncate([5, 6, 7, 8], stopToken: 1, maxLength: 3) == ([5, 6, 7], false))
        XCTAssertTrue(PPORollout.truncate([5, 6, 7, 1], stopToken: 1, maxLength: 3) == ([5, 6, 7], false))  // EOS beyond the length
        XCTAssertTrue(PPORollout.truncate([1, 6], stopToken: 1, maxLength: 3) == ([1], true))
        XCTAssertTrue(PPORollout.truncate([5, 1, 6], stopToken: nil, maxLength: 3) == ([5, 1, 6], false))
        XCTAssertEqual(PPORollout.finalScore(2, endedWithEOS: true, penalty: 1, mode: .subtract, clip: nil), 2)
        XCTAssertEqual(PPORollout.finalScore(2, endedWithEOS: false, penalty: 1, mode: .subtract, clip: nil), 1)
        XCTAssertEqual(PPORollout.finalScore(2, endedWithEOS: false, penalty: 1, mode: .replace, clip: nil), -1)
        XCTAssertEqual(PPORollout.finalScore(2, endedWithEOS: false, penalty: nil, mode: .replace, clip: nil), 2)
        XCTAssertEqual(PPORollout.finalScore(7, endedWithEOS: true, penalty: 1, mode: .subtract, clip: 5), 5)
        XCTAssertEqual(PPORollout.finalScore(-3, endedWithEOS: false, penalty: 4, mode: .subtract, clip: 5), -5)
    }
}
