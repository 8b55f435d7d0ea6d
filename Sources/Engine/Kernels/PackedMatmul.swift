import CPrefetch

// MARK: - Matmuls of a few rows against a weight packed once (decode steps)

/// out(M, N) = inp(M, K) · W(K, N) [+ bias] for small M against a weight that stays fixed over
/// many calls: a decode step multiplies one row per sequence (M ≤ 64) by every weight matrix of
/// the model, dozens of times per `generate`. OpenBLAS re-packs the whole weight on every call,
/// which at M = 64 costs about as much as the multiply itself (its transposed LM-head product ran
/// at 70 GFLOP/s, against 99 here). Here the weight is laid out once, in the order the inner loop
/// reads it: panels of 16 columns, each K × 16 contiguous (zero-padded past N). A call packs only
/// the M × K input (rows in groups of 6, k-major), then each worker runs a 6 × 16 register tile
/// over its share of the panels.
///
/// Every output element is one sum over k = 0..<K in order, in one SIMD lane, whatever M, the
/// tile position or the thread split: a row's result does not depend on the other rows of the call.
public enum PackedMatmul {
    public static let rowTile = 6
    public static let columnTile = 16

    /// Floats that a packed K × N weight occupies.
    public static func packedCount(k: Int, n: Int) -> Int { (n + columnTile - 1) / columnTile * columnTile * k }

    /// Floats of input scratch that `multiply` needs for M rows of K.
    public static func inputScratchCount(m: Int, k: Int) -> Int { (m + rowTile - 1) / rowTile * rowTile * k }

    /// Packs W into `packed` (`packedCount(k:n:)` floats). W is K × N row-major (leading dimension
    /// N) when `transposed` is false; with `transposed`, `w` holds Wᵀ as N × K row-major (a tied LM
    /// head's embedding, V × C, for logits = h · Eᵀ).
    public static func pack(_ w: UnsafePointer<Float>, k: Int, n: Int, transposed: Bool, into packed: UnsafeMutablePointer<Float>) {
        let panels = (n + columnTile - 1) / columnTile
        Parallel.forRange(panels, grain: 4) { range in
            for p in range {
                packPanel(w, ld: transposed ? k : n, k: k, n: n, transposed: transposed, panel: p,
                          into: packed + p * k * columnTile, rowsAhead: 0)
            }
        }
    }

    /// Writes panel p of W (columns [16p, 16p + 16), zero-padded past n) as k rows of 16 floats.
    /// W is k × n with row stride `ld`, or with `transposed` Wᵀ is given, n × k with row stride `ld`.
    /// `rowsAhead` > 0 asks for the source rows that many ahead while copying (rows a page or more
    /// apart, which the hardware prefetcher follows poorly); in the untransposed layout only panel
    /// 0 asks, for whole rows.
    @inline(__always)
    static func packPanel(_ w: UnsafePointer<Float>, ld: Int, k: Int, n: Int, transposed: Bool, panel p: Int,
                          into dst: UnsafeMutablePointer<Float>, rowsAhead: Int) {
        let j0 = p * columnTile, width = min(columnTile, n - j0)
        if transposed {
            for j in 0..<columnTile {
                if rowsAhead > 0 && j0 + j + rowsAhead < n { prefetchRow(w + (j0 + j + rowsAhead) * ld, count: k) }
                if j < width {
                    let src = w + (j0 + j) * ld
                    for kk in 0..<k { dst[kk * columnTile + j] = src[kk] }
                } else {
                    for kk in 0..<k { dst[kk * columnTile + j] = 0 }
                }
            }
        } else {
            for kk in 0..<k {
                if rowsAhead > 0 && p == 0 && kk + rowsAhead < k { prefetchRow(w + (kk + rowsAhead) * ld, count: n) }
                let row = dst + kk * columnTile
                row.update(from: w + kk * ld + j0, count: width)
                (row + width).update(repeating: 0, count: columnTile - width)
            }
        }
    }

    /// Asks for the `count` floats at `p`, one request per 64-byte line.
    @inline(__always)
    static func prefetchRow(_ p: UnsafePointer<Float>, count: Int) {
        var c = 0
        while c < count { rlhf_prefetch(p + c); c += 16 }
    }

    /// out = inp · W (+ bias broadcast over rows). inp: M × K row-major with leading dimension
    /// `lda`; out: M × N with leading dimension `ldc`; `packed` from `pack(_:k:n:transposed:into:)`;
    /// `scratch` holds `inputScratchCount(m:k:)` floats.
    public static func multiply(out: UnsafeMutablePointer<Float>, ldc: Int, inp: UnsafePointer<Float>, lda: Int,
                                packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?, m: Int, k: Int, n: Int,
                                scratch: UnsafeMutablePointer<Float>) {
        if m == 0 || n == 0 { return }
        let blocks = (m + rowTile - 1) / rowTile, panels = (n + columnTile - 1) / columnTile
        for b in 0..<blocks {
            let dst = scratch + b * k * rowTile
            for i in 0..<rowTile {
                let r = b * rowTile + i
                if r < m {
                    let src = inp + r * lda
                    for kk in 0..<k { dst[kk * rowTile + i] = src[kk] }
                } else {
                    for kk in 0..<k { dst[kk * rowTile + i] = 0 }
                }
            }
        }
        let a = UnsafePointer(scratch)
        // A few panels per piece: work per piece ≥ ~100k multiply-adds at M = 64, K = 128.
        Parallel.forRange(panels, grain: max(1, 2048 / (k * blocks))) { range in
            for p in range {
                let j0 = p * columnTile, width = min(columnTile, n - j0)
                let bp = packed + p * k * columnTile
                // The weights come from memory (a model's matrices exceed the caches): while this
                // panel is in use, ask for the next one, one 64-byte line per k.
                let next = p + 1 < range.upperBound ? bp + k * columnTile : bp
                for b in 0..<blocks {
                    tile(a: a + b * k * rowTile, b: bp, k: k, out: out + b * rowTile * ldc + j0, ldc: ldc,
                         rows: min(rowTile, m - b * rowTile), cols: width, bias: bias.map { $0 + j0 }, prefetch: next)
                }
            }
        }
    }

    /// One 6 × 16 tile of out: twelve 8-lane accumulators, each k adds a broadcast input value
    /// times two 8-float rows of the panel.
    @inline(__always)
    static func tile(a: UnsafePointer<Float>, b: UnsafePointer<Float>, k: Int, out: UnsafeMutablePointer<Float>, ldc: Int,
                     rows: Int, cols: Int, bias: UnsafePointer<Float>?, prefetch: UnsafePointer<Float>) {
        typealias V = FastMath.V
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var ap = a, bp = b, pf = prefetch
        for _ in 0..<k {
            rlhf_prefetch(pf)
            pf += columnTile
            let b0 = FastMath.load(bp), b1 = FastMath.load(bp + 8)
            var x = V(repeating: ap[0]); c00 = FastMath.fma(x, b0, c00); c01 = FastMath.fma(x, b1, c01)
            x = V(repeating: ap[1]); c10 = FastMath.fma(x, b0, c10); c11 = FastMath.fma(x, b1, c11)
            x = V(repeating: ap[2]); c20 = FastMath.fma(x, b0, c20); c21 = FastMath.fma(x, b1, c21)
            x = V(repeating: ap[3]); c30 = FastMath.fma(x, b0, c30); c31 = FastMath.fma(x, b1, c31)
            x = V(repeating: ap[4]); c40 = FastMath.fma(x, b0, c40); c41 = FastMath.fma(x, b1, c41)
            x = V(repeating: ap[5]); c50 = FastMath.fma(x, b0, c50); c51 = FastMath.fma(x, b1, c51)
            ap += rowTile; bp += columnTile
        }
        var bias0 = V(), bias1 = V()
        if let bias {
            if cols == columnTile {
                bias0 = FastMath.load(bias); bias1 = FastMath.load(bias + 8)
            } else {
                for j in 0..<cols { if j < 8 { bias0[j] = bias[j] } else { bias1[j - 8] = bias[j] } }
            }
        }
        let acc = (c00 + bias0, c01 + bias1, c10 + bias0, c11 + bias1, c20 + bias0, c21 + bias1,
                   c30 + bias0, c31 + bias1, c40 + bias0, c41 + bias1, c50 + bias0, c51 + bias1)
        if cols == columnTile {
            if rows > 0 { FastMath.store(acc.0, out); FastMath.store(acc.1, out + 8) }
            if rows > 1 { FastMath.store(acc.2, out + ldc); FastMath.store(acc.3, out + ldc + 8) }
            if rows > 2 { FastMath.store(acc.4, out + 2 * ldc); FastMath.store(acc.5, out + 2 * ldc + 8) }
            if rows > 3 { FastMath.store(acc.6, out + 3 * ldc); FastMath.store(acc.7, out + 3 * ldc + 8) }
            if rows > 4 { FastMath.store(acc.8, out + 4 * ldc); FastMath.store(acc.9, out + 4 * ldc + 8) }
            if rows > 5 { FastMath.store(acc.10, out + 5 * ldc); FastMath.store(acc.11, out + 5 * ldc + 8) }
            return
        }
        // A partial panel (N not a multiple of 16): element by element.
        withUnsafeBytes(of: acc) { raw in
            let t = raw.baseAddress!.assumingMemoryBound(to: Float.self)      // row i at t + 16·i
            for i in 0..<rows { for j in 0..<cols { out[i * ldc + j] = t[i * columnTile + j] } }
        }
    }
}
