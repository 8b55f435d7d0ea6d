import Foundation

// MARK: - LM head: log-probabilities of given targets and entropies, chunk by chunk

/// The LM head restricted to the rows that are needed. For each selected row r (a flat index
/// into the (N,C) hidden states) with target token y_r it computes, with z = (h_r · Wᵀ) / τ:
///   logp_r = z_y − logsumexp(z),   H_r = −Σ_j p_j log p_j.
/// It never holds more than `chunk(V:)` rows of logits. Given upstream gradients dlogp_r and dH_r
/// it also back-propagates in the same pass (recomputing the logits when the forward ran earlier):
///   dz_j = dlogp·(δ_jy − p_j) − dH·p_j (log p_j + H),   dh_r += (dz/τ) W,   dW += (dz/τ)ᵀ h_r.
public enum TokenLogProbs {
    /// Rows of logits held at once: up to 512, and at most 4M logits (16 MB) unless V > 65,536,
    /// where the floor of 64 rows holds 64·V. Each chunk's three matmuls pack the whole (V,C)
    /// embedding again, so fewer, taller chunks are faster: 512 rows instead of 128 made the small
    /// benchmark's training step 7-15% faster.
    public static func chunk(V: Int) -> Int { max(64, min(512, (1 << 22) / max(V, 1))) }

    /// Floats of scratch `run` needs for vocabulary V and width C.
    public static func scratchCount(V: Int, C: Int) -> Int { chunk(V: V) * (V + 2 * C) }

    /// hidden: (N,C), rows/targets: (n), wte: (V,C), logp/entropy: (n)
    /// dlogp/dentropy (n) with dhidden (N,C) and dwte (V,C): backward when non-nil.
    public static func run(hidden: UnsafePointer<Float>, rows: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, n: Int,
                           wte: UnsafePointer<Float>, V: Int, C: Int, temperature: Float = 1,
                           logp: UnsafeMutablePointer<Float>?, entropy: UnsafeMutablePointer<Float>?,
                           dlogp: UnsafePointer<Float>? = nil, dentropy: UnsafePointer<Float>? = nil,
                           dhidden: UnsafeMutablePointer<Float>? = nil, dwte: UnsafeMutablePointer<Float>? = nil,
                           scratch: Scratch) {
        let backward = dhidden != nil || dwte != nil
        let R = chunk(V: V)
        let base = scratch.pointer(scratchCount(V: V, C: C))
        let logits = base, h = base + R * V, dh = h + R * C
        let invT = 1 / temperature
        var start = 0
        while start < n {
            let m = min(R, n - start)
            for i in 0..<m { (h + i * C).update(from: hidden + Int(rows[start + i]) * C, count: C) }
            BLAS.sgemm(transB: true, m: m, n: V, k: C, alpha: invT, a: h, lda: C, b: wte, ldb: C, c: logits, ldc: V)
            Parallel.forRange(m, grain: 8) { range in
                for i in range {
                    let z = logits + i * V
                    let y = Int(targets[start + i])
                    let mx = FastMath.max(z, V)
                    let (s0, s1) = FastMath.expMoments(z, V, shift: mx)
                    let lse = mx + log(s0)
                    let lp = z[y] - lse
                    let H = lse - s1 / s0
                    logp?[start + i] = lp
                    entropy?[start + i] = H
                    if backward {
                        let gl = dlogp?[start + i] ?? 0, ge = dentropy?[start + i] ?? 0
                        // z ← dz/τ in place, with p_j = exp(z_j − lse) and log p_j = z_j − lse.
                        FastMath.softmaxGradInPlace(z, V, lse: lse, dlogp: gl, dentropy: ge, entropy: H, scale: invT)
                        z[y] += gl * invT
                    }
                }
            }
            if backward {
                if let dhidden {
                    BLAS.sgemm(m: m, n: C, k: V, a: logits, lda: V, b: wte, ldb: C, c: dh, ldc: C)
                    for i in 0..<m {
                        let dst = dhidden + Int(rows[start + i]) * C, src = dh + i * C
                        for c in 0..<C { dst[c] += src[c] }
                    }
                }
                if let dwte {
                    BLAS.sgemm(transA: true, m: V, n: C, k: m, a: logits, lda: V, b: h, ldb: C, beta: 1, c: dwte, ldc: C)
                }
            }
            start += m
        }
    }
}

// MARK: - Scalar head (value / reward)

public enum ScalarHead {
    /// out[i] = hidden[i] · w + b.  hidden: (N,C), w: (C), out: (N)
    public static func forward(out: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>, w: UnsafePointer<Float>, b: Float, N: Int, C: Int) {
        for i in 0..<N { out[i] = b }
        BLAS.sgemv(m: N, n: C, a: hidden, lda: C, x: w, beta: 1, y: out)
    }

    /// Differentiates `out = hidden · w + b`: dhidden += dout ⊗ w, dw += hiddenᵀ dout, db += Σ dout.
    public static func backward(dhidden: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?,
                                dout: UnsafePointer<Float>, hidden: UnsafePointer<Float>, w: UnsafePointer<Float>, N: Int, C: Int) {
        if let dhidden {
            for i in 0..<N where dout[i] != 0 {
                let g = dout[i], d = dhidden + i * C
                for c in 0..<C { d[c] += g * w[c] }
            }
        }
        if let dw { BLAS.sgemv(trans: true, m: N, n: C, a: hidden, lda: C, x: dout, beta: 1, y: dw) }
        if let db {
            var s: Float = 0
            for i in 0..<N { s += dout[i] }
            db[0] += s
        }
    }
}
