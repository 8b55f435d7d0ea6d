import Foundation

// MARK: - GELU (tanh approximation, as GPT-2)

public enum GELU {
    static let k: Float = (2 / Float.pi).squareRoot()
    typealias V = SIMD8<Float>

    /// tanh(u) = 1 − 2 / (e^{2u} + 1), with the vectorized exp (saturates correctly at ±1).
    @inline(__always)
    static func tanh8(_ u: V) -> V { 1 - 2 / (FastMath.exp(2 * u) + 1) }

    /// out = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). out, inp: (N)
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, n: Int) {
        Parallel.forRange(n, grain: 16384) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let x = FastMath.load(inp + i)
                let x3: V = x * x * x
                let th: V = tanh8(k * (x + 0.044715 * x3))
                let y: V = 0.5 * x * (1 + th)
                FastMath.store(y, out + i)
                i += 8
            }
            while i < r.upperBound {
                let x = inp[i]
                out[i] = 0.5 * x * (1 + tanhf(k * (x + 0.044715 * x * x * x)))
                i += 1
            }
        }
    }

    /// Differentiates the forward line above:
    /// d/dx = 0.5 (1 + tanh u) + 0.5 x sech²(u) · √(2/π)(1 + 3·0.044715 x²),  u = √(2/π)(x + 0.044715 x³).
    /// dinp += dout * d/dx, or dinp = dout * d/dx with `accumulate` false (the caller then need not
    /// zero dinp first: one pass over it instead of three).
    public static func backward(dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>, n: Int,
                                accumulate: Bool = true) {
        Parallel.forRange(n, grain: 16384) { r in
            if accumulate { backwardRange(r, dinp: dinp, inp: inp, dout: dout, accumulate: true) }
            else { backwardRange(r, dinp: dinp, inp: inp, dout: dout, accumulate: false) }
        }
    }

    /// One piece of `backward`; called with a literal `accumulate`, so each copy has no branch in its loop.
    @inline(__always)
    static func backwardRange(_ r: Range<Int>, dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                              accumulate: Bool) {
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            let x = FastMath.load(inp + i)
            let x2: V = x * x
            let th: V = tanh8(k * (x + 0.044715 * x2 * x))
            let sech2: V = 1 - th * th
            let slope: V = k * (1 + 0.134145 * x2)
            let g: V = 0.5 * (1 + th) + (0.5 * x) * sech2 * slope
            let d = FastMath.load(dout + i)
            FastMath.store(accumulate ? FastMath.load(dinp + i) + d * g : d * g, dinp + i)
            i += 8
        }
        while i < r.upperBound {
            let x = inp[i]
            let th = tanhf(k * (x + 0.044715 * x * x * x))
            let sech2 = 1 - th * th
            let g = 0.5 * (1 + th) + 0.5 * x * sech2 * k * (1 + 3 * 0.044715 * x * x)
            dinp[i] = (accumulate ? dinp[i] : 0) + dout[i] * g
            i += 1
        }
    }
}
