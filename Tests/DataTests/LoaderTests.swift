import XCTest
@testable import Data

final class LoaderTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("data-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func message(_ body: () throws -> Any) -> String? {
        do {
            _ = try body()
            return nil
        } catch let e as DataError {
            return e.message
        } catch {
            return "unexpected error \(error)"
        }
    }

    // MARK: - Round trips

    func testWriterAndLoadersRoundTrip() throws {
        try Datasets.writeTLDRSynth(to: dir, posts: 20, seed: 5)
        let synth = TLDRSynth(seed: 5)
        let train = synth.posts(split: .train, count: 20)
        let file = { (name: String) in self.dir.appendingPathComponent(name) }

        XCTAssertEqual(try Datasets.loadPosts(from: file("train.jsonl")), train)
        XCTAssertEqual(try Datasets.loadPosts(from: file("valid.jsonl")), synth.posts(split: .valid, count: 2))
        XCTAssertEqual(try Datasets.loadPosts(from: file("test.jsonl")), synth.posts(split: .test, count: 2))
        XCTAssertEqual(try Datasets.loadSFTExamples(from: file("train.jsonl")), train.map(\.sftExample))

        let comparisons = synth.comparisons(split: .train, count: 20)
        XCTAssertEqual(try Datasets.loadComparisons(from: file("comparisons_train.jsonl")), comparisons)
        XCTAssertEqual(try Datasets.loadPreferencePairs(from: file("comparisons_train.jsonl")), comparisons.map(\.preferencePair))
        XCTAssertEqual(try Datasets.loadComparisons(from: file("comparisons_valid.jsonl"), split: "valid"),
                       synth.comparisons(split: .valid, count: 2))

        XCTAssertEqual(try Datasets.detectFormat(of: file("train.jsonl")), .tldr)
        XCTAssertEqual(try Datasets.detectFormat(of: file("comparisons_train.jsonl")), .comparisons)

        // The comparisons are consistent with their posts and labeler.
        for (c, p) in zip(comparisons, train) {
            XCTAssertEqual(c.post, Post(id: p.id, subreddit: p.subreddit, title: p.title, body: p.body, facts: p.facts, reference: ""))
            XCTAssertEqual(c.summaries.count, 2)
            XCTAssertNotEqual(c.summaries[0], c.summaries[1])
            XCTAssertTrue([0, 1].contains(c.choice))
            XCTAssertEqual(c.split, "train")
        }
    }

    func testGenericFormatsRoundTrip() throws {
        let sft = [SFTExample(prompt: "SUBREDDIT: r/a\n\nTITLE: b\n\nPOST: c/d \"q\"\n\nTL;DR:", completion: " e é")]
        let pairs = [PreferencePair(prompt: "p", chosen: " good", rejected: " bad"),
                     PreferencePair(prompt: "p2", chosen: " x", rejected: " y")]
        let a = dir.appendingPathComponent("sft.jsonl"), b = dir.appendingPathComponent("pairs.jsonl")
        try Datasets.writeJSONL(sft, to: a)
        try Datasets.writeJSONL(pairs, to: b)
        XCTAssertEqual(try Datasets.loadSFTExamples(from: a), sft)
        XCTAssertEqual(try Datasets.loadPreferencePairs(from: b), pairs)
        XCTAssertEqual(try Datasets.detectFormat(of: a), .sft)
        XCTAssertEqual(try Datasets.detectFormat(of: b), .preference)
    }

    func testRealStyleLines() throws {
        let tldr = #"{"id": "t3_abc", "subreddit": "relationships", "title": "Title", "post": "Body.", "summary": " my summary"}"#
        let posts = try Datasets.parsePosts(jsonl: tldr, name: "tldr.jsonl")
        XCTAssertEqual(posts, [Post(id: "t3_abc", subreddit: "relationships", title: "Title", body: "Body.", reference: "my summary")])
        XCTAssertEqual(try Datasets.parseSFTExamples(jsonl: tldr, name: "tldr.jsonl"),
                       [SFTExample(prompt: "SUBREDDIT: r/relationships\n\nTITLE: Title\n\nPOST: Body.\n\nTL;DR:", completion: " my summary")])

        let comparison = #"{"info": {"id": "t3_x", "post": "Body.", "title": "T", "subreddit": "AskReddit", "site": null}, "summaries": [{"text": " first one", "policy": "sup2", "note": null}, {"text": " second one", "policy": "ref", "note": "ok"}], "choice": 1, "worker": "w1", "batch": "batch3", "split": "valid1", "extra": {"confidence": 8}}"#
        let records = try Datasets.parseComparisons(jsonl: comparison, name: "c.jsonl")
        XCTAssertEqual(records.first?.summaries, ["first one", "second one"])
        XCTAssertEqual(records.first?.notes, ["", "ok"])
        XCTAssertEqual(records.first?.split, "valid1")
        XCTAssertEqual(try Datasets.parsePreferencePairs(jsonl: comparison, name: "c.jsonl"),
                       [PreferencePair(prompt: "SUBREDDIT: r/AskReddit\n\nTITLE: T\n\nPOST: Body.\n\nTL;DR:", chosen: " second one", rejected: " first one")])
        // Blank lines are skipped but still counted; CRLF line ends are fine.
        let crlf = "\r\n" + #"{"prompt": "p", "completion": " c"}"# + "\r\n\r\n" + #"{"prompt": "q", "completion": " d"}"# + "\r\n"
        XCTAssertEqual(try Datasets.parseSFTExamples(jsonl: crlf, name: "x"),
                       [SFTExample(prompt: "p", completion: " c"), SFTExample(prompt: "q", completion: " d")])
        // ("\r\n" is a single Character in Swift: a split on "\n" alone would see one line here.)
        let crlfBad = #"{"prompt": "p", "completion": " c"}"# + "\r\n" + #"{"prompt": "q"}"# + "\r\n"
        XCTAssertEqual(message { try Datasets.parseSFTExamples(jsonl: crlfBad, name: "w.jsonl") },
                       #"w.jsonl:2: expected a JSON object with string fields "prompt" and "completion", found no "completion"; fix or remove the line"#)
    }

    /// Lines are cut on the UTF-8 bytes; the result is the split by characters at "\n" and "\r\n"
    /// (an independent reference below), whitespace-only lines dropped, numbers counted from 1.
    func testLinesAreCutAsCharactersCutThem() throws {
        func reference(_ text: String) -> [(Int, String)] {
            var out: [(Int, String)] = []
            for (i, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated()
            where !line.allSatisfy({ $0.isWhitespace }) {
                out.append((i + 1, String(line)))
            }
            return out
        }
        let pieces = ["a", "{}", " ", "\t", "\n", "\r", "\r\n", "\r\r\n", "\n\r", "\u{301}", "é", "\u{85}", "\u{2028}", "\u{A0}",
                      "\u{FEFF}", "😀", "\u{1F1FA}\u{1F1F8}", "\u{200D}", "\u{0600}", "\u{B}", "\u{C}", ""]
        var rng = SystemRandomNumberGenerator()
        var texts = pieces + ["\n\n", "x\r", "\r\nx", "x\r\n\r\ny\n", " \r\n\t\n{}\r"]
        for _ in 0..<3000 { texts.append((0..<Int.random(in: 1...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()) }
        for text in texts {
            let expected = reference(text)
            if expected.isEmpty {
                XCTAssertThrowsError(try Datasets.nonBlankLines(text, name: "x"))
                continue
            }
            let lines = try Datasets.nonBlankLines(text, name: "x")
            XCTAssertEqual(lines.map(\.number), expected.map(\.0), text.debugDescription)
            // Bytes, not Strings: String equality is canonical equivalence.
            XCTAssertEqual(lines.map { Array($0.text.utf8) }, expected.map { Array($0.1.utf8) }, text.debugDescription)
        }
    }

    // MARK: - Malformed lines: exact messages

    func testMalformedSFTLines() {
        let ok = #"{"prompt": "p", "completion": " c"}"#
        let sftExpect = #"expected a JSON object with string fields "prompt" and "completion""#
        let cases: [(String, String)] = [
            ([ok, ok, #"{"prompt": "p"}"#].joined(separator: "\n"),
             #"data/train.jsonl:3: expected a JSON object with string fields "prompt" and "completion", found no "completion"; fix or remove the line"#),
            ([ok, #"{"prompt": "p", "completion": }"#].joined(separator: "\n"),
             "data/train.jsonl:2: \(sftExpect), found invalid JSON (column 31: unexpected character '}', expected a value); fix or remove the line"),
            ([ok, "", #"["p", "c"]"#].joined(separator: "\n"),
             "data/train.jsonl:3: \(sftExpect), found an array; fix or remove the line"),
            ([ok, #"{"prompt": "p", "completion": 5}"#].joined(separator: "\n"),
             #"data/train.jsonl:2: expected a JSON object with string fields "prompt" and "completion", found "completion" as a number; fix or remove the line"#),
            ([ok, #"{"prompt": null, "completion": " c"}"#].joined(separator: "\n"),
             #"data/train.jsonl:2: expected a JSON object with string fields "prompt" and "completion", found "prompt" as null; fix or remove the line"#),
            ([ok, #"{"prompt": "p", "completion": "  "}"#].joined(separator: "\n"),
             #"data/train.jsonl:2: expected a JSON object with string fields "prompt" and "completion", found an empty "completion"; fix or remove the line"#),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(message { try Datasets.parseSFTExamples(jsonl: text, name: "data/train.jsonl") }, expected)
        }
    }

    func testMalformedPreferenceAndTLDRLines() {
        XCTAssertEqual(message { try Datasets.parsePreferencePairs(jsonl: #"{"prompt": "p", "chosen": " a"}"#, name: "data/pairs.jsonl") },
                       #"data/pairs.jsonl:1: expected a JSON object with string fields "prompt", "chosen" and "rejected", found no "rejected"; fix or remove the line"#)
        XCTAssertEqual(message { try Datasets.parsePreferencePairs(jsonl: #"{"prompt": "p", "chosen": " a", "rejected": true}"#, name: "data/pairs.jsonl") },
                       #"data/pairs.jsonl:1: expected a JSON object with string fields "prompt", "chosen" and "rejected", found "rejected" as a boolean; fix or remove the line"#)
        let good = #"{"id": "1", "subreddit": "a", "title": "b", "post": "c", "summary": "d"}"#
        XCTAssertEqual(message { try Datasets.parsePosts(jsonl: good + "\n" + #"{"id": "2", "subreddit": "a", "title": "b", "post": "c"}"#, name: "data/tldr.jsonl") },
                       #"data/tldr.jsonl:2: expected a JSON object with string fields "subreddit", "title", "post" and "summary", found no "summary"; fix or remove the line"#)
        XCTAssertEqual(message { try Datasets.parsePosts(jsonl: #"{"subreddit": "a", "title": ["b"], "post": "c", "summary": "d"}"#, name: "data/tldr.jsonl") },
                       #"data/tldr.jsonl:1: expected a JSON object with string fields "subreddit", "title", "post" and "summary", found "title" as an array; fix or remove the line"#)
        XCTAssertEqual(message { try Datasets.parsePosts(jsonl: #"{"subreddit": "a", "title": "b", "post": "c", "summary": "d", "facts": [1]}"#, name: "data/tldr.jsonl") },
                       #"data/tldr.jsonl:1: expected a JSON object with string fields "subreddit", "title", "post" and "summary", found "facts" that is not a list of {"kind", "phrase", "keywords"}; fix or remove the line"#)
    }

    func testMalformedComparisonLines() {
        let expect = #"expected a comparison object with "info" {"post", "title", "subreddit"}, two "summaries" [{"text"}] and "choice" 0 or 1"#
        let info = #""info": {"post": "Body.", "title": "T", "subreddit": "s"}"#
        let sums = #""summaries": [{"text": "a"}, {"text": "b"}]"#
        let cases: [(String, String)] = [
            ("{\(info), \(sums), \"choice\": 2}", #"found "choice" = 2"#),
            ("{\(info), \(sums), \"choice\": true}", #"found "choice" as a boolean"#),
            ("{\(info), \(sums), \"choice\": \"0\"}", #"found "choice" as a string"#),
            ("{\(info), \(sums)}", #"found no "choice""#),
            ("{\(sums), \"choice\": 0}", #"found no "info""#),
            (#"{"info": {"title": "T", "subreddit": "s"}, "# + "\(sums), \"choice\": 0}", #"found no "info"."post""#),
            ("{\(info), \"summaries\": [{\"text\": \"a\"}, {\"text\": \"b\"}, {\"text\": \"c\"}], \"choice\": 0}", #"found "summaries" with 3 entries"#),
            ("{\(info), \"summaries\": [{\"text\": \"a\"}, {\"policy\": \"b\"}], \"choice\": 0}", #"found no "summaries"[1]."text""#),
            ("{\(info), \"summaries\": [\"a\", \"b\"], \"choice\": 0}", #"found "summaries"[0] as a string"#),
        ]
        for (line, found) in cases {
            XCTAssertEqual(message { try Datasets.parseComparisons(jsonl: line, name: "data/comparisons.jsonl") },
                           "data/comparisons.jsonl:1: \(expect), \(found); fix or remove the line")
        }
    }

    /// Numbers are read exactly and range-checked, never converted with a trap or rounded; long
    /// user text is quoted shortened; a byte-order mark starts a file harmlessly.
    func testHostileNumbersAndText() throws {
        let expect = #"expected a comparison object with "info" {"post", "title", "subreddit"}, two "summaries" [{"text"}] and "choice" 0 or 1"#
        let sums = #""summaries": [{"text": "a"}, {"text": "b"}]"#
        func comparison(id: String = #""x""#, choice: String = "1", extra: String = "") -> String {
            #"{"info": {"id": "# + id + #", "post": "Body.", "title": "T", "subreddit": "s"}, "# + sums + ", \"choice\": \(choice)\(extra)}"
        }
        func failure(_ line: String) -> String? { message { try Datasets.parseComparisons(jsonl: line, name: "c.jsonl") } }
        let huge = String(repeating: "9", count: 400)
        for (choice, shown) in [("1e400", "1e400"), ("-1e400", "-1e400"), ("99999999999999999999999", "1e+23"),
                                ("0.99999999999999999999999", "0.99999999999999999999999"), ("1e-400", "1e-400"), ("2", "2"),
                                (huge, String(repeating: "9", count: 60) + "…")] {
            XCTAssertEqual(failure(comparison(choice: choice)), "c.jsonl:1: \(expect), found \"choice\" = \(shown); fix or remove the line")
        }
        XCTAssertEqual(try Datasets.parseComparisons(jsonl: comparison(choice: "1.0"), name: "c.jsonl").first?.choice, 1)
        XCTAssertEqual(try Datasets.parseComparisons(jsonl: comparison(choice: "0e5"), name: "c.jsonl").first?.choice, 0)
        // Numeric ids are integers within 64 bits, kept as written; anything else is refused.
        XCTAssertEqual(try Datasets.parseComparisons(jsonl: comparison(id: "9007199254740993"), name: "c.jsonl").first?.id, "9007199254740993")
        XCTAssertEqual(try Datasets.parseComparisons(jsonl: comparison(id: "-12"), name: "c.jsonl").first?.id, "-12")
        for (id, shown) in [("99999999999999999999", "1e+20"), ("1.5", "1.5"), ("1e400", "1e400")] {
            XCTAssertEqual(failure(comparison(id: id)),
                           "c.jsonl:1: \(expect), found \"info\".\"id\" = \(shown), which is neither a string nor an integer within 64 bits; fix or remove the line")
        }
        XCTAssertEqual(failure(comparison(extra: #", "worker": 1e400"#)),
                       "c.jsonl:1: \(expect), found \"worker\" = 1e400, which is neither a string nor an integer within 64 bits; fix or remove the line")
        XCTAssertEqual(try Datasets.parsePosts(jsonl: #"{"id": 7, "subreddit": "a", "title": "b", "post": "c", "summary": "d"}"#, name: "t").first?.id, "7")
        // Long text in messages: a 100,000-character key or value is cut to 60 characters.
        let long = String(repeating: "k", count: 100_000)
        let cut = "\"" + String(repeating: "k", count: 60) + "…\""
        XCTAssertEqual(message { try Datasets.detectFormat(jsonl: "{\"\(long)\": 1}", name: "d.jsonl") },
                       #"d.jsonl:1: expected the keys of a TL;DR line ("post", "summary"), a comparison ("info", "summaries"), an SFT example ("prompt", "completion") or a preference pair ("prompt", "chosen", "rejected"), found keys "# + cut + "; convert the file to one of these formats")
        XCTAssertEqual(message { try Datasets.parseSFTExamples(jsonl: "{\"\(long)\" 1}", name: "d.jsonl") },
                       #"d.jsonl:1: expected a JSON object with string fields "prompt" and "completion", found invalid JSON (column 100005: expected ':' after key "# + cut + "); fix or remove the line")
        let splits = (0..<12).map { comparison(extra: ", \"split\": \"s\($0)\"") }.joined(separator: "\n")
        XCTAssertEqual(message { try Datasets.parseComparisons(jsonl: splits, name: "c.jsonl", split: long) },
                       #"c.jsonl: no examples with "split": "# + cut + #"; the file holds splits "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9" and 2 more, pick one of those"#)
        // A UTF-8 byte-order mark (Windows editors) before the first line.
        let file = dir.appendingPathComponent("bom.jsonl")
        try Data([0xEF, 0xBB, 0xBF] + Array(#"{"prompt": "p", "completion": " c"}"#.utf8)).write(to: file)
        XCTAssertEqual(try Datasets.loadSFTExamples(from: file), [SFTExample(prompt: "p", completion: " c")])
        XCTAssertEqual(try Datasets.detectFormat(of: file), .sft)
        // Strict strings: a raw control character is named with its column.
        XCTAssertEqual(message { try Datasets.parseSFTExamples(jsonl: "{\"prompt\": \"a\u{01}\", \"completion\": \" c\"}", name: "d.jsonl") },
                       #"d.jsonl:1: expected a JSON object with string fields "prompt" and "completion", found invalid JSON (column 14: control character U+0001 inside a string; write it as an escape (\n, \t, \u00XX)); fix or remove the line"#)
    }

    // MARK: - Empty files and splits, missing files, wrong formats

    func testEmptyFileIsAnError() throws {
        let expected = "data/x.jsonl: no examples; the file is empty or holds only blank lines, write one JSON object per line"
        XCTAssertEqual(message { try Datasets.parseSFTExamples(jsonl: "", name: "data/x.jsonl") }, expected)
        XCTAssertEqual(message { try Datasets.parsePreferencePairs(jsonl: "\n  \n\n", name: "data/x.jsonl") }, expected)
        XCTAssertEqual(message { try Datasets.parsePosts(jsonl: "\n", name: "data/x.jsonl") }, expected)
        let url = dir.appendingPathComponent("empty.jsonl")
        try "".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertEqual(message { try Datasets.loadSFTExamples(from: url) },
                       "\(url.relativePath): no examples; the file is empty or holds only blank lines, write one JSON object per line")
    }

    func testEmptySplitIsAnError() throws {
        try Datasets.writeTLDRSynth(to: dir, posts: 3, seed: 1)
        let url = dir.appendingPathComponent("comparisons_train.jsonl")
        XCTAssertEqual(message { try Datasets.loadPreferencePairs(from: url, split: "valid1") },
                       "\(url.relativePath): no examples with \"split\": \"valid1\"; the file holds splits \"train\", pick one of those")
        XCTAssertEqual(try Datasets.loadPreferencePairs(from: url, split: "train").count, 3)
        XCTAssertEqual(message { try Datasets.writeTLDRSynth(to: self.dir, posts: 0, seed: 1) },
                       "\(dir.relativePath): no examples; asked for 0 posts, ask for at least 1")
    }

    func testMissingFile() {
        let url = URL(fileURLWithPath: "no/such/dir/train.jsonl")
        XCTAssertEqual(message { try Datasets.loadSFTExamples(from: url) },
                       "no/such/dir/train.jsonl: cannot read the file (no such file); check the path")
    }

    func testFormatDetectionAndMismatch() {
        XCTAssertEqual(try Datasets.detectFormat(jsonl: #"{"prompt": "p", "completion": "c"}"#, name: "a"), .sft)
        XCTAssertEqual(try Datasets.detectFormat(jsonl: #"{"prompt": "p", "chosen": "c", "rejected": "r"}"#, name: "a"), .preference)
        XCTAssertEqual(try Datasets.detectFormat(jsonl: "\n" + #"{"post": "p", "summary": "s", "title": "t"}"#, name: "a"), .tldr)
        XCTAssertEqual(try Datasets.detectFormat(jsonl: #"{"info": {}, "summaries": [], "choice": 0}"#, name: "a"), .comparisons)
        XCTAssertEqual(message { try Datasets.detectFormat(jsonl: "\n" + #"{"text": "x", "label": 1}"#, name: "data/y.jsonl") },
                       #"data/y.jsonl:2: expected the keys of a TL;DR line ("post", "summary"), a comparison ("info", "summaries"), an SFT example ("prompt", "completion") or a preference pair ("prompt", "chosen", "rejected"), found keys "label", "text"; convert the file to one of these formats"#)
        XCTAssertEqual(message { try Datasets.parseSFTExamples(jsonl: #"{"prompt": "p", "chosen": "c", "rejected": "r"}"#, name: "data/z.jsonl") },
                       #"data/z.jsonl:1: expected SFT data (a JSON object with string fields "subreddit", "title", "post" and "summary", or a JSON object with string fields "prompt" and "completion"), found preference data; load this file as preference pairs instead"#)
        XCTAssertEqual(message { try Datasets.parsePreferencePairs(jsonl: #"{"prompt": "p", "completion": "c"}"#, name: "data/z.jsonl") },
                       #"data/z.jsonl:1: expected preference data (a comparison object with "info" {"post", "title", "subreddit"}, two "summaries" [{"text"}] and "choice" 0 or 1, or a JSON object with string fields "prompt", "chosen" and "rejected"), found SFT data; load this file as SFT examples instead"#)
    }
}
