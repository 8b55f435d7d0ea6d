import Foundation

// MARK: - GELU (tanh approximation, as GPT-2)

public enum GELU {
    static let k: Float = (2 / Float.pi).squareRoot()

    /// out = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). out, inp: (N)
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, n: Int) {
        Parallel.forRange(n, grain: 8192) { r in
            for i in r {
                let x = inp[i]
                out[i] = 0.5 * x * (1 + tanhf(k * (x + 0.044715 * x * x * x)))
            }
        }
    }

    /// Differentiates the forward line above:
    /// d/dx = 0.5 (1 + tanh u) + 0.5 x sech²(u) · √(2/π)(1 + 3·0.044715 x²),  u = √(2/π)(x + 0.044715 x³).
    /// dinp += dout * d/dx.
    public static func backward(dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>, n: Int) {
        Parallel.forRange(n, grain: 8192) { r in
            for i in r {
                let x = inp[i]
                let u = k * (x + 0.044715 * x * x * x)
                let th = tanhf(u)
                let sech2 = 1 - th * th
                let g = 0.5 * (1 + th) + 0.5 * x * sech2 * k * (1 + 3 * 0.044715 * x * x)
                dinp[i] += dout[i] * g
            }
        }
    }
}
