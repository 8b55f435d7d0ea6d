/// A small, fast, seedable generator (xoshiro256**, Blackman & Vigna 2018), seeded through
/// SplitMix64. `split(_:)` derives an independent stream per purpose ("data", "dropout",
/// "sample", ...) so that adding a consumer of randomness never shifts another's sequence.
public struct RNG: Codable, Equatable, Sendable {
    public var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        func next() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = next(); s1 = next(); s2 = next(); s3 = next()
    }

    /// An independent stream named by `purpose` (and an optional index), derived from this one's
    /// state without advancing it.
    public func split(_ purpose: String, _ index: Int = 0) -> RNG {
        // FNV-1a of the purpose, mixed with the index and the parent state.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in purpose.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        h ^= UInt64(bitPattern: Int64(index)) &* 0x9E37_79B9_7F4A_7C15
        return RNG(seed: h ^ s0 ^ (s1 >> 1) ^ (s2 << 1) ^ s3.byteSwapped)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [0, 1) with 53 bits of precision.
    @inline(__always)
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Uniform integer in 0..<n.
    public mutating func int(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next() % UInt64(n))
    }

    /// Standard normal (Box–Muller; one value per call, deterministic).
    public mutating func normal() -> Float {
        let u1 = max(uniformDouble(), 1e-300), u2 = uniformDouble()
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// Fisher–Yates shuffle.
    public mutating func shuffle<T>(_ a: inout [T]) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, int(i + 1)) }
    }
}

@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
import Foundation
