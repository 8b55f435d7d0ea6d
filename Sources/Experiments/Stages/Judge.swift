import Alignment
import Data
import Foundation
import GPT
import Tokenizer

/// A reward model that judges texts for `eval.judge`: one trained by another run, a model file, or
/// a Hugging Face sequence classifier. It reads text, not this run's token ids: completions are
/// decoded and encoded again with the judge's own tokenizer, so a judge need not share the
/// policies' vocabulary. A judge independent of the reward model the policies were optimized
/// against is what makes a win rate on real data more than a measure of reward hacking.
final class TextJudge {
    let scorer: RewardModelScorer
    let tokenizer: BPETokenizer
    /// How eval.json names it: "reward_model:" and the resolved path.
    let name: String
    let maxPromptTokens: Int, maxCompletionTokens: Int

    init(scorer: RewardModelScorer, tokenizer: BPETokenizer, name: String, maxPromptTokens: Int, maxCompletionTokens: Int) {
        self.scorer = scorer
        self.tokenizer = tokenizer
        self.name = name
        self.maxPromptTokens = maxPromptTokens
        self.maxCompletionTokens = maxCompletionTokens
    }

    /// One score per (prompt, completion) text: the prompt cut to `maxPromptTokens` of the judge's
    /// tokens (at a line boundary, as the run cuts its own), the completion's first tokens and EOS.
    func scores(prompts: [String], completions: [String]) -> [Float] {
        let p = prompts.map { text -> [Int32] in
            let cut = Datasets.truncateQuery(text, maxTokens: maxPromptTokens) { tokenizer.encode($0).count }
            return Array(tokenizer.encode(cut).suffix(maxPromptTokens))
        }
        let c = completions.map { Array((tokenizer.encode($0) + [tokenizer.eosId]).prefix(maxCompletionTokens)) }
        return scorer.scores(prompts: p, responses: c)
    }

    /// `spec` (relative to the working directory, as init_from) is a run directory (its
    /// models/reward_model.safetensors and tokenizer.json), a Hugging Face directory holding a
    /// one-label sequence classifier, or a model file inside a run directory.
    static func load(_ spec: String, maxPromptTokens: Int, maxCompletionTokens: Int, file: String) throws -> TextJudge {
        let url = URL(fileURLWithPath: spec).standardizedFileURL
        let fm = FileManager.default
        func fail(_ m: String) -> UserError { UserError("\(file): eval.judge: \(url.path): \(m)") }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw fail("not found; give a run directory with a reward model, a Hugging Face sequence classifier directory, or a reward_model.safetensors")
        }
        let model: GPT, tok: BPETokenizer, bias: Float
        if isDir.boolValue && fm.fileExists(atPath: url.appendingPathComponent("state.json").path) {
            let m = url.appendingPathComponent("models/reward_model.safetensors")
            guard fm.fileExists(atPath: m.path) else { throw fail("this run has no models/reward_model.safetensors; give a run that trained a reward model") }
            (model, bias) = try loadFile(m, fail)
            tok = try BPETokenizer.load(from: url.appendingPathComponent("tokenizer.json"))
        } else if isDir.boolValue {
            let ck = try HFCheckpoint(directory: url)
            guard ck.scoreLabels == 1 else {
                throw fail(ck.scoreLabels == 0 ? "a Hugging Face model without a score head; a judge is a sequence classifier with one label (GPT2ForSequenceClassification, e.g. one rlhf export wrote)"
                                              : "its score head has \(ck.scoreLabels) labels; a judge has one")
            }
            model = try ck.load(scalarHead: true)
            bias = 0
            tok = try BPETokenizer.load(directory: url)
        } else {
            (model, bias) = try loadFile(url, fail)
            guard let t = Sampling.runTokenizer(near: url) else {
                throw fail("no tokenizer.json in the run directory around it; give the run directory instead")
            }
            tok = try BPETokenizer.load(from: URL(fileURLWithPath: t))
        }
        guard tok.vocabSize <= model.config.vocabSize else {
            throw fail("its tokenizer has \(tok.vocabSize) tokens but the model \(model.config.vocabSize); the judge's files are of two different models")
        }
        let scorer = RewardModelScorer(model: model, bias: bias, pad: tok.padId, maxBatch: 32, name: "judge")
        return TextJudge(scorer: scorer, tokenizer: tok, name: "reward_model:" + url.path,
                         maxPromptTokens: min(maxPromptTokens, model.config.context - 1),
                         maxCompletionTokens: min(maxCompletionTokens, model.config.context - 1))
    }

    static func loadFile(_ u: URL, _ fail: (String) -> UserError) throws -> (GPT, Float) {
        let model = try GPT.load(from: u)
        guard model.config.scalarHead else { throw fail("the model has no scalar head, so it is not a reward model") }
        let bias = Float(try SafeTensors.open(u).metadata["reward_bias"] ?? "0") ?? 0
        return (model, bias)
    }
}
