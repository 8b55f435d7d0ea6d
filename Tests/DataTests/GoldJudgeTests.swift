import Engine
import XCTest
@testable import Data

final class GoldJudgeTests: XCTestCase {
    let post = Post(
        id: "p1", subreddit: "relationships", title: "Need advice about my boyfriend",
        body: "My boyfriend (24M) and I (22F) have been together for 3 years. We live in Boston.\n\n"
            + "Last week he forgot my birthday. Now he ignores all my texts. Should I break up with him?",
        facts: [
            Fact(kind: .who, phrase: "my boyfriend", keywords: ["boyfriend", "bf"]),
            Fact(kind: .event, phrase: "my boyfriend forgot my birthday", keywords: ["forgot birthday", "missed birthday"]),
            Fact(kind: .problem, phrase: "now he ignores my texts", keywords: ["ignores"]),
            Fact(kind: .question, phrase: "should I break up with him?", keywords: ["break up", "leave"]),
        ],
        reference: "My boyfriend forgot my birthday and now he ignores my texts. Should I break up with him?")
    let judge = GoldJudge()

    func testFormulaOnTheReference() {
        let b = judge.breakdown(post: post, summary: post.reference)
        XCTAssertEqual(b.factsExpressed, [.who, .event, .problem, .question])
        XCTAssertEqual(b.wordCount, 17)
        XCTAssertEqual(b.raw, 4 - 0.02 * 17, accuracy: 1e-9)
        XCTAssertEqual(b.score, 3.66, accuracy: 1e-6)   // the floor is invisible this far above −2
        XCTAssertEqual(judge.score(post: post, summary: post.reference), b.score)   // deterministic
    }

    func testMatchingIsCaseInsensitiveWordBoundedAndStemmed() {
        XCTAssertEqual(judge.breakdown(post: post, summary: post.reference.uppercased()).factsExpressed.count, 4)
        // Paraphrase through keywords and stemming: "ignoring" ~ "ignores", "bf".
        let para = judge.breakdown(post: post, summary: "My bf missed my birthday and is ignoring me. Should I leave him?")
        XCTAssertEqual(para.factsExpressed, [.who, .event, .problem, .question])
        XCTAssertEqual(para.unsupportedWords, [])
        // No matching inside longer words.
        let glued = judge.breakdown(post: post, summary: "Myboyfriend forgotmybirthday.")
        XCTAssertEqual(glued.factsExpressed, [])
    }

    func testReferenceBeatsEveryDegradationAndEmpty() {
        let posts = TLDRSynth(seed: 21).posts(split: .valid, count: 40)
        var rng = RNG(seed: 4)
        let empty = judge.score(post: posts[0], summary: "")
        for kind in Degradation.allCases {
            var total = 0.0
            for p in posts {
                let ref = judge.score(post: p, summary: p.reference)
                let bad = degrade(p, kind: kind, rng: &rng)
                let g = judge.score(post: p, summary: bad)
                XCTAssertGreaterThan(ref - g, 0.2, "\(kind): \(p.reference) vs \(bad)")
                XCTAssertGreaterThan(ref, empty + 3)
                total += g
            }
            XCTAssertGreaterThan(total / Double(posts.count), empty + 0.5, "\(kind)")
        }
        // Degradations do what they say.
        let p = post
        var r = RNG(seed: 1)
        XCTAssertTrue(judge.breakdown(post: p, summary: degrade(p, kind: .truncation, rng: &r)).endsMidSentence)
        XCTAssertGreaterThan(judge.breakdown(post: p, summary: degrade(p, kind: .repetition, rng: &r)).repeatedTrigrams, 0)
        XCTAssertFalse(judge.breakdown(post: p, summary: degrade(p, kind: .inventFact, rng: &r)).unsupportedEntities.isEmpty)
        XCTAssertEqual(judge.breakdown(post: p, summary: degrade(p, kind: .dropFact, rng: &r)).factsMissing.count, 1)
        XCTAssertGreaterThan(Text.wordCount(degrade(p, kind: .padding, rng: &r)), Text.wordCount(p.reference) + 8)
    }

    func testEmptyAndMidSentence() {
        for s in ["", "   ", "\n"] {
            let b = judge.breakdown(post: post, summary: s)
            XCTAssertTrue(b.isEmpty)
            XCTAssertEqual(b.raw, -1)
            XCTAssertEqual(b.score, -1, accuracy: 0.01)
        }
        let cut = judge.breakdown(post: post, summary: "My boyfriend forgot my birthday and now he")
        XCTAssertTrue(cut.endsMidSentence)
        let whole = judge.breakdown(post: post, summary: "My boyfriend forgot my birthday and now he ignores my texts.")
        XCTAssertFalse(whole.endsMidSentence)
        XCTAssertEqual(whole.raw - 1.0 /* problem fact */ + 0.02 * 3 /* 3 fewer words */ - 0.5, cut.raw, accuracy: 1e-9)
    }

    func testHallucinationIsPenalized() {
        let ref = judge.score(post: post, summary: post.reference)
        let entity = judge.breakdown(post: post, summary: "My sister forgot my birthday in Chicago and now he ignores my texts. Should I break up with him?")
        XCTAssertEqual(Set(entity.unsupportedEntities), ["sister", "chicago"])
        XCTAssertEqual(entity.factsMissing, [.who])
        XCTAssertLessThan(entity.score, ref - 2.5)
        let words = judge.breakdown(post: post, summary: "My boyfriend forgot my birthday while drinking wine and now he ignores my texts. Should I break up with him?")
        XCTAssertEqual(Set(words.unsupportedWords), ["drinking", "wine"])
        XCTAssertEqual(words.unsupportedEntities, [])
        XCTAssertEqual(ref - words.score, 2 * 0.5 + 3 * 0.02, accuracy: 1e-6)
        // A number the post does not contain counts as an entity; one it contains does not.
        XCTAssertEqual(judge.breakdown(post: post, summary: "My boyfriend (24M) forgot my birthday.").unsupportedEntities, [])
        XCTAssertEqual(judge.breakdown(post: post, summary: "My boyfriend (31M) forgot my birthday.").unsupportedEntities, ["31m"])
        // Background the post does contain is not a hallucination.
        XCTAssertEqual(judge.breakdown(post: post, summary: "We live in Boston.").unsupportedEntities, [])
    }

    func testRepetitionIsPenalized() {
        let ref = judge.score(post: post, summary: post.reference)
        let rep = judge.breakdown(post: post, summary: post.reference + " Should I break up with him?")
        XCTAssertEqual(rep.repeatedTrigrams, 4)
        XCTAssertEqual(ref - rep.score, 4 * 0.5 + 6 * 0.02, accuracy: 1e-6)
        let stutter = judge.breakdown(post: post, summary: "My boyfriend boyfriend boyfriend boyfriend boyfriend forgot my birthday.")
        XCTAssertEqual(stutter.repeatedTrigrams, 2)
    }

    func testLengthBudget() {
        let tight = GoldJudge(lengthBudget: 10).breakdown(post: post, summary: post.reference)
        XCTAssertEqual(tight.overBudget, 7)
        XCTAssertEqual(judge.score(post: post, summary: post.reference) - tight.score, 7 * 0.15, accuracy: 1e-6)
        XCTAssertEqual(GoldJudge().lengthBudget, 30)
        XCTAssertEqual(judge.breakdown(post: post, summary: post.reference).overBudget, 0)
    }

    func testScoresStayInRange() {
        var rng = RNG(seed: 2)
        let posts = TLDRSynth(seed: 22).posts(split: .test, count: 20)
        var summaries = ["", "x", String(repeating: "Chicago wine tacos 42 ", count: 40)]
        for p in posts { summaries.append(p.reference); summaries.append(degrade(p, kind: .inventFact, rng: &rng)) }
        for p in posts {
            for s in summaries {
                let g = judge.score(post: p, summary: s)
                XCTAssertTrue(g >= -2 && g <= 4, "\(g) for \(s)")
            }
        }
    }
}
