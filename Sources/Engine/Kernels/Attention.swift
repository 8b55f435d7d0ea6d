import CPrefetch
import Foundation

// MARK: - Shared-prefix layout

/// One sequence of a batch that carries two continuations of one prompt: tokens [0, prefix) are
/// the prompt, [prefix, start) the first continuation, [start, T) the second, which attends to the
/// prompt and to itself but not to the first, at positions prefix + (t − start). Scoring both
/// continuations this way computes the prompt once instead of twice and gives what two separate
/// sequences give (DPO's chosen and rejected completions). `start == T`: an ordinary sequence.
public struct PrefixBranch: Sendable, Equatable {
    public var prefix: Int
    public var start: Int

    public init(prefix: Int, start: Int) {
        precondition(0 <= prefix && prefix <= start, "prefix branch needs 0 ≤ prefix ≤ start")
        self.prefix = prefix
        self.start = start
    }

    /// The position (wpe row) of token t; positions past the context (padding after the second
    /// continuation) are clamped to its last one: no real token attends to them.
    @inline(__always)
    public func position(_ t: Int, context: Int) -> Int {
        Swift.min(t < start ? t : prefix + (t - start), context - 1)
    }
}

// MARK: - Causal multi-head self-attention

public enum Attention {
    /// Rows per block of the causal matmuls: rows [r0, r1) of Q Kᵀ need only the keys [0, r1), so the
    /// products skip the blocks above the diagonal (at T = 256, 62% of the full T×T work; at
    /// T = 128, 75%). Tests set it small to run several blocks on short sequences.
    nonisolated(unsafe) public static var causalBlock = 64

    @inline(__always)
    static func forBlocks(_ T: Int, _ body: (Int, Int) -> Void) {
        let blk = max(1, causalBlock)
        var r0 = 0
        while r0 < T {
            let r1 = Swift.min(T, r0 + blk)
            body(r0, r1)
            r0 = r1
        }
    }

    /// out[b,t,h*HS..] = Σ_{j≤t} softmax_j(q_t·k_j / √HS) v_j for each head h.
    /// out: (B,T,C), att: (B,NH,T,T) post-softmax probabilities (cache), qkv: (B,T,3C) laid out as [Q | K | V]
    /// Q, K and V of head h are read in place as (T,HS) matrices with row stride 3C: no permute.
    /// With `branches` (B entries), row t ≥ start of sequence b also masks the columns
    /// [prefix, start) (see `PrefixBranch`); the backward needs no change, since it reads the masked
    /// probabilities (zeros) from `att`.
    public static func forward(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                               B: Int, T: Int, C: Int, NH: Int, branches: [PrefixBranch]? = nil) {
        let HS = C / NH, C3 = 3 * C
        let scale = 1 / Float(HS).squareRoot()
        BLAS.singleThreaded {
            Parallel.forWorkers(B * NH) { _, range in
                for bh in range {
                    let b = bh / NH, h = bh % NH
                    let q = qkv + b * T * C3 + h * HS, k = q + C, v = q + 2 * C
                    let a = att + bh * T * T
                    // preatt = scale · Q Kᵀ  (T,T), lower triangle by row blocks: rows [r0, r1) need columns [0, r1)
                    forBlocks(T) { r0, r1 in
                        BLAS.sgemm(transB: true, m: r1 - r0, n: r1, k: HS, alpha: scale, a: q + r0 * C3, lda: C3, b: k, ldb: C3,
                                   c: a + r0 * T, ldc: T)
                    }
                    let g0 = branches?[b].prefix ?? T, g1 = branches?[b].start ?? T
                    for t in 0..<T {
                        let row = a + t * T
                        if t >= g1 && g1 > g0 {
                            // Visible: [0, g0) and [g1, t]; the first continuation [g0, g1) is masked.
                            let n2 = t + 1 - g1
                            let mx = Swift.max(FastMath.max(row, g0), FastMath.max(row + g1, n2))
                            let sum = FastMath.expShiftInPlace(row, g0, shift: mx) + FastMath.expShiftInPlace(row + g1, n2, shift: mx)
                            let inv = 1 / sum
                            for j in 0..<g0 { row[j] *= inv }
                            (row + g0).update(repeating: 0, count: g1 - g0)
                            for j in g1...t { row[j] *= inv }
                        } else {
                            let mx = FastMath.max(row, t + 1)
                            let sum = FastMath.expShiftInPlace(row, t + 1, shift: mx)
                            let inv = 1 / sum
                            for j in 0...t { row[j] *= inv }
                        }
                        if t + 1 < T { (row + t + 1).update(repeating: 0, count: T - t - 1) }
                    }
                    // out_bh = att · V  (T,HS), written with row stride C; rows [r0, r1) read V rows [0, r1)
                    forBlocks(T) { r0, r1 in
                        BLAS.sgemm(m: r1 - r0, n: HS, k: r1, a: a + r0 * T, lda: T, b: v, ldb: C3,
                                   c: out + (b * T + r0) * C + h * HS, ldc: C)
                    }
                }
            }
        }
    }

    /// One query against cached keys and values (a decode step): out = softmax(scale · K q) V,
    /// with K and V (len, HS) contiguous rows. One pass over K, one over V, no BLAS call: at
    /// len·HS ≈ 10k a call's overhead was as large as its work, and this loop is bound by memory
    /// reads of the cache. `scores` holds len floats (left as the probabilities).
    ///
    /// The K pass asks for K rows `prefetchRows` ahead and for the V row of the same position, so
    /// that two streams are in flight: the cache read rose from ~11-13 to ~14-16 GB/s (both
    /// shapes of `rlhf bench`, 64 rows), against ~18-24 GB/s for a plain read of the same bytes.
    static let prefetchRows = 4

    @inline(__always)
    public static func attendCached(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, len: Int, HS: Int,
                                    scale: Float, scores s: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let H8 = HS / 8 * 8
        for j in 0..<len {
            let ahead = k + (j + prefetchRows) * HS, vj = v + j * HS
            var c = 0
            while c < HS {          // one request per 64-byte line
                if j + prefetchRows < len { rlhf_prefetch(ahead + c) }
                rlhf_prefetch(vj + c)
                c += 16
            }
            s[j] = FastMath.dot(q, k + j * HS, HS) * scale
        }
        let mx = FastMath.max(s, len)
        let inv = 1 / FastMath.expShiftInPlace(s, len, shift: mx)
        out.update(repeating: 0, count: HS)
        for j in 0..<len {
            let p = s[j] * inv
            s[j] = p
            let vj = v + j * HS, pv = SIMD8<Float>(repeating: p)
            var c = 0
            while c < H8 { FastMath.store(FastMath.fma(pv, FastMath.load(vj + c), FastMath.load(out + c)), out + c); c += 8 }
            while c < HS { out[c] += p * vj[c]; c += 1 }
        }
    }

    /// Differentiates the forward above. With P = att (post-softmax), dO = dout_bh:
    /// dP = dO Vᵀ;  dV += Pᵀ dO;  dS_tj = P_tj (dP_tj − Σ_k P_tk dP_tk);  dQ += scale · dS K;  dK += scale · dSᵀ Q.
    /// dqkv: (B,T,3C) accumulated; scratch holds one (T,T) matrix per worker.
    public static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                                att: UnsafePointer<Float>, B: Int, T: Int, C: Int, NH: Int, scratch: Scratch) {
        let HS = C / NH, C3 = 3 * C
        let scale = 1 / Float(HS).squareRoot()
        let workers = min(Parallel.threads, B * NH)
        let ds = scratch.pointer(workers * T * T)
        BLAS.singleThreaded {
            Parallel.forWorkers(B * NH) { w, range in
                let dp = ds + w * T * T
                for bh in range {
                    let b = bh / NH, h = bh % NH
                    let off = b * T * C3 + h * HS
                    let q = qkv + off, k = q + C, v = q + 2 * C
                    let dq = dqkv + off, dk = dq + C, dv = dq + 2 * C
                    let a = att + bh * T * T
                    let d = dout + b * T * C + h * HS
                    // dP = dO Vᵀ on the lower triangle (row blocks); dV += Pᵀ dO by column blocks [c0, c1),
                    // which only rows t ≥ c0 of P reach (P is zero above the diagonal).
                    forBlocks(T) { r0, r1 in
                        BLAS.sgemm(transB: true, m: r1 - r0, n: r1, k: HS, a: d + r0 * C, lda: C, b: v, ldb: C3, c: dp + r0 * T, ldc: T)
                        BLAS.sgemm(transA: true, m: r1 - r0, n: HS, k: T - r0, a: a + r0 * T + r0, lda: T, b: d + r0 * C, ldb: C,
                                   beta: 1, c: dv + r0 * C3, ldc: C3)
                    }
                    for t in 0..<T {
                        let pr = a + t * T, dr = dp + t * T
                        var s: Float = 0
                        for j in 0...t { s += pr[j] * dr[j] }
                        for j in 0...t { dr[j] = pr[j] * (dr[j] - s) }
                        if t + 1 < T { (dr + t + 1).update(repeating: 0, count: T - t - 1) }
                    }
                    // dQ += scale · dS K (row blocks read K rows [0, r1)); dK += scale · dSᵀ Q (column blocks, rows t ≥ c0).
                    forBlocks(T) { r0, r1 in
                        BLAS.sgemm(m: r1 - r0, n: HS, k: r1, alpha: scale, a: dp + r0 * T, lda: T, b: k, ldb: C3,
                                   beta: 1, c: dq + r0 * C3, ldc: C3)
                        BLAS.sgemm(transA: true, m: r1 - r0, n: HS, k: T - r0, alpha: scale, a: dp + r0 * T + r0, lda: T,
                                   b: q + r0 * C3, ldb: C3, beta: 1, c: dk + r0 * C3, ldc: C3)
                    }
                }
            }
        }
    }
}
