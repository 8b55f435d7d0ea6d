// MARK: - Register tiles for the per-head attention products

/// The six products of causal attention for one (sequence, head) — S = Q Kᵀ, O = P V and, in the
/// backward, dP = dO Vᵀ, dV += Pᵀ dO, dQ += dS K, dK += dSᵀ Q — are small (T × T × HS, HS = 64 at
/// the benchmark's shapes) and triangular. As OpenBLAS calls (16 per head and layer, in row blocks
/// of 64 to skip most of the upper triangle) every call packed both operands again, and at k = 64
/// that weighed as much as the multiply-adds. Here each right-hand operand is packed once per
/// (sequence, head) into panels of 16 columns, k-major, and reused by every 6-row tile; the
/// left-hand operand is read in place through two strides (row-major for Q, dO, P, dS; transposed
/// for Pᵀ and dSᵀ, whose 6 values per k are then adjacent); each tile runs only over the k range
/// (or the key panels) that the causal mask leaves nonzero.
///
/// The tile's loop reads the six rows at fixed offsets from one pointer (LLVM unrolls it twice,
/// all twelve accumulators in registers). Written with six row pointers it was unrolled the same
/// way but spilled accumulators to the stack (forward 1.7× slower); copying the left-hand operand
/// into a k-major buffer first (as `PackedMatmul` does) cost a third of the forward's time at k = 64.
///
/// Every output element is one sum over its k range in order, in one SIMD lane, whatever the
/// thread split.
enum AttentionTiles {
    /// The register tile and the panel width are `PackedMatmul`'s (the same layout and packer).
    static let rows = PackedMatmul.rowTile
    static let cols = PackedMatmul.columnTile

    /// Floats enough for one packing of a len × width matrix in either orientation (both rounded
    /// up to 16: a little more than either needs).
    @inline(__always)
    static func packedCount(len: Int, width: Int) -> Int {
        (len + cols - 1) / cols * cols * ((width + cols - 1) / cols * cols)
    }

    /// Source rows ahead that the packers ask for: rows of Q, K, V are 3C floats apart (4.6 KB at
    /// the small shape, beyond a page) and the hardware prefetcher followed them poorly; asking 8
    /// rows ahead made the forward 10-15% faster.
    static let rowsAhead = 8

    /// Packs X (len × width, row stride ld) as the right-hand operand B = X, k = row, n = column:
    /// ⌈width/16⌉ panels, panel p holding X[k, 16p ..< 16p + 16] at p·len·16 + k·16 (zero-padded),
    /// the layout of `PackedMatmul`.
    @inline(__always)
    static func packRows(_ x: UnsafePointer<Float>, ld: Int, len: Int, width: Int, into dst: UnsafeMutablePointer<Float>) {
        for p in 0..<(width + cols - 1) / cols {
            PackedMatmul.packPanel(x, ld: ld, k: len, n: width, transposed: false, panel: p, into: dst + p * len * cols,
                                   rowsAhead: rowsAhead)
        }
    }

    /// Packs X (len × width, row stride ld) as B = Xᵀ, k = column, n = row: ⌈len/16⌉ panels, panel p
    /// holding X[16p + j, k] at p·width·16 + k·16 + j (zero-padded past len).
    @inline(__always)
    static func packTransposed(_ x: UnsafePointer<Float>, ld: Int, len: Int, width: Int, into dst: UnsafeMutablePointer<Float>) {
        for p in 0..<(len + cols - 1) / cols {
            PackedMatmul.packPanel(x, ld: ld, k: width, n: len, transposed: true, panel: p, into: dst + p * width * cols,
                                   rowsAhead: rowsAhead)
        }
    }

    /// out[i, j] = alpha · Σ_{k0 ≤ k < k1} A[i, k] · panel[k, j] (or += with `accumulate`) for
    /// i < `rowCount` ≤ 6, j < `colCount` ≤ 16, with A[i, k] = a[i·rowStride + k·kStride] read in
    /// place and `panel` a packed panel (k-major rows of 16). Rows past `rowCount` re-read the last
    /// row (in bounds; their sums are dropped).
    @inline(__always)
    static func tile(a: UnsafePointer<Float>, rowStride: Int, kStride: Int, rowCount: Int, panel: UnsafePointer<Float>,
                     k0: Int, k1: Int, out: UnsafeMutablePointer<Float>, ldc: Int, colCount: Int, alpha: Float, accumulate: Bool) {
        typealias V = FastMath.V
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        let last = rowCount - 1
        // One pointer walks k; the six rows sit at fixed offsets from it.
        let o1 = min(1, last) * rowStride, o2 = min(2, last) * rowStride, o3 = min(3, last) * rowStride
        let o4 = min(4, last) * rowStride, o5 = min(5, last) * rowStride
        var ap = a + k0 * kStride, bp = panel + k0 * cols
        for _ in k0..<k1 {
            let b0 = FastMath.load(bp), b1 = FastMath.load(bp + 8)
            var x = V(repeating: ap[0]); c00 = FastMath.fma(x, b0, c00); c01 = FastMath.fma(x, b1, c01)
            x = V(repeating: ap[o1]); c10 = FastMath.fma(x, b0, c10); c11 = FastMath.fma(x, b1, c11)
            x = V(repeating: ap[o2]); c20 = FastMath.fma(x, b0, c20); c21 = FastMath.fma(x, b1, c21)
            x = V(repeating: ap[o3]); c30 = FastMath.fma(x, b0, c30); c31 = FastMath.fma(x, b1, c31)
            x = V(repeating: ap[o4]); c40 = FastMath.fma(x, b0, c40); c41 = FastMath.fma(x, b1, c41)
            x = V(repeating: ap[o5]); c50 = FastMath.fma(x, b0, c50); c51 = FastMath.fma(x, b1, c51)
            ap += kStride
            bp += cols
        }
        let s = V(repeating: alpha)
        let acc = (c00 * s, c01 * s, c10 * s, c11 * s, c20 * s, c21 * s, c30 * s, c31 * s, c40 * s, c41 * s, c50 * s, c51 * s)
        withUnsafeBytes(of: acc) { raw in
            let t = raw.baseAddress!.assumingMemoryBound(to: Float.self)      // row i at t + 16·i
            for i in 0..<rowCount {
                let o = out + i * ldc, r = t + i * cols
                if colCount == cols {
                    let lo = FastMath.load(r), hi = FastMath.load(r + 8)
                    if accumulate {
                        FastMath.store(FastMath.load(o) + lo, o)
                        FastMath.store(FastMath.load(o + 8) + hi, o + 8)
                    } else {
                        FastMath.store(lo, o)
                        FastMath.store(hi, o + 8)
                    }
                } else if accumulate {
                    for j in 0..<colCount { o[j] += r[j] }
                } else {
                    for j in 0..<colCount { o[j] = r[j] }
                }
            }
        }
    }
}
