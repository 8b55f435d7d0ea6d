import Files
import Foundation
import JSON

/// A data-loading error with a one-line message naming the file (and 1-based line), what was
/// expected and how to fix it.
public struct DataError: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// The JSONL formats the loaders understand.
public enum JSONLFormat: String, CaseIterable, Sendable {
    /// TL;DR filtered: {"id", "subreddit", "title", "post", "summary"} (tldr-synth adds "facts").
    case tldr
    /// "Summarize from feedback" comparisons: {"info": {"id", "post", "title", "subreddit"},
    /// "summaries": [{"text", "policy", "note"}] × 2, "choice", "worker", "batch", "split"}.
    case comparisons
    /// {"prompt", "completion"}.
    case sft
    /// {"prompt", "chosen", "rejected"}.
    case preference
}

extension Datasets {
    static let expectTLDR = #"a JSON object with string fields "subreddit", "title", "post" and "summary""#
    static let expectComparison = #"a comparison object with "info" {"post", "title", "subreddit"}, two "summaries" [{"text"}] and "choice" 0 or 1"#
    static let expectSFT = #"a JSON object with string fields "prompt" and "completion""#
    static let expectPreference = #"a JSON object with string fields "prompt", "chosen" and "rejected""#

    // MARK: - Public loaders (files)

    /// Posts from a TL;DR filtered JSONL file (reference = trimmed "summary"; facts from the optional
    /// "facts" field, else none).
    public static func loadPosts(from url: URL) throws -> [Post] {
        try parsePosts(jsonl: readText(url), name: displayName(url))
    }

    /// SFT examples from a TL;DR filtered file (prompt = query, completion = " " + summary) or a
    /// {"prompt", "completion"} file (taken verbatim), detected from the first line.
    public static func loadSFTExamples(from url: URL) throws -> [SFTExample] {
        try parseSFTExamples(jsonl: readText(url), name: displayName(url))
    }

    /// Comparison records, optionally only those whose "split" equals `split`.
    public static func loadComparisons(from url: URL, split: String? = nil) throws -> [ComparisonRecord] {
        try parseComparisons(jsonl: readText(url), name: displayName(url), split: split)
    }

    /// Preference pairs from a comparisons file (chosen = summaries[choice], as " " + text; `split`
    /// filters on "split") or a {"prompt", "chosen", "rejected"} file (verbatim; `split` ignored).
    public static func loadPreferencePairs(from url: URL, split: String? = nil) throws -> [PreferencePair] {
        try parsePreferencePairs(jsonl: readText(url), name: displayName(url), split: split)
    }

    /// The format of a JSONL file, judged from its first non-blank line.
    public static func detectFormat(of url: URL) throws -> JSONLFormat {
        try detectFormat(jsonl: readText(url), name: displayName(url))
    }

    // MARK: - Public parsers (text already in memory; `name` is used in messages)

    public static func parsePosts(jsonl: String, name: String) throws -> [Post] {
        let lines = try nonBlankLines(jsonl, name: name)
        return try lines.map { try parseTLDRLine($0.text, name: name, line: $0.number) }
    }

    public static func parseSFTExamples(jsonl: String, name: String) throws -> [SFTExample] {
        let lines = try nonBlankLines(jsonl, name: name)
        let keys = firstKeys(lines)
        if keys.contains("info") || keys.contains("summaries") || keys.contains("chosen") || keys.contains("rejected") {
            throw DataError("\(name):\(lines[0].number): expected SFT data (\(expectTLDR), or \(expectSFT)), found preference data; load this file as preference pairs instead")
        }
        if !keys.contains("prompt") && (keys.contains("post") || keys.contains("summary")) {
            return try lines.map { try parseTLDRLine($0.text, name: name, line: $0.number).sftExample }
        }
        return try lines.map { l in
            let o = try object(l.text, name: name, line: l.number, expected: expectSFT)
            let fail = failure(name, l.number, expectSFT)
            return SFTExample(prompt: try string(o, "prompt", fail, nonEmpty: true),
                              completion: try string(o, "completion", fail, nonEmpty: true))
        }
    }

    public static func parseComparisons(jsonl: String, name: String, split: String? = nil) throws -> [ComparisonRecord] {
        let lines = try nonBlankLines(jsonl, name: name)
        let all = try lines.map { try parseComparisonLine($0.text, name: name, line: $0.number) }
        guard let split else { return all }
        let kept = all.filter { $0.split == split }
        if kept.isEmpty {
            var seen: Set<String> = [], splits: [String] = []
            for r in all where seen.insert(r.split).inserted { splits.append(r.split) }
            throw DataError("\(name): no examples with \"split\": \(JSONValue.excerpt(split)); the file holds splits \(listed(splits)), pick one of those")
        }
        return kept
    }

    public static func parsePreferencePairs(jsonl: String, name: String, split: String? = nil) throws -> [PreferencePair] {
        let lines = try nonBlankLines(jsonl, name: name)
        let keys = firstKeys(lines)
        if keys.contains("info") || keys.contains("summaries") || keys.contains("choice") {
            return try parseComparisons(jsonl: jsonl, name: name, split: split).map(\.preferencePair)
        }
        if !keys.contains("chosen") && !keys.contains("rejected") && (keys.contains("completion") || keys.contains("summary")) {
            throw DataError("\(name):\(lines[0].number): expected preference data (\(expectComparison), or \(expectPreference)), found SFT data; load this file as SFT examples instead")
        }
        return try lines.map { l in
            let o = try object(l.text, name: name, line: l.number, expected: expectPreference)
            let fail = failure(name, l.number, expectPreference)
            return PreferencePair(prompt: try string(o, "prompt", fail, nonEmpty: true),
                                  chosen: try string(o, "chosen", fail, nonEmpty: true),
                                  rejected: try string(o, "rejected", fail, nonEmpty: true))
        }
    }

    public static func detectFormat(jsonl: String, name: String) throws -> JSONLFormat {
        let lines = try nonBlankLines(jsonl, name: name)
        let expected = "one JSON object per line in the TL;DR, comparisons, SFT or preference format"
        let o = try object(lines[0].text, name: name, line: lines[0].number, expected: expected)
        let keys = Set(o.keys)
        if keys.contains("info") && keys.contains("summaries") { return .comparisons }
        if keys.isSuperset(of: ["prompt", "chosen", "rejected"]) { return .preference }
        if keys.isSuperset(of: ["prompt", "completion"]) { return .sft }
        if keys.isSuperset(of: ["post", "summary"]) { return .tldr }
        let found = listed(keys.sorted())
        throw DataError("\(name):\(lines[0].number): expected the keys of a TL;DR line (\"post\", \"summary\"), a comparison (\"info\", \"summaries\"), an SFT example (\"prompt\", \"completion\") or a preference pair (\"prompt\", \"chosen\", \"rejected\"), found \(found.isEmpty ? "no keys" : "keys " + found); convert the file to one of these formats")
    }

    /// Strings quoted for a message, the first 10 of them (each cut as `JSONValue.excerpt` cuts).
    static func listed(_ items: [String]) -> String {
        let shown = items.prefix(10).map { JSONValue.excerpt($0) }.joined(separator: ", ")
        return items.count > 10 ? shown + " and \(items.count - 10) more" : shown
    }

    // MARK: - Writers

    /// One JSON object per line (sorted keys, unescaped slashes), e.g. `[SFTExample]` or `[PreferencePair]`;
    /// the file is replaced whole (`DurableFile`), a failure is a `FileWriteError`.
    public static func writeJSONL<T: Encodable>(_ items: [T], to url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = ""
        for item in items {
            out += String(decoding: try enc.encode(item), as: UTF8.self)
            out += "\n"
        }
        try DurableFile.write(out, to: url)
    }

    /// Posts in the TL;DR filtered format, with their facts (if any) in an extra "facts" field.
    public static func writePosts(_ posts: [Post], to url: URL) throws {
        try writeJSONL(posts.map { TLDRLine(id: $0.id, subreddit: $0.subreddit, title: $0.title, post: $0.body,
                                            summary: $0.reference, facts: $0.facts.isEmpty ? nil : $0.facts) }, to: url)
    }

    /// Comparison records in the "summarize from feedback" format (facts, if any, in "info"."facts").
    public static func writeComparisons(_ records: [ComparisonRecord], to url: URL) throws {
        try writeJSONL(records.map { r in
            ComparisonLine(
                info: .init(id: r.id, post: r.body, title: r.title, subreddit: r.subreddit, facts: r.facts.isEmpty ? nil : r.facts),
                summaries: r.summaries.indices.map {
                    .init(text: r.summaries[$0], policy: r.policies.indices.contains($0) ? r.policies[$0] : "",
                          note: r.notes.indices.contains($0) ? r.notes[$0] : "")
                },
                choice: r.choice, worker: r.worker, batch: r.batch, split: r.split)
        }, to: url)
    }

    private struct TLDRLine: Encodable {
        var id, subreddit, title, post, summary: String
        var facts: [Fact]?
    }

    private struct ComparisonLine: Encodable {
        struct Info: Encodable {
            var id, post, title, subreddit: String
            var facts: [Fact]?
        }
        struct Summary: Encodable { var text, policy, note: String }
        var info: Info
        var summaries: [Summary]
        var choice: Int
        var worker, batch, split: String
    }

    // MARK: - Line parsing

    static func displayName(_ url: URL) -> String { url.isFileURL ? url.relativePath : url.absoluteString }

    static func readText(_ url: URL) throws -> String {
        let name = displayName(url)
        let bytes: Foundation.Data
        do {
            bytes = try Foundation.Data(contentsOf: url)
        } catch {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "permission denied or unreadable" : "no such file"
            throw DataError("\(name): cannot read the file (\(reason)); check the path")
        }
        guard var text = String(data: bytes, encoding: .utf8) else {
            throw DataError("\(name): the file is not valid UTF-8 text; save it as UTF-8 JSONL")
        }
        // A byte-order mark (written by some Windows editors) is not part of the first line.
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        return text
    }

    /// Non-blank lines with their 1-based line numbers; throws if there are none.
    static func nonBlankLines(_ text: String, name: String) throws -> [(number: Int, text: Substring)] {
        var out: [(Int, Substring)] = []
        var n = 0
        // Lines end at "\n", and a "\r" just before it is part of the line end (Windows); a lone
        // "\r" is text. Cut on the UTF-8 bytes: a "\n" is always a character of its own (or the
        // end of "\r\n"), so this is the split by characters without segmenting the whole text
        // into characters, which cost more than parsing its JSON.
        let utf8 = text.utf8
        var start = utf8.startIndex
        while true {
            let newline = utf8[start...].firstIndex(of: 0x0A)
            var end = newline ?? utf8.endIndex
            if newline != nil, end > start, utf8[utf8.index(before: end)] == 0x0D { end = utf8.index(before: end) }
            n += 1
            let line = text[start..<end]
            if !line.allSatisfy({ $0.isWhitespace }) { out.append((n, line)) }
            guard let newline else { break }
            start = utf8.index(after: newline)
        }
        if out.isEmpty {
            throw DataError("\(name): no examples; the file is empty or holds only blank lines, write one JSON object per line")
        }
        return out
    }

    static func firstKeys(_ lines: [(number: Int, text: Substring)]) -> Set<String> {
        guard let first = lines.first, let o = (try? JSONParser.parse(first.text))?.objectValue else { return [] }
        return Set(o.map(\.0))
    }

    static func failure(_ name: String, _ line: Int, _ expected: String) -> (String) -> DataError {
        { found in DataError("\(name):\(line): expected \(expected), found \(found); fix or remove the line") }
    }

    /// One line as a JSON object (members by key); the shared reader's syntax errors name the column.
    static func object(_ text: Substring, name: String, line: Int, expected: String) throws -> [String: JSONValue] {
        let fail = failure(name, line, expected)
        let v: JSONValue
        do {
            v = try JSONParser.parse(text)
        } catch let e as JSONParseError {
            throw fail("invalid JSON (column \(e.column): \(e.message))")
        }
        guard let o = v.dictionaryValue else { throw fail(v.typeName) }
        return o
    }

    static func string(_ o: [String: JSONValue], _ key: String, _ fail: (String) -> DataError, path: String? = nil,
                       nonEmpty: Bool = false) throws -> String {
        let label = path ?? "\"\(key)\""
        guard let v = o[key] else { throw fail("no \(label)") }
        guard case .string(let s) = v else { throw fail("\(label) as \(v.typeName)") }
        if nonEmpty && Text.trimmed(s).isEmpty { throw fail("an empty \(label)") }
        return s
    }

    /// An optional text field (ids, "worker", "batch", "split", "policy", "note"): a string, or an
    /// integer within 64 bits taken as its decimal digits (ids are sometimes numbers); null or
    /// absent is nil. Fractions and integers past 64 bits are refused, never rounded.
    static func optionalString(_ o: [String: JSONValue], _ key: String, _ fail: (String) -> DataError, path: String? = nil) throws -> String? {
        let label = path ?? "\"\(key)\""
        guard let v = o[key], !v.isNull else { return nil }
        switch v {
        case .string(let s): return s
        case .number:
            guard case .value(let i) = v.integer() else {
                throw fail("\(label) = \(v.describe), which is neither a string nor an integer within 64 bits")
            }
            return String(i)
        default: throw fail("\(label) as \(v.typeName)")
        }
    }

    static func facts(_ o: [String: JSONValue], _ fail: (String) -> DataError, path: String) throws -> [Fact] {
        guard let v = o["facts"], !v.isNull else { return [] }
        let bad = fail("\(path) that is not a list of {\"kind\", \"phrase\", \"keywords\"}")
        guard let items = v.arrayValue else { throw bad }
        return try items.map { item in
            guard let f = item.dictionaryValue, let kind = f["kind"]?.stringValue.flatMap(FactKind.init(rawValue:)),
                  let phrase = f["phrase"]?.stringValue, let keywords = f["keywords"]?.arrayValue else { throw bad }
            let words = keywords.compactMap(\.stringValue)
            guard words.count == keywords.count else { throw bad }
            return Fact(kind: kind, phrase: phrase, keywords: words)
        }
    }

    static func parseTLDRLine(_ text: Substring, name: String, line: Int) throws -> Post {
        let o = try object(text, name: name, line: line, expected: expectTLDR)
        let fail = failure(name, line, expectTLDR)
        let subreddit = try string(o, "subreddit", fail)
        let title = try string(o, "title", fail)
        let body = try string(o, "post", fail, nonEmpty: true)
        let summary = try string(o, "summary", fail, nonEmpty: true)
        let id = try optionalString(o, "id", fail) ?? "\(name):\(line)"
        return Post(id: id, subreddit: subreddit, title: title, body: body,
                    facts: try facts(o, fail, path: "\"facts\""), reference: Text.trimmed(summary))
    }

    static func parseComparisonLine(_ text: Substring, name: String, line: Int) throws -> ComparisonRecord {
        let o = try object(text, name: name, line: line, expected: expectComparison)
        let fail = failure(name, line, expectComparison)
        guard let infoV = o["info"] else { throw fail("no \"info\"") }
        guard let info = infoV.dictionaryValue else { throw fail("\"info\" as \(infoV.typeName)") }
        let body = try string(info, "post", fail, path: "\"info\".\"post\"", nonEmpty: true)
        let title = try string(info, "title", fail, path: "\"info\".\"title\"")
        let subreddit = try string(info, "subreddit", fail, path: "\"info\".\"subreddit\"")
        let id = try optionalString(info, "id", fail, path: "\"info\".\"id\"") ?? "\(name):\(line)"
        let facts = try facts(info, fail, path: "\"info\".\"facts\"")

        guard let sumV = o["summaries"] else { throw fail("no \"summaries\"") }
        guard let sums = sumV.arrayValue else { throw fail("\"summaries\" as \(sumV.typeName)") }
        guard sums.count == 2 else { throw fail("\"summaries\" with \(sums.count) \(sums.count == 1 ? "entry" : "entries")") }
        var texts: [String] = [], policies: [String] = [], notes: [String] = []
        for (i, s) in sums.enumerated() {
            guard let so = s.dictionaryValue else { throw fail("\"summaries\"[\(i)] as \(s.typeName)") }
            texts.append(Text.trimmed(try string(so, "text", fail, path: "\"summaries\"[\(i)].\"text\"", nonEmpty: true)))
            policies.append(try optionalString(so, "policy", fail, path: "\"summaries\"[\(i)].\"policy\"") ?? "")
            notes.append(try optionalString(so, "note", fail, path: "\"summaries\"[\(i)].\"note\"") ?? "")
        }

        guard let choiceV = o["choice"] else { throw fail("no \"choice\"") }
        guard case .number = choiceV else { throw fail("\"choice\" as \(choiceV.typeName)") }
        // 0 or 1 (1.0 too), read without conversion: 2, 1e400 or a 30-digit number is refused as written.
        guard case .value(let choice) = choiceV.integer(in: 0...1, allowDecimal: true) else { throw fail("\"choice\" = \(choiceV.describe)") }
        return ComparisonRecord(
            id: id, subreddit: subreddit, title: title, body: body, facts: facts, summaries: texts, policies: policies,
            notes: notes, choice: Int(choice),
            worker: try optionalString(o, "worker", fail) ?? "", batch: try optionalString(o, "batch", fail) ?? "",
            split: try optionalString(o, "split", fail) ?? "")
    }
}
