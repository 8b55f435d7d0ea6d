import Engine
import Foundation
import XCTest

final class DropoutTests: XCTestCase {

    func testMaskFractionAndInvertedScaling() {
        let n = 100_000
        for p: Float in [0.1, 0.3, 0.5] {
            let inp = FloatBuffer([Float](repeating: 1, count: n))
            let out = FloatBuffer(count: n), mask = FloatBuffer(count: n)
            var rng = RNG(seed: 21)
            Dropout.forward(out: out.pointer, mask: mask.pointer, inp: inp.pointer, n: n, p: p, rng: &rng)
            let keep = 1 / (1 - p)
            var dropped = 0, badMask = 0, badOut = 0, sum = 0.0
            for i in 0..<n {
                if mask[i] == 0 { dropped += 1 } else if mask[i] != keep { badMask += 1 }
                if out[i] != mask[i] { badOut += 1 }
                sum += Double(out[i])
            }
            XCTAssertEqual(badMask, 0, "kept entries must be scaled by 1/(1-p) = \(keep), p=\(p)")
            XCTAssertEqual(badOut, 0, "out = inp ⊙ mask with inp = 1, p=\(p)")
            let frac = Double(dropped) / Double(n)
            XCTAssertEqual(frac, Double(p), accuracy: 0.01, "dropped fraction for p=\(p)") // σ ≈ 0.0016
            XCTAssertEqual(sum / Double(n), 1, accuracy: 0.02, "inverted scaling keeps the mean, p=\(p)")
        }
    }

    func testOutputIsInputTimesMask() {
        var trng = TestRNG(401)
        let n = 1000
        let inp = trng.buffer(n), out = FloatBuffer(count: n), mask = FloatBuffer(count: n)
        var rng = RNG(seed: 3)
        Dropout.forward(out: out.pointer, mask: mask.pointer, inp: inp.pointer, n: n, p: 0.25, rng: &rng)
        XCTAssertTrue(mask.array.contains(0))
        assertClose(out.array, (0..<n).map { mask[$0] == 0 ? 0 : Double(inp[$0]) / 0.75 }, rtol: 1e-6, atol: 0, "dropout out")
    }

    func testDeterministicWithFixedRNG() {
        let n = 5000
        var trng = TestRNG(402)
        let inp = trng.buffer(n)
        func run(_ seed: UInt64) -> ([Float], [Float], RNG) {
            let out = FloatBuffer(count: n), mask = FloatBuffer(count: n)
            var rng = RNG(seed: seed)
            Dropout.forward(out: out.pointer, mask: mask.pointer, inp: inp.pointer, n: n, p: 0.2, rng: &rng)
            return (out.array, mask.array, rng)
        }
        let a = run(8), b = run(8), c = run(9)
        XCTAssertEqual(a.0, b.0); XCTAssertEqual(a.1, b.1); XCTAssertEqual(a.2, b.2)
        XCTAssertNotEqual(a.1, c.1)
        // The stream advances: a second call with the continued RNG gives a different mask.
        var cont = a.2
        let mask2 = FloatBuffer(count: n), out2 = FloatBuffer(count: n)
        Dropout.forward(out: out2.pointer, mask: mask2.pointer, inp: inp.pointer, n: n, p: 0.2, rng: &cont)
        XCTAssertNotEqual(mask2.array, a.1)
        // Independent of the thread count.
        let (o1, m1, _) = withParallelThreads(1) { run(8) }
        XCTAssertEqual(o1, a.0); XCTAssertEqual(m1, a.1)
    }

    func testZeroProbabilityIsIdentity() {
        var trng = TestRNG(403)
        let n = 50
        let inp = trng.buffer(n), out = FloatBuffer(count: n), mask = FloatBuffer(count: n)
        var rng = RNG(seed: 1)
        Dropout.forward(out: out.pointer, mask: mask.pointer, inp: inp.pointer, n: n, p: 0, rng: &rng)
        XCTAssertEqual(out.array, inp.array)
        XCTAssertTrue(mask.array.allSatisfy { $0 == 1 })
    }
}
