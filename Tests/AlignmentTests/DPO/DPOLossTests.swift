import XCTest
@testable import Alignment

/// dpoLoss against its closed forms (computed here independently, in the naive way where that is
/// safe) and against central finite differences of itself.
final class DPOLossTests: XCTestCase {
    func cfg(_ type: DPOLossType, beta: Double = 0.1, eps: Double = 0, rpo: Double? = nil) -> DPOConfig {
        var c = DPOConfig()
        c.lossType = type
        c.beta = beta
        c.labelSmoothing = eps
        c.rpoAlpha = rpo
        return c
    }

    /// Independent reference formulas on sums (pc, pr, rc, rr) and lengths (nw, nl).
    func closedForm(_ c: DPOConfig, _ x: [Double], _ nw: Int, _ nl: Int) -> (loss: Double, dz: Double, z: Double) {
        let b = c.beta, e = c.labelSmoothing
        let avg = c.lossType == .ipo
        let z = (x[0] - x[2]) / (avg ? Double(nw) : 1) - (x[1] - x[3]) / (avg ? Double(nl) : 1)
        let s = { (v: Double) in 1 / (1 + Foundation.exp(-v)) }
        switch c.lossType {
        case .sigmoid:
            return (-(1 - e) * Foundation.log(s(b * z)) - e * Foundation.log(s(-b * z)), -b * (1 - e) * (1 - s(b * z)) + b * e * s(b * z), z)
        case .robust:
            return ((-(1 - e) * Foundation.log(s(b * z)) + e * Foundation.log(s(-b * z))) / (1 - 2 * e),
                    (-b * (1 - e) * (1 - s(b * z)) - b * e * s(b * z)) / (1 - 2 * e), z)
        case .ipo:
            return ((z - 1 / (2 * b)) * (z - 1 / (2 * b)), 2 * (z - 1 / (2 * b)), z)
        case .hinge:
            return (max(0, 1 - b * z), b * z < 1 ? -b : 0, z)
        }
    }

    func call(_ c: DPOConfig, _ x: [Double], _ nw: Int, _ nl: Int) -> DPOLossTerms {
        dpoLoss(policyChosen: x[0], policyRejected: x[1], refChosen: x[2], refRejected: x[3], chosenLength: nw, rejectedLength: nl, config: c)
    }

    let points: [([Double], Int, Int)] = [
        ([-10, -12, -11, -11.5], 5, 7),
        ([-20, -8, -15, -9], 3, 4),
        ([-3.2, -3.2, -3.2, -3.2], 2, 2),
        ([-40, -45, -30, -30], 10, 6),
    ]

    func testValuesAndGradientsMatchClosedForms() {
        for type in DPOLossType.allCases {
            for (beta, eps) in [(0.1, 0.0), (0.5, 0.2), (2.0, 0.1)] {
                let c = cfg(type, beta: beta, eps: eps)
                for (x, nw, nl) in points {
                    let t = call(c, x, nw, nl)
                    let ref = closedForm(c, x, nw, nl)
                    let sw = type == .ipo ? 1 / Double(nw) : 1, sl = type == .ipo ? 1 / Double(nl) : 1
                    let what = "\(type) β=\(beta) ε=\(eps) at \(x)"
                    XCTAssertEqual(t.loss, ref.loss, accuracy: 1e-12 * max(1, abs(ref.loss)), what)
                    XCTAssertEqual(t.margin, ref.z, accuracy: 1e-12, what)
                    XCTAssertEqual(t.dPolicyChosen, ref.dz * sw, accuracy: 1e-12, what)
                    XCTAssertEqual(t.dPolicyRejected, -ref.dz * sl, accuracy: 1e-12, what)
                    XCTAssertEqual(t.dRefChosen, -ref.dz * sw, accuracy: 1e-12, what)
                    XCTAssertEqual(t.dRefRejected, ref.dz * sl, accuracy: 1e-12, what)
                    XCTAssertEqual(t.chosenReward, beta * (x[0] - x[2]) * sw, accuracy: 1e-12, what)
                    XCTAssertEqual(t.rejectedReward, beta * (x[1] - x[3]) * sl, accuracy: 1e-12, what)
                }
            }
        }
    }

    func testGradientsMatchFiniteDifferences() {
        for type in DPOLossType.allCases {
            for rpo in [nil, 0.7] {
                let c = cfg(type, beta: 0.3, eps: type == .hinge || type == .ipo ? 0 : 0.15, rpo: rpo)
                for (x, nw, nl) in points {
                    let t = call(c, x, nw, nl)
                    // The hinge has a kink at βz = 1; none of the points sits on it.
                    let analytic = [t.dPolicyChosen, t.dPolicyRejected, t.dRefChosen, t.dRefRejected]
                    for k in 0..<4 {
                        let h = 1e-5
                        var xp = x, xm = x
                        xp[k] += h
                        xm[k] -= h
                        let fd = (call(c, xp, nw, nl).loss - call(c, xm, nw, nl).loss) / (2 * h)
                        XCTAssertEqual(analytic[k], fd, accuracy: 1e-6, "\(type) rpo=\(String(describing: rpo)) d/dx\(k) at \(x)")
                    }
                }
            }
        }
    }

    func testAtEqualLogProbsSigmoidLossIsLog2() {
        let t = call(cfg(.sigmoid), [-7, -9, -7, -9], 3, 4)
        XCTAssertEqual(t.loss, Foundation.log(2.0), accuracy: 1e-15)
        XCTAssertEqual(t.chosenReward, 0)
        XCTAssertEqual(t.rejectedReward, 0)
        XCTAssertEqual(t.dPolicyChosen, -0.05, accuracy: 1e-15)  // −β/2
    }

    func testRPOAddsLengthNormalizedChosenNLL() {
        let x = [-12.0, -9, -10, -10]
        let base = call(cfg(.sigmoid), x, 4, 3), rpo = call(cfg(.sigmoid, rpo: 0.5), x, 4, 3)
        XCTAssertEqual(rpo.loss - base.loss, 0.5 * 12 / 4, accuracy: 1e-12)
        XCTAssertEqual(rpo.dPolicyChosen - base.dPolicyChosen, -0.5 / 4, accuracy: 1e-12)
        XCTAssertEqual(rpo.dPolicyRejected, base.dPolicyRejected)
        XCTAssertEqual(rpo.chosenNLL, 3, accuracy: 1e-12)
    }

    /// |βz| = 1e3 and 1e4: finite values and the exact asymptotes (no overflow of e^{βz}).
    func testExtremeMarginsStayFinite() {
        for type in DPOLossType.allCases {
            for bz in [1e3, -1e3, 1e4, -1e4] {
                let c = cfg(type, beta: 1, eps: type == .sigmoid || type == .robust ? 0.1 : 0)
                let t = call(c, [bz, 0, 0, 0], 1, 1)
                for v in [t.loss, t.dPolicyChosen, t.dPolicyRejected, t.dRefChosen, t.dRefRejected] {
                    XCTAssertTrue(v.isFinite, "\(type) at βz=\(bz): \(t)")
                }
                switch type {
                case .sigmoid:
                    // βz ≫ 0: loss → ε·βz; βz ≪ 0: loss → (1−ε)·|βz|.
                    XCTAssertEqual(t.loss, bz > 0 ? 0.1 * bz : 0.9 * -bz, accuracy: 1e-9 * abs(bz))
                    XCTAssertEqual(t.dPolicyChosen, bz > 0 ? 0.1 : -0.9, accuracy: 1e-12)
                case .robust:
                    XCTAssertEqual(t.loss, bz > 0 ? -0.1 * bz / 0.8 : -0.9 * bz / 0.8, accuracy: 1e-9 * abs(bz))
                    XCTAssertEqual(t.dPolicyChosen, bz > 0 ? -0.1 / 0.8 : -0.9 / 0.8, accuracy: 1e-12)
                case .ipo:
                    XCTAssertEqual(t.loss, (bz - 0.5) * (bz - 0.5), accuracy: 1e-9 * bz * bz)
                case .hinge:
                    XCTAssertEqual(t.loss, max(0, 1 - bz))
                    XCTAssertEqual(t.dPolicyChosen, bz < 1 ? -1 : 0)
                }
            }
        }
        XCTAssertEqual(DPOMath.logSigmoid(-1e4), -1e4)
        XCTAssertEqual(DPOMath.logSigmoid(1e4), 0)
        XCTAssertEqual(DPOMath.sigmoid(-1e4), 0)
        XCTAssertEqual(DPOMath.sigmoid(1e4), 1)
    }

    func testPairTruncationSharesOnePrompt() {
        let e = PreferenceExample(prompt: [1, 2, 3, 4, 5, 6], chosen: [7, 8, 9, 10], rejected: [11, 12])
        XCTAssertEqual(truncate(e, maxLength: 8, maxCompletion: 3), PreferenceExample(prompt: [2, 3, 4, 5, 6], chosen: [7, 8, 9], rejected: [11, 12]))
        XCTAssertEqual(truncate(e, maxLength: 20, maxCompletion: 10), e)
        XCTAssertEqual(truncate(e, maxLength: 4, maxCompletion: 10), PreferenceExample(prompt: [6], chosen: [7, 8, 9], rejected: [11, 12]))
    }
}
