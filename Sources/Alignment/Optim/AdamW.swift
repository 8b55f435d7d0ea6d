import Engine
import GPT
import Foundation

/// AdamW hyperparameters (Loshchilov & Hutter 2019): decoupled weight decay, applied to the
/// transformer's matrices only (not to biases, LayerNorm gains, or, unless asked, embeddings).
public struct AdamWConfig: Codable, Equatable, Sendable {
    public var lr: Double = 3e-4
    public var beta1: Double = 0.9
    public var beta2: Double = 0.95
    public var eps: Double = 1e-8
    public var weightDecay: Double = 0.0
    public var decayEmbeddings: Bool = false
    /// Global gradient-norm clipping threshold (0: off).
    public var maxGradNorm: Double = 1.0
    public init() {}
}

/// AdamW over a flat parameter buffer: one loop, moments in two buffers of the same layout.
public final class AdamW {
    public let config: AdamWConfig
    public let layout: ParameterLayout
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// Number of updates applied (bias correction uses it).
    public var t: Int = 0
    /// Per-tensor weight-decay flag, as (offset, count, decays) segments.
    let segments: [(Int, Int, Bool)]

    public init(layout: ParameterLayout, config: AdamWConfig) {
        self.config = config
        self.layout = layout
        m = FloatBuffer(count: layout.count)
        v = FloatBuffer(count: layout.count)
        segments = layout.tensors.map { ($0.offset, $0.count, $0.isMatrix || ($0.isEmbedding && config.decayEmbeddings)) }
    }

    /// Global L2 norm of `grads` (summed in Double over fixed blocks, in order).
    public static func gradNorm(_ grads: FloatBuffer) -> Double {
        let n = grads.count
        let blocks = max(1, min(64, n / 4096))
        var partial = [Double](repeating: 0, count: blocks)
        partial.withUnsafeMutableBufferPointer { part in
            let g = grads.pointer
            Parallel.forEachChunk(n, chunks: blocks) { b, r in
                // 8 lanes of Float, added into the Double every 32 vectors (256 floats).
                var s: Double = 0
                var acc = SIMD8<Float>()
                var i = r.lowerBound, k = 0
                while i + 8 <= r.upperBound {
                    let x = FastMath.load(g + i)
                    acc += x * x
                    i += 8
                    k += 1
                    if k == 32 { s += Double(acc.sum()); acc = SIMD8<Float>(); k = 0 }
                }
                var tail: Float = 0
                while i < r.upperBound { tail += g[i] * g[i]; i += 1 }
                part[b] = s + Double(acc.sum()) + Double(tail)
            }
        }
        return partial.reduce(0, +).squareRoot()
    }

    /// Clips `grads` to `maxGradNorm` (if set) and applies one AdamW update with learning rate `lr`.
    /// Returns the gradient norm before clipping.
    @discardableResult
    public func step(params: FloatBuffer, grads: FloatBuffer, lr: Double) -> Double {
        let norm = Self.gradNorm(grads)
        // A non-finite gradient never reaches the weights or the moments: the step is skipped
        // (scaling it by 0 would still give NaN · 0 = NaN where the gradient is NaN).
        if !norm.isFinite { return norm }
        var gscale: Float = 1
        if config.maxGradNorm > 0 && norm > config.maxGradNorm { gscale = Float(config.maxGradNorm / (norm + 1e-6)) }
        t += 1
        let b1 = Float(config.beta1), b2 = Float(config.beta2), eps = Float(config.eps)
        let bc1 = Float(1 - pow(config.beta1, Double(t))), bc2 = Float(1 - pow(config.beta2, Double(t)))
        let lrf = Float(lr), wd = Float(config.weightDecay)
        let p = params.pointer, g = grads.pointer, mp = m.pointer, vp = v.pointer
        for (off, count, decays) in segments {
            let decay = decays ? wd : 0
            Parallel.forRange(count, grain: 32768) { r in
                // 8 lanes at a time, each lane the scalar update below, operation for operation
                // (same rounding: no fused multiply-adds, IEEE division and square root).
                typealias V = SIMD8<Float>
                var j = r.lowerBound
                while j + 8 <= r.upperBound {
                    let i = off + j
                    let gi = FastMath.load(g + i) * gscale
                    let mi = b1 * FastMath.load(mp + i) + (1 - b1) * gi
                    let vi = b2 * FastMath.load(vp + i) + (1 - b2) * gi * gi
                    FastMath.store(mi, mp + i)
                    FastMath.store(vi, vp + i)
                    let mhat = mi / bc1, vhat = vi / bc2
                    let pi = FastMath.load(p + i)
                    FastMath.store(pi - lrf * (mhat / (vhat.squareRoot() + V(repeating: eps)) + decay * pi), p + i)
                    j += 8
                }
                for j in j..<r.upperBound {
                    let i = off + j
                    let gi = g[i] * gscale
                    let mi = b1 * mp[i] + (1 - b1) * gi
                    let vi = b2 * vp[i] + (1 - b2) * gi * gi
                    mp[i] = mi
                    vp[i] = vi
                    let mhat = mi / bc1, vhat = vi / bc2
                    p[i] -= lrf * (mhat / (vhat.squareRoot() + eps) + decay * p[i])
                }
            }
        }
        return norm
    }

    /// Saves the moments (names prefixed `adam_m.` and `adam_v.`) and the step count.
    public func save(to url: URL) throws {
        var entries: [SafeTensors.Entry] = []
        for t in layout.tensors {
            entries.append(.init(name: "adam_m." + t.name, shape: t.shape, data: m.pointer + t.offset))
            entries.append(.init(name: "adam_v." + t.name, shape: t.shape, data: v.pointer + t.offset))
        }
        try SafeTensors.write(entries, metadata: ["t": String(t)], to: url)
    }

    public func load(from url: URL) throws {
        try GPT.loadBuffer(m, layout: layout, prefix: "adam_m.", from: url)
        let meta = try GPT.loadBuffer(v, layout: layout, prefix: "adam_v.", from: url)
        guard let ts = meta["t"], let tv = Int(ts) else {
            throw CheckpointError("optimizer state \(url.path): no step count in its metadata; the file is not an rlhf optimizer checkpoint")
        }
        t = tv
    }
}

/// Learning-rate schedules: constant, or linear warm-up then cosine or linear decay to a floor.
public struct LRSchedule: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case constant, cosine, linear }
    public var kind: Kind = .cosine
    public var warmupSteps: Int = 0
    /// Final learning rate as a fraction of the peak.
    public var minLRRatio: Double = 0.1
    public init(kind: Kind = .cosine, warmupSteps: Int = 0, minLRRatio: Double = 0.1) {
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.minLRRatio = minLRRatio
    }

    /// Learning rate for update `step` (0-based) of `total`.
    public func lr(peak: Double, step: Int, total: Int) -> Double {
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        switch kind {
        case .constant: return peak
        case .cosine, .linear:
            let span = max(1, total - warmupSteps)
            let frac = min(1, Double(step - warmupSteps) / Double(span))
            let floor = peak * minLRRatio
            let shape = kind == .cosine ? 0.5 * (1 + cos(Double.pi * frac)) : 1 - frac
            return floor + (peak - floor) * shape
        }
    }
}
