import Engine
import Foundation
import XCTest

/// Forward results against naive reference implementations computed here in Double.
final class GoldenTests: XCTestCase {

    // MARK: BLAS

    /// Naive C = alpha·op(A)·op(B) + beta·C over an ldc-strided C, returned as the full ldc-wide buffer.
    private func refGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: [Float], lda: Int,
                         b: [Float], ldb: Int, beta: Double, c: [Float], ldc: Int) -> [Double] {
        var out = c.map(Double.init)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                out[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * Double(c[i * ldc + j]))
            }
        }
        return out
    }

    func testSgemmAllTransposesWithLeadingDimensions() {
        var rng = TestRNG(201)
        let m = 5, n = 9, k = 7
        for transA in [false, true] {
            for transB in [false, true] {
                for (alpha, beta) in [(Float(1), Float(0)), (Float(0.75), Float(-0.5))] {
                    // op(A) is m×k: A is m×k (lda ≥ k) or k×m (lda ≥ m). Padding makes lda > width.
                    let aRows = transA ? k : m, aCols = transA ? m : k, lda = aCols + 3
                    let bRows = transB ? n : k, bCols = transB ? k : n, ldb = bCols + 2
                    let ldc = n + 4
                    let a = (0..<(aRows * lda)).map { _ in rng.uniform() }
                    let b = (0..<(bRows * ldb)).map { _ in rng.uniform() }
                    var c = (0..<(m * ldc)).map { _ in rng.uniform() }
                    for i in 0..<m { for j in n..<ldc { c[i * ldc + j] = 12345 } } // padding must stay untouched
                    let want = refGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: Double(alpha), a: a, lda: lda,
                                       b: b, ldb: ldb, beta: Double(beta), c: c, ldc: ldc)
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!, lda: lda,
                                           b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: ldc)
                            }
                        }
                    }
                    assertClose(c, want, rtol: 1e-5, atol: 1e-5, "sgemm transA=\(transA) transB=\(transB) alpha=\(alpha) beta=\(beta)")
                }
            }
        }
    }

    func testPackedMatmulMatchesNaive() {
        // Shapes cover full and partial row tiles (6) and column panels (16), m = 1 (one sequence
        // left), both weight orientations, with and without bias, and leading dimensions wider
        // than the matrices (padding must stay untouched).
        var rng = TestRNG(207)
        for (m, k, n) in [(1, 5, 3), (6, 16, 16), (13, 37, 45), (7, 9, 33)] {
            for transposed in [false, true] {
                for withBias in [false, true] {
                    let lda = k + 3, ldc = n + 2
                    let a = (0..<(m * lda)).map { _ in rng.uniform() }
                    let w = (0..<(k * n)).map { _ in rng.uniform() }     // k×n, or n×k when transposed
                    let bias = (0..<n).map { _ in rng.uniform() }
                    let packed = FloatBuffer(count: PackedMatmul.packedCount(k: k, n: n))
                    for i in 0..<packed.count { packed[i] = .nan }          // every float must be written
                    let scratch = FloatBuffer(count: PackedMatmul.inputScratchCount(m: m, k: k))
                    var out = [Float](repeating: 12345, count: m * ldc)
                    w.withUnsafeBufferPointer { PackedMatmul.pack($0.baseAddress!, k: k, n: n, transposed: transposed, into: packed.pointer) }
                    XCTAssertFalse(packed.array.contains { $0.isNaN }, "pack leaves no float unwritten")
                    a.withUnsafeBufferPointer { ap in
                        bias.withUnsafeBufferPointer { bp in
                            out.withUnsafeMutableBufferPointer { op in
                                PackedMatmul.multiply(out: op.baseAddress!, ldc: ldc, inp: ap.baseAddress!, lda: lda, packed: packed.pointer,
                                                      bias: withBias ? bp.baseAddress! : nil, m: m, k: k, n: n, scratch: scratch.pointer)
                            }
                        }
                    }
                    var want = [Double](repeating: 12345, count: m * ldc)
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = withBias ? Double(bias[j]) : 0
                            for p in 0..<k { s += Double(a[i * lda + p]) * Double(transposed ? w[j * k + p] : w[p * n + j]) }
                            want[i * ldc + j] = s
                        }
                    }
                    assertClose(out, want, rtol: 1e-5, atol: 1e-5, "packed matmul m=\(m) k=\(k) n=\(n) transposed=\(transposed) bias=\(withBias)")
                    // A row's result does not depend on the other rows of the call (decode batches
                    // give each sequence the values it gets alone).
                    if m > 1 {
                        var alone = [Float](repeating: 0, count: n)
                        a.withUnsafeBufferPointer { ap in
                            bias.withUnsafeBufferPointer { bp in
                                alone.withUnsafeMutableBufferPointer { op in
                                    PackedMatmul.multiply(out: op.baseAddress!, ldc: n, inp: ap.baseAddress! + (m - 1) * lda, lda: lda,
                                                          packed: packed.pointer, bias: withBias ? bp.baseAddress! : nil, m: 1, k: k, n: n,
                                                          scratch: scratch.pointer)
                                }
                            }
                        }
                        XCTAssertEqual(alone, Array(out[((m - 1) * ldc)..<((m - 1) * ldc + n)]), "last row alone, m=\(m) k=\(k) n=\(n)")
                    }
                }
            }
        }
    }

    func testSgemmZeroInnerDimension() {
        var c: [Float] = [1, 2, 99, 3, 4, 99]
        let dummy: [Float] = [0]
        BLAS.sgemm(m: 2, n: 2, k: 0, alpha: 5, a: dummy, lda: 1, b: dummy, ldb: 2, beta: 2, c: &c, ldc: 3)
        XCTAssertEqual(c, [2, 4, 99, 6, 8, 99])
        BLAS.sgemm(m: 2, n: 2, k: 0, a: dummy, lda: 1, b: dummy, ldb: 2, beta: 0, c: &c, ldc: 3)
        XCTAssertEqual(c, [0, 0, 99, 0, 0, 99])
    }

    func testSgemmStridedBatched() {
        var rng = TestRNG(202)
        let count = 5, m = 4, n = 6, k = 3
        for transA in [false, true] {
            for threads in [1, 2] {
                // Operands with leading dimensions and gaps between batch items.
                let lda = (transA ? m : k) + 1, aSize = (transA ? k : m) * lda, strideA = aSize + 3
                let ldb = n + 2, strideB = k * ldb + 1
                let ldc = n + 1, strideC = m * ldc + 2
                let a = (0..<(count * strideA)).map { _ in rng.uniform() }
                let b = (0..<(count * strideB)).map { _ in rng.uniform() }
                var c = (0..<(count * strideC)).map { _ in rng.uniform() }
                let c0 = c
                var want = c0.map(Double.init)
                for i in 0..<count {
                    let r = refGemm(transA: transA, transB: false, m: m, n: n, k: k, alpha: 0.5, a: Array(a[(i * strideA)...]), lda: lda,
                                    b: Array(b[(i * strideB)...]), ldb: ldb, beta: 1, c: Array(c0[(i * strideC)..<(i * strideC + m * ldc)]),
                                    ldc: ldc)
                    for j in 0..<(m * ldc) { want[i * strideC + j] = r[j] }
                }
                withParallelThreads(threads) {
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                BLAS.sgemmStridedBatched(count: count, transA: transA, m: m, n: n, k: k, alpha: 0.5,
                                                         a: ap.baseAddress!, lda: lda, strideA: strideA,
                                                         b: bp.baseAddress!, ldb: ldb, strideB: strideB,
                                                         beta: 1, c: cp.baseAddress!, ldc: ldc, strideC: strideC)
                            }
                        }
                    }
                }
                assertClose(c, want, rtol: 1e-5, atol: 1e-5, "sgemmStridedBatched transA=\(transA) threads=\(threads)")
            }
        }
    }

    func testSgemv() {
        var rng = TestRNG(203)
        let m = 5, n = 11, lda = 13
        let a = (0..<(m * lda)).map { _ in rng.uniform() }
        for trans in [false, true] {
            let xn = trans ? m : n, yn = trans ? n : m
            let x = (0..<xn).map { _ in rng.uniform() }
            var y = (0..<yn).map { _ in rng.uniform() }
            var want = [Double](repeating: 0, count: yn)
            for i in 0..<yn {
                var s = 0.0
                for j in 0..<xn { s += Double(trans ? a[j * lda + i] : a[i * lda + j]) * Double(x[j]) }
                want[i] = 1.5 * s - 0.25 * Double(y[i])
            }
            BLAS.sgemv(trans: trans, m: m, n: n, alpha: 1.5, a: a, lda: lda, x: x, beta: -0.25, y: &y)
            assertClose(y, want, rtol: 1e-5, atol: 1e-5, "sgemv trans=\(trans)")
        }
    }

    // MARK: Attention

    func testAttentionForwardMatchesNaive() {
        // T = 6, HS = 4: one full row tile, a partial key panel and a partial value panel (6 × 16 tiles).
        attentionForwardMatchesNaive(B: 2, T: 6, C: 12, NH: 3, branches: nil)
        // Sequence 0 carries two continuations of a 2-token prompt: rows 4, 5 mask columns 2, 3.
        attentionForwardMatchesNaive(B: 2, T: 6, C: 12, NH: 3, branches: [PrefixBranch(prefix: 2, start: 4), PrefixBranch(prefix: 6, start: 6)])
        // T = 33, HS = 20: six row tiles (the last of 3 rows, ending on row 32, the first column
        // of the third key panel), three key panels (the last of one column), two value panels
        // (16 + 4), diagonal tiles that straddle a panel edge.
        attentionForwardMatchesNaive(B: 2, T: 33, C: 40, NH: 2, branches: nil)
        attentionForwardMatchesNaive(B: 2, T: 33, C: 40, NH: 2, branches: [PrefixBranch(prefix: 9, start: 23), PrefixBranch(prefix: 33, start: 33)])
        // A group of continuations in one sequence (GRPO's layout): four after a 5-token prompt, of
        // 7, 1, 9 and 8 tokens (one within a row tile, boundaries inside tiles and panels), and two
        // after a 3-token prompt followed by padding.
        attentionForwardMatchesNaive(B: 2, T: 30, C: 40, NH: 2, branches: Self.groupBranches)
    }

    static let groupBranches = [PrefixBranch(prefix: 5, starts: [12, 13, 22]), PrefixBranch(prefix: 3, starts: [10])]

    private func attentionForwardMatchesNaive(B: Int, T: Int, C: Int, NH: Int, branches: [PrefixBranch]?) {
        var rng = TestRNG(204)
        let HS = C / NH
        let qkv = rng.normalBuffer(B * T * 3 * C, scale: 1.5)
        let out = FloatBuffer(count: B * T * C), lse = FloatBuffer(count: B * NH * T)
        for i in 0..<lse.count { lse[i] = .nan } // every row's log-sum-exp must be written
        // A reused scratch starts as NaN: whatever the kernel reads must have been written first.
        let scratch = Scratch()
        let s0 = scratch.pointer(1 << 16)
        for i in 0..<(1 << 16) { s0[i] = .nan }
        Attention.forward(out: out.pointer, lse: lse.pointer, qkv: qkv.pointer, B: B, T: T, C: C, NH: NH, branches: branches, scratch: scratch)
        var wantOut = [Double](repeating: 0, count: B * T * C), wantLse = [Double](repeating: 0, count: B * NH * T)
        for b in 0..<B {
            for h in 0..<NH {
                for t in 0..<T {
                    func q(_ t: Int, _ d: Int) -> Double { Double(qkv[(b * T + t) * 3 * C + h * HS + d]) }
                    func k(_ t: Int, _ d: Int) -> Double { Double(qkv[(b * T + t) * 3 * C + C + h * HS + d]) }
                    func v(_ t: Int, _ d: Int) -> Double { Double(qkv[(b * T + t) * 3 * C + 2 * C + h * HS + d]) }
                    var s = [Double](repeating: -.infinity, count: T)
                    let branch = branches?[b]
                    for j in 0...t {
                        if let br = branch, let own = br.starts.last(where: { $0 <= t }), j >= br.prefix, j < own { continue }   // masked
                        var dot = 0.0
                        for d in 0..<HS { dot += q(t, d) * k(j, d) }
                        s[j] = dot / Double(HS).squareRoot()
                    }
                    let mx = s.max()!
                    let e = s.map { $0 == -.infinity ? 0 : Foundation.exp($0 - mx) }
                    let z = e.reduce(0, +)
                    wantLse[(b * NH + h) * T + t] = mx + Foundation.log(z)
                    for d in 0..<HS {
                        var o = 0.0
                        for j in 0...t { o += e[j] / z * v(j, d) }
                        wantOut[(b * T + t) * C + h * HS + d] = o
                    }
                }
            }
        }
        assertClose(out.array, wantOut, rtol: 1e-5, atol: 2e-6, "Attention out (T \(T), HS \(HS))")
        assertClose(lse.array, wantLse, rtol: 1e-5, atol: 1e-5, "Attention log-sum-exp (T \(T), HS \(HS))")
    }

    func testAttentionBackwardMatchesNaive() {
        // The shapes of the forward test: several row tiles and key/value panels, partial ones at the
        // edges; the gradient check covers the small shape by finite differences.
        attentionBackwardMatchesNaive(B: 2, T: 33, C: 40, NH: 2, branches: nil)
        attentionBackwardMatchesNaive(B: 2, T: 33, C: 40, NH: 2, branches: [PrefixBranch(prefix: 9, start: 23), PrefixBranch(prefix: 33, start: 33)])
        attentionBackwardMatchesNaive(B: 2, T: 30, C: 40, NH: 2, branches: Self.groupBranches)
        attentionBackwardMatchesNaive(B: 1, T: 6, C: 12, NH: 3, branches: nil)
        // One worker runs every (sequence, head) through the same packed panels and dS scratch.
        withParallelThreads(1) {
            attentionForwardMatchesNaive(B: 2, T: 33, C: 40, NH: 2, branches: nil)
            attentionBackwardMatchesNaive(B: 2, T: 33, C: 40, NH: 2, branches: nil)
        }
    }

    /// dP = dO Vᵀ, dS = P ∘ (dP − rowsum(P ∘ dP)), dQ = s·dS K, dK = s·dSᵀ Q, dV = Pᵀ dO, in Double
    /// from P recomputed here, against the kernel's accumulation into a nonzero dqkv and its
    /// overwriting of a NaN-filled one.
    private func attentionBackwardMatchesNaive(B: Int, T: Int, C: Int, NH: Int, branches: [PrefixBranch]?) {
        var rng = TestRNG(207)
        let HS = C / NH, C3 = 3 * C, scale = 1 / Double(HS).squareRoot()
        let qkv = rng.normalBuffer(B * T * C3), dout = rng.normalBuffer(B * T * C)
        let out = FloatBuffer(count: B * T * C), lse = FloatBuffer(count: B * NH * T)
        let start = rng.normalBuffer(B * T * C3), dqkv = FloatBuffer(start.array)
        Attention.forward(out: out.pointer, lse: lse.pointer, qkv: qkv.pointer, B: B, T: T, C: C, NH: NH, branches: branches, scratch: Scratch())
        // The scratch starts as NaN (P and dS above the diagonal must be zeroed before they are read).
        let scratch = Scratch()
        let s0 = scratch.pointer(1 << 16)
        for i in 0..<(1 << 16) { s0[i] = .nan }
        Attention.backward(dqkv: dqkv.pointer, dout: dout.pointer, qkv: qkv.pointer, lse: lse.pointer, B: B, T: T, C: C, NH: NH,
                           branches: branches, scratch: scratch)
        var grad = [Double](repeating: 0, count: B * T * C3)
        for b in 0..<B {
            for h in 0..<NH {
                func x(_ t: Int, _ part: Int, _ d: Int) -> Double { Double(qkv[(b * T + t) * C3 + part * C + h * HS + d]) }
                func dO(_ t: Int, _ d: Int) -> Double { Double(dout[(b * T + t) * C + h * HS + d]) }
                var P = [[Double]](repeating: [Double](repeating: 0, count: T), count: T)
                for t in 0..<T {
                    var s = [Double](repeating: -.infinity, count: T)
                    for j in 0...t {
                        if let br = branches?[b], let own = br.starts.last(where: { $0 <= t }), j >= br.prefix, j < own { continue }
                        s[j] = (0..<HS).reduce(0.0) { $0 + x(t, 0, $1) * x(j, 1, $1) } * scale
                    }
                    let mx = s.max()!, e = s.map { $0 == -.infinity ? 0 : Foundation.exp($0 - mx) }, z = e.reduce(0, +)
                    P[t] = e.map { $0 / z }
                }
                for t in 0..<T {
                    let dP = (0..<T).map { j in (0..<HS).reduce(0.0) { $0 + dO(t, $1) * x(j, 2, $1) } }
                    let rowsum = (0..<T).reduce(0.0) { $0 + P[t][$1] * dP[$1] }
                    for j in 0..<T {
                        let dS = P[t][j] * (dP[j] - rowsum)
                        for d in 0..<HS {
                            grad[(b * T + t) * C3 + h * HS + d] += scale * dS * x(j, 1, d)           // dQ
                            grad[(b * T + j) * C3 + C + h * HS + d] += scale * dS * x(t, 0, d)       // dK
                            grad[(b * T + j) * C3 + 2 * C + h * HS + d] += P[t][j] * dO(t, d)        // dV
                        }
                    }
                }
            }
        }
        let label = "Attention backward (T \(T), HS \(HS), branches \(branches != nil))"
        assertClose(dqkv.array, zip(start.array, grad).map { Double($0) + $1 }, rtol: 1e-4, atol: 1e-5, label)
        // accumulate: false writes every element (the caller skips zeroing): NaN must not survive.
        let fresh = FloatBuffer([Float](repeating: .nan, count: B * T * C3))
        Attention.backward(dqkv: fresh.pointer, dout: dout.pointer, qkv: qkv.pointer, lse: lse.pointer, B: B, T: T, C: C, NH: NH,
                           branches: branches, scratch: scratch, accumulate: false)
        assertClose(fresh.array, grad, rtol: 1e-4, atol: 1e-5, label + ", overwriting")
    }

    func testCachedAttentionMatchesNaive() {
        // HS = 19 runs the 8-lane loops (16) and the scalar tail (3); len 1 is the first decode step.
        var rng = TestRNG(205)
        let HS = 19, scale: Float = 0.3
        for len in [1, 2, 37] {
            let q = rng.normalBuffer(HS, scale: 1.5), k = rng.normalBuffer(len * HS, scale: 1.5), v = rng.normalBuffer(len * HS)
            let scores = FloatBuffer(count: len), out = FloatBuffer(count: HS)
            for i in 0..<HS { out[i] = .nan }   // written, not accumulated
            Attention.attendCached(q: q.pointer, k: k.pointer, v: v.pointer, len: len, HS: HS, scale: scale,
                                   scores: scores.pointer, out: out.pointer)
            let s = (0..<len).map { j in Double(scale) * (0..<HS).reduce(0.0) { $0 + Double(q[$1]) * Double(k[j * HS + $1]) } }
            let mx = s.max()!
            let e = s.map { Foundation.exp($0 - mx) }, z = e.reduce(0, +)
            let want = (0..<HS).map { d in (0..<len).reduce(0.0) { $0 + e[$1] / z * Double(v[$1 * HS + d]) } }
            assertClose(out.array, want, rtol: 1e-5, atol: 2e-6, "cached attention out, len \(len)")
            assertClose(scores.array, e.map { $0 / z }, rtol: 1e-5, atol: 1e-6, "cached attention probabilities, len \(len)")
        }
    }

    /// Queries whose slots begin with copies of one prompt's keys and values (a group's
    /// completions) read the shared positions once: each must get the bits it gets alone over its
    /// own slot, with lengths from the prompt's alone (a first decode step) to well past it.
    func testCachedAttentionOverASharedPromptGivesEachQueryItsBitsAlone() {
        var rng = TestRNG(206)
        let HS = 19, scale: Float = 0.3, prompt = 11, lens = [11, 12, 30, 17]
        let sharedK = rng.normalBuffer(prompt * HS, scale: 1.5), sharedV = rng.normalBuffer(prompt * HS)
        // Each slot: the prompt's copy, then keys and values of its own.
        let slots = lens.map { len -> (k: FloatBuffer, v: FloatBuffer) in
            let k = rng.normalBuffer(len * HS, scale: 1.5), v = rng.normalBuffer(len * HS)
            for i in 0..<(prompt * HS) { k[i] = sharedK[i]; v[i] = sharedV[i] }
            return (k, v)
        }
        let qs = lens.map { _ in rng.normalBuffer(HS, scale: 1.5) }
        let scores = lens.map { FloatBuffer(count: $0) }, outs = lens.map { _ in FloatBuffer([Float](repeating: .nan, count: HS)) }
        var queries = lens.indices.map { i in
            Attention.CachedQuery(q: qs[i].pointer, k: slots[i].k.pointer, v: slots[i].v.pointer, len: lens[i],
                                  scores: scores[i].pointer, out: outs[i].pointer)
        }
        // Each slot's own copy of the prompt is overwritten: the shared part must come from sharedK/V.
        for s in slots { for i in 0..<(prompt * HS) { s.k[i] = .nan; s.v[i] = .nan } }
        queries.withUnsafeMutableBufferPointer {
            Attention.attendCached(UnsafeBufferPointer($0), shared: prompt, sharedK: sharedK.pointer, sharedV: sharedV.pointer,
                                   HS: HS, scale: scale)
        }
        for s in slots { for i in 0..<(prompt * HS) { s.k[i] = sharedK[i]; s.v[i] = sharedV[i] } }
        for (i, len) in lens.enumerated() {
            let sc = FloatBuffer(count: len), out = FloatBuffer(count: HS)
            Attention.attendCached(q: qs[i].pointer, k: slots[i].k.pointer, v: slots[i].v.pointer, len: len, HS: HS, scale: scale,
                                   scores: sc.pointer, out: out.pointer)
            XCTAssertEqual(outs[i].array, out.array, "query \(i) (len \(len)): output")
            XCTAssertEqual(scores[i].array, sc.array, "query \(i) (len \(len)): probabilities")
        }
    }

    // MARK: LayerNorm

    func testLayerNormForwardMatchesNaive() {
        var rng = TestRNG(205)
        let N = 7, C = 19
        let inp = rng.buffer(N * C, -3, 5), weight = rng.buffer(C, 0.5, 2), bias = rng.buffer(C)
        let out = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
        LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: inp.pointer,
                          weight: weight.pointer, bias: bias.pointer, N: N, C: C)
        var wantOut = [Double](), wantMean = [Double](), wantRstd = [Double]()
        for i in 0..<N {
            let x = (0..<C).map { Double(inp[i * C + $0]) }
            let m = x.reduce(0, +) / Double(C)
            let v = x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(C)
            let s = 1 / (v + Double(LayerNorm.eps)).squareRoot()
            wantMean.append(m); wantRstd.append(s)
            for c in 0..<C { wantOut.append((x[c] - m) * s * Double(weight[c]) + Double(bias[c])) }
        }
        assertClose(mean.array, wantMean, rtol: 1e-5, atol: 1e-6, "LayerNorm mean")
        assertClose(rstd.array, wantRstd, rtol: 1e-5, atol: 0, "LayerNorm rstd")
        assertClose(out.array, wantOut, rtol: 1e-5, atol: 2e-6, "LayerNorm out")
    }

    // MARK: GELU

    func testGELUForwardMatchesNaive() {
        let xs: [Float] = stride(from: Float(-5), through: 5, by: 0.125).map { $0 }
        let inp = FloatBuffer(xs), out = FloatBuffer(count: xs.count)
        GELU.forward(out: out.pointer, inp: inp.pointer, n: xs.count)
        let want = xs.map { xf -> Double in
            let x = Double(xf)
            return 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        }
        assertClose(out.array, want, rtol: 1e-5, atol: 1e-6, "GELU")
        // Spot values of the GPT-2 tanh approximation.
        XCTAssertEqual(out[xs.firstIndex(of: 0)!], 0)
        XCTAssertEqual(Double(out[xs.firstIndex(of: 1)!]), 0.841_191_990_607_477, accuracy: 1e-6)
    }

    // MARK: TokenLogProbs

    func testTokenLogProbsForwardMatchesNaive() {
        var rng = TestRNG(206)
        let N = 9, C = 6, V = 21, n = TokenLogProbs.chunk(V: V) + 7
        let hidden = rng.normalBuffer(N * C), wte = rng.normalBuffer(V * C)
        let rows = (0..<n).map { _ in Int32(rng.int(N)) }, targets = (0..<n).map { _ in Int32(rng.int(V)) }
        let scratch = Scratch()
        for tau in [Float(1), 0.7, 1.6] {
            let logp = FloatBuffer(count: n), ent = FloatBuffer(count: n)
            TokenLogProbs.run(hidden: hidden.pointer, rows: rows, targets: targets, n: n, wte: wte.pointer, V: V, C: C,
                              temperature: tau, logp: logp.pointer, entropy: ent.pointer, scratch: scratch)
            var wantLogp = [Double](), wantEnt = [Double]()
            for r in 0..<n {
                let row = Int(rows[r])
                let z = (0..<V).map { j -> Double in
                    var s = 0.0
                    for c in 0..<C { s += Double(hidden[row * C + c]) * Double(wte[j * C + c]) }
                    return s / Double(tau)
                }
                let mx = z.max()!
                let lse = mx + Foundation.log(z.map { Foundation.exp($0 - mx) }.reduce(0, +))
                let lp = z.map { $0 - lse }
                wantLogp.append(lp[Int(targets[r])])
                wantEnt.append(-lp.map { Foundation.exp($0) * $0 }.reduce(0, +))
            }
            assertClose(logp.array, wantLogp, rtol: 1e-5, atol: 2e-6, "TokenLogProbs logp τ=\(tau)")
            assertClose(ent.array, wantEnt, rtol: 1e-5, atol: 2e-6, "TokenLogProbs entropy τ=\(tau)")
        }
    }

    // MARK: Small kernels

    func testEncoderLinearScalarHeadResidualForward() {
        var rng = TestRNG(207)
        // Encoder
        let B = 2, T = 3, C = 4, V = 6
        let toks: [Int32] = [5, 0, 5, 2, 2, 1]
        let wte = rng.buffer(V * C), wpe = rng.buffer(T * C), eout = FloatBuffer(count: B * T * C)
        Encoder.forward(out: eout.pointer, tokens: toks, wte: wte.pointer, wpe: wpe.pointer, B: B, T: T, C: C)
        var want = [Double]()
        for i in 0..<(B * T) { for c in 0..<C { want.append(Double(wte[Int(toks[i]) * C + c]) + Double(wpe[(i % T) * C + c])) } }
        assertClose(eout.array, want, rtol: 1e-6, atol: 0, "Encoder")

        // Linear with bias
        let N = 3, K = 5, OC = 4
        let inp = rng.buffer(N * K), weight = rng.buffer(K * OC), bias = rng.buffer(OC), lout = FloatBuffer(count: N * OC)
        Linear.forward(out: lout.pointer, inp: inp.pointer, weight: weight.pointer, bias: bias.pointer, N: N, C: K, OC: OC)
        want = []
        for i in 0..<N {
            for o in 0..<OC {
                var s = Double(bias[o])
                for c in 0..<K { s += Double(inp[i * K + c]) * Double(weight[c * OC + o]) }
                want.append(s)
            }
        }
        assertClose(lout.array, want, rtol: 1e-5, atol: 1e-6, "Linear")

        // ScalarHead
        let hidden = rng.buffer(N * K), wv = rng.buffer(K), sout = FloatBuffer(count: N)
        ScalarHead.forward(out: sout.pointer, hidden: hidden.pointer, w: wv.pointer, b: -0.25, N: N, C: K)
        want = (0..<N).map { i in (0..<K).reduce(-0.25) { $0 + Double(hidden[i * K + $1]) * Double(wv[$1]) } }
        assertClose(sout.array, want, rtol: 1e-5, atol: 1e-6, "ScalarHead")

        // Residual
        let ra = rng.buffer(37), rb = rng.buffer(37), rout = FloatBuffer(count: 37)
        Residual.forward(out: rout.pointer, a: ra.pointer, b: rb.pointer, n: 37)
        for i in 0..<37 { XCTAssertEqual(rout[i], ra[i] + rb[i]) }
    }
}
