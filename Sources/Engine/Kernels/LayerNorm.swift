import Foundation

// MARK: - LayerNorm

public enum LayerNorm {
    public static let eps: Float = 1e-5

    /// out = (inp - mean) * rstd * weight + bias, per row of C.
    /// out, inp: (N,C), mean, rstd: (N), weight, bias: (C)
    public static func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                               inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, N: Int, C: Int) {
        Parallel.forRange(N, grain: 32) { range in
            for i in range {
                let x = inp + i * C
                var m: Float = 0
                for c in 0..<C { m += x[c] }
                m /= Float(C)
                var v: Float = 0
                for c in 0..<C { let d = x[c] - m; v += d * d }
                v /= Float(C)
                let s = 1 / (v + eps).squareRoot()
                let o = out + i * C
                for c in 0..<C { o[c] = (x[c] - m) * s * weight[c] + bias[c] }
                mean[i] = m
                rstd[i] = s
            }
        }
    }

    /// Differentiates the forward line `o = (x - m) * s * w + b`:
    /// dx += s * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) with dnorm = dout * w,
    /// dw += Σ_rows dout * norm, db += Σ_rows dout.
    /// The weight/bias reduction runs over a fixed number of row blocks summed in order.
    public static func backward(dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
                                dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, N: Int, C: Int, scratch: Scratch) {
        let blocks = min(16, max(1, N / 16))
        let partial = scratch.pointer(blocks * 2 * C)
        partial.update(repeating: 0, count: blocks * 2 * C)
        Parallel.forEachChunk(N, chunks: blocks) { blk, range in
            let pw = partial + blk * 2 * C, pb = pw + C
            for i in range {
                let x = inp + i * C, d = dout + i * C, dx = dinp + i * C
                let m = mean[i], s = rstd[i]
                var dnMean: Float = 0, dnNormMean: Float = 0
                for c in 0..<C {
                    let n = (x[c] - m) * s
                    let dn = weight[c] * d[c]
                    dnMean += dn
                    dnNormMean += dn * n
                    pw[c] += d[c] * n
                    pb[c] += d[c]
                }
                dnMean /= Float(C)
                dnNormMean /= Float(C)
                for c in 0..<C {
                    let n = (x[c] - m) * s
                    let dn = weight[c] * d[c]
                    dx[c] += s * (dn - dnMean - n * dnNormMean)
                }
            }
        }
        for blk in 0..<blocks {
            let pw = partial + blk * 2 * C, pb = pw + C
            for c in 0..<C { dweight[c] += pw[c]; dbias[c] += pb[c] }
        }
    }
}
