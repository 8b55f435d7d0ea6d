import Engine
import Foundation

/// A GPT-2 model: parameters in one flat buffer described by `layout`, gradients (when trained)
/// in a second buffer of the same layout. A frozen reference model is just another `GPT` whose
/// gradients are never allocated.
public final class GPT {
    public let config: GPTConfig
    public let layout: ParameterLayout
    public let params: FloatBuffer
    public private(set) var grads: FloatBuffer?

    /// A model with GPT-2 initialization: weights N(0, 0.02), residual output projections
    /// N(0, 0.02/√(2·n_layer)), biases 0, LayerNorm gains 1; the scalar head (if any) gets
    /// weights N(0, 1/√(n_embd+1)) and bias 0 (Stiennon et al.'s reward head).
    public init(config: GPTConfig, seed: UInt64) {
        self.config = config
        layout = ParameterLayout(config)
        params = FloatBuffer(count: layout.count)
        var rng = RNG(seed: seed).split("init")
        let residStd = 0.02 / Float(2 * config.nLayer).squareRoot()
        for t in layout.tensors {
            let p = params.pointer + t.offset
            if t.name.hasSuffix("ln_1.weight") || t.name.hasSuffix("ln_2.weight") || t.name == "ln_f.weight" {
                p.update(repeating: 1, count: t.count)
            } else if t.name.hasSuffix(".bias") {
                p.update(repeating: 0, count: t.count)
            } else if t.name == "score.weight" {
                let std = 1 / Float(config.nEmbd + 1).squareRoot()
                for i in 0..<t.count { p[i] = rng.normal() * std }
            } else {
                let std: Float = t.name.hasSuffix("c_proj.weight") ? residStd : 0.02
                for i in 0..<t.count { p[i] = rng.normal() * std }
            }
        }
    }

    /// A model with the same config and a copy of `other`'s parameters (e.g. the frozen reference).
    /// A copy of `other`'s weights; `dropout`, when given, replaces its dropout rate (PPO trains
    /// and scores with dropout off).
    public init(copying other: GPT, dropout: Float? = nil) {
        var c = other.config
        if let dropout { c.dropout = dropout }
        config = c
        layout = other.layout
        params = other.params.clone()
    }

    /// A second view of `other`'s weights (the same buffer, not a copy) with gradients of its own:
    /// two halves of a batch can then run forward and backward side by side, each adding into its
    /// own gradient buffer, and the caller sums the two in a fixed order.
    public init(sharingParametersOf other: GPT) {
        config = other.config
        layout = other.layout
        params = other.params
    }

    /// Allocates (once) and returns the gradient buffer.
    @discardableResult
    public func enableGrads() -> FloatBuffer {
        if let g = grads { return g }
        let g = FloatBuffer(count: layout.count)
        grads = g
        return g
    }

    public func zeroGrad() { grads?.zero() }

    public var parameterCount: Int { layout.count }

    /// Re-initializes the scalar head with `std` (default 1/√(n_embd+1)) and zero bias.
    public func resetScalarHead(seed: UInt64, std: Float? = nil) {
        guard let w = layout["score.weight"], let b = layout["score.bias"] else { return }
        var rng = RNG(seed: seed).split("score-head")
        let s = std ?? 1 / Float(config.nEmbd + 1).squareRoot()
        for i in 0..<w.count { params[w.offset + i] = rng.normal() * s }
        params[b.offset] = 0
    }

    /// Copies every tensor that `other` has under the same name and shape (e.g. the trunk of an
    /// SFT model into a reward model); returns the names that were not copied.
    @discardableResult
    public func copyMatchingTensors(from other: GPT) -> [String] {
        var missing: [String] = []
        for t in layout.tensors {
            if let s = other.layout[t.name], s.shape == t.shape {
                (params.pointer + t.offset).update(from: other.params.pointer + s.offset, count: t.count)
            } else {
                missing.append(t.name)
            }
        }
        return missing
    }
}
