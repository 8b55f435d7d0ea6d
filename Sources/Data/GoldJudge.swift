import Foundation

/// What the gold judge saw in a summary.
public struct GoldBreakdown: Equatable, Sendable, CustomStringConvertible {
    /// Kinds of the key facts the summary expresses.
    public var factsExpressed: [FactKind]
    /// Kinds of the key facts it misses.
    public var factsMissing: [FactKind]
    /// Distinct entity words (people, relations, places, jobs, animals, numbers) absent from the post.
    public var unsupportedEntities: [String]
    /// Distinct other content words absent from the post.
    public var unsupportedWords: [String]
    /// Word-trigram occurrences beyond the first of each trigram.
    public var repeatedTrigrams: Int
    public var wordCount: Int
    /// Words beyond the length budget.
    public var overBudget: Int
    public var isEmpty: Bool
    /// Non-empty and not ending in ".", "?" or "!".
    public var endsMidSentence: Bool
    /// The linear score before the smooth floor.
    public var raw: Double
    /// The final score.
    public var score: Double

    public var description: String {
        "score \(String(format: "%.3f", score)) (raw \(String(format: "%.3f", raw))): facts \(factsExpressed.map(\.rawValue))"
            + ", missing \(factsMissing.map(\.rawValue)), unsupported entities \(unsupportedEntities)"
            + ", unsupported words \(unsupportedWords), repeated trigrams \(repeatedTrigrams)"
            + ", words \(wordCount) (\(overBudget) over budget)\(isEmpty ? ", empty" : "")"
            + "\(endsMidSentence ? ", ends mid-sentence" : "")"
    }
}

/// The gold reward: a deterministic, rule-based stand-in for human judgement of a summary of a
/// post, used to label preferences (through `SimulatedLabeler`) and to evaluate policies.
///
/// Words are lower-cased runs of letters/digits/apostrophes, compared after light suffix stemming.
/// With N the summary's word count and B the length budget:
///
///     raw = 1.0 · #facts expressed                       (each of who / event / problem / question)
///         − 1.0 · #distinct unsupported entity words      (names, relations, places, jobs, pets, numbers)
///         − 0.5 · #distinct unsupported content words     (not stopwords, not stock summary words)
///         − 0.5 · #repeated word-trigram occurrences
///         − 0.02 · N                                      (mild brevity pressure)
///         − 0.15 · max(0, N − B)                          (words beyond the budget)
///         − 0.5 · [does not end with . ? or !]
///     raw = −1 for an empty summary
///     score = −2 + 0.25 · ln(1 + exp((raw + 2) / 0.25))   (a smooth floor at −2; ≈ raw above −1)
///
/// A fact is expressed when all words of one of its keywords occur in the summary (whole words,
/// case-insensitive, stemmed). A word is supported when it occurs in the post's title, body or
/// subreddit, in its facts' phrases or keywords, among stopwords, or among stock summary words
/// ("advice", "long story short", ...). Real-data posts have no facts, so only the penalties apply.
/// With four facts, good references score about 3.5 and the range is about [−2, 4].
public struct GoldJudge: Sendable {
    public static let factWeight = 1.0
    public static let entityPenalty = 1.0
    public static let wordPenalty = 0.5
    public static let repetitionPenalty = 0.5
    public static let perWordCost = 0.02
    public static let overBudgetPenalty = 0.15
    public static let midSentencePenalty = 0.5
    public static let emptyScore = -1.0
    public static let floor = -2.0
    public static let floorSharpness = 0.25

    /// Length budget in words.
    public var lengthBudget: Int

    public init(lengthBudget: Int = 30) { self.lengthBudget = lengthBudget }

    public func score(post: Post, summary: String) -> Double { breakdown(post: post, summary: summary).score }

    public func breakdown(post: Post, summary: String) -> GoldBreakdown {
        let words = Text.words(summary)
        let stems = words.map(Text.stem)
        let stemSet = Set(stems)
        let expressed = post.facts.filter { $0.isExpressed(inStems: stemSet) }.map(\.kind)
        let missing = post.facts.map(\.kind).filter { !expressed.contains($0) }

        let support = Self.supportStems(of: post)
        var entities: [String] = [], others: [String] = []
        var seen = Set<String>()
        for (w, s) in zip(words, stems) where !seen.contains(s) {
            seen.insert(s)
            if Self.functionStems.contains(s) || support.contains(s) { continue }
            if w.contains(where: { $0.isNumber }) || Lexicon.entityStems.contains(s) { entities.append(w) } else { others.append(w) }
        }

        var trigramCounts: [String: Int] = [:]
        if words.count >= 3 {
            for i in 0...(words.count - 3) { trigramCounts[words[i..<(i + 3)].joined(separator: " "), default: 0] += 1 }
        }
        let repeated = trigramCounts.values.reduce(0) { $0 + max(0, $1 - 1) }

        let n = words.count
        let over = max(0, n - lengthBudget)
        let empty = n == 0
        let mid = !empty && !Text.endsSentence(summary)

        var raw: Double
        if empty {
            raw = Self.emptyScore
        } else {
            raw = Self.factWeight * Double(expressed.count)
            raw -= Self.entityPenalty * Double(entities.count)
            raw -= Self.wordPenalty * Double(others.count)
            raw -= Self.repetitionPenalty * Double(repeated)
            raw -= Self.perWordCost * Double(n)
            raw -= Self.overBudgetPenalty * Double(over)
            if mid { raw -= Self.midSentencePenalty }
        }
        let k = Self.floorSharpness
        let x = (raw - Self.floor) / k
        let soft = x > 30 ? x : log1p(exp(x))
        let score = Self.floor + k * soft
        return GoldBreakdown(factsExpressed: expressed, factsMissing: missing, unsupportedEntities: entities,
                             unsupportedWords: others, repeatedTrigrams: repeated, wordCount: n, overBudget: over,
                             isEmpty: empty, endsMidSentence: mid, raw: raw, score: score)
    }

    static let functionStems: Set<String> = Set((Lexicon.stopwords.union(Lexicon.summaryAllowlist)).map(Text.stem))

    static func supportStems(of post: Post) -> Set<String> {
        var text = post.title + " " + post.body + " " + post.subreddit
        for f in post.facts { text += " " + f.phrase + " " + f.keywords.joined(separator: " ") }
        return Set(Text.stems(text))
    }
}
