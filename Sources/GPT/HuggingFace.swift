import Engine
import Foundation
import JSON

/// A Hugging Face GPT-2-family model directory, as `save_pretrained` writes it: `config.json`
/// (GPT2Config) and `model.safetensors` or shards listed by `model.safetensors.index.json`. The
/// tensor names are this project's own (Hugging Face's GPT-2 names), with or without the
/// `transformer.` prefix that GPT2LMHeadModel and GPT2ForSequenceClassification add.
///
/// Only what the engine computes exactly is accepted: the tanh GELU, attention scaled by 1/√HS,
/// no cross-attention, a head tied to the token embedding (an explicit `lm_head.weight` must equal
/// it), and a sequence classifier's `score` with one label (it becomes the scalar head, bias 0).
/// Everything else is refused with one line naming the file and the key. Dropout probabilities are
/// training settings and not read: the run's own `model.dropout` applies.
public struct HFCheckpoint {
    public let directory: URL
    /// The architecture, dropout 0 and no scalar head (those are the caller's choices at `load`).
    public let config: GPTConfig
    public let bosTokenId: Int?, eosTokenId: Int?, padTokenId: Int?
    public let architectures: [String]
    /// Rows of a sequence classifier's `score.weight` (0 when the directory has no such tensor).
    public let scoreLabels: Int
    /// The checkpoint's dropout settings (attn_pdrop, embd_pdrop, resid_pdrop), for messages only.
    public let dropouts: [(key: String, value: Double)]
    /// "transformer." when the tensor names carry it, else "" (export writes the same style back).
    public let prefix: String
    /// Every tensor of the model: its normalized name (without prefix) → (file, name in the file).
    let tensors: [String: (file: SafeTensors.File, name: String)]

    var configURL: URL { directory.appendingPathComponent("config.json") }

    /// Reads and checks `config.json` and the weight files' headers (no weights are read yet).
    public init(directory: URL) throws {
        self.directory = directory
        let dir = directory.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw CheckpointError("Hugging Face model \(dir): not a directory; give the directory that save_pretrained wrote (config.json, model.safetensors), e.g. a local copy of the hub's gpt2")
        }
        let parsed = try Self.readConfig(directory.appendingPathComponent("config.json"))
        config = parsed.config
        bosTokenId = parsed.bos; eosTokenId = parsed.eos; padTokenId = parsed.pad
        architectures = parsed.architectures
        dropouts = parsed.dropouts
        let files = try Self.weightFiles(directory)
        var map: [String: (file: SafeTensors.File, name: String)] = [:]
        var prefixes: Set<String> = []
        for (file, names) in files {
            for name in names {
                guard let t = file[name] else {
                    throw CheckpointError("Hugging Face model \(dir): model.safetensors.index.json maps \(JSONValue.plainExcerpt(name)) to \(file.url.lastPathComponent), which has no such tensor; the download is incomplete or the index is of another checkpoint")
                }
                let short = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
                if name.hasPrefix("transformer.") { prefixes.insert("transformer.") } else if !["lm_head.weight", "score.weight"].contains(name) { prefixes.insert("") }
                if map[short] != nil {
                    throw CheckpointError("\(file.url.path): tensor \(short) is given twice (with and without the transformer. prefix); the checkpoint is ambiguous, keep one of them")
                }
                map[short] = (file, t.name)
            }
        }
        prefix = prefixes.count == 1 ? prefixes.first! : "transformer."
        tensors = map
        scoreLabels = map["score.weight"].flatMap { $0.file[$0.name]?.shape.first } ?? 0
        try checkTensors()
    }

    // MARK: - config.json

    struct ParsedConfig {
        var config: GPTConfig
        var bos: Int?, eos: Int?, pad: Int?
        var architectures: [String]
        var dropouts: [(key: String, value: Double)]
    }

    static func readConfig(_ url: URL) throws -> ParsedConfig {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError("\(path): not found; a Hugging Face model directory has a config.json (GPT2Config) beside its weights")
        }
        let json: JSONValue
        do {
            let data = try Data(contentsOf: url)
            json = try JSONParser.parse(bytes: [UInt8](data))
        } catch let e as JSONParseError {
            throw CheckpointError("\(path): not valid JSON (\(e)); the download is damaged, fetch config.json again")
        } catch {
            throw CheckpointError("\(path): cannot be read (\(FileErrors.describe(error)))")
        }
        guard case .object = json else { throw CheckpointError("\(path): expected a JSON object (GPT2Config), found \(json.describe)") }
        func fail(_ key: String, _ m: String) -> CheckpointError { CheckpointError("\(path): \(key): \(m)") }
        func int(_ key: String, _ def: Int? = nil, min lo: Int = 1, max hi: Int = 1 << 24) throws -> Int? {
            guard let v = json[key], v != .null else { return def }
            guard let i = v.intValue, i >= lo, i <= hi else {
                throw fail(key, "expected an integer in \(lo)...\(hi), found \(v.describe)")
            }
            return i
        }
        func required(_ key: String, min lo: Int = 1, max hi: Int = 1 << 24) throws -> Int {
            guard let i = try int(key, min: lo, max: hi) else { throw fail(key, "missing; a GPT2Config names vocab_size, n_positions, n_embd, n_layer and n_head") }
            return i
        }
        func bool(_ key: String, _ def: Bool) throws -> Bool {
            guard let v = json[key], v != .null else { return def }
            guard let b = v.boolValue else { throw fail(key, "expected true or false, found \(v.describe)") }
            return b
        }
        if let t = json["model_type"], t != .string("gpt2") {
            throw fail("model_type", "expected \"gpt2\" (the GPT-2 architecture: gpt2, gpt2-medium, distilgpt2, ...), found \(t.describe); this engine computes GPT-2 only")
        }
        let embd = try required("n_embd", max: 1 << 16)
        var cfg = GPTConfig(vocabSize: try required("vocab_size", min: 2), context: try required("n_positions", min: 2, max: 1 << 20),
                            nLayer: try required("n_layer", max: 1024), nHead: try required("n_head", max: 1024), nEmbd: embd,
                            nInner: try int("n_inner", min: 1, max: 1 << 18))
        if let ctx = try int("n_ctx", min: 1, max: 1 << 20), ctx != cfg.context {
            throw fail("n_ctx", "is \(ctx) but n_positions is \(cfg.context); the two must agree in a GPT-2 config")
        }
        if cfg.nEmbd % cfg.nHead != 0 { throw fail("n_embd", "n_embd (\(cfg.nEmbd)) must be divisible by n_head (\(cfg.nHead))") }
        if let e = json["layer_norm_epsilon"], e != .null {
            guard let d = e.doubleValue, d > 0, d <= 1, Float(d) >= Float.leastNormalMagnitude else {
                throw fail("layer_norm_epsilon", "expected a number in (0, 1] that is a normal Float32, found \(e.describe)")
            }
            cfg.layerNormEpsilon = Float(d)
        }
        let act = json["activation_function"] ?? .string("gelu_new")
        guard let a = act.stringValue, ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"].contains(a) else {
            throw fail("activation_function", "is \(act.describe); the engine computes the tanh GELU only (gelu_new, gelu_pytorch_tanh, gelu_fast), use a checkpoint with one of those")
        }
        if try !bool("scale_attn_weights", true) {
            throw fail("scale_attn_weights", "is false; the engine always scales attention scores by 1/√head_size, use a checkpoint with scale_attn_weights true")
        }
        if try bool("scale_attn_by_inverse_layer_idx", false) {
            throw fail("scale_attn_by_inverse_layer_idx", "is true; the engine does not scale attention by 1/(layer index + 1), use a checkpoint without it")
        }
        if try bool("reorder_and_upcast_attn", false) {
            throw fail("reorder_and_upcast_attn", "is true; the engine does not compute that attention variant, use a checkpoint without it")
        }
        if try bool("add_cross_attention", false) {
            throw fail("add_cross_attention", "is true; cross-attention (an encoder-decoder GPT-2) is not computed, use a decoder-only GPT-2 checkpoint")
        }
        // tie_word_embeddings false is accepted when lm_head.weight equals wte (checked by `load`).
        _ = try bool("tie_word_embeddings", true)
        var archs: [String] = []
        if let v = json["architectures"], v != .null {
            guard let list = v.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw fail("architectures", "expected a list of class names, found \(v.describe)")
            }
            archs = list.compactMap(\.stringValue)
        }
        var dropouts: [(String, Double)] = []
        for k in ["attn_pdrop", "embd_pdrop", "resid_pdrop"] {
            if let d = json[k]?.doubleValue { dropouts.append((k, d)) }
        }
        let V = cfg.vocabSize - 1
        return ParsedConfig(config: cfg, bos: try int("bos_token_id", min: 0, max: V), eos: try int("eos_token_id", min: 0, max: V),
                            pad: try int("pad_token_id", min: 0, max: V), architectures: archs, dropouts: dropouts)
    }

    // MARK: - Weight files

    /// The weight files and, for each, the tensor names it holds for the model.
    static func weightFiles(_ dir: URL) throws -> [(SafeTensors.File, [String])] {
        let fm = FileManager.default
        let single = dir.appendingPathComponent("model.safetensors")
        let index = dir.appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: single.path) {
            let f = try SafeTensors.open(single)
            return [(f, f.tensors.map(\.name))]
        }
        guard fm.fileExists(atPath: index.path) else {
            let other = ["pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"].first { fm.fileExists(atPath: dir.appendingPathComponent($0).path) }
            let hint = other.map { "; it has \($0): convert it once with transformers (AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True))" } ?? ""
            throw CheckpointError("Hugging Face model \(dir.path): no model.safetensors or model.safetensors.index.json; only safetensors weights are read\(hint)")
        }
        let path = index.path
        let json: JSONValue
        do { json = try JSONParser.parse(bytes: [UInt8](try Data(contentsOf: index))) } catch let e as JSONParseError {
            throw CheckpointError("\(path): not valid JSON (\(e)); the download is damaged, fetch it again")
        }
        guard let map = json["weight_map"]?.objectValue, !map.isEmpty else {
            throw CheckpointError("\(path): weight_map: expected an object {tensor name: shard file}, found \(json["weight_map"]?.describe ?? "nothing")")
        }
        var byFile: [String: [String]] = [:], order: [String] = []
        for (name, v) in map {
            guard let file = v.stringValue, !file.isEmpty, !file.contains("/"), file != ".", file != ".." else {
                throw CheckpointError("\(path): weight_map.\(JSONValue.plainExcerpt(name)): expected the name of a shard file in this directory, found \(v.describe)")
            }
            if byFile[file] == nil { order.append(file) }
            byFile[file, default: []].append(name)
        }
        return try order.map { (try SafeTensors.open(dir.appendingPathComponent($0)), byFile[$0]!) }
    }

    /// The tensors are exactly the model's (plus the buffers and heads that are allowed), with the
    /// shapes the config implies, before anything is allocated from them.
    func checkTensors() throws {
        let layout = ParameterLayout(config)
        for t in layout.tensors {
            guard let (file, name) = tensors[t.name], let s = file[name] else {
                throw CheckpointError("Hugging Face model \(directory.path): tensor \(prefix)\(t.name) is missing; the checkpoint is incomplete or not a GPT-2 of the config.json beside it")
            }
            guard s.shape == t.shape else {
                throw CheckpointError("\(file.url.path): tensor \(JSONValue.plainExcerpt(name)) has shape \(s.shape), config.json implies \(t.shape); the checkpoint does not match its config")
            }
        }
        let known = Set(layout.tensors.map(\.name))
        for (short, (file, name)) in tensors.sorted(by: { $0.key < $1.key }) where !known.contains(short) {
            if short.hasSuffix(".attn.bias") || short.hasSuffix(".attn.masked_bias") { continue }   // causal-mask buffers
            if short == "lm_head.weight" {
                guard file[name]?.shape == [config.vocabSize, config.nEmbd] else {
                    throw CheckpointError("\(file.url.path): tensor lm_head.weight has shape \(file[name]!.shape), expected [\(config.vocabSize), \(config.nEmbd)]")
                }
                continue
            }
            if short == "score.weight" {
                guard let s = file[name], s.shape.count == 2, s.shape[1] == config.nEmbd, s.shape[0] >= 1 else {
                    throw CheckpointError("\(file.url.path): tensor score.weight has shape \(file[name]!.shape), expected [num_labels, \(config.nEmbd)]")
                }
                continue
            }
            throw CheckpointError("\(file.url.path): tensor \(JSONValue.plainExcerpt(name)) is not part of a GPT-2 this engine computes; the checkpoint has layers it cannot run (a modified architecture)")
        }
    }

    // MARK: - Loading

    /// The model with the run's `dropout`; with `scalarHead` it carries the scalar head, taken
    /// from a one-label `score.weight` (bias 0, as Hugging Face's score layer has none) or freshly
    /// initialized from `seed` when the directory has none.
    public func load(dropout: Float = 0, scalarHead: Bool = false, seed: UInt64 = 0) throws -> GPT {
        var c = config
        c.dropout = dropout
        c.scalarHead = scalarHead
        if scalarHead && scoreLabels > 1 {
            throw CheckpointError("Hugging Face model \(directory.path): score.weight has \(scoreLabels) labels; a reward model has one score, use a checkpoint with num_labels 1 or its language model alone")
        }
        let model = GPT(config: c, seed: seed)
        for t in model.layout.tensors {
            guard let (file, name) = tensors[t.name], let s = file[name] else {
                if t.name.hasPrefix("score.") { continue }         // fresh head
                preconditionFailure("checked in init")
            }
            file.read(s, into: model.params.pointer + t.offset)
            try GPT.checkFinite(model.params.pointer + t.offset, count: t.count, tensor: name, url: file.url)
        }
        if let (file, name) = tensors["lm_head.weight"], let s = file[name] {
            // A separate LM head is computed only when it is the embedding itself (the engine ties them).
            let head = file.values(name) ?? []
            let wte = model.layout["wte.weight"]!
            for i in 0..<s.count where head[i] != model.params[wte.offset + i] {
                throw CheckpointError("\(file.url.path): lm_head.weight differs from wte.weight (element \(i): \(head[i]) vs \(model.params[wte.offset + i])); the engine ties the LM head to the token embedding, so an untied GPT-2 cannot be computed exactly")
            }
        }
        return model
    }

    /// "gpt2 (12 layers, n_embd 768, …)": how progress lines name the imported model.
    public var summary: String {
        let c = config
        return "\(directory.lastPathComponent) (\(c.nLayer) layers, \(c.nHead) heads, n_embd \(c.nEmbd), vocab \(c.vocabSize), \(c.context) positions)"
    }
}
