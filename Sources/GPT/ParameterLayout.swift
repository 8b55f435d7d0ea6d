import Engine

/// One named tensor inside a flat parameter buffer.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// Matrices of the transformer blocks take weight decay; biases, LayerNorm gains and embeddings do not.
    public let isMatrix: Bool
    public let isEmbedding: Bool
}

/// The size table of a GPT's parameters, in Hugging Face GPT-2 names and layouts
/// (Conv1D weights stored (in, out)). Parameters, gradients and Adam moments all use it.
public struct ParameterLayout: Sendable {
    public let tensors: [TensorSpec]
    public let count: Int
    public let config: GPTConfig
    private let index: [String: Int]

    public init(_ c: GPTConfig) {
        config = c
        var t: [TensorSpec] = []
        var off = 0
        func add(_ name: String, _ shape: [Int], matrix: Bool = false, embedding: Bool = false) {
            let s = TensorSpec(name: name, shape: shape, offset: off, isMatrix: matrix, isEmbedding: embedding)
            t.append(s)
            off += s.count
        }
        let C = c.nEmbd, H = c.nInner
        add("wte.weight", [c.vocabSize, C], embedding: true)
        add("wpe.weight", [c.context, C], embedding: true)
        for l in 0..<c.nLayer {
            let p = "h.\(l)."
            add(p + "ln_1.weight", [C]); add(p + "ln_1.bias", [C])
            add(p + "attn.c_attn.weight", [C, 3 * C], matrix: true); add(p + "attn.c_attn.bias", [3 * C])
            add(p + "attn.c_proj.weight", [C, C], matrix: true); add(p + "attn.c_proj.bias", [C])
            add(p + "ln_2.weight", [C]); add(p + "ln_2.bias", [C])
            add(p + "mlp.c_fc.weight", [C, H], matrix: true); add(p + "mlp.c_fc.bias", [H])
            add(p + "mlp.c_proj.weight", [H, C], matrix: true); add(p + "mlp.c_proj.bias", [C])
        }
        add("ln_f.weight", [C]); add("ln_f.bias", [C])
        if c.scalarHead {
            add("score.weight", [1, C], matrix: true)
            add("score.bias", [1])
        }
        tensors = t
        count = off
        index = Dictionary(uniqueKeysWithValues: t.enumerated().map { ($1.name, $0) })
    }

    public subscript(name: String) -> TensorSpec? { index[name].map { tensors[$0] } }

    public func offset(_ name: String) -> Int {
        guard let s = self[name] else { preconditionFailure("no tensor \(name)") }
        return s.offset
    }

    /// Number of parameters in the matmuls that every token goes through (blocks + tied LM head),
    /// the N of the 6·N·tokens FLOP estimate.
    public var matmulParameters: Int {
        let C = config.nEmbd
        return config.nLayer * (4 * C * C + 2 * C * config.nInner) + config.vocabSize * C
    }

    /// Offsets of one transformer block's tensors.
    public struct Block {
        public let ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb: Int
    }

    public func block(_ l: Int) -> Block {
        let p = "h.\(l)."
        return Block(ln1w: offset(p + "ln_1.weight"), ln1b: offset(p + "ln_1.bias"),
                     qkvw: offset(p + "attn.c_attn.weight"), qkvb: offset(p + "attn.c_attn.bias"),
                     attprojw: offset(p + "attn.c_proj.weight"), attprojb: offset(p + "attn.c_proj.bias"),
                     ln2w: offset(p + "ln_2.weight"), ln2b: offset(p + "ln_2.bias"),
                     fcw: offset(p + "mlp.c_fc.weight"), fcb: offset(p + "mlp.c_fc.bias"),
                     fcprojw: offset(p + "mlp.c_proj.weight"), fcprojb: offset(p + "mlp.c_proj.bias"))
    }
}
