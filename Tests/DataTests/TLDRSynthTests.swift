import Engine
import XCTest
@testable import Data

final class TLDRSynthTests: XCTestCase {
    func testSameSeedGivesSamePosts() {
        let a = TLDRSynth(seed: 3).posts(split: .train, count: 12)
        let b = TLDRSynth(seed: 3).posts(split: .train, count: 12)
        XCTAssertEqual(a, b)
        // A pure function of (seed, split, index): asking for one post alone gives the same post.
        XCTAssertEqual(TLDRSynth(seed: 3).post(index: 7, split: .train), a[7])
    }

    func testDifferentSeedsAndSplitsDiffer() {
        let s = TLDRSynth(seed: 3)
        let train = s.posts(split: .train, count: 30), valid = s.posts(split: .valid, count: 30)
        let test = s.posts(split: .test, count: 30)
        let other = TLDRSynth(seed: 4).posts(split: .train, count: 30)
        XCTAssertTrue(Set(train.map(\.body)).isDisjoint(with: valid.map(\.body)))
        XCTAssertTrue(Set(train.map(\.body)).isDisjoint(with: test.map(\.body)))
        XCTAssertTrue(Set(valid.map(\.body)).isDisjoint(with: test.map(\.body)))
        XCTAssertTrue(Set(train.map(\.body)).isDisjoint(with: other.map(\.body)))
        XCTAssertTrue(Set(train.map(\.id)).isDisjoint(with: valid.map(\.id)))
    }

    func testPostShapeAndFacts() {
        let posts = TLDRSynth(seed: 1).posts(split: .train, count: 150)
        for p in posts {
            let bodyWords = Text.wordCount(p.body), refWords = Text.wordCount(p.reference)
            XCTAssertTrue((40...110).contains(bodyWords), "body of \(bodyWords) words: \(p.body)")
            XCTAssertTrue((6...28).contains(refWords), "reference of \(refWords) words: \(p.reference)")
            XCTAssertEqual(p.facts.map(\.kind), [.who, .event, .problem, .question])
            for f in p.facts {
                // Each canonical phrase satisfies its own keywords; no fact's keyword is satisfied by
                // another fact's phrase (except who inside the event), so facts are counted apart.
                XCTAssertTrue(f.isExpressed(inStems: Set(Text.stems(f.phrase))), "\(f)")
                for g in p.facts where g != f && !(f.kind == .who && g.kind == .event) {
                    XCTAssertFalse(f.isExpressed(inStems: Set(Text.stems(g.phrase))), "\(f.kind) in \(g.phrase)")
                }
            }
            XCTAssertFalse(p.title.isEmpty)
            XCTAssertFalse(p.subreddit.isEmpty)
        }
    }

    func testGoodSummaryExpressesEveryFactWithoutHallucination() {
        let judge = GoldJudge()
        var rng = RNG(seed: 8)
        for p in TLDRSynth(seed: 2).posts(split: .valid, count: 60) {
            let s = composeSummary(p, quality: .good, rng: &rng)
            let b = judge.breakdown(post: p, summary: s)
            XCTAssertEqual(b.factsMissing, [], s)
            XCTAssertEqual(b.unsupportedEntities + b.unsupportedWords, [], s)
            XCTAssertEqual(b.repeatedTrigrams, 0, s)
            XCTAssertFalse(b.endsMidSentence, s)
        }
    }

    func testReferencesHaveVariedQuality() {
        let judge = GoldJudge()
        let posts = TLDRSynth(seed: 5).posts(split: .train, count: 300)
        let breakdowns = posts.map { judge.breakdown(post: $0, summary: $0.reference) }
        let complete = breakdowns.filter { $0.factsMissing.isEmpty }.count
        let missing = breakdowns.filter { !$0.factsMissing.isEmpty }.count
        let wordy = posts.filter { ["Long story short", "Basically", "So basically", "Any advice would be appreciated"]
            .contains(where: $0.reference.contains) }.count
        // 40% good, 40% missing a fact, 20% wordy (a few missing-fact draws have nothing to drop).
        XCTAssertTrue((150...210).contains(complete), "complete \(complete)")
        XCTAssertTrue((90...150).contains(missing), "missing \(missing)")
        XCTAssertTrue((35...95).contains(wordy), "wordy \(wordy)")
        XCTAssertTrue(breakdowns.allSatisfy { $0.unsupportedEntities.isEmpty && $0.unsupportedWords.isEmpty })
    }

    func testPostsVaryAndTitlesRarelyGiveTheSummaryAway() {
        let posts = TLDRSynth(seed: 6).posts(split: .train, count: 200)
        XCTAssertGreaterThan(Set(posts.map { $0.fact(.event)!.phrase }).count, 40)
        XCTAssertGreaterThan(Set(posts.map { $0.fact(.problem)!.phrase }).count, 15)
        XCTAssertGreaterThan(Set(posts.map { $0.fact(.question)!.phrase }).count, 12)
        XCTAssertGreaterThan(Set(posts.map(\.subreddit)).count, 8)
        // Key facts sit among filler at varying positions: the event sentence is not always second.
        let firstSentences = Set(posts.map { Text.sentences($0.body.components(separatedBy: "\n")[0])[0] })
        XCTAssertGreaterThan(firstSentences.count, 60)
        let giveaway = posts.filter { p in
            let stems = Set(Text.stems(p.title))
            return p.facts.filter { $0.isExpressed(inStems: stems) }.count >= 3
        }.count
        XCTAssertLessThan(giveaway, 20)
    }

    func testVocabularyIsModerate() {
        var vocab = Set<String>()
        for p in TLDRSynth(seed: 7).posts(split: .train, count: 300) {
            vocab.formUnion(Text.words(p.title + " " + p.body + " " + p.reference))
        }
        XCTAssertTrue((250...800).contains(vocab.count), "\(vocab.count) distinct words")
    }

    func testCorpus() {
        let s = TLDRSynth(seed: 9)
        let docs = s.corpus(posts: 8)
        XCTAssertEqual(docs, s.corpus(posts: 8))
        XCTAssertEqual(docs.count, 10)   // 8 posts + a filler paragraph after every fourth
        XCTAssertTrue(docs.allSatisfy { Text.wordCount($0) >= 10 })
        XCTAssertTrue(docs.contains { $0.contains("TL;DR: ") })
        // Pretraining documents come from their own stream, not from the train split.
        let trainBodies = Set(s.posts(split: .train, count: 8).map(\.body))
        XCTAssertFalse(docs.contains { d in trainBodies.contains { d.contains($0) } })
        // Held-out documents continue the stream past the trained ones (pretraining's validation text).
        let more = s.corpus(postRange: 8..<12)
        XCTAssertEqual(docs + more, s.corpus(posts: 12))
        XCTAssertTrue(Set(more).isDisjoint(with: Set(docs)))
    }

    func testArticlesAndPronouns() {
        XCTAssertEqual(Generator.fixingArticles("I work as a engineer at a office for a 8 year old."),
                       "I work as an engineer at an office for an 8 year old.")
        let p = Post(id: "x", subreddit: "jobs", title: "t",
                     body: "I (30M) need some advice about my boss (45F). She took credit for a report I spent weeks on.",
                     facts: [Fact(kind: .who, phrase: "my boss", keywords: ["boss"]),
                             Fact(kind: .event, phrase: "my boss took credit for my work", keywords: ["credit"])],
                     reference: "")
        XCTAssertEqual(Generator.replacingWho(in: "Basically my boss took credit for my work.", post: p),
                       "Basically she took credit for my work.")
        XCTAssertEqual(Generator.replacingWho(in: "I lied to my boss.", post: p), "I lied to her.")
    }
}
