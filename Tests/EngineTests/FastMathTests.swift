import Engine
import Foundation
import XCTest

final class FastMathTests: XCTestCase {

    /// Max relative error of the vectorized exp against Foundation.exp (Double) over a dense grid.
    func testExpRelativeErrorOnDenseGrid() {
        let lo = -87.0, hi = 10.0, step = 1.0 / 1024 // ≈ 99k points, exactly representable steps
        let count = Int(((hi - lo) / step).rounded()) + 1
        var worst = 0.0, worstX: Float = 0
        var i = 0
        while i < count {
            var v = FastMath.V(repeating: Float(hi))
            for l in 0..<8 where i + l < count { v[l] = Float(lo + Double(i + l) * step) }
            let e = FastMath.exp(v)
            for l in 0..<8 {
                let x = Double(v[l])
                let ref = Foundation.exp(x)
                let rel = abs(Double(e[l]) - ref) / ref
                if !(rel <= worst) { worst = rel; worstX = v[l] } // catches NaN too
            }
            i += 8
        }
        print("FastMath.exp: max relative error \(worst) at x = \(worstX)")
        XCTAssertLessThan(worst, 5e-7, "max relative error at x = \(worstX)")
    }

    func testScalarExpAndSpecialPoints() {
        for x: Float in [-87, -50.5, -1, -0.5, 0, 1e-4, 0.3466, 1, 2.5, 9.99] {
            let ref = Foundation.exp(Double(x))
            XCTAssertLessThan(abs(Double(FastMath.exp(x)) - ref) / ref, 5e-7, "exp(\(x))")
        }
        XCTAssertEqual(FastMath.exp(Float(0)), 1)
        // Random points between the grid points.
        var rng = TestRNG(301)
        for _ in 0..<2000 {
            let x = rng.uniform(-87, 10)
            let ref = Foundation.exp(Double(x))
            let got = Double(FastMath.exp(x))
            if !(abs(got - ref) / ref < 5e-7) { XCTFail("exp(\(x)) = \(got), want \(ref)"); break }
        }
    }

    func testMaxIncludingTail() {
        var rng = TestRNG(302)
        for n in [1, 5, 8, 13, 16, 37] {
            var p = (0..<n).map { _ in rng.uniform(-10, 10) }
            XCTAssertEqual(FastMath.max(p, n), p.max()!, "n=\(n)")
            p[n - 1] = 100 // in the tail (or the only vector)
            XCTAssertEqual(FastMath.max(p, n), 100, "n=\(n) max at the end")
            p[0] = 200
            XCTAssertEqual(FastMath.max(p, n), 200, "n=\(n) max at the start")
        }
    }

    func testExpShiftInPlaceSumsCorrectly() {
        var rng = TestRNG(303)
        for n in [3, 8, 37, 64] {
            let x = (0..<n).map { _ in rng.uniform(-20, 5) }
            let shift = x.max()!
            var p = x
            let sum = FastMath.expShiftInPlace(&p, n, shift: shift)
            var wantSum = 0.0
            for i in 0..<n {
                let ref = Foundation.exp(Double(x[i] - shift))
                wantSum += ref
                XCTAssertLessThan(abs(Double(p[i]) - ref), 5e-7 * ref + 1e-30, "n=\(n) element \(i)")
            }
            XCTAssertEqual(Double(sum), wantSum, accuracy: 1e-6 * wantSum, "n=\(n) returned sum")
            XCTAssertEqual(Double(sum), p.map(Double.init).reduce(0, +), accuracy: 1e-6 * wantSum, "n=\(n) sum of written values")
            XCTAssertGreaterThanOrEqual(sum, 1) // the max element contributes exp(0) = 1
        }
    }

    func testExpMoments() {
        var rng = TestRNG(304)
        for n in [5, 24, 29] {
            let x = (0..<n).map { _ in rng.uniform(-6, 6) }
            let shift = x.max()!
            let (s0, s1) = FastMath.expMoments(x, n, shift: shift)
            var w0 = 0.0, w1 = 0.0
            for v in x { let e = Foundation.exp(Double(v - shift)); w0 += e; w1 += e * Double(v) }
            XCTAssertEqual(Double(s0), w0, accuracy: 1e-6 * w0, "n=\(n) Σe")
            XCTAssertEqual(Double(s1), w1, accuracy: 1e-5 * x.map { abs(Double($0)) }.max()! * w0, "n=\(n) Σe·x")
        }
    }
}
