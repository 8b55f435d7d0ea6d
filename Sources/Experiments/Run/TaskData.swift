import Data
import Engine
import Foundation

/// The text of an experiment: SFT examples, preference pairs, held-out prompts with their
/// references, and a corpus, from the built-in task or from the user's files.
public final class TaskData {
    public struct HeldOut {
        public var prompt: String
        public var reference: String
        /// The structured post when the task has one (tldr-synth): the gold judge needs it.
        public var post: Post?
    }

    public let sftTrain: [SFTExample]
    public let sftValid: [SFTExample]
    /// Posts of the train split, when the task has them (preferences stage, gold reward).
    public let trainPosts: [Post]
    public let validPosts: [Post]
    public let test: [HeldOut]
    public let preferenceTrain: [PreferencePair]?
    public let preferenceValid: [PreferencePair]?
    public var hasGoldJudge: Bool { test.first?.post != nil }

    /// Where the pretraining text comes from: tldr-synth generates it on first use (only the
    /// tokenizer and pretrain stages read it; 10,000 posts take seconds), files are read up front
    /// so that a missing corpus file stops the run before any work.
    enum CorpusSource {
        case synth(TLDRSynth, posts: Int, tokenizerPosts: Int)
        case text([String])
    }
    let corpusSource: CorpusSource
    private var corpusCache: [String]?

    /// Pretraining text.
    public var corpus: [String] {
        if let c = corpusCache { return c }
        let c: [String]
        switch corpusSource {
        case .synth(let task, let posts, _): c = task.corpus(posts: posts)
        case .text(let t): c = t
        }
        corpusCache = c
        return c
    }

    /// Held-out text of the corpus's kind for pretraining's validation loss: tldr-synth, 64 posts
    /// of the corpus stream past the ones trained on; files, nil (the SFT validation texts serve).
    public var corpusValid: [String]? {
        switch corpusSource {
        case .synth(let task, let posts, _): return task.corpus(postRange: posts..<(posts + 64))
        case .text: return nil
        }
    }

    /// Tokenizer training text (tldr-synth: the first posts of the corpus; files: the corpus).
    public var tokenizerCorpus: [String] {
        switch corpusSource {
        case .synth(let task, let posts, let tokenizerPosts): return task.corpus(posts: min(tokenizerPosts, posts))
        case .text(let t): return t
        }
    }

    public init(_ d: DataConfig, configDir: URL, tokenizerPosts: Int) throws {
        switch d.task {
        case .tldrSynth:
            let task = TLDRSynth(seed: d.taskSeed)
            trainPosts = task.posts(split: .train, count: d.trainPosts)
            validPosts = task.posts(split: .valid, count: d.validPosts)
            let testPosts = task.posts(split: .test, count: d.testPosts)
            sftTrain = trainPosts.map(\.sftExample)
            sftValid = validPosts.map(\.sftExample)
            test = testPosts.map { HeldOut(prompt: $0.query, reference: " " + $0.reference, post: $0) }
            preferenceTrain = nil
            preferenceValid = nil
            corpusSource = .synth(task, posts: d.corpusPosts, tokenizerPosts: tokenizerPosts)
        case .files:
            func url(_ p: String) -> URL { URL(fileURLWithPath: p, relativeTo: configDir).standardizedFileURL }
            func sft(_ p: String) throws -> ([SFTExample], [Post]) {
                let u = url(p)
                guard FileManager.default.fileExists(atPath: u.path) else {
                    throw UserError("\(u.path): data file not found; check data.sft_train / data.sft_valid / data.test in the config (paths are relative to the config file)")
                }
                switch try Datasets.detectFormat(of: u) {
                case .tldr:
                    let posts = try Datasets.loadPosts(from: u)
                    return (posts.map(\.sftExample), posts)
                default:
                    return (try Datasets.loadSFTExamples(from: u), [])
                }
            }
            let (tr, trPosts) = try sft(d.sftTrain!)
            sftTrain = tr
            trainPosts = trPosts
            if let v = d.sftValid {
                let (va, vaPosts) = try sft(v)
                sftValid = va
                validPosts = vaPosts
            } else {
                sftValid = Array(tr.suffix(max(1, tr.count / 20)))
                validPosts = []
            }
            if let t = d.test {
                let (te, _) = try sft(t)
                test = te.map { HeldOut(prompt: $0.prompt, reference: $0.completion, post: nil) }
            } else {
                test = sftValid.map { HeldOut(prompt: $0.prompt, reference: $0.completion, post: nil) }
            }
            func prefs(_ p: String?) throws -> [PreferencePair]? {
                guard let p else { return nil }
                let u = url(p)
                guard FileManager.default.fileExists(atPath: u.path) else {
                    throw UserError("\(u.path): preference file not found; check data.preferences_train / data.preferences_valid in the config")
                }
                return try Datasets.loadPreferencePairs(from: u)
            }
            preferenceTrain = try prefs(d.preferencesTrain)
            preferenceValid = try prefs(d.preferencesValid)
            if let c = d.corpus {
                let u = url(c)
                guard let text = try? String(contentsOf: u, encoding: .utf8) else {
                    throw UserError("\(u.path): corpus file not found or not UTF-8 text; check data.corpus")
                }
                corpusSource = .text(text.components(separatedBy: "\n\n").filter { !$0.isEmpty })
            } else {
                corpusSource = .text(sftTrain.map { $0.prompt + $0.completion })
            }
        }
        if sftTrain.isEmpty { throw UserError("data: the SFT train split is empty; provide at least one example") }
    }
}
