import Foundation

// MARK: - GELU (tanh approximation, as GPT-2)

public enum GELU {
    static let k: Float = (2 / Float.pi).squareRoot()
    typealias V = SIMD8<Float>

    /// tanh(u) = 1 − 2 / (e^{2u} + 1), with the vectorized exp (saturates correctly at ±1).
    @inline(__always)
    static func tanh8(_ u: V) -> V { 1 - 2 / (FastMath.exp(2 * u) + 1) }

    /// out = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). out, inp: (N)
    ///
    /// Every element goes through the 8-lane code, the last 1-7 of a piece included (a partial
    /// vector, `load`/`store`): the pieces `Parallel.forRange` cuts depend on the thread count, and
    /// a scalar tail with its own tanh gave the elements at a piece's end other bits than the
    /// vector lanes give them, so a run's results depended on `threads`.
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, n: Int) {
        Parallel.forRange(n, grain: 16384) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                FastMath.store(forward8(FastMath.load(inp + i)), out + i)
                i += 8
            }
            if i < r.upperBound {
                let count = r.upperBound - i
                store(forward8(load(inp + i, count)), out + i, count)
            }
        }
    }

    @inline(__always)
    static func forward8(_ x: V) -> V {
        let x3: V = x * x * x
        let th: V = tanh8(k * (x + 0.044715 * x3))
        return 0.5 * x * (1 + th)
    }

    /// `count` (1...7) floats from p, the other lanes 0.
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ count: Int) -> V {
        var v = V(repeating: 0)
        for j in 0..<count { v[j] = p[j] }
        return v
    }

    /// The first `count` (1...7) lanes of v to p.
    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        for j in 0..<count { p[j] = v[j] }
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

    /// One piece of `backward`; called with a literal `accumulate`, so each copy has no branch in
    /// its loop. The last 1-7 elements go through the vector code too (see `forward`).
    @inline(__always)
    static func backwardRange(_ r: Range<Int>, dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                              accumulate: Bool) {
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            let d = FastMath.load(dout + i) * slope8(FastMath.load(inp + i))
            FastMath.store(accumulate ? FastMath.load(dinp + i) + d : d, dinp + i)
            i += 8
        }
        if i < r.upperBound {
            let count = r.upperBound - i
            let d = load(dout + i, count) * slope8(load(inp + i, count))
            store(accumulate ? load(dinp + i, count) + d : d, dinp + i, count)
        }
    }

    /// d GELU / dx, lane by lane.
    @inline(__always)
    static func slope8(_ x: V) -> V {
        let x2: V = x * x
        let th: V = tanh8(k * (x + 0.044715 * x2 * x))
        let sech2: V = 1 - th * th
        let slope: V = k * (1 + 0.134145 * x2)
        return 0.5 * (1 + th) + (0.5 * x) * sech2 * slope
    }
}
