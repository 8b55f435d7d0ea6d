import Engine
import Foundation
import GPT
import Tokenizer

/// `rlhf sample`: completions of one prompt from a run's policy or a checkpoint.
public enum Sampling {
    public static func sample(source: String, policy: String?, tokenizerPath: String?, prompt: String, temperature: Float,
                              topK: Int, topP: Float, maxNewTokens: Int, seed: UInt64, n: Int) throws -> [String] {
        let url = URL(fileURLWithPath: source)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw UserError("\(source): no such run directory or checkpoint file")
        }
        let modelURL: URL, tokURL: URL
        if isDir.boolValue {
            let names = policy.map { [$0] } ?? Stage.defaultPolicyOrder
            guard let found = names.map({ url.appendingPathComponent("models/\($0).safetensors") })
                .first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
                throw UserError("\(source): no models/\(names.joined(separator: "|")).safetensors in this run; train that stage first or pass --policy")
            }
            modelURL = found
            tokURL = tokenizerPath.map { URL(fileURLWithPath: $0) } ?? url.appendingPathComponent("tokenizer.json")
        } else {
            modelURL = url
            guard let t = tokenizerPath ?? Self.runTokenizer(near: url) else {
                throw UserError("\(source): cannot find the tokenizer of this checkpoint; pass --tokenizer runs/NAME/tokenizer.json")
            }
            tokURL = URL(fileURLWithPath: t)
        }
        let model = try GPT.load(from: modelURL)
        let tok = try BPETokenizer.load(from: tokURL)
        guard tok.vocabSize == model.config.vocabSize else {
            throw UserError("\(tokURL.path): tokenizer has \(tok.vocabSize) tokens, the model \(model.config.vocabSize); use the tokenizer of the run that trained it")
        }
        var ids = tok.encode(prompt)
        if ids.isEmpty { ids = [tok.eosId] }
        if ids.count >= model.config.context { ids = Array(ids.suffix(model.config.context - 1)) }
        let gen = Generator(model: model, maxBatch: min(n, 64))
        var rngs = (0..<n).map { RNG(seed: seed).split("sample", $0) }
        let outs = gen.generate(prompts: Array(repeating: ids, count: n),
                                options: SamplingOptions(temperature: temperature, topK: topK, topP: topP, maxNewTokens: maxNewTokens, eosId: tok.eosId), rngs: &rngs)
        return outs.map { tok.decode($0.tokens.filter { $0 != tok.eosId }) }
    }

    /// runs/NAME/tokenizer.json for a checkpoint under runs/NAME/.
    static func runTokenizer(near checkpoint: URL) -> String? {
        var dir = checkpoint.deletingLastPathComponent()
        for _ in 0..<4 {
            let t = dir.appendingPathComponent("tokenizer.json")
            if FileManager.default.fileExists(atPath: t.path) { return t.path }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }
}
