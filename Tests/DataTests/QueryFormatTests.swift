import XCTest
@testable import Data

final class QueryFormatTests: XCTestCase {
    /// Whitespace-separated words as a stand-in tokenizer.
    let words: (String) -> Int = { $0.split(whereSeparator: { $0 == " " || $0 == "\n" }).count }

    func testExactFormat() {
        XCTAssertEqual(Datasets.formatQuery(subreddit: "relationships", title: "Help", post: "Body text."),
                       "SUBREDDIT: r/relationships\n\nTITLE: Help\n\nPOST: Body text.\n\nTL;DR:")
        let p = TLDRSynth(seed: 1).post(index: 0, split: .train)
        XCTAssertEqual(p.query, "SUBREDDIT: r/\(p.subreddit)\n\nTITLE: \(p.title)\n\nPOST: \(p.body)\n\nTL;DR:")
        XCTAssertEqual(p.sftExample, SFTExample(prompt: p.query, completion: " " + p.reference))
    }

    func testNoTruncationWhenItFits() {
        let q = Datasets.formatQuery(subreddit: "a", title: "b", post: "one two three.\nfour five.", maxTokens: 100, tokenCount: words)
        XCTAssertEqual(q, Datasets.formatQuery(subreddit: "a", title: "b", post: "one two three.\nfour five."))
    }

    func testTruncatesAtALineBoundary() {
        let post = "First line has five words.\nSecond line has five words.\nThird line has five words too."
        // Header "SUBREDDIT: r/x TITLE: T POST:" + "TL;DR:" = 6 words; two lines = 10 words.
        let q = Datasets.formatQuery(subreddit: "x", title: "T", post: post, maxTokens: 18, tokenCount: words)
        XCTAssertEqual(q, Datasets.formatQuery(subreddit: "x", title: "T", post: "First line has five words.\nSecond line has five words."))
        XCTAssertLessThanOrEqual(words(q), 18)
    }

    func testTruncatesAtASentenceBoundaryWhenNoLineFits() {
        let post = "One two three. Four five six! Seven eight nine? Ten eleven twelve."
        let q = Datasets.formatQuery(subreddit: "x", title: "T", post: post, maxTokens: 13, tokenCount: words)
        XCTAssertEqual(q, Datasets.formatQuery(subreddit: "x", title: "T", post: "One two three. Four five six!"))
        XCTAssertLessThanOrEqual(words(q), 13)
    }

    func testFallsBackToWordsThenTitle() {
        let q = Datasets.formatQuery(subreddit: "x", title: "T", post: "one two three four five six", maxTokens: 9, tokenCount: words)
        XCTAssertEqual(q, Datasets.formatQuery(subreddit: "x", title: "T", post: "one two three"))
        let t = Datasets.formatQuery(subreddit: "x", title: "a b c d", post: "one two", maxTokens: 7, tokenCount: words)
        XCTAssertEqual(t, Datasets.formatQuery(subreddit: "x", title: "a b", post: ""))
    }

    func testTruncationKeepsSynthQueriesWithinBudget() {
        let chars: (String) -> Int = { ($0.utf8.count + 3) / 4 }   // ~4 characters per token
        for p in TLDRSynth(seed: 2).posts(split: .train, count: 40) {
            for budget in [60, 90, 130] {
                let q = p.query(maxTokens: budget, tokenCount: chars)
                XCTAssertLessThanOrEqual(chars(q), budget)
                let parsed = Datasets.parseQuery(q)!
                XCTAssertEqual(parsed.subreddit, p.subreddit)
                if parsed.post.isEmpty { continue }
                XCTAssertTrue(p.body.hasPrefix(parsed.post))
                // Cut at a boundary: the kept post is the whole post or ends a line or a sentence.
                let rest = p.body.dropFirst(parsed.post.count)
                XCTAssertTrue(rest.isEmpty || rest.first!.isWhitespace, "cut mid-word: \(parsed.post)")
                XCTAssertTrue(rest.isEmpty || rest.hasPrefix("\n") || ".?!".contains(parsed.post.last!), "cut mid-sentence: \(parsed.post)")
            }
        }
    }

    func testTruncateFormattedQuery() {
        let p = TLDRSynth(seed: 3).post(index: 1, split: .valid)
        XCTAssertEqual(Datasets.truncateQuery(p.query, maxTokens: 40, tokenCount: words),
                       p.query(maxTokens: 40, tokenCount: words))
        XCTAssertEqual(Datasets.truncateQuery(p.query, maxTokens: 1000, tokenCount: words), p.query)
        XCTAssertEqual(Datasets.truncateQuery("free form prompt text here", maxTokens: 3, tokenCount: words), "prompt text here")
    }

    func testCodableKeys() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        XCTAssertEqual(String(decoding: try enc.encode(SFTExample(prompt: "p", completion: " c")), as: UTF8.self),
                       #"{"completion":" c","prompt":"p"}"#)
        XCTAssertEqual(String(decoding: try enc.encode(PreferencePair(prompt: "p", chosen: " a", rejected: " b")), as: UTF8.self),
                       #"{"chosen":" a","prompt":"p","rejected":" b"}"#)
    }
}
