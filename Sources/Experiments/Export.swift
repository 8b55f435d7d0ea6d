import Files
import Foundation
import GPT
import JSON
import Tokenizer

/// `rlhf export`: a model of a run as a Hugging Face directory that `AutoModelForCausalLM` (or,
/// for the reward model, `AutoModelForSequenceClassification`) and `AutoTokenizer` load as it is.
public enum Export {
    /// The models a run can export: every models/NAME.safetensors (snapshots aside).
    static func models(in run: URL) -> [String] {
        let dir = run.appendingPathComponent("models")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".safetensors") }.map { String($0.dropLast(".safetensors".count)) }.sorted()
    }

    /// Exports `policy` (default: the first of ppo, dpo, sft, pretrain the run has) into `out`.
    /// Returns a one-line description of what was written.
    @discardableResult
    public static func export(run: URL, policy: String?, out: URL, force: Bool) throws -> String {
        let fm = FileManager.default
        guard fm.fileExists(atPath: run.appendingPathComponent("state.json").path) else {
            throw UserError("\(run.path): not a run directory (no state.json); export a run made by rlhf run")
        }
        let available = models(in: run)
        let name: String
        if let policy {
            guard available.contains(policy) else {
                throw UserError("--policy \(policy): \(run.path) has no models/\(policy).safetensors; it has \(available.isEmpty ? "no models yet" : available.joined(separator: ", "))")
            }
            name = policy
        } else {
            guard let first = Stage.defaultPolicyOrder.first(where: available.contains) ?? available.first else {
                throw UserError("\(run.path): no models/*.safetensors yet; let the run train a stage first")
            }
            name = first
        }
        try checkOutput(out, force: force)

        let modelURL = run.appendingPathComponent("models/\(name).safetensors")
        let model = try GPT.load(from: modelURL)
        let tokURL = run.appendingPathComponent("tokenizer.json")
        let tok = try BPETokenizer.load(from: tokURL)
        guard tok.vocabSize <= model.config.vocabSize else {
            throw UserError("\(tokURL.path): the tokenizer has \(tok.vocabSize) tokens but \(modelURL.path) has vocab_size \(model.config.vocabSize); the run directory mixes files of two runs")
        }
        let resolved = (try? JSONParser.parse(String(contentsOf: run.appendingPathComponent("config.resolved.json"), encoding: .utf8))) ?? .null

        var e = HFExport(head: .causalLM)
        e.bosTokenId = Int(tok.eosId)
        e.eosTokenId = Int(tok.eosId)
        e.dropout = model.config.dropout
        // The tensor names of the Hugging Face model the run started from (the hub's original
        // gpt2 files have no transformer. prefix), else what save_pretrained writes.
        if let hf = resolved["model"]?["hf"]?.stringValue, let base = runConfigDirectory(run) {
            let dir = URL(fileURLWithPath: hf, relativeTo: base).standardizedFileURL
            if let ck = try? HFCheckpoint(directory: dir) { e.prefix = ck.prefix }
        }
        var exported = tok
        if model.config.scalarHead {
            let meta = try SafeTensors.open(modelURL).metadata
            e.head = .sequenceClassifier(extraBias: Float(meta["reward_bias"] ?? "0") ?? 0)
            // Hugging Face scores the last token that is not pad_token_id; this project scores the
            // last token of the completion, its EOS when it has one. A pad id distinct from EOS makes
            // the two the same token: the tokenizer's own, or a <|pad|> added after the vocabulary.
            if !(tok.hasPadToken && tok.padId != tok.eosId) {
                // Its embedding row is never read for a score (causal attention, and no real token
                // follows a pad); past the model's rows it is a zero row appended.
                exported = tok.addingPadToken()
                e.extraTokens = max(0, Int(exported.padId) + 1 - model.config.vocabSize)
            }
            e.padTokenId = Int(exported.padId)
        } else if tok.hasPadToken && tok.padId != tok.eosId {
            e.padTokenId = Int(tok.padId)
        }
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        try e.write(model, to: out)
        try exported.savePretrained(to: out, modelMaxLength: model.config.context)
        try DurableFile.write(modelCard(run: run, name: name, model: model, export: e, resolved: resolved, out: out), to: out.appendingPathComponent("README.md"))
        let kind = model.config.scalarHead ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel"
        return "wrote \(out.path): \(name) of \(run.path) as \(kind) (\(model.parameterCount) parameters), tokenizer, model card"
    }

    /// The directory the run's config file was in (relative data and model paths resolve against it).
    static func runConfigDirectory(_ run: URL) -> URL? {
        guard let state = try? RunDirectory.readState(run), let file = state.notes["config_file"] else { return nil }
        return URL(fileURLWithPath: file).deletingLastPathComponent()
    }

    /// A missing or empty directory, or with `force` one that an earlier export wrote.
    static func checkOutput(_ out: URL, force: Bool) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: out.path, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw UserError("--out \(out.path): exists and is not a directory; choose another --out") }
        let entries = (try? fm.contentsOfDirectory(atPath: out.path)) ?? []
        if entries.isEmpty { return }
        guard force else {
            throw UserError("--out \(out.path): not empty; pass --force to replace an earlier export there, or choose another --out")
        }
        guard entries.contains("config.json") && entries.contains("model.safetensors") else {
            throw UserError("--out \(out.path): not empty and not an earlier export (no config.json and model.safetensors); choose another --out")
        }
    }

    // MARK: - Model card

    static func modelCard(run: URL, name: String, model: GPT, export e: HFExport, resolved: JSONValue, out: URL) -> String {
        let c = model.config
        let classifier = c.scalarHead
        let base = resolved["model"]?["hf"]?.stringValue
        let stages = resolved["stages"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let data = resolved["data"]
        let task = data?["task"]?.stringValue ?? "?"
        var s = "---\nlibrary_name: transformers\n"
        if let base { s += "base_model: \(URL(fileURLWithPath: base).lastPathComponent)\n" }
        s += "tags:\n- rlhf\n- \(name)\n- gpt2\n---\n\n"
        s += "# \(resolved["name"]?.stringValue ?? run.lastPathComponent): \(name)\n\n"
        s += classifier
            ? "A reward model (GPT-2 body and a one-label score head) trained by rlhf on preference pairs: its score rates a completion of a prompt, higher is preferred.\n\n"
            : "A GPT-2 language model, the `\(name)` policy of an rlhf run.\n\n"
        s += "## Model\n\n"
        s += "- GPT-2: \(c.nLayer) layers, \(c.nHead) heads, n_embd \(c.nEmbd), n_inner \(c.nInner), \(c.context) positions, vocabulary \(c.vocabSize + e.extraTokens), \(model.parameterCount) parameters.\n"
        s += "- Started from: \(base.map { "the Hugging Face model `\($0)`" } ?? (stages.contains("pretrain") ? "pretraining from a random initialization (the run's pretrain stage)" : "a random initialization")).\n"
        s += "- Stages of the run: \(stages.joined(separator: " → ")); this model is the output of `\(name)`.\n"
        if classifier {
            s += "- Score: the logit at the last token that is not `pad_token_id` (\(e.padTokenId ?? -1)); the run's normalization bias and the head's bias are folded into `ln_f.bias`, so the scores equal the run's own.\n"
        }
        s += "\n## Data\n\n"
        if task == "tldr-synth" {
            s += "The built-in `tldr-synth` task: synthetic Reddit-style posts with reference summaries and a gold judge (a laptop-scale stand-in for the TL;DR data of Stiennon et al. 2020).\n"
        } else {
            let files = ["sft_train", "preferences_train", "test", "corpus"].compactMap { k in data?[k]?.stringValue.map { "\(k) `\($0)`" } }
            s += "Files: \(files.joined(separator: ", ")).\n"
        }
        let stageKey = name == "reward_model" ? "reward_model" : name
        if let section = resolved[stageKey] {
            s += "\n## Method and hyperparameters (`\(stageKey)` section of the run's config)\n\n```json\n\(section.serialized())\n```\n"
        }
        if let table = evalTable(run: run, policy: name) { s += "\n## Evaluation (the run's eval.json)\n\n" + table }
        s += "\n## Use\n\n```python\nfrom transformers import \(classifier ? "AutoModelForSequenceClassification" : "AutoModelForCausalLM"), AutoTokenizer\n"
        s += "tok = AutoTokenizer.from_pretrained(\"\(out.lastPathComponent)\")\n"
        s += "model = \(classifier ? "AutoModelForSequenceClassification" : "AutoModelForCausalLM").from_pretrained(\"\(out.lastPathComponent)\")\n```\n"
        s += "\n## Reproduce\n\n```sh\nrlhf run \(resolved["name"]?.stringValue.map { "CONFIG (name \($0))" } ?? "CONFIG")\nrlhf export \(run.path) --policy \(name) --out \(out.path)\n```\n"
        return s
    }

    /// Markdown rows of the run's eval.json for `policy`, if it was evaluated.
    static func evalTable(run: URL, policy: String) -> String? {
        guard let text = try? String(contentsOf: run.appendingPathComponent("eval.json"), encoding: .utf8),
              let json = try? JSONParser.parse(text),
              let entry = json["policies"]?.arrayValue?.first(where: { $0["policy"]?.stringValue == policy }),
              let rows = entry["by_temperature"]?.arrayValue, !rows.isEmpty else { return nil }
        let judge = json["judge"]?.stringValue ?? "?"
        var s = "Judge: \(judge); \(json["prompts"]?.intValue ?? 0) held-out prompts; 95% intervals.\n\n"
        s += "| temperature | win rate vs references | gold | reward model | KL to SFT | length |\n|---|---|---|---|---|---|\n"
        func cell(_ r: JSONValue, _ k: String) -> String {
            guard let v = r[k]?.doubleValue else { return "–" }
            let ci = r[k + "_ci"]?.doubleValue.map { String(format: " ± %.3f", $0) } ?? ""
            return String(format: "%.3f", v) + ci
        }
        for r in rows {
            s += "| \(r["temperature"]?.doubleValue.map { String($0) } ?? "?") | \(cell(r, "win_rate")) | \(cell(r, "gold")) | \(cell(r, "rm_score")) | \(cell(r, "kl")) | \(cell(r, "length")) |\n"
        }
        return s
    }
}
