// MARK: - Linear (matmul + bias), Hugging Face GPT-2 "Conv1D" layout: weight is (C, OC)

public enum Linear {
    /// out = inp @ weight + bias
    /// out: (N,OC), inp: (N,C), weight: (C,OC), bias: (OC) or nil
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, N: Int, C: Int, OC: Int) {
        var beta: Float = 0
        if let bias {
            Parallel.forRange(N, grain: 64) { r in
                for i in r { (out + i * OC).update(from: bias, count: OC) }
            }
            beta = 1
        }
        BLAS.sgemm(m: N, n: OC, k: C, a: inp, lda: C, b: weight, ldb: OC, beta: beta, c: out, ldc: OC)
    }

    /// Differentiates `out = inp @ weight + bias`:
    /// dinp += dout @ weightᵀ, dweight += inpᵀ @ dout, dbias += Σ_rows dout.
    /// Any of dinp, dweight may be nil (frozen input or frozen weight).
    public static func backward(dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                                dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                N: Int, C: Int, OC: Int, ones: UnsafePointer<Float>) {
        if let dinp {
            BLAS.sgemm(transB: true, m: N, n: C, k: OC, a: dout, lda: OC, b: weight, ldb: OC, beta: 1, c: dinp, ldc: C)
        }
        if let dweight {
            BLAS.sgemm(transA: true, m: C, n: OC, k: N, a: inp, lda: C, b: dout, ldb: OC, beta: 1, c: dweight, ldc: OC)
        }
        if let dbias {
            // dbias(OC) += doutᵀ(OC,N) · ones(N)
            BLAS.sgemv(trans: true, m: N, n: OC, a: dout, lda: OC, x: ones, beta: 1, y: dbias)
        }
    }
}
