import Engine

/// Architecture of a GPT-2-style model. JSON keys follow Hugging Face's GPT2Config where one exists.
public struct GPTConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    /// Maximum sequence length (number of learned positions), `n_positions` in Hugging Face.
    public var context: Int
    public var nLayer: Int
    public var nHead: Int
    public var nEmbd: Int
    /// Dropout probability on the embedding output and on both residual branches (GPT-2's
    /// embd_pdrop and resid_pdrop). Attention-probability dropout is not implemented. Default 0.
    public var dropout: Float
    /// Whether the model carries a scalar head on the final hidden state (value or reward head).
    public var scalarHead: Bool

    public init(vocabSize: Int, context: Int, nLayer: Int, nHead: Int, nEmbd: Int, dropout: Float = 0, scalarHead: Bool = false) {
        self.vocabSize = vocabSize
        self.context = context
        self.nLayer = nLayer
        self.nHead = nHead
        self.nEmbd = nEmbd
        self.dropout = dropout
        self.scalarHead = scalarHead
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", context = "n_positions", nLayer = "n_layer", nHead = "n_head", nEmbd = "n_embd"
        case dropout, scalarHead = "scalar_head"
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
        if nHead >= 1 && nEmbd >= 1 && nEmbd % nHead != 0 {
            p.append(("n_embd", "n_embd (\(nEmbd)) must be divisible by n_head (\(nHead)); e.g. use n_embd \(max(nHead, nEmbd / nHead * nHead))"))
        }
        if !(dropout >= 0 && dropout < 1) { p.append(("dropout", "expected a number in [0, 1), found \(dropout)")) }
        return p
    }
}
