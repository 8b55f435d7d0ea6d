/// A token that is matched in the raw text before pre-tokenization, as Hugging Face's
/// `AddedToken`: `<|endoftext|>`, a pad token, chat markers.
public struct AddedToken: Equatable, Sendable {
    /// The text the token stands for, matched literally (byte for byte).
    public var content: String
    public var id: Int32
    /// Special tokens are skipped by `decode(_:skipSpecialTokens:)`, and are not matched in the
    /// text under `SpecialTokenRule.bytes` (`split_special_tokens: true`).
    public var special: Bool
    /// A match also takes the whitespace before it (it is dropped from the text).
    public var lstrip: Bool
    /// A match also takes the whitespace after it.
    public var rstrip: Bool
    /// Matches only where neither neighbour is a word character (`\w`).
    public var singleWord: Bool
    /// Matched after the non-normalized tokens, in the text pieces between them (there is no
    /// normalizer, so this only changes which token wins where two overlap).
    public var normalized: Bool

    public init(content: String, id: Int32, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                singleWord: Bool = false, normalized: Bool? = nil) {
        self.content = content
        self.id = id
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
        self.normalized = normalized ?? !special
    }
}

/// How literal special-token text in the input is encoded.
public enum SpecialTokenRule: String, Sendable {
    /// Hugging Face's default: special added tokens are found in the text (leftmost-longest) and
    /// encoded as their ids, so `"a<|endoftext|>b"` gives `[a, EOS, b]`. Tokenizers read from
    /// Hugging Face files use it unless their `tokenizer_config.json` says
    /// `"split_special_tokens": true`.
    case split
    /// Special-token text is ordinary text: `"<|endoftext|>"` in the input is encoded as bytes and
    /// never gives the EOS id. The project's own tokenizers use it (`train`, rlhf-bpe-v1 files) and
    /// write it as `"split_special_tokens": true`, the transformers setting with this meaning.
    /// Non-special added tokens are still matched, as in transformers.
    case bytes
}

/// Cuts text into added-token matches and the text between them, as `tokenizers`'
/// `AddedVocabulary::extract_and_normalize`: first the tokens with `normalized == false` over the
/// whole text, then the normalized ones within each remaining piece. In each pass, matches are
/// leftmost-longest and do not overlap; a match that is then dropped (a special token under the
/// `bytes` rule, a `single_word` token inside a word) still consumes its text, as the
/// Aho-Corasick iterator of `tokenizers` does.
struct AddedTokenSplitter {
    private struct Candidate {
        var bytes: [UInt8]
        var token: AddedToken
    }

    /// One matching pass: the candidates grouped by first byte, longest first.
    private struct Pass {
        var firstByte = [Int16](repeating: -1, count: 256)
        var groups: [[Candidate]] = []

        init(_ tokens: [AddedToken]) {
            for token in tokens {
                let bytes = Array(token.content.utf8)
                guard let first = bytes.first else { continue }
                if firstByte[Int(first)] < 0 {
                    firstByte[Int(first)] = Int16(groups.count)
                    groups.append([])
                }
                groups[Int(firstByte[Int(first)])].append(Candidate(bytes: bytes, token: token))
            }
            for g in groups.indices { groups[g].sort { $0.bytes.count > $1.bytes.count } }
        }

        /// The leftmost-longest match in `from..<end`.
        @inline(__always)
        func find(_ base: UnsafePointer<UInt8>, from: Int, end: Int) -> (start: Int, stop: Int, token: AddedToken)? {
            var p = from
            while p < end {
                let g = firstByte[Int(base[p])]
                if g >= 0 {
                    for candidate in groups[Int(g)] where candidate.bytes.count <= end - p {
                        let n = candidate.bytes.count
                        let matches = candidate.bytes.withUnsafeBufferPointer { c -> Bool in
                            for k in 1..<n where c[k] != base[p + k] { return false }
                            return true
                        }
                        if matches { return (p, p + n, candidate.token) }
                    }
                }
                p += 1
            }
            return nil
        }
    }

    private let passes: [Pass]
    private let skipSpecial: Bool

    /// Nil when no added token can ever be matched under `rule` (then encoding skips this step).
    init?(_ tokens: [AddedToken], rule: SpecialTokenRule) {
        let skipSpecial = rule == .bytes
        var passes: [Pass] = []
        for normalized in [false, true] {
            let group = tokens.filter { $0.normalized == normalized && !$0.content.isEmpty }
            // A pass whose matches would all be dropped changes nothing.
            if group.isEmpty || (skipSpecial && group.allSatisfy(\.special)) { continue }
            passes.append(Pass(group))
        }
        if passes.isEmpty { return nil }
        self.passes = passes
        self.skipSpecial = skipSpecial
    }

    /// Calls `text` for each piece of ordinary text and `token` for each matched token, in order.
    func split(_ base: UnsafePointer<UInt8>, _ range: Range<Int>, text: (Range<Int>) -> Void, token: (Int32) -> Void) {
        run(pass: 0, base, range, text: text, token: token)
    }

    private func run(pass index: Int, _ base: UnsafePointer<UInt8>, _ range: Range<Int>,
                     text: (Range<Int>) -> Void, token: (Int32) -> Void) {
        guard index < passes.count else {
            text(range)
            return
        }
        let pass = passes[index]
        let a = range.lowerBound, b = range.upperBound
        var startOffset = a
        var searchFrom = a
        while let match = pass.find(base, from: searchFrom, end: b) {
            searchFrom = match.stop
            var start = match.start
            var stop = match.stop
            let added = match.token
            if skipSpecial && added.special { continue }
            if added.singleWord {
                let wordBefore = start > a && UnicodeText.isWordScalar(UnicodeText.scalar(endingAt: start, in: base, from: a))
                let wordAfter = stop < b && UnicodeText.isWordScalar(UnicodeText.scalar(startingAt: stop, in: base, to: b))
                if wordBefore || wordAfter { continue }
            }
            if added.lstrip {
                start = max(UnicodeText.startOfTrailingWhitespace(base, a..<start), startOffset)
            }
            if added.rstrip {
                stop = UnicodeText.endOfLeadingWhitespace(base, stop..<b)
            }
            if startOffset < start {
                run(pass: index + 1, base, startOffset..<start, text: text, token: token)
            }
            token(added.id)
            startOffset = stop
        }
        if startOffset < b {
            run(pass: index + 1, base, startOffset..<b, text: text, token: token)
        }
    }
}

/// Unicode classes used by the added-token rules, over UTF-8 bytes. Bytes that are not valid
/// UTF-8 (only possible through `encode(bytes:)`) count as neither word nor whitespace.
enum UnicodeText {
    /// `\w` of Rust's regex crate: Alphabetic, marks, decimal digits, connector punctuation, Join_Control.
    static func isWordScalar(_ scalar: Unicode.Scalar?) -> Bool {
        guard let scalar else { return false }
        if scalar.isASCII {
            let v = scalar.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        let p = scalar.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// The scalar whose UTF-8 ends at `end` (not reading before `from`), nil if invalid.
    static func scalar(endingAt end: Int, in base: UnsafePointer<UInt8>, from: Int) -> Unicode.Scalar? {
        var k = end - 1
        while k > from && k > end - 4 && base[k] & 0xC0 == 0x80 { k -= 1 }
        guard let (scalar, length) = decode(base, at: k, end: end), k + length == end else { return nil }
        return scalar
    }

    static func scalar(startingAt start: Int, in base: UnsafePointer<UInt8>, to end: Int) -> Unicode.Scalar? {
        decode(base, at: start, end: end)?.0
    }

    /// Where the run of whitespace at the end of `range` starts (`range.upperBound` if none).
    static func startOfTrailingWhitespace(_ base: UnsafePointer<UInt8>, _ range: Range<Int>) -> Int {
        var p = range.upperBound
        while p > range.lowerBound {
            var k = p - 1
            while k > range.lowerBound && k > p - 4 && base[k] & 0xC0 == 0x80 { k -= 1 }
            guard let (scalar, length) = decode(base, at: k, end: p), k + length == p,
                  scalar.properties.isWhitespace else { break }
            p = k
        }
        return p
    }

    /// Where the run of whitespace at the start of `range` ends (`range.lowerBound` if none).
    static func endOfLeadingWhitespace(_ base: UnsafePointer<UInt8>, _ range: Range<Int>) -> Int {
        var p = range.lowerBound
        while p < range.upperBound {
            guard let (scalar, length) = decode(base, at: p, end: range.upperBound), scalar.properties.isWhitespace else { break }
            p += length
        }
        return p
    }

    /// The valid UTF-8 scalar at `i` (not reading past `end`) and its length.
    static func decode(_ base: UnsafePointer<UInt8>, at i: Int, end: Int) -> (Unicode.Scalar, Int)? {
        guard i < end else { return nil }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = UnsafeBufferPointer(start: base + i, count: min(4, end - i)).makeIterator()
        switch parser.parseScalar(from: &iterator) {
        case let .valid(encoded):
            return (Unicode.UTF8.decode(encoded), encoded.count)
        default:
            return nil
        }
    }
}
