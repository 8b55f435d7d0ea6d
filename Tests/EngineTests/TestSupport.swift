import Engine
import Foundation
import XCTest

// Shared helpers for the Engine tests: an independent random source (SplitMix64, so that a
// broken Engine.RNG cannot make the fixtures degenerate), buffers, tolerant comparisons,
// finite-difference gradient checks, and the "backward adds" check.

struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        let u = Double(next() >> 11) / 9_007_199_254_740_992.0
        return lo + Float(u) * (hi - lo)
    }

    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) / 9_007_199_254_740_992.0, 1e-300)
        let u2 = Double(next() >> 11) / 9_007_199_254_740_992.0
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    mutating func buffer(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> FloatBuffer {
        let b = FloatBuffer(count: n)
        for i in 0..<n { b[i] = uniform(lo, hi) }
        return b
    }

    mutating func normalBuffer(_ n: Int, scale: Float = 1) -> FloatBuffer {
        let b = FloatBuffer(count: n)
        for i in 0..<n { b[i] = normal() * scale }
        return b
    }
}

/// Σ w ⊙ out, accumulated in Double.
func weightedSum(_ out: UnsafePointer<Float>, _ w: FloatBuffer) -> Double {
    var s = 0.0
    for i in 0..<w.count { s += Double(w[i]) * Double(out[i]) }
    return s
}

/// Element-wise |got − ref| ≤ atol + rtol·|ref| for every entry; reports the worst few.
func assertClose(_ got: [Float], _ ref: [Double], rtol: Double, atol: Double, _ label: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.count, ref.count, "\(label): size mismatch", file: file, line: line)
    guard got.count == ref.count else { return }
    var bad: [String] = []
    for i in 0..<got.count {
        let g = Double(got[i]), r = ref[i]
        if !(abs(g - r) <= atol + rtol * abs(r)) { bad.append("[\(i)] got \(g) want \(r)") }
    }
    if !bad.isEmpty {
        XCTFail("\(label): \(bad.count)/\(got.count) entries off; first: \(bad.prefix(6).joined(separator: ", "))",
                file: file, line: line)
    }
}

func assertClose(_ got: [Float], _ ref: [Float], rtol: Double, atol: Double, _ label: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    assertClose(got, ref.map(Double.init), rtol: rtol, atol: atol, label, file: file, line: line)
}

func assertBitIdentical(_ a: [Float], _ b: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(label): size mismatch", file: file, line: line)
    let diff = zip(a, b).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
    if let first = diff.first {
        XCTFail("\(label): \(diff.count) entries differ in bits; first [\(first.offset)] \(first.element.0) vs \(first.element.1)",
                file: file, line: line)
    }
}

/// One differentiable input: its values (perturbed in place) and the analytic gradient of the loss.
struct GradInput {
    let name: String
    let value: FloatBuffer
    let grad: [Float]
}

/// Central finite differences of `loss` with respect to every entry of every input, compared
/// with the analytic gradients: |num − ana| ≤ atol + rtol·max(|num|, |ana|).
/// The step actually taken in Float is used as the denominator.
func gradCheck(_ label: String, _ inputs: [GradInput], eps: Float, atol: Double = 1e-3, rtol: Double = 1e-2,
               loss: () -> Double, file: StaticString = #filePath, line: UInt = #line) {
    for input in inputs {
        XCTAssertEqual(input.value.count, input.grad.count, "\(label)/\(input.name): size", file: file, line: line)
        var bad: [String] = []
        var worst = 0.0, maxAbs = 0.0
        for i in 0..<input.value.count {
            let orig = input.value[i]
            let up = orig + eps, down = orig - eps
            input.value[i] = up
            let lp = loss()
            input.value[i] = down
            let lm = loss()
            input.value[i] = orig
            let num = (lp - lm) / (Double(up) - Double(down))
            let ana = Double(input.grad[i])
            maxAbs = max(maxAbs, abs(ana))
            let err = abs(num - ana)
            let tol = atol + rtol * max(abs(num), abs(ana))
            worst = max(worst, err / tol)
            if !(err <= tol) { bad.append("[\(i)] analytic \(ana) numeric \(num)") }
        }
        if !bad.isEmpty {
            XCTFail("\(label) d/d\(input.name): \(bad.count)/\(input.value.count) entries off; \(bad.prefix(6).joined(separator: ", "))",
                    file: file, line: line)
        }
        // A gradient check on an all-zero gradient proves little: insist the case is non-trivial.
        XCTAssertGreaterThan(maxAbs, 1e-3, "\(label) d/d\(input.name): analytic gradient is (nearly) all zero", file: file, line: line)
        print("gradcheck \(label) d/d\(input.name): \(input.value.count) entries, worst err/tol \(String(format: "%.3f", worst))")
    }
}

/// Zeroes `grads`, runs `backward` once (g1), then again; the second call must add to the first:
/// the result must be 2·g1. Returns g1 (the gradient of one call).
@discardableResult
func checkBackwardAdds(_ label: String, _ grads: [(String, FloatBuffer)], backward: () -> Void,
                       file: StaticString = #filePath, line: UInt = #line) -> [[Float]] {
    for (_, g) in grads { g.zero() }
    backward()
    let once = grads.map { $0.1.array }
    backward()
    for (k, (name, g)) in grads.enumerated() {
        XCTAssertTrue(once[k].contains { $0 != 0 }, "\(label) d/d\(name): backward produced all zeros", file: file, line: line)
        assertClose(g.array, once[k].map { 2 * Double($0) }, rtol: 1e-5, atol: 1e-6,
                    "\(label) d/d\(name): second backward call must add (2× one call)", file: file, line: line)
    }
    return once
}

/// Runs `body` with `Parallel.threads` set to `n`, restoring the previous setting afterwards.
func withParallelThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
    let saved = Parallel.threads
    Parallel.threads = n
    defer { Parallel.threads = saved }
    return try body()
}
