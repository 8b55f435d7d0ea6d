import CPrefetch
import Foundation

// MARK: - Shared-prefix layout

/// One sequence of a batch that carries several continuations of one prompt: tokens [0, prefix)
/// are the prompt, [prefix, starts[0]) the first continuation, [starts[k−1], starts[k]) the
/// (k+1)-th and [starts.last, T) the last. Each continuation attends to the prompt and to itself
/// but not to the continuations before it, at the positions it would have right after the prompt
/// (prefix + (t − its start)). Scoring the continuations this way computes the prompt once instead
/// of once per continuation and gives what separate sequences give: DPO's chosen and rejected
/// completions (two), a group of GRPO or RLOO completions (G). `starts == [T]`: an ordinary
/// sequence.
public struct PrefixBranch: Sendable, Equatable {
    public let prefix: Int
    /// Where each continuation after the first starts, increasing, none below `prefix`.
    public let starts: [Int]

    public init(prefix: Int, starts: [Int]) {
        precondition(!starts.isEmpty && 0 <= prefix && prefix <= starts[0] && zip(starts, starts.dropFirst()).allSatisfy { $0 <= $1 },
                     "prefix branches need 0 ≤ prefix ≤ starts[0] ≤ starts[1] ≤ …")
        self.prefix = prefix
        self.starts = starts
    }

    /// Two continuations, the second from `start`.
    public init(prefix: Int, start: Int) { self.init(prefix: prefix, starts: [start]) }

    /// Where the last continuation starts (the row's tokens past it belong to it).
    public var lastStart: Int { starts[starts.count - 1] }

    /// Row t attends to the columns [0, prefix) and [maskEnd(t), t]: the start of its continuation
    /// when that is not the first, else `prefix` (nothing masked).
    @inline(__always)
    public func maskEnd(_ t: Int) -> Int {
        if t < starts[0] { return prefix }
        var k = starts.count - 1
        while starts[k] > t { k -= 1 }
        return starts[k]
    }

    /// The rows that can attend to key j are [j, reachEnd(j)): every row for a prompt key, the
    /// rest of its own continuation for the others (later continuations mask it).
    @inline(__always)
    public func reachEnd(_ j: Int, T: Int) -> Int {
        if j < prefix { return T }
        for s in starts where s > j { return Swift.min(s, T) }
        return T
    }

    /// Whether every continuation but the last (whose end the caller's padding hides) keeps its
    /// positions within `context`.
    public func fits(context: Int) -> Bool {
        starts[0] <= context && zip(starts, starts.dropFirst()).allSatisfy { prefix + ($1 - $0) <= context }
    }

    /// The position (wpe row) of token t; positions past the context (padding after the last
    /// continuation) are clamped to its last one: no real token attends to them.
    @inline(__always)
    public func position(_ t: Int, context: Int) -> Int {
        Swift.min(t < starts[0] ? t : prefix + (t - maskEnd(t)), context - 1)
    }
}

// MARK: - Causal multi-head self-attention

public enum Attention {
    /// out[b,t,h*HS..] = Σ_{j≤t} softmax_j(q_t·k_j / √HS) v_j for each head h.
    /// out: (B,T,C), qkv: (B,T,3C) laid out as [Q | K | V], lse: (B,NH,T) or nil.
    /// Q, K and V of head h are read in place as (T,HS) matrices with row stride 3C: no permute.
    /// With `branches` (B entries), row t of sequence b also masks the columns
    /// [prefix, maskEnd(t)): the continuations before its own (see `PrefixBranch`).
    ///
    /// The (T,T) probabilities are not kept: `lse` receives each row's log Σ_j exp(s_tj), all the
    /// backward pass needs to recompute them (as FlashAttention does). Keeping them cost
    /// B·NH·T² floats a layer, 2.4 GB for GPT-2 small at batch 4 × 1,024, for a recomputation
    /// of one product of the six.
    ///
    /// The products run on `AttentionTiles`: per (sequence, head) Kᵀ and V are packed once, then
    /// each block of 6 query rows computes its scores against the key panels up to its last row
    /// (the causal triangle, to 16 columns), takes their softmax while they are in cache, and
    /// multiplies the probabilities by V over the same keys. `scratch` holds, per worker, the
    /// packed operands and one block of 6 rows of scores.
    public static func forward(out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>?, qkv: UnsafePointer<Float>,
                               B: Int, T: Int, C: Int, NH: Int, branches: [PrefixBranch]? = nil, scratch: Scratch) {
        let t0 = KernelClock.start()
        defer { KernelClock.stop(.attention, since: t0) }
        let HS = C / NH, C3 = 3 * C
        let scale = 1 / Float(HS).squareRoot()
        let R = AttentionTiles.rows, W = AttentionTiles.cols
        let packed = AttentionTiles.packedCount(len: T, width: HS)
        let workers = min(Parallel.threads, B * NH)
        // Per worker: Kᵀ and V packed (multiples of 16 floats: panel rows stay on 64-byte lines of
        // the aligned scratch), then 6 rows of scores.
        let stride = (2 * packed + R * T + 15) / 16 * 16
        let base = scratch.pointer(workers * stride)
        Parallel.forWorkers(B * NH) { w, range in
            let kT = base + w * stride, vp = kT + packed, a = vp + packed
            for bh in range {
                let b = bh / NH, h = bh % NH
                let q = qkv + b * T * C3 + h * HS, k = q + C, v = q + 2 * C
                let o = out + b * T * C + h * HS
                AttentionTiles.packTransposed(k, ld: C3, len: T, width: HS, into: kT)
                AttentionTiles.packRows(v, ld: C3, len: T, width: HS, into: vp)
                let branch = branches?[b]
                var i0 = 0
                while i0 < T {
                    let n = min(R, T - i0), last = i0 + n - 1
                    let (m0, m1) = maskedForBlock(branch, i0, T: T)
                    // S = scale · Q Kᵀ for rows [i0, last] (row t − i0 of `a`), key panels up to the one holding
                    // `last`, except those masked for every row of the block (softmaxRow zeroes them).
                    for i in (i0 + n)..<min(T, i0 + n + R) { PackedMatmul.prefetchRow(q + i * C3, count: HS) }   // the next block's Q
                    var j0 = 0
                    while j0 <= last {
                        if j0 >= m0 && j0 + W <= m1 { j0 += W; continue }
                        AttentionTiles.tile(a: q + i0 * C3, rowStride: C3, kStride: 1, rowCount: n, panel: kT + j0 * HS,
                                            k0: 0, k1: HS, out: a + j0, ldc: T, colCount: min(W, T - j0),
                                            alpha: scale, accumulate: false)
                        j0 += W
                    }
                    for t in i0...last {
                        let l = softmaxRow(a + (t - i0) * T, t: t, T: T, g0: branch?.prefix ?? T, g1: branch?.maskEnd(t) ?? T)
                        lse?[bh * T + t] = l
                    }
                    // O = P V over keys [0, m0) and [m1, last]: P is zero past each row's diagonal and
                    // on the block's masked keys.
                    var d0 = 0
                    while d0 < HS {
                        forEachUnmasked(m0, m1, last + 1) { k0, k1, first in
                            AttentionTiles.tile(a: a, rowStride: T, kStride: 1, rowCount: n, panel: vp + d0 * T,
                                                k0: k0, k1: k1, out: o + i0 * C + d0, ldc: C, colCount: min(W, HS - d0),
                                                alpha: 1, accumulate: !first)
                        }
                        d0 += W
                    }
                    i0 += n
                }
            }
        }
    }

    /// The keys [m0, m1) masked for every row of the block of rows from i0 (`maskEnd` does not
    /// decrease along a sequence, so the block's first row masks the least); m0 == m1: none.
    @inline(__always)
    static func maskedForBlock(_ branch: PrefixBranch?, _ i0: Int, T: Int) -> (Int, Int) {
        guard let branch else { return (T, T) }
        return (branch.prefix, branch.maskEnd(i0))
    }

    /// Calls `body(k0, k1, first)` for the key ranges [0, m0) and [m1, end) when m0 < m1 (the
    /// empty one left out), else for [0, end).
    @inline(__always)
    static func forEachUnmasked(_ m0: Int, _ m1: Int, _ end: Int, _ body: (Int, Int, Bool) -> Void) {
        if m0 < m1 {
            if m0 > 0 { body(0, m0, true) }
            if m1 < end { body(m1, end, m0 == 0) }
        } else {
            body(0, end, true)
        }
    }

    /// Row t of the scores in place → causal softmax probabilities, zeros past the diagonal; returns
    /// the row's log-sum-exp. With a prefix branch (g0 < g1 ≤ t) the columns [g0, g1) (the
    /// continuations before the row's own) are masked too.
    @inline(__always)
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, t: Int, T: Int, g0: Int, g1: Int) -> Float {
        let mx: Float, sum: Float
        if t >= g1 && g1 > g0 {
            // Visible: [0, g0) and [g1, t]; the continuations before the row's own, [g0, g1), are masked.
            let n2 = t + 1 - g1
            mx = Swift.max(FastMath.max(row, g0), FastMath.max(row + g1, n2))
            sum = FastMath.expShiftInPlace(row, g0, shift: mx) + FastMath.expShiftInPlace(row + g1, n2, shift: mx)
            let inv = 1 / sum
            for j in 0..<g0 { row[j] *= inv }
            (row + g0).update(repeating: 0, count: g1 - g0)
            for j in g1...t { row[j] *= inv }
        } else {
            mx = FastMath.max(row, t + 1)
            sum = FastMath.expShiftInPlace(row, t + 1, shift: mx)
            let inv = 1 / sum
            for j in 0...t { row[j] *= inv }
        }
        if t + 1 < T { (row + t + 1).update(repeating: 0, count: T - t - 1) }
        return mx + Foundation.log(sum)
    }

    /// Row t of the scores in place → the probabilities exp(s_tj − lse_t) that `softmaxRow` gave
    /// (the forward's log-sum-exp), with the same zeros.
    @inline(__always)
    static func probabilitiesRow(_ row: UnsafeMutablePointer<Float>, t: Int, T: Int, g0: Int, g1: Int, lse: Float) {
        if t >= g1 && g1 > g0 {
            _ = FastMath.expShiftInPlace(row, g0, shift: lse)
            (row + g0).update(repeating: 0, count: g1 - g0)
            _ = FastMath.expShiftInPlace(row + g1, t + 1 - g1, shift: lse)
        } else {
            _ = FastMath.expShiftInPlace(row, t + 1, shift: lse)
        }
        if t + 1 < T { (row + t + 1).update(repeating: 0, count: T - t - 1) }
    }

    /// One query against cached keys and values (a decode step): out = softmax(scale · K q) V,
    /// with K and V (len, HS) contiguous rows. `scores` holds len floats (left as the probabilities).
    /// `attendCached(_:shared:…)` with one query and nothing shared.
    @inline(__always)
    public static func attendCached(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, len: Int, HS: Int,
                                    scale: Float, scores s: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        var one = CachedQuery(q: q, k: k, v: v, len: len, scores: s, out: out)
        withUnsafeMutablePointer(to: &one) { attendCached(UnsafeBufferPointer(start: $0, count: 1), shared: 0, sharedK: k, sharedV: v, HS: HS, scale: scale) }
    }

    /// How far ahead the decode attention's K passes prefetch (rows).
    static let prefetchRows = 4

    /// One decode query of one head: its query (HS floats), its slot's cached keys and values
    /// ((len, HS) rows from position 0), and where its probabilities (len floats) and output go.
    public struct CachedQuery {
        public var q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
        public var len: Int
        public var scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
        public init(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, len: Int,
                    scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
            self.q = q; self.k = k; self.v = v; self.len = len; self.scores = scores; self.out = out
        }
    }

    /// Decode queries of one head whose first `shared` cached positions hold the same keys and
    /// values (the G completions of one prompt: every slot starts with a copy of the prompt's
    /// cache), each against its own `len` positions: out = softmax(scale · K q) V per query. The
    /// shared positions are read once, from `sharedK`/`sharedV`, for all the queries; where each
    /// query read its own copy, a group of G read the prompt's cache G times, and the cache reads
    /// are what a decode step's attention waits on. Each query gets the products, sums and order
    /// of a query alone (K rows in order, then V rows in order), so the same bits.
    ///
    /// No BLAS call: at len·HS ≈ 10k a call's overhead was as large as its work. The K passes ask
    /// for K rows `prefetchRows` ahead and for the V row of the same position, so that two
    /// streams are in flight (the cache read rose from ~11-13 to ~14-16 GB/s at both shapes of
    /// `rlhf bench`, against ~18-24 GB/s for a plain read of the same bytes).
    public static func attendCached(_ queries: UnsafeBufferPointer<CachedQuery>, shared: Int, sharedK: UnsafePointer<Float>,
                                    sharedV: UnsafePointer<Float>, HS: Int, scale: Float) {
        let H8 = HS / 8 * 8
        @inline(__always) func prefetchK(_ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ j: Int, _ len: Int) {
            let ahead = k + (j + prefetchRows) * HS, vj = v + j * HS
            var c = 0
            while c < HS {          // one request per 64-byte line
                if j + prefetchRows < len { rlhf_prefetch(ahead + c) }
                rlhf_prefetch(vj + c)
                c += 16
            }
        }
        @inline(__always) func addRow(_ out: UnsafeMutablePointer<Float>, _ p: Float, _ vj: UnsafePointer<Float>) {
            let pv = SIMD8<Float>(repeating: p)
            var c = 0
            while c < H8 { FastMath.store(FastMath.fma(pv, FastMath.load(vj + c), FastMath.load(out + c)), out + c); c += 8 }
            while c < HS { out[c] += p * vj[c]; c += 1 }
        }
        for j in 0..<shared {
            prefetchK(sharedK, sharedV, j, shared)
            let kj = sharedK + j * HS
            for e in queries { e.scores[j] = FastMath.dot(e.q, kj, HS) * scale }
        }
        for e in queries {
            for j in shared..<e.len {
                prefetchK(e.k, e.v, j, e.len)
                e.scores[j] = FastMath.dot(e.q, e.k + j * HS, HS) * scale
            }
        }
        // The scores become probabilities (1 / Σ exp per query in `inv`) as the V passes use them.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: queries.count) { inv in
            for (n, e) in queries.enumerated() {
                let mx = FastMath.max(e.scores, e.len)
                inv[n] = 1 / FastMath.expShiftInPlace(e.scores, e.len, shift: mx)
                e.out.update(repeating: 0, count: HS)
            }
            for j in 0..<shared {
                let vj = sharedV + j * HS
                for (n, e) in queries.enumerated() {
                    let p = e.scores[j] * inv[n]
                    e.scores[j] = p
                    addRow(e.out, p, vj)
                }
            }
            for (n, e) in queries.enumerated() {
                for j in shared..<e.len {
                    let p = e.scores[j] * inv[n]
                    e.scores[j] = p
                    addRow(e.out, p, e.v + j * HS)
                }
            }
        }
    }

    /// Differentiates the forward above. With P the probabilities (recomputed from Q, K and `lse`),
    /// dO = dout_bh:
    /// dP = dO Vᵀ;  dV += Pᵀ dO;  dS_tj = P_tj (dP_tj − Σ_k P_tk dP_tk);  dQ += scale · dS K;  dK += scale · dSᵀ Q.
    /// dqkv: (B,T,3C) accumulated, or overwritten with `accumulate` false (every element of the B·T
    /// rows is written, so the caller need not zero it); `branches` as given to the forward;
    /// scratch holds, per worker, two (T,T) matrices (P and dS) and the five packed operands.
    ///
    /// Per (sequence, head), Kᵀ, Vᵀ, dO, K and Q are packed once (`AttentionTiles`). A first pass over
    /// blocks of 6 query rows recomputes S = scale · Q Kᵀ and P = exp(S − lse) on the causal
    /// triangle, forms dP, turns it into dS and adds dS K into dQ; a second pass over blocks of 6
    /// key positions j adds Pᵀ dO into dV and dSᵀ Q into dK, both over the rows t ≥ j that reach them.
    public static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                                lse: UnsafePointer<Float>, B: Int, T: Int, C: Int, NH: Int, branches: [PrefixBranch]? = nil,
                                scratch: Scratch, accumulate: Bool = true) {
        let t0 = KernelClock.start()
        defer { KernelClock.stop(.attention, since: t0) }
        let HS = C / NH, C3 = 3 * C
        let scale = 1 / Float(HS).squareRoot()
        let R = AttentionTiles.rows, W = AttentionTiles.cols
        let packed = AttentionTiles.packedCount(len: T, width: HS)
        let workers = min(Parallel.threads, B * NH)
        // Per worker: the packed operands first (a multiple of 16 floats: panel rows stay on 64-byte
        // lines of the aligned scratch), then P and dS.
        let stride = (5 * packed + 2 * T * T + 15) / 16 * 16
        let base = scratch.pointer(workers * stride)
        Parallel.forWorkers(B * NH) { w, range in
            let vT = base + w * stride, dop = vT + packed, kp = dop + packed, qp = kp + packed, kT = qp + packed
            let a = kT + packed, dp = a + T * T
            for bh in range {
                let b = bh / NH, h = bh % NH
                let off = b * T * C3 + h * HS
                let q = qkv + off, k = q + C, v = q + 2 * C
                let dq = dqkv + off, dk = dq + C, dv = dq + 2 * C
                let d = dout + b * T * C + h * HS
                let branch = branches?[b]
                AttentionTiles.packTransposed(k, ld: C3, len: T, width: HS, into: kT)
                AttentionTiles.packTransposed(v, ld: C3, len: T, width: HS, into: vT)
                AttentionTiles.packRows(d, ld: C, len: T, width: HS, into: dop)
                AttentionTiles.packRows(k, ld: C3, len: T, width: HS, into: kp)
                AttentionTiles.packRows(q, ld: C3, len: T, width: HS, into: qp)
                var i0 = 0
                while i0 < T {
                    let n = min(R, T - i0), last = i0 + n - 1
                    let (m0, m1) = maskedForBlock(branch, i0, T: T)
                    // P = exp(scale · Q Kᵀ − lse) for rows [i0, last], key panels up to the one holding `last`
                    // but those masked for the whole block (probabilitiesRow zeroes them).
                    var j0 = 0
                    while j0 <= last {
                        if j0 >= m0 && j0 + W <= m1 { j0 += W; continue }
                        AttentionTiles.tile(a: q + i0 * C3, rowStride: C3, kStride: 1, rowCount: n, panel: kT + j0 * HS,
                                            k0: 0, k1: HS, out: a + i0 * T + j0, ldc: T, colCount: min(W, T - j0),
                                            alpha: scale, accumulate: false)
                        j0 += W
                    }
                    for t in i0...last { probabilitiesRow(a + t * T, t: t, T: T, g0: branch?.prefix ?? T, g1: branch?.maskEnd(t) ?? T,
                                                                 lse: lse[bh * T + t]) }
                    // dP = dO Vᵀ for rows [i0, last], columns up to the panel holding `last`, the same
                    // panels skipped (dS is set to zero on each row's masked keys below, not computed).
                    j0 = 0
                    while j0 <= last {
                        if j0 >= m0 && j0 + W <= m1 { j0 += W; continue }
                        AttentionTiles.tile(a: d + i0 * C, rowStride: C, kStride: 1, rowCount: n, panel: vT + j0 * HS,
                                            k0: 0, k1: HS, out: dp + i0 * T + j0, ldc: T, colCount: min(W, T - j0),
                                            alpha: 1, accumulate: false)
                        j0 += W
                    }
                    // dS = P ∘ (dP − rowsum(P ∘ dP)), zeros past the diagonal and on the row's masked keys.
                    for t in i0...last {
                        let pr = a + t * T, dr = dp + t * T
                        let g0 = branch?.prefix ?? T, g1 = branch?.maskEnd(t) ?? T
                        if t >= g1 && g1 > g0 {
                            let s = FastMath.dot(pr, dr, g0) + FastMath.dot(pr + g1, dr + g1, t + 1 - g1)
                            for j in 0..<g0 { dr[j] = pr[j] * (dr[j] - s) }
                            (dr + g0).update(repeating: 0, count: g1 - g0)
                            for j in g1...t { dr[j] = pr[j] * (dr[j] - s) }
                        } else {
                            let s = FastMath.dot(pr, dr, t + 1)
                            for j in 0...t { dr[j] = pr[j] * (dr[j] - s) }
                        }
                        if t + 1 < T { (dr + t + 1).update(repeating: 0, count: T - t - 1) }
                    }
                    // dQ += scale · dS K over keys [0, m0) and [m1, last].
                    var d0 = 0
                    while d0 < HS {
                        forEachUnmasked(m0, m1, last + 1) { k0, k1, first in
                            AttentionTiles.tile(a: dp + i0 * T, rowStride: T, kStride: 1, rowCount: n, panel: kp + d0 * T,
                                                k0: k0, k1: k1, out: dq + i0 * C3 + d0, ldc: C3, colCount: min(W, HS - d0),
                                                alpha: scale, accumulate: accumulate || !first)
                        }
                        d0 += W
                    }
                    i0 += n
                }
                // dV += Pᵀ dO and dK += scale · dSᵀ Q for key positions [j0, j0 + n), over the rows
                // t ≥ j0 that can reach them (P and dS are zero above the diagonal and on masked keys).
                var j0 = 0
                while j0 < T {
                    let n = min(R, T - j0)
                    let rowEnd = branch.map { j0 < $0.prefix ? T : $0.reachEnd(j0 + n - 1, T: T) } ?? T
                    var d0 = 0
                    while d0 < HS {
                        let cw = min(W, HS - d0)
                        AttentionTiles.tile(a: a + j0, rowStride: 1, kStride: T, rowCount: n, panel: dop + d0 * T,
                                            k0: j0, k1: rowEnd, out: dv + j0 * C3 + d0, ldc: C3, colCount: cw, alpha: 1, accumulate: accumulate)
                        AttentionTiles.tile(a: dp + j0, rowStride: 1, kStride: T, rowCount: n, panel: qp + d0 * T,
                                            k0: j0, k1: rowEnd, out: dk + j0 * C3 + d0, ldc: C3, colCount: cw, alpha: scale, accumulate: accumulate)
                        d0 += W
                    }
                    j0 += n
                }
            }
        }
    }
}
