import Alignment
import Data
import Engine
import Foundation
import GPT

extension ExperimentRunner {
    /// Builds preference pairs: (a) two samples of the SFT policy per prompt, labeled by the
    /// simulated labelers (the DPO paper's setup), for `reference_fraction` of the train prompts
    /// the reference summary against one SFT sample instead; or (b) references against degraded
    /// references.
    func runPreferences() throws -> [String: Double] {
        guard let cfg = config.preferences else { return [:] }
        let d = try data
        guard !d.trainPosts.isEmpty else {
            throw UserError("\(config.file): preferences: the simulated labelers need the posts of the built-in task (data.task \"tldr-synth\") or a TL;DR file; with other data set data.preferences_train instead")
        }
        let labeler = SimulatedLabeler(temperature: cfg.labelerTemperature ?? SimulatedLabeler.defaultTemperature)
        var rng = RNG(seed: config.seed).split("preferences")
        var summary: [String: Double] = ["labeler_temperature": labeler.temperature]
        func build(_ posts: [Post], split: String, referenceFraction: Double) throws -> [PreferencePair] {
            var pairs: [PreferencePair] = []
            var judged: [JudgedPair] = []
            switch cfg.source {
            case .references:
                pairs = referencePairs(posts: posts, rng: &rng)
                // Agreement of the labels with the gold ordering.
                var agree = 0, n = 0
                for (p, post) in zip(pairs, posts) {
                    let gc = GoldJudge().score(post: post, summary: p.chosen), gr = GoldJudge().score(post: post, summary: p.rejected)
                    if gc != gr { n += 1; if gc > gr { agree += 1 } }
                }
                summary["\(split)_gold_agreement"] = Double(agree) / Double(max(n, 1))
            case .policySamples:
                let tok = try tokenizer
                let policy = try requireModel("sft", for: .preferences)
                let generationBatch = 64
                let gen = Generator(model: policy, maxBatch: generationBatch)
                let prompts = try posts.map { try tokenizePrompt($0.query) }
                // Which prompts pair the reference with a sample: a fixed stream, independent of the samples.
                var pick = RNG(seed: config.seed).split("pref-reference-\(split)")
                let useReference = posts.indices.map { _ in pick.uniformDouble() < referenceFraction }
                // Completion 2i and 2i+1 for prompt i, each on its own stream; 2i is not sampled where
                // the reference takes its place.
                let jobs = posts.indices.flatMap { useReference[$0] ? [2 * $0 + 1] : [2 * $0, 2 * $0 + 1] }
                progress.message("[preferences] sampling \(jobs.count) \(split) completions from the SFT policy at temperature \(cfg.temperature)")
                let opts = SamplingOptions(temperature: cfg.temperature, maxNewTokens: config.data.maxCompletionTokens, eosId: tok.eosId)
                // The processes of a data-parallel job each sample their share of the generation
                // batches (the same batches, so the same bits, as one process samples), and every
                // process gets every completion, in job order; the labels below are drawn in pair
                // order from one stream, the same in every process.
                let job = DataParallel.reducer
                let batches = job.share((jobs.count + generationBatch - 1) / generationBatch)
                let own = Array(jobs[min(jobs.count, batches.lowerBound * generationBatch)..<min(jobs.count, batches.upperBound * generationBatch)])
                var sampled: [[Int32]] = []
                var k = 0
                while k < own.count {
                    let chunk = Array(own[k..<min(own.count, k + 4 * generationBatch)])
                    var rngs = chunk.map { RNG(seed: config.seed).split("pref-\(split)", $0) }
                    sampled += gen.generate(prompts: chunk.map { prompts[$0 / 2] }, options: opts, rngs: &rngs).map(\.tokens)
                    k += chunk.count
                    if stopRequested != 0 { throw RunStopped(description: "stopped during preferences (nothing saved for this stage); run rlhf resume \(run.url.path) to redo it") }
                }
                let all = job.allGather(sampled)
                precondition(all.count == jobs.count, "preferences: \(all.count) completions gathered for \(jobs.count)")
                var outs = [[Int32]](repeating: [], count: 2 * posts.count)
                for (j, tokens) in zip(jobs, all) { outs[j] = tokens }
                var same = 0, empty = 0, withReference = 0
                for (i, post) in posts.enumerated() {
                    let ta = useReference[i] ? post.reference.trimmingCharacters(in: .whitespacesAndNewlines)
                                             : try text(outs[2 * i]).trimmingCharacters(in: .whitespacesAndNewlines)
                    let tb = try text(outs[2 * i + 1]).trimmingCharacters(in: .whitespacesAndNewlines)
                    // A pair needs two different, non-empty summaries to say anything.
                    if ta.isEmpty || tb.isEmpty { empty += 1; continue }
                    let a = " " + ta, b = " " + tb
                    if a == b { same += 1; continue }
                    if useReference[i] { withReference += 1 }
                    judged.append(JudgedPair(post: post, a: a, b: b))
                    let first = labeler.prefersFirst(post: post, a, b, rng: &rng)
                    pairs.append(PreferencePair(prompt: post.query, chosen: first ? a : b, rejected: first ? b : a))
                }
                summary["\(split)_identical_dropped"] = Double(same)
                summary["\(split)_empty_dropped"] = Double(empty)
                summary["\(split)_reference_pairs"] = Double(withReference)
                var r2 = rng.split("agreement-\(split)")
                summary["\(split)_labeler_agreement"] = labeler.agreementRate(pairs: judged, rng: &r2)
            }
            summary["\(split)_pairs"] = Double(pairs.count)
            return pairs
        }
        let train = try build(Array(d.trainPosts.prefix(cfg.prompts)), split: "train", referenceFraction: cfg.referenceFraction)
        let validPosts = d.validPosts.isEmpty ? Array(d.trainPosts.suffix(cfg.validPrompts)) : Array(d.validPosts.prefix(cfg.validPrompts))
        let valid = try build(validPosts, split: "valid", referenceFraction: 0)
        guard !train.isEmpty, !valid.isEmpty else {
            throw UserError("\(config.file): preferences: no usable pairs (all sampled completions were identical); raise preferences.temperature")
        }
        summary["cost/labels"] = Double(train.count + valid.count)
        try Datasets.writeJSONL(train, to: run.path("data/preferences_train.jsonl"))
        try Datasets.writeJSONL(valid, to: run.path("data/preferences_valid.jsonl"))
        if let a = summary["train_labeler_agreement"] ?? summary["train_gold_agreement"] {
            progress.message(String(format: "[preferences] %d train / %d valid pairs; simulated labelers agree with the gold judge on %.1f%% of pairs",
                                    train.count, valid.count, 100 * a))
        }
        return summary
    }

    /// Preference pairs (text) for the reward model and DPO: the user's files, else this run's
    /// (or init_from's) preferences stage output.
    func preferencePairs() throws -> (train: [PreferencePair], valid: [PreferencePair]) {
        let d = try data
        if let t = d.preferenceTrain {
            let v = d.preferenceValid ?? Array(t.suffix(max(1, t.count / 20)))
            return (t, v)
        }
        guard let tu = artifact("data/preferences_train.jsonl"), let vu = artifact("data/preferences_valid.jsonl") else {
            throw UserError("\(config.file): no preference pairs: add the \"preferences\" stage, set data.preferences_train, or init_from a run that has data/preferences_train.jsonl")
        }
        return (try Datasets.loadPreferencePairs(from: tu), try Datasets.loadPreferencePairs(from: vu))
    }

    /// The preference pairs of `stage` (reward model, DPO) as token ids, without the pairs whose
    /// chosen and rejected completions are the same tokens once truncated: they state no
    /// preference (the DPO and Bradley–Terry losses see a zero margin whatever the model does)
    /// and would only dilute the batch. Their count is reported; a split with none left is refused.
    func tokenizedPreferencePairs(for stage: Stage) throws -> (train: [(prompt: [Int32], chosen: [Int32], rejected: [Int32])],
                                                                valid: [(prompt: [Int32], chosen: [Int32], rejected: [Int32])]) {
        let (trainText, validText) = try preferencePairs()
        let source = config.data.preferencesTrain.map { "data.preferences_train (\($0))" } ?? "the preferences stage's pairs"
        func keep(_ pairs: [PreferencePair], split: String) throws -> [(prompt: [Int32], chosen: [Int32], rejected: [Int32])] {
            let all = try pairs.map(tokenizePair)
            let kept = all.filter { $0.chosen != $0.rejected }
            if kept.isEmpty && !all.isEmpty {
                throw UserError("\(config.file): \(stage.rawValue): every one of the \(all.count) \(split) preference pairs of \(source) has the same chosen and rejected completion (after truncation to data.max_completion_tokens \(config.data.maxCompletionTokens)); such pairs state no preference: fix the data or raise data.max_completion_tokens")
            }
            if kept.count < all.count {
                progress.message("[\(stage.rawValue)] dropped \(all.count - kept.count) of \(all.count) \(split) preference pairs whose chosen and rejected completions are the same tokens (after truncation to \(config.data.maxCompletionTokens)): they state no preference")
            }
            return kept
        }
        return (try keep(trainText, split: "train"), try keep(validText, split: "valid"))
    }

    /// Tokenizes a pair with the shared truncation rule (prompt keep-end, completions capped).
    func tokenizePair(_ p: PreferencePair) throws -> (prompt: [Int32], chosen: [Int32], rejected: [Int32]) {
        let tok = try tokenizer
        let prompt = try tokenizePrompt(p.prompt)
        let cap = config.data.maxCompletionTokens
        let c = Array((tok.encode(p.chosen) + [tok.eosId]).prefix(cap))
        let r = Array((tok.encode(p.rejected) + [tok.eosId]).prefix(cap))
        let room = config.sequenceLength - max(c.count, r.count)
        return (Array(prompt.suffix(max(1, room))), c, r)
    }
}

/// The gold judge of the built-in task as a reward function (the DPO paper's PPO-GT baseline):
/// prompts are matched to their posts, responses decoded to text.
final class GoldReward: RewardFunction {
    let posts: [[Int32]: Post]
    let decode: ([Int32]) -> String
    let judge = GoldJudge()
    let name = "gold"

    init(posts: [[Int32]: Post], decode: @escaping ([Int32]) -> String) {
        self.posts = posts
        self.decode = decode
    }

    func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float] {
        zip(prompts, responses).map { p, r in
            guard let post = posts[p] else { return 0 }
            return Float(judge.score(post: post, summary: decode(r)))
        }
    }
}
