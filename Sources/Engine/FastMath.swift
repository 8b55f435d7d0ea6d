/// Vectorized exp and row helpers for softmax-like loops (the LM head spends most of its
/// non-BLAS time here). exp uses Cephes' range reduction x = n·ln2 + r and a degree-6
/// polynomial for e^r: relative error below 2e-7 over the range used (x ≤ 0 after the max shift).
public enum FastMath {
    public typealias V = SIMD8<Float>

    /// 1.5·2²³: adding it to |y| < 2²² rounds y to the nearest integer, which then sits in the
    /// low mantissa bits (the branch-free rounding trick; Swift's generic SIMD rounding and
    /// conversions are scalarized, this is not).
    static let magic: Float = 12_582_912

    /// 8 floats from (or to) any address: the one vector load and store of the kernels. Inlinable,
    /// so that kernels in other modules (AdamW) get one instruction rather than a call.
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inlinable @inline(__always)
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// Σ a[i]·b[i] over n floats: 8 lanes, lane sums added at the end, then the tail.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: 0)
        var i = 0
        while i + 8 <= n { acc = fma(load(a + i), load(b + i), acc); i += 8 }
        var d = acc.sum()
        while i < n { d += a[i] * b[i]; i += 1 }
        return d
    }

    /// Lane-wise max and min. The standard library's `pointwiseMax`/`pointwiseMin` are not inlined
    /// and compare lane by lane with NaN checks (5% of a training step's samples); a compare and
    /// select compiles to one `maxps`/`minps` per register.
    @inline(__always)
    public static func vmax(_ a: V, _ b: V) -> V { a.replacing(with: b, where: a .< b) }

    @inline(__always)
    public static func vmin(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .< a) }

    /// a · b + c: one fused instruction per register where the target has FMA; a multiply and an
    /// add in a portable x86-64 build (`RLHF_NO_FMA`), where a fused operation would be a call per lane.
    @inline(__always)
    public static func fma(_ a: V, _ b: V, _ c: V) -> V {
        #if RLHF_NO_FMA
        return a * b + c
        #else
        return c.addingProduct(a, b)
        #endif
    }

    @inline(__always)
    public static func exp(_ x0: V) -> V {
        let x = vmax(vmin(x0, V(repeating: 88.0)), V(repeating: -87.0))
        let t = fma(x, V(repeating: 1.442_695_04), V(repeating: magic))
        let n = t - magic
        var r = fma(n, V(repeating: -0.693_359_375), x)
        r = fma(n, V(repeating: 2.121_944_4e-4), r)
        var y = V(repeating: 1.987_569_15e-4)
        y = fma(y, r, V(repeating: 1.398_199_950_7e-3))
        y = fma(y, r, V(repeating: 8.333_451_907_3e-3))
        y = fma(y, r, V(repeating: 4.166_579_589_4e-2))
        y = fma(y, r, V(repeating: 1.666_666_545_9e-1))
        y = fma(y, r, V(repeating: 5.000_000_120_1e-1))
        y = fma(y, r * r, r + 1)
        // 2^n from the integer left in t's mantissa: (n + 127) << 23.
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(V(repeating: magic), to: SIMD8<Int32>.self)
        let bits = (ni &+ 127) &<< 23
        return y * unsafeBitCast(bits, to: V.self)
    }

    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    /// max of p[0..<n]
    @inline(__always)
    public static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var m = V(repeating: -.infinity)
        while i + 8 <= n {
            m = vmax(m, load(p + i))
            i += 8
        }
        var r = m.max()
        while i < n { r = Swift.max(r, p[i]); i += 1 }
        return r
    }

    /// p[i] = exp(p[i] - shift) in place; returns the sum of the results.
    @inline(__always)
    public static func expShiftInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        var i = 0
        var acc = V(repeating: 0)
        let s = V(repeating: shift)
        while i + 8 <= n {
            let e = exp(load(p + i) - s)
            store(e, p + i)
            acc += e
            i += 8
        }
        var sum = acc.sum()
        while i < n { let e = exp(p[i] - shift); p[i] = e; sum += e; i += 1 }
        return sum
    }

    /// Σ exp(p[i] - shift) · p[i]... helper: returns (Σ e_i, Σ e_i·x_i) with e_i = exp(x_i - shift), without writing.
    @inline(__always)
    public static func expMoments(_ p: UnsafePointer<Float>, _ n: Int, shift: Float) -> (Float, Float) {
        var i = 0
        var a0 = V(repeating: 0), a1 = V(repeating: 0)
        let s = V(repeating: shift)
        while i + 8 <= n {
            let x = load(p + i)
            let e = exp(x - s)
            a0 += e
            a1 += e * x
            i += 8
        }
        var s0 = a0.sum(), s1 = a1.sum()
        while i < n { let e = exp(p[i] - shift); s0 += e; s1 += e * p[i]; i += 1 }
        return (s0, s1)
    }

    /// In place: x_j ← scale · p_j · (−dlogp − dentropy · (x_j − lse + H)) with p_j = exp(x_j − lse).
    /// This is dz of  dlogp·log p_y + dentropy·H  except the +dlogp·scale at the target, which the caller adds.
    @inline(__always)
    public static func softmaxGradInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int, lse: Float, dlogp: Float, dentropy: Float,
                                          entropy: Float, scale: Float) {
        var i = 0
        let l = V(repeating: lse), a = V(repeating: -dlogp), g = V(repeating: dentropy), hh = V(repeating: entropy - lse)
        while i + 8 <= n {
            let z = load(x + i)
            let p = exp(z - l)
            let d = p * (a - g * (z + hh)) * scale
            store(d, x + i)
            i += 8
        }
        while i < n {
            let z = x[i]
            let p = exp(z - lse)
            x[i] = p * (-dlogp - dentropy * (z - lse + entropy)) * scale
            i += 1
        }
    }
}
