import Engine
import Foundation

/// Ways to spoil a reference summary, giving "rejected" summaries that a labeler should usually
/// (not always) disprefer.
public enum Degradation: String, CaseIterable, Codable, Sendable {
    /// Leave out one key fact (the question, the problem, or who — replaced by a pronoun).
    case dropFact
    /// Add a sentence about a person and event the post never mentions.
    case inventFact
    /// Add background sentences from the post and stock phrases (at least 14 words).
    case padding
    /// Cut the summary off mid-sentence.
    case truncation
    /// Repeat a phrase or a sentence.
    case repetition
}

/// The post's reference summary spoiled in the given way. Deterministic given `rng`.
public func degrade(_ post: Post, kind: Degradation, rng: inout RNG) -> String {
    let ref = Text.trimmed(post.reference)
    switch kind {
    case .dropFact: return Degrader.dropFact(ref, post: post, rng: &rng)
    case .inventFact: return Degrader.inventFact(ref, post: post, rng: &rng)
    case .padding: return Degrader.padding(ref, post: post, rng: &rng)
    case .truncation: return Degrader.truncation(ref, rng: &rng)
    case .repetition: return Degrader.repetition(ref, rng: &rng)
    }
}

/// One (reference vs degraded reference) pair per post, with a uniformly drawn degradation, ordered
/// by a `SimulatedLabeler` at the default temperature (so about a quarter of the pairs prefer the
/// degraded summary, as noisy human labels would). Prompts are untruncated queries; chosen and
/// rejected are completions (" " + summary).
public func referencePairs(posts: [Post], rng: inout RNG) -> [PreferencePair] {
    let labeler = SimulatedLabeler()
    return posts.map { post in
        let kind = Degradation.allCases[rng.int(Degradation.allCases.count)]
        let ref = Text.trimmed(post.reference)
        let bad = degrade(post, kind: kind, rng: &rng)
        let refFirst = labeler.prefersFirst(post: post, ref, bad, rng: &rng)
        return PreferencePair(prompt: post.query, chosen: " " + (refFirst ? ref : bad), rejected: " " + (refFirst ? bad : ref))
    }
}

enum Degrader {
    /// Removes `range` (a phrase inside `s`) together with its connector: " and X", ", X", or the
    /// whole sentence "X." when X starts a sentence. Ensures the result ends a sentence.
    static func removePhrase(_ s: String, _ r: Range<String.Index>) -> String {
        var lo = r.lowerBound, hi = r.upperBound
        let before = s[..<lo]
        if before.hasSuffix(" and ") {
            lo = s.index(lo, offsetBy: -5)
        } else if before.hasSuffix(", ") {
            lo = s.index(lo, offsetBy: -2)
        } else {
            // Sentence-initial: drop the phrase, its punctuation and the following space.
            while hi < s.endIndex, ".?!".contains(s[hi]) { hi = s.index(after: hi) }
            while hi < s.endIndex, s[hi] == " " { hi = s.index(after: hi) }
        }
        var out = String(s[..<lo]) + String(s[hi...])
        out = Text.trimmed(out)
        // A removal in the middle of a sentence may leave "X. Y" intact or "X," dangling.
        while let l = out.last, l == "," || l == " " { out.removeLast() }
        if !out.isEmpty && !Text.endsSentence(out) { out += "." }
        if let f = out.first, f.isLowercase { out = Text.capitalized(out) }
        return out
    }

    static func dropFact(_ ref: String, post: Post, rng: inout RNG) -> String {
        var options: [(String) -> String] = []
        for kind in [FactKind.question, .problem] {
            if let f = post.fact(kind), let r = ref.range(of: f.phrase, options: .caseInsensitive) {
                options.append { s in removePhrase(s, r) }
            }
        }
        if let who = post.fact(.who), ref.range(of: who.phrase, options: .caseInsensitive) != nil {
            options.append { s in Generator.replacingWho(in: s, post: post) }
        }
        if !options.isEmpty { return options[rng.int(options.count)](ref) }
        // No recognisable fact phrase (real data, or a reference in its own words): drop a sentence,
        // else the last clause.
        let sents = Text.sentences(ref)
        if sents.count >= 2 {
            var keep = sents
            keep.remove(at: 1 + rng.int(sents.count - 1))
            return keep.joined(separator: " ")
        }
        for sep in [", ", " and ", " but "] {
            if let r = ref.range(of: sep, options: .backwards) {
                return Text.trimmed(String(ref[..<r.lowerBound])) + "."
            }
        }
        let words = ref.split(separator: " ")
        return words.prefix(max(1, words.count / 2)).joined(separator: " ") + "."
    }

    static func inventFact(_ ref: String, post: Post, rng: inout RNG) -> String {
        let postStems = GoldJudge.supportStems(of: post).union(Set(Text.stems(ref)))
        let foreign = Lexicon.relations.filter { r in
            !(Text.stems(r.word) + r.keywords.flatMap(Text.stems)).contains { postStems.contains($0) }
        }
        let rel = foreign.isEmpty ? Lexicon.relations[rng.int(Lexicon.relations.count)] : foreign[rng.int(foreign.count)]
        let male = rel.genders[rng.int(rel.genders.count)] == "M"
        let ctx = Generator.Context(values: [
            "W": "my " + rel.word, "S": male ? "he" : "she", "O": male ? "him" : "her", "P": male ? "his" : "her",
        ])
        // An event of that relation which says nothing the post's own facts say.
        var templates = Lexicon.events.filter { t in
            t.allows(rel) && !post.facts.contains { $0.isExpressed(inStems: Set(Text.stems(ctx.render(t.canon)))) && $0.kind != .who }
        }
        if templates.isEmpty { templates = Lexicon.events.filter { $0.allows(rel) } }
        let t = templates[rng.int(templates.count)]
        var clause = Text.capitalized(ctx.render(t.canon))
        if rng.int(2) == 0 {
            let places = Lexicon.places.filter { !postStems.contains(Text.stem($0.lowercased())) }
            if !places.isEmpty { clause += " in " + places[rng.int(places.count)] }
        }
        clause += "."
        var sents = Text.sentences(ref)
        if sents.isEmpty { return clause }
        sents.insert(clause, at: min(1, sents.count))
        return sents.joined(separator: " ")
    }

    static func padding(_ ref: String, post: Post, rng: inout RNG) -> String {
        var out = ref
        var fillers = Generator.fillerSentences(of: post).filter { !ref.contains($0) && Text.wordCount($0) <= 12 }
        rng.shuffle(&fillers)
        let before = Text.wordCount(ref)
        if rng.int(2) == 0 && !ref.lowercased().hasPrefix("long story short") {
            out = "Long story short, " + Text.decapitalized(out)
        }
        for f in fillers.prefix(1 + rng.int(2)) { out += " " + f }
        if Text.wordCount(out) - before < 14 {
            out += " Any advice would be appreciated, thanks in advance for reading all of this."
        }
        return out
    }

    static func truncation(_ ref: String, rng: inout RNG) -> String {
        let words = ref.split(separator: " ").map(String.init)
        if words.count < 2 { return words.first.map { String($0.filter { !".?!,".contains($0) }) } ?? "" }
        let frac = 0.35 + 0.35 * rng.uniformDouble()
        let k = min(words.count - 1, max(1, Int((Double(words.count) * frac).rounded())))
        var out = words.prefix(k).joined(separator: " ")
        while let l = out.last, ".?!,;:".contains(l) { out.removeLast() }
        return out
    }

    static func repetition(_ ref: String, rng: inout RNG) -> String {
        let sents = Text.sentences(ref)
        if sents.count >= 2 && rng.int(2) == 0 {
            var s = sents
            let i = rng.int(s.count)
            s.insert(s[i], at: i + 1)
            return s.joined(separator: " ")
        }
        var words = ref.split(separator: " ").map(String.init)
        if words.count < 3 { return ref + " " + ref }
        let len = min(words.count, 3 + rng.int(4))
        let i = rng.int(words.count - len + 1)
        words.insert(contentsOf: words[i..<(i + len)], at: i + len)
        return words.joined(separator: " ")
    }
}
