import Foundation

// MARK: - LayerNorm

public enum LayerNorm {
    /// GPT-2's ε (Hugging Face's `layer_norm_epsilon` default); models may set another.
    public static let eps: Float = 1e-5

    typealias V = SIMD8<Float>

    /// out = (inp - mean) * rstd * weight + bias, per row of C, rstd = 1/√(var + eps).
    /// out, inp: (N,C), mean, rstd: (N), weight, bias: (C)
    /// Rows are reduced in 8 lanes (lane sums added at the end), then the tail; the order depends on C only.
    public static func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                               inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, N: Int, C: Int,
                               eps: Float = LayerNorm.eps) {
        let C8 = C / 8 * 8
        Parallel.forRange(N, grain: 32) { range in
            for i in range {
                let x = inp + i * C
                var acc = V(repeating: 0)
                var c = 0
                while c < C8 { acc += FastMath.load(x + c); c += 8 }
                var m = acc.sum()
                while c < C { m += x[c]; c += 1 }
                m /= Float(C)
                let mv = V(repeating: m)
                acc = V(repeating: 0)
                c = 0
                while c < C8 { let d = FastMath.load(x + c) - mv; acc = FastMath.fma(d, d, acc); c += 8 }
                var v = acc.sum()
                while c < C { let d = x[c] - m; v += d * d; c += 1 }
                v /= Float(C)
                let s = 1 / (v + eps).squareRoot()
                let sv = V(repeating: s)
                let o = out + i * C
                c = 0
                while c < C8 { FastMath.store(FastMath.fma((FastMath.load(x + c) - mv) * sv, FastMath.load(weight + c), FastMath.load(bias + c)), o + c); c += 8 }
                while c < C { o[c] = (x[c] - m) * s * weight[c] + bias[c]; c += 1 }
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
        let C8 = C / 8 * 8
        Parallel.forEachChunk(N, chunks: blocks) { blk, range in
            let pw = partial + blk * 2 * C, pb = pw + C
            for i in range {
                let x = inp + i * C, d = dout + i * C, dx = dinp + i * C
                let m = mean[i], s = rstd[i]
                let mv = V(repeating: m), sv = V(repeating: s)
                var a0 = V(repeating: 0), a1 = V(repeating: 0)
                var c = 0
                while c < C8 {
                    let n = (FastMath.load(x + c) - mv) * sv
                    let dc = FastMath.load(d + c)
                    let dn = FastMath.load(weight + c) * dc
                    a0 += dn
                    a1 = FastMath.fma(dn, n, a1)
                    FastMath.store(FastMath.fma(dc, n, FastMath.load(pw + c)), pw + c)
                    FastMath.store(FastMath.load(pb + c) + dc, pb + c)
                    c += 8
                }
                var dnMean = a0.sum(), dnNormMean = a1.sum()
                while c < C {
                    let n = (x[c] - m) * s
                    let dn = weight[c] * d[c]
                    dnMean += dn
                    dnNormMean += dn * n
                    pw[c] += d[c] * n
                    pb[c] += d[c]
                    c += 1
                }
                dnMean /= Float(C)
                dnNormMean /= Float(C)
                let dmv = V(repeating: dnMean), dnv = V(repeating: dnNormMean)
                c = 0
                while c < C8 {
                    let n = (FastMath.load(x + c) - mv) * sv
                    let dn = FastMath.load(weight + c) * FastMath.load(d + c)
                    FastMath.store(FastMath.fma(sv, dn - dmv - n * dnv, FastMath.load(dx + c)), dx + c)
                    c += 8
                }
                while c < C {
                    let n = (x[c] - m) * s
                    let dn = weight[c] * d[c]
                    dx[c] += s * (dn - dnMean - n * dnNormMean)
                    c += 1
                }
            }
        }
        for blk in 0..<blocks {
            let pw = partial + blk * 2 * C, pb = pw + C
            for c in 0..<C { dweight[c] += pw[c]; dbias[c] += pb[c] }
        }
    }
}
