// MARK: - Token + position embedding

public enum Encoder {
    /// out[b,t,:] = wte[tokens[b,t], :] + wpe[pos(b,t), :], pos(b,t) = t, or with `branches` the
    /// position `branches[b].position(t, context:)`.
    /// out: (B,T,C), tokens: (B,T), wte: (V,C), wpe: (context,C)
    public static func forward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
                               wte: UnsafePointer<Float>, wpe: UnsafePointer<Float>, B: Int, T: Int, C: Int,
                               branches: [PrefixBranch]? = nil, context: Int = .max) {
        Parallel.forRange(B * T, grain: 64) { range in
            for i in range {
                let t = i % T
                let pos = branches.map { $0[i / T].position(t, context: context) } ?? t
                let o = out + i * C, e = wte + Int(tokens[i]) * C, p = wpe + pos * C
                for c in 0..<C { o[c] = e[c] + p[c] }
            }
        }
    }

    /// Differentiates `out = wte[tok] + wpe[t]`: dwte[tok] += dout, dwpe[t] += dout.
    /// Sequential in (b,t) order so that repeated tokens accumulate in a fixed order.
    public static func backward(dwte: UnsafeMutablePointer<Float>, dwpe: UnsafeMutablePointer<Float>,
                                dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, B: Int, T: Int, C: Int,
                                branches: [PrefixBranch]? = nil, context: Int = .max) {
        for i in 0..<(B * T) {
            let t = i % T
            let pos = branches.map { $0[i / T].position(t, context: context) } ?? t
            let d = dout + i * C, e = dwte + Int(tokens[i]) * C, p = dwpe + pos * C
            for c in 0..<C { e[c] += d[c]; p[c] += d[c] }
        }
    }
}

// MARK: - Residual add

public enum Residual {
    /// out = a + b, all (N)
    public static func forward(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, n: Int) {
        Parallel.forRange(n, grain: 16384) { r in for i in r { out[i] = a[i] + b[i] } }
    }

    /// Differentiates `out = a + b`: da += dout, db += dout.
    public static func backward(da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, n: Int) {
        Parallel.forRange(n, grain: 16384) { r in for i in r { da[i] += dout[i]; db[i] += dout[i] } }
    }
}

// MARK: - Dropout (inverted)

public enum Dropout {
    /// mask[i] = 0 with probability p, else 1/(1-p); out = inp * mask. inp, out, mask: (N)
    public static func forward(out: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>,
                               inp: UnsafePointer<Float>, n: Int, p: Float, rng: inout RNG) {
        let keep = 1 / (1 - p)
        for i in 0..<n { mask[i] = rng.uniform() < p ? 0 : keep }
        Parallel.forRange(n, grain: 16384) { r in for i in r { out[i] = inp[i] * mask[i] } }
    }

    /// Differentiates `out = inp * mask`: dinp += dout * mask.
    public static func backward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, mask: UnsafePointer<Float>, n: Int) {
        Parallel.forRange(n, grain: 16384) { r in for i in r { dinp[i] += dout[i] * mask[i] } }
    }
}
