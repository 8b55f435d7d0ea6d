import Foundation

/// Small, deterministic text helpers shared by the generator, the gold judge and the degradations.
enum Text {
    /// Lower-cased word tokens: maximal runs of letters, digits and apostrophes, with apostrophes
    /// removed ("didn't" -> "didnt", "(24M)" -> "24m"). A trailing possessive "'s" is dropped.
    static func words(_ s: String) -> [String] {
        var out: [String] = []
        var cur: [UInt8] = []
        func flush() {
            // Drop a possessive 's, then the remaining apostrophes.
            if cur.count >= 2 && cur[cur.count - 1] == 0x73 && cur[cur.count - 2] == 0x27 { cur.removeLast(2) }
            cur.removeAll { $0 == 0x27 }
            if !cur.isEmpty { out.append(String(decoding: cur, as: UTF8.self)) }
            cur.removeAll(keepingCapacity: true)
        }
        if s.utf8.allSatisfy({ $0 < 0x80 }) {
            for b in s.utf8 {
                switch b {
                case 0x61...0x7A, 0x30...0x39: cur.append(b)
                case 0x41...0x5A: cur.append(b + 32)
                case 0x27 where !cur.isEmpty: cur.append(b)
                default: flush()
                }
            }
            flush()
            return out
        }
        // Non-ASCII text: the same rule over Unicode characters (curly apostrophes count).
        var word = ""
        func flushWord() {
            if word.hasSuffix("'s") { word.removeLast(2) }
            word.removeAll { $0 == "'" }
            if !word.isEmpty { out.append(word) }
            word = ""
        }
        for ch in s.lowercased() {
            if ch.isLetter || ch.isNumber { word.append(ch) }
            else if (ch == "'" || ch == "\u{2019}") && !word.isEmpty { word.append("'") }
            else { flushWord() }
        }
        flushWord()
        return out
    }

    /// A crude suffix stemmer, applied identically to summaries, posts and keywords so that
    /// "ignores", "ignoring", "ignored" and "ignore" all meet at "ignor".
    static func stem(_ word: String) -> String {
        if let s = stemTable[word] { return s }
        return computeStem(word)
    }

    /// Stems of the generator's whole vocabulary, precomputed (immutable, so thread-safe).
    static let stemTable: [String: String] = {
        var t: [String: String] = [:]
        for w in words(Lexicon.allText) { t[w] = computeStem(w) }
        return t
    }()

    static func computeStem(_ word: String) -> String {
        var w = Array(word.utf8)
        if w.contains(where: { $0 >= 0x30 && $0 <= 0x39 }) || w.contains(where: { $0 >= 0x80 }) { return word }
        func ends(_ suffix: StaticString) -> Bool {
            let n = suffix.utf8CodeUnitCount
            guard w.count >= n else { return false }
            let p = suffix.utf8Start
            for i in 0..<n where w[w.count - n + i] != p[i] { return false }
            return true
        }
        func dropDoubled() {
            if w.count >= 3, let last = w.last, last == w[w.count - 2],
               !"lszaeiou".utf8.contains(last) { w.removeLast() }
        }
        if w.count > 5 && ends("ing") {
            w.removeLast(3); dropDoubled()
        } else if w.count > 4 && ends("ied") {
            w.removeLast(3); w.append(0x79)
        } else if w.count > 4 && ends("ed") {
            w.removeLast(2); dropDoubled()
        } else if w.count > 4 && ends("ies") {
            w.removeLast(3); w.append(0x79)
        } else if w.count > 4 && (ends("sses") || ends("xes") || ends("ches") || ends("shes") || ends("zes")) {
            w.removeLast(2)
        } else if w.count > 3 && ends("s") && !ends("ss") && !ends("us") {
            w.removeLast()
        }
        if w.count > 4 && ends("e") { w.removeLast() }
        return String(decoding: w, as: UTF8.self)
    }

    static func stems(_ s: String) -> [String] { words(s).map(stem) }

    /// Whitespace-separated word count (what "words" means for lengths and budgets of raw text).
    static func wordCount(_ s: String) -> Int {
        s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).count
    }

    static func capitalized(_ s: String) -> String {
        guard let f = s.first else { return s }
        return f.uppercased() + s.dropFirst()
    }

    /// Lower-cases the first letter unless the first word is "I" (or a contraction of it) or a
    /// proper name from the generator's lexicon.
    static func decapitalized(_ s: String) -> String {
        guard let f = s.first else { return s }
        let firstWord = s.prefix { $0.isLetter || $0 == "'" }
        if firstWord == "I" || firstWord.hasPrefix("I'") { return s }
        if Lexicon.properNouns.contains(String(firstWord)) { return s }
        return f.lowercased() + s.dropFirst()
    }

    /// Sentences of a single-paragraph text: split after ".", "?" or "!" followed by a space (or the
    /// end). Each sentence keeps its punctuation; surrounding whitespace is trimmed.
    static func sentences(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        let chars = Array(s)
        for (i, ch) in chars.enumerated() {
            cur.append(ch)
            if ".?!".contains(ch) && (i + 1 == chars.count || chars[i + 1].isWhitespace) {
                let t = cur.trimmingCharacters(in: .whitespacesAndNewlines)
                if !t.isEmpty { out.append(t) }
                cur = ""
            }
        }
        let t = cur.trimmingCharacters(in: .whitespacesAndNewlines)
        if !t.isEmpty { out.append(t) }
        return out
    }

    /// True when the text ends with terminal punctuation (optionally followed by a closing quote or
    /// bracket).
    static func endsSentence(_ s: String) -> Bool {
        var t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        while let l = t.last, "\"')]\u{201D}".contains(l) { t.removeLast() }
        guard let l = t.last else { return false }
        return ".?!".contains(l)
    }

    static func trimmed(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines) }
}
