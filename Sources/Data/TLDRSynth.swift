import Engine
import Foundation

/// The built-in `tldr-synth` task: short Reddit-style advice posts whose key facts (who, what
/// happened, the problem, the question) are scattered among filler sentences, each with a human-like
/// "TL;DR" reference of varied quality (40% good, 40% missing a fact, 20% wordy).
///
/// Everything is a pure function of the seed: the post at (split, index) depends only on
/// (seed, split, index); the splits use separate random streams.
public struct TLDRSynth: Sendable {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// Bytes of memory a post takes at least: its text alone (title, body, reference) averages
    /// about 830 bytes in the written JSONL. Counts of posts are bounded with it before any work,
    /// so that a count no memory can hold is refused instead of ending in a fatal allocation.
    public static let minBytesPerPost = 800

    /// Why `count` posts cannot be held in `physicalBytes` of memory, or nil when they may be.
    public static func tooManyPosts(_ count: Int, physicalBytes: UInt64 = ProcessInfo.processInfo.physicalMemory) -> String? {
        let most = Int(physicalBytes / UInt64(minBytesPerPost))
        guard count > most else { return nil }
        return "expected at most \(most) posts (each takes at least \(minBytesPerPost) bytes of memory and this machine has "
            + String(format: "%.1f GB", Double(physicalBytes) / 1e9) + "), found \(count); lower it"
    }

    public func post(index: Int, split: Split) -> Post {
        var rng = RNG(seed: seed).split("tldr-synth/posts/" + split.rawValue, index)
        return Generator.makePost(id: "synth-\(split.rawValue)-\(index)", rng: &rng)
    }

    public func posts(split: Split, count: Int) -> [Post] {
        (0..<max(0, count)).map { post(index: $0, split: split) }
    }

    /// Plain-text documents for tokenizer training and causal-LM pretraining, drawn from a stream of
    /// posts disjoint from the train/valid/test splits: for each of `posts` posts, its title and body
    /// (half the time followed by "TL;DR: " and its reference), plus after every fourth post one
    /// paragraph of generic filler text. About 1.25 × `posts` documents.
    public func corpus(posts: Int) -> [String] { corpus(postRange: 0..<max(0, posts)) }

    /// The documents of posts `range` of the same stream (each post, and a filler paragraph after
    /// every fourth): `corpus(postRange: n..<n+k)` continues `corpus(posts: n)` with k posts it does
    /// not contain (held-out text of the same kind).
    public func corpus(postRange range: Range<Int>) -> [String] {
        var docs: [String] = []
        let base = RNG(seed: seed)
        for i in range where i >= 0 {
            var rng = base.split("tldr-synth/corpus", i)
            let p = Generator.makePost(id: "corpus-\(i)", rng: &rng)
            var doc = p.title + "\n\n" + p.body
            if rng.int(2) == 0 { doc += "\n\nTL;DR: " + p.reference }
            docs.append(doc)
            if i % 4 == 3 { docs.append(Generator.fillerParagraph(rng: &rng)) }
        }
        return docs
    }
}

/// The quality of a composed summary.
public enum SummaryQuality: String, CaseIterable, Codable, Sendable {
    /// All key facts, concise.
    case good
    /// One key fact left out (the problem, the question, or who, replaced by a pronoun).
    case missingFact
    /// All key facts plus stock phrases or a background sentence from the post.
    case wordy
}

/// A summary composed from the post's key facts in one of four sentence patterns. Posts without
/// facts (real data) get their reference back.
public func composeSummary(_ post: Post, quality: SummaryQuality, rng: inout RNG) -> String {
    guard let event = post.fact(.event) else { return Text.trimmed(post.reference) }
    var e = Text.capitalized(event.phrase)
    var problem = post.fact(.problem)?.phrase
    var question = post.fact(.question)?.phrase
    if quality == .missingFact {
        var options: [Int] = []
        if problem != nil { options += [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }
        if question != nil { options += [1, 1, 1, 1, 1, 1, 1] }
        if let who = post.fact(.who), e.range(of: who.phrase, options: .caseInsensitive) != nil { options += [2, 2, 2] }
        if !options.isEmpty {
            switch options[rng.int(options.count)] {
            case 0: problem = nil
            case 1: question = nil
            default: e = Generator.replacingWho(in: e, post: post)
            }
        }
    }
    let style = rng.int(4)
    var s: String
    switch (style, problem, question) {
    case (0, let p?, let q?): s = "\(e) and \(p). \(Text.capitalized(q))"
    case (1, let p?, let q?): s = "\(e), \(p). \(Text.capitalized(q))"
    case (2, let p?, let q?): s = "\(e). \(Text.capitalized(p)). \(Text.capitalized(q))"
    case (_, let p?, let q?): s = "\(e) and \(p), \(q)"
    case (2, let p?, nil): s = "\(e). \(Text.capitalized(p))."
    case (1, let p?, nil): s = "\(e), \(p)."
    case (_, let p?, nil): s = "\(e) and \(p)."
    case (_, nil, let q?): s = style == 3 ? "\(e), \(q)" : "\(e). \(Text.capitalized(q))"
    case (_, nil, nil): s = "\(e)."
    }
    if quality == .wordy {
        let maxWords = 28
        var added = false
        let fillers = Generator.fillerSentences(of: post).filter { Text.wordCount($0) <= 10 }
        if !fillers.isEmpty && rng.int(2) == 0 {
            let f = fillers[rng.int(fillers.count)]
            let sents = Text.sentences(s)
            let candidate = ([sents[0], f] + sents.dropFirst()).joined(separator: " ")
            if Text.wordCount(candidate) <= maxWords { s = candidate; added = true }
        }
        if !added || rng.int(3) == 0 {
            let prefixes = ["Long story short, ", "Basically ", "So basically "]
            let candidate = prefixes[rng.int(prefixes.count)] + Text.decapitalized(s)
            if Text.wordCount(candidate) <= maxWords { s = candidate; added = true }
        }
        if !added || rng.int(3) == 0 {
            let candidate = s + " Any advice would be appreciated."
            if Text.wordCount(candidate) <= maxWords { s = candidate }
        }
    }
    return s
}

/// A plausible human-written summary: the reference distribution (40% good, 40% missing a fact,
/// 20% wordy). Real TL;DR references are uneven; a policy that imitates them (SFT) inherits their
/// flaws, and preference learning can go beyond them, which is what makes RLHF policies beat the
/// references in Stiennon et al. (2020). With mostly flawless references there is nothing to gain.
public func plausibleSummary(_ post: Post, rng: inout RNG) -> String {
    let u = rng.uniformDouble()
    let q: SummaryQuality = u < 0.40 ? .good : (u < 0.80 ? .missingFact : .wordy)
    return composeSummary(post, quality: q, rng: &rng)
}

/// The generator proper.
enum Generator {
    typealias L = Lexicon

    struct Context {
        var values: [String: String]

        func render(_ template: String) -> String {
            var out = template
            for (k, v) in values { out = out.replacingOccurrences(of: "{\(k)}", with: v) }
            return Generator.fixingArticles(out)
        }
    }

    /// "a engineer" -> "an engineer", "a 8 year old" -> "an 8 year old".
    static func fixingArticles(_ s: String) -> String {
        guard s.contains("a ") || s.contains("A ") else { return s }
        var words = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        for i in 0..<max(0, words.count - 1) where words[i] == "a" || words[i] == "A" {
            let next = words[i + 1].lowercased()
            let vowel = next.first.map { "aeio".contains($0) } ?? false
            let eight = next.hasPrefix("8") || next == "11" || next == "18"
            if vowel || eight { words[i] += "n" }
        }
        return words.joined(separator: " ")
    }

    static func pick<T>(_ a: [T], _ rng: inout RNG) -> T { a[rng.int(a.count)] }

    static func pickDomain(_ rng: inout RNG) -> L.Domain {
        let u = rng.uniformDouble()
        if u < 0.35 { return .partner }
        if u < 0.52 { return .family }
        if u < 0.70 { return .friend }
        if u < 0.85 { return .work }
        return .pet
    }

    static func age(_ lo: Int, _ hi: Int, _ rng: inout RNG) -> Int { lo + rng.int(max(1, hi - lo + 1)) }

    /// Two facts conflict when a keyword of one is already satisfied by the phrase of the other.
    static func conflicts(_ a: Fact, _ b: Fact) -> Bool {
        a.isExpressed(inStems: Set(Text.stems(b.phrase))) || b.isExpressed(inStems: Set(Text.stems(a.phrase)))
    }

    static func makePost(id: String, rng: inout RNG) -> Post {
        let domain = pickDomain(&rng)
        let rels = L.relations.filter { $0.domain == domain }
        let rel = pick(rels, &rng)
        let gender = pick(rel.genders, &rng)
        let male = gender == "M"
        let narrator = rng.int(2) == 0 ? "M" : "F"
        let a1 = age(18, 34, &rng)
        let a2: Int
        switch rel.word {
        case "mom", "dad": a2 = a1 + age(22, 32, &rng)
        case "sister", "brother": a2 = max(14, a1 + age(-6, 6, &rng))
        case "boss": a2 = age(30, 55, &rng)
        case "coworker": a2 = age(20, 45, &rng)
        default: a2 = max(18, a1 + age(-4, 5, &rng))
        }
        var jobs = L.jobs
        rng.shuffle(&jobs)
        var v: [String: String] = [
            "REL": rel.word,
            "W": "my " + rel.word,
            "S": male ? "he" : "she",
            "O": male ? "him" : "her",
            "P": male ? "his" : "her",
            "A1": "\(a1)\(narrator)",
            "A2": "\(a2)\(gender)",
            "N": "\(age(2, max(2, min(9, min(a1, a2) - 16)), &rng))",   // years together, pet age, counts
            "M": pick(L.amounts, &rng),
            "NAME": domain == .pet ? pick(male ? L.malePetNames : L.femalePetNames, &rng)
                                   : pick(male ? L.maleNames : L.femaleNames, &rng),
            "JOB": jobs[0],
            "JOB2": jobs[1],
            "PLACE": pick(L.places, &rng),
            "WORKPLACE": pick(L.workplaces, &rng),
            "PETKIND": domain == .pet ? rel.word : pick(["dog", "cat"], &rng),
            "PETNAME": pick(L.petNames, &rng),
        ]
        if domain == .pet { v["PETNAME"] = v["NAME"] }
        let ctx = Context(values: v)

        // Key facts.
        let who = Fact(kind: .who, phrase: "my " + rel.word, keywords: rel.keywords)
        let eventT = pick(L.events.filter { $0.allows(rel) }, &rng)
        let event = Fact(kind: .event, phrase: ctx.render(eventT.canon), keywords: eventT.keywords)
        let problemPool = L.problems.filter { $0.allows(rel) }
        let questionPool = L.questions.filter { $0.allows(rel) }
        var problemT = pick(problemPool, &rng)
        var questionT = pick(questionPool, &rng)
        var problem = Fact(kind: .problem, phrase: ctx.render(problemT.canon), keywords: problemT.keywords)
        var question = Fact(kind: .question, phrase: ctx.render(questionT.canon), keywords: questionT.keywords)
        var tries = 0
        while tries < 200 && (conflicts(problem, event) || conflicts(question, event) || conflicts(question, problem)
                              || conflicts(who, problem) || conflicts(who, question)) {
            problemT = pick(problemPool, &rng)
            questionT = pick(questionPool, &rng)
            problem = Fact(kind: .problem, phrase: ctx.render(problemT.canon), keywords: problemT.keywords)
            question = Fact(kind: .question, phrase: ctx.render(questionT.canon), keywords: questionT.keywords)
            tries += 1
        }
        let facts = [who, event, problem, question]

        // Body sentences.
        let introT = pick(L.intros(for: domain), &rng)
        let named = introT.contains("{NAME}") || introT.contains("{PETNAME}")
        func sentence(_ t: String, _ rng: inout RNG) -> String {
            var t = t
            if named && t.hasPrefix("{S}") && rng.int(5) < 2 { t = "{NAME}" + t.dropFirst(3) }
            return Text.capitalized(ctx.render(t))
        }
        let intro = sentence(introT, &rng)
        let eventS = sentence(pick(eventT.bodies, &rng), &rng)
        let problemS = sentence(pick(problemT.bodies, &rng), &rng)
        let questionS = sentence(pick(questionT.bodies, &rng), &rng)
        let questionFirst = rng.int(8) == 0
        let core = questionFirst ? [questionS, intro, eventS, problemS] : [intro, eventS, problemS, questionS]
        let introIndex = questionFirst ? 1 : 0

        var pool = L.generalFillers + L.fillers(for: domain)
        rng.shuffle(&pool)
        var fillerCount = 1 + rng.int(4)
        var body: [String] = []
        var closing: String? = rng.int(10) < 3 ? pick(L.closings, &rng) : nil
        var placements: [(Int, String)] = []     // (gap index in core, sentence)
        func assemble() -> [String] {
            var out: [String] = []
            for gap in 0...core.count {
                for (g, s) in placements where g == gap { out.append(s) }
                if gap < core.count { out.append(core[gap]) }
            }
            if let c = closing { out.append(c) }
            return out
        }
        func addFiller(_ rng: inout RNG) -> Bool {
            guard let t = pool.popLast() else { return false }
            let usesPronoun = t.contains("{S}") || t.contains("{O}") || t.contains("{P}")
            let lo = usesPronoun ? introIndex + 1 : 0
            let gap = lo + rng.int(core.count + 1 - lo)
            placements.append((gap, Text.capitalized(ctx.render(t))))
            return true
        }
        while fillerCount > 0 { if !addFiller(&rng) { break }; fillerCount -= 1 }
        body = assemble()
        while Text.wordCount(body.joined(separator: " ")) < 40 {
            if !addFiller(&rng) { break }
            body = assemble()
        }
        while Text.wordCount(body.joined(separator: " ")) > 110 && !(placements.isEmpty && closing == nil) {
            if closing != nil { closing = nil } else { placements.removeLast() }
            body = assemble()
        }

        // Paragraph breaks.
        var text = ""
        var breaks = Set<Int>()
        if body.count > 2 && rng.int(2) == 0 {
            breaks.insert(1 + rng.int(body.count - 1))
            if rng.int(6) == 0 { breaks.insert(1 + rng.int(body.count - 1)) }
        }
        for (i, s) in body.enumerated() {
            if i > 0 { text += breaks.contains(i) ? "\n\n" : " " }
            text += s
        }

        // Title and subreddit.
        var titleT = pick(L.titles(for: domain), &rng)
        titleT = titleT.replacingOccurrences(of: "{QUESTION}", with: Text.capitalized(question.phrase))
        titleT = titleT.replacingOccurrences(of: "{EVENT}", with: Text.capitalized(event.phrase))
        let title = Text.capitalized(ctx.render(titleT))
        let subreddit = pick(L.subreddits(for: rel), &rng)

        var post = Post(id: id, subreddit: subreddit, title: title, body: text, facts: facts, reference: "")
        var refRng = rng.split("reference")
        post.reference = plausibleSummary(post, rng: &refRng)
        return post
    }

    /// A paragraph of generic filler text (for the pretraining corpus).
    static func fillerParagraph(rng: inout RNG) -> String {
        let domain = pickDomain(&rng)
        let male = rng.int(2) == 0
        let ctx = Context(values: [
            "S": male ? "he" : "she", "O": male ? "him" : "her", "P": male ? "his" : "her",
            "N": "\(2 + rng.int(8))", "JOB": pick(L.jobs, &rng), "JOB2": pick(L.jobs, &rng),
            "PLACE": pick(L.places, &rng), "WORKPLACE": pick(L.workplaces, &rng),
            "PETKIND": pick(["dog", "cat"], &rng), "PETNAME": pick(L.petNames, &rng),
        ])
        var pool = L.generalFillers + L.fillers(for: domain)
        rng.shuffle(&pool)
        let n = 3 + rng.int(4)
        return pool.prefix(n).map { Text.capitalized(ctx.render($0)) }.joined(separator: " ")
    }

    /// Subject and object pronouns of the other party: from the relation when it has one gender,
    /// else from the age tag after the who phrase in the body ("my roommate (25F)"), else from the
    /// pronouns and names used in the body; "they"/"them" when nothing tells.
    static func pronouns(of post: Post) -> (subject: String, object: String) {
        guard let male = isMale(post) else { return ("they", "them") }
        return male ? ("he", "him") : ("she", "her")
    }

    static func isMale(_ post: Post) -> Bool? {
        guard let who = post.fact(.who) else { return nil }
        let relWord = who.phrase.lowercased().hasPrefix("my ") ? String(who.phrase.dropFirst(3)) : who.phrase
        if let r = L.relations.first(where: { $0.word == relWord }), r.genders.count == 1 { return r.genders[0] == "M" }
        if let r = post.body.range(of: who.phrase, options: .caseInsensitive) {
            let tail = Array(post.body[r.upperBound...].prefix(20))
            if let open = tail.firstIndex(of: "(") {
                var i = open + 1
                while i < tail.count, tail[i].isNumber { i += 1 }
                if i > open + 1, i + 1 < tail.count, tail[i + 1] == ")" {
                    if tail[i] == "M" { return true }
                    if tail[i] == "F" { return false }
                }
            }
        }
        var he = 0, she = 0
        for w in Text.words(post.body) {
            if w == "he" || w == "him" || w == "his" { he += 1 }
            if w == "she" || w == "her" || w == "hers" { she += 1 }
        }
        let isPet = L.relations.contains { $0.domain == .pet && $0.word == relWord }
        let (maleNames, femaleNames) = isPet ? (L.malePetNames, L.femalePetNames) : (L.maleNames, L.femaleNames)
        for w in post.body.split(separator: " ") {
            let name = String(w.filter { $0.isLetter })
            if maleNames.contains(name) { he += 1 }
            if femaleNames.contains(name) { she += 1 }
        }
        if he == she { return nil }
        return he > she
    }

    /// Replaces the who phrase ("my boyfriend") in `text` with a pronoun: the subject pronoun where
    /// it is the subject of the event phrase ("my boyfriend forgot ..."), the object pronoun
    /// elsewhere ("I lied to my boyfriend ..."); capitalised at the start of a sentence.
    static func replacingWho(in text: String, post: Post) -> String {
        guard let who = post.fact(.who) else { return text }
        let (subj, obj) = pronouns(of: post)
        let eventPhrase = post.fact(.event)?.phrase.lowercased() ?? ""
        let whoLower = who.phrase.lowercased()
        let subjectRest: String? = eventPhrase.hasPrefix(whoLower) ? String(eventPhrase.dropFirst(whoLower.count)) : nil
        var s = text
        while let r = s.range(of: who.phrase, options: .caseInsensitive) {
            let trimmedBefore = s[..<r.lowerBound].trimmingCharacters(in: .whitespaces)
            let atStart = trimmedBefore.isEmpty || ".?!".contains(trimmedBefore.last!)
            let after = s[r.upperBound...].lowercased()
            let isSubject = subjectRest.map { !$0.isEmpty && after.hasPrefix($0) } ?? false
            let pron = isSubject ? subj : obj
            s.replaceSubrange(r, with: atStart ? Text.capitalized(pron) : pron)
        }
        return s
    }

    /// Body sentences that express no key fact, ask nothing and introduce nobody: the background a
    /// summary should leave out.
    static func fillerSentences(of post: Post) -> [String] {
        var out: [String] = []
        for para in post.body.components(separatedBy: "\n") {
            for s in Text.sentences(para) {
                if s.contains("?") || s.contains("(") || L.closings.contains(s) || L.metaFillers.contains(s) { continue }
                let stems = Set(Text.stems(s))
                if post.facts.contains(where: { $0.isExpressed(inStems: stems) }) { continue }
                if Text.wordCount(s) > 14 { continue }
                out.append(s)
            }
        }
        return out
    }
}

extension Fact {
    /// Whether some keyword has all its (stemmed) words in `stems`.
    func isExpressed(inStems stems: Set<String>) -> Bool {
        keywords.contains { kw in
            let k = Text.stems(kw)
            return !k.isEmpty && k.allSatisfy { stems.contains($0) }
        }
    }
}
