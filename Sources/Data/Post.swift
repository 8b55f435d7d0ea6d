import Foundation

/// A dataset split. For `tldr-synth` each split draws from its own random stream, so the post at
/// (split, index) is a pure function of (seed, split, index) and the splits do not share posts.
public enum Split: String, CaseIterable, Codable, Sendable {
    case train, valid, test
}

/// What a key fact of a post is about.
public enum FactKind: String, CaseIterable, Codable, Sendable {
    /// Who the post is about ("my boyfriend").
    case who
    /// What happened ("my boyfriend forgot my birthday").
    case event
    /// The resulting problem ("now he ignores my texts").
    case problem
    /// The question the poster asks ("should I break up with him?").
    case question
}

/// A key fact a good summary should contain.
public struct Fact: Codable, Equatable, Hashable, Sendable {
    public var kind: FactKind
    /// The canonical phrase, as the reference summaries word it.
    public var phrase: String
    /// Accepted paraphrases. Each keyword is a set of words that must all occur in a summary as
    /// whole words (case-insensitive, after light suffix stemming) for the fact to count as
    /// expressed; any one keyword suffices.
    public var keywords: [String]

    public init(kind: FactKind, phrase: String, keywords: [String]) {
        self.kind = kind
        self.phrase = phrase
        self.keywords = keywords
    }
}

/// A Reddit-style post with its human ("TL;DR") reference summary. Posts loaded from real data
/// have no `facts`.
public struct Post: Codable, Equatable, Hashable, Sendable {
    public var id: String
    public var subreddit: String
    public var title: String
    public var body: String
    public var facts: [Fact]
    public var reference: String

    public init(id: String, subreddit: String, title: String, body: String, facts: [Fact] = [], reference: String) {
        self.id = id
        self.subreddit = subreddit
        self.title = title
        self.body = body
        self.facts = facts
        self.reference = reference
    }

    public func fact(_ kind: FactKind) -> Fact? { facts.first { $0.kind == kind } }

    /// The untruncated query (see `Datasets.formatQuery`).
    public var query: String { Datasets.formatQuery(subreddit: subreddit, title: title, post: body) }

    /// The query with the post truncated so the whole query fits `maxTokens`.
    public func query(maxTokens: Int, tokenCount: (String) -> Int) -> String {
        Datasets.formatQuery(subreddit: subreddit, title: title, post: body, maxTokens: maxTokens, tokenCount: tokenCount)
    }

    /// The supervised example: the query and " " + reference (the model code appends EOS).
    public var sftExample: SFTExample { SFTExample(prompt: query, completion: " " + Text.trimmed(reference)) }
}

/// A supervised fine-tuning example. `completion` starts with a space and carries no EOS.
public struct SFTExample: Codable, Equatable, Hashable, Sendable {
    public var prompt: String
    public var completion: String

    public init(prompt: String, completion: String) {
        self.prompt = prompt
        self.completion = completion
    }
}

/// A preference pair. `chosen` and `rejected` are completions: they start with a space (like
/// `SFTExample.completion`) and carry no EOS.
public struct PreferencePair: Codable, Equatable, Hashable, Sendable {
    public var prompt: String
    public var chosen: String
    public var rejected: String

    public init(prompt: String, chosen: String, rejected: String) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
    }
}

/// One record of the "summarize from feedback" comparisons format: a post, two summaries and the
/// index of the one the labeler preferred.
public struct ComparisonRecord: Equatable, Hashable, Sendable {
    public var id: String
    public var subreddit: String
    public var title: String
    public var body: String
    /// Key facts (tldr-synth only; written as an extra "facts" field of "info").
    public var facts: [Fact]
    /// The two summaries, without leading or trailing whitespace.
    public var summaries: [String]
    public var policies: [String]
    public var notes: [String]
    /// 0 or 1: the index of the preferred summary.
    public var choice: Int
    public var worker: String
    public var batch: String
    public var split: String

    public init(id: String, subreddit: String, title: String, body: String, facts: [Fact] = [],
                summaries: [String], policies: [String], notes: [String] = ["", ""], choice: Int,
                worker: String, batch: String, split: String) {
        self.id = id
        self.subreddit = subreddit
        self.title = title
        self.body = body
        self.facts = facts
        self.summaries = summaries
        self.policies = policies
        self.notes = notes
        self.choice = choice
        self.worker = worker
        self.batch = batch
        self.split = split
    }

    /// The post as shown to the labeler (no reference).
    public var post: Post { Post(id: id, subreddit: subreddit, title: title, body: body, facts: facts, reference: "") }

    /// chosen = summaries[choice], as completions (" " + text).
    public var preferencePair: PreferencePair {
        PreferencePair(prompt: Datasets.formatQuery(subreddit: subreddit, title: title, post: body),
                       chosen: " " + summaries[choice], rejected: " " + summaries[1 - choice])
    }
}
