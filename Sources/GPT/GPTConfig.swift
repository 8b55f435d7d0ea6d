import Engine

/// Architecture of a GPT-2-style model. JSON keys follow Hugging Face's GPT2Config where one exists.
public struct GPTConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    /// Maximum sequence length (number of learned positions), `n_positions` in Hugging Face.
    public var context: Int
    public var nLayer: Int
    public var nHead: Int
    public var nEmbd: Int
    /// Width of the MLP's hidden layer, `n_inner` in Hugging Face (null there means 4·n_embd).
    public var nInner: Int
    /// ε of every LayerNorm, `layer_norm_epsilon` in Hugging Face.
    public var layerNormEpsilon: Float
    /// Dropout probability on the embedding output and on both residual branches (GPT-2's
    /// embd_pdrop and resid_pdrop). Attention-probability dropout is not implemented. Default 0.
    public var dropout: Float
    /// Whether the model carries a scalar head on the final hidden state (value or reward head).
    public var scalarHead: Bool

    /// GPT-2's defaults: n_inner = 4·n_embd, layer_norm_epsilon = 1e-5.
    public init(vocabSize: Int, context: Int, nLayer: Int, nHead: Int, nEmbd: Int, nInner: Int? = nil,
                layerNormEpsilon: Float = LayerNorm.eps, dropout: Float = 0, scalarHead: Bool = false) {
        self.vocabSize = vocabSize
        self.context = context
        self.nLayer = nLayer
        self.nHead = nHead
        self.nEmbd = nEmbd
        self.nInner = nInner ?? 4 * nEmbd
        self.layerNormEpsilon = layerNormEpsilon
        self.dropout = dropout
        self.scalarHead = scalarHead
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", context = "n_positions", nLayer = "n_layer", nHead = "n_head", nEmbd = "n_embd"
        case nInner = "n_inner", layerNormEpsilon = "layer_norm_epsilon"
        case dropout, scalarHead = "scalar_head"
    }

    /// Checkpoints written before `n_inner` and `layer_norm_epsilon` were recorded hold GPT-2's values.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let embd = try c.decode(Int.self, forKey: .nEmbd)
        self.init(vocabSize: try c.decode(Int.self, forKey: .vocabSize), context: try c.decode(Int.self, forKey: .context),
                  nLayer: try c.decode(Int.self, forKey: .nLayer), nHead: try c.decode(Int.self, forKey: .nHead), nEmbd: embd,
                  nInner: try c.decodeIfPresent(Int.self, forKey: .nInner),
                  layerNormEpsilon: try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? LayerNorm.eps,
                  dropout: try c.decode(Float.self, forKey: .dropout), scalarHead: try c.decode(Bool.self, forKey: .scalarHead))
    }

    public var headSize: Int { nEmbd / nHead }

    /// Problems with the shape, as (JSON key, message) pairs; empty when the config is usable.
    public func problems() -> [(key: String, message: String)] {
        var p: [(String, String)] = []
        if vocabSize < 2 { p.append(("vocab_size", "expected an integer ≥ 2, found \(vocabSize)")) }
        if context < 2 { p.append(("n_positions", "expected an integer ≥ 2, found \(context)")) }
        if nLayer < 1 { p.append(("n_layer", "expected an integer ≥ 1, found \(nLayer)")) }
        if nHead < 1 { p.append(("n_head", "expected an integer ≥ 1, found \(nHead)")) }
        if nEmbd < 1 { p.append(("n_embd", "expected an integer ≥ 1, found \(nEmbd)")) }
        if nInner < 1 { p.append(("n_inner", "expected an integer ≥ 1, found \(nInner)")) }
        if nHead >= 1 && nEmbd >= 1 && nEmbd % nHead != 0 {
            p.append(("n_embd", "n_embd (\(nEmbd)) must be divisible by n_head (\(nHead)); e.g. use n_embd \(max(nHead, nEmbd / nHead * nHead))"))
        }
        // ε is added to a Float32 variance: it must stay a positive normal Float32.
        if !(layerNormEpsilon >= Float.leastNormalMagnitude && layerNormEpsilon <= 1) {
            p.append(("layer_norm_epsilon", "expected a number in [1.2e-38, 1], found \(layerNormEpsilon)"))
        }
        if !(dropout >= 0 && dropout < 1) { p.append(("dropout", "expected a number in [0, 1), found \(dropout)")) }
        return p
    }
}
