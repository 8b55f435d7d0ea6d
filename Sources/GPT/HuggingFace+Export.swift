import Engine
import Files
import Foundation
import JSON

/// Writing a model as a Hugging Face GPT-2 directory: `config.json`, `model.safetensors` (F32,
/// metadata {"format": "pt"}, which transformers requires) and `generation_config.json`, loadable
/// by `AutoModelForCausalLM` or, for a reward model, `AutoModelForSequenceClassification`.
public struct HFExport {
    public enum Head: Equatable {
        /// GPT2LMHeadModel: the LM head is the token embedding (tied; not written, as save_pretrained does).
        case causalLM
        /// GPT2ForSequenceClassification with one label: `score.weight` is the scalar head. Hugging
        /// Face's score layer has no bias, so the head's bias plus `extraBias` (the reward model's
        /// normalization) is folded into ln_f's bias along the head's direction:
        /// w·(h + (b/|w|²)·w) = w·h + b, the same score for every input.
        case sequenceClassifier(extraBias: Float)
    }

    public var head: Head
    /// "transformer." (what save_pretrained writes) or "" (the hub's original GPT-2 files).
    public var prefix = "transformer."
    public var bosTokenId: Int?, eosTokenId: Int?, padTokenId: Int?
    /// Zero rows appended to the token embedding (a pad token the tokenizer gains on export).
    public var extraTokens = 0
    /// The dropout written as attn_pdrop, embd_pdrop and resid_pdrop (transformers' training default).
    public var dropout: Float = 0.1

    public init(head: Head) { self.head = head }

    /// Writes the three files into `dir` (created if needed), each atomically.
    public func write(_ model: GPT, to dir: URL) throws {
        let c = model.config
        let lay = model.layout, P = model.params.pointer
        let V = c.vocabSize + extraTokens
        var entries: [SafeTensors.Entry] = []
        var owned: [FloatBuffer] = []             // buffers the entries point into, alive until written
        for t in lay.tensors where !t.name.hasPrefix("score.") {
            if t.name == "wte.weight" && extraTokens > 0 {
                let b = FloatBuffer(count: V * c.nEmbd)
                b.pointer.update(from: P + t.offset, count: t.count)
                owned.append(b)
                entries.append(.init(name: prefix + t.name, shape: [V, c.nEmbd], data: b.pointer))
            } else if t.name == "ln_f.bias", case .sequenceClassifier(let extra) = head {
                let (w, bias) = try scoreHead(model)
                let b = FloatBuffer(count: c.nEmbd)
                b.pointer.update(from: P + t.offset, count: c.nEmbd)
                let shift = (bias + extra) / w.reduce(0) { $0 + $1 * $1 }
                for i in 0..<c.nEmbd { b[i] += shift * w[i] }
                owned.append(b)
                entries.append(.init(name: prefix + t.name, shape: t.shape, data: b.pointer))
            } else {
                entries.append(.init(name: prefix + t.name, shape: t.shape, data: P + t.offset))
            }
        }
        if case .sequenceClassifier = head, let w = lay["score.weight"] {
            entries.append(.init(name: "score.weight", shape: [1, c.nEmbd], data: P + w.offset))
        }
        try SafeTensors.write(entries, metadata: ["format": "pt"], to: dir.appendingPathComponent("model.safetensors"))
        withExtendedLifetime(owned) {}
        try DurableFile.write(configJSON(c, vocab: V).serialized() + "\n", to: dir.appendingPathComponent("config.json"))
        var gen: [(String, JSONValue)] = []
        if let bosTokenId { gen.append(("bos_token_id", .number(Double(bosTokenId), isInteger: true))) }
        if let eosTokenId { gen.append(("eos_token_id", .number(Double(eosTokenId), isInteger: true))) }
        if let padTokenId { gen.append(("pad_token_id", .number(Double(padTokenId), isInteger: true))) }
        try DurableFile.write(JSONValue.object(gen).serialized() + "\n", to: dir.appendingPathComponent("generation_config.json"))
    }

    /// The scalar head's weight and bias; a head whose weight is all zeros cannot carry the bias.
    func scoreHead(_ model: GPT) throws -> ([Float], Float) {
        guard let w = model.layout["score.weight"], let b = model.layout["score.bias"] else {
            throw CheckpointError("the model has no scalar head; only a reward model exports as a sequence classifier")
        }
        let weight = Array(UnsafeBufferPointer(start: model.params.pointer + w.offset, count: w.count))
        guard weight.contains(where: { $0 != 0 }) else {
            throw CheckpointError("the reward model's head weight is all zeros (an untrained head); train the reward model before exporting it")
        }
        return (weight, model.params[b.offset])
    }

    /// GPT2Config, task-neutral: the architecture, the special ids and the defaults transformers
    /// would otherwise fill in.
    func configJSON(_ c: GPTConfig, vocab: Int) -> JSONValue {
        func int(_ v: Int) -> JSONValue { .number(Double(v), isInteger: true) }
        func num(_ v: Double) -> JSONValue { .number(v, isInteger: false) }
        // A Float's shortest decimal (1e-05, not 9.99999974e-06): read back, it is the same Float.
        func float(_ v: Float) -> JSONValue { num(Double("\(v)") ?? Double(v)) }
        var kv: [(String, JSONValue)] = [
            ("activation_function", .string("gelu_new")),
            ("architectures", .array([.string(head == .causalLM ? "GPT2LMHeadModel" : "GPT2ForSequenceClassification")])),
            ("attn_pdrop", float(dropout)),
        ]
        if let bosTokenId { kv.append(("bos_token_id", int(bosTokenId))) }
        kv.append(("embd_pdrop", float(dropout)))
        if let eosTokenId { kv.append(("eos_token_id", int(eosTokenId))) }
        if head != .causalLM {
            kv.append(("id2label", .object([("0", .string("LABEL_0"))])))
        }
        kv.append(("initializer_range", num(0.02)))
        if head != .causalLM {
            kv.append(("label2id", .object([("LABEL_0", int(0))])))
        }
        kv.append(("layer_norm_epsilon", float(c.layerNormEpsilon)))
        kv += [("model_type", .string("gpt2")), ("n_embd", int(c.nEmbd)), ("n_head", int(c.nHead)),
               ("n_inner", c.nInner == 4 * c.nEmbd ? .null : int(c.nInner)), ("n_layer", int(c.nLayer)), ("n_positions", int(c.context))]
        if let padTokenId { kv.append(("pad_token_id", int(padTokenId))) }
        kv += [("reorder_and_upcast_attn", .bool(false)), ("resid_pdrop", float(dropout)),
               ("scale_attn_by_inverse_layer_idx", .bool(false)), ("scale_attn_weights", .bool(true)),
               ("tie_word_embeddings", .bool(true)), ("torch_dtype", .string("float32")), ("use_cache", .bool(true)),
               ("vocab_size", int(vocab))]
        return .object(kv)
    }
}
