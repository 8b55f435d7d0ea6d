import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

final class BestOfNTests: XCTestCase {
    func testAnalyticBound() {
        XCTAssertEqual(BestOfN.klBound(n: 1), 0)
        XCTAssertEqual(BestOfN.klBound(n: 2), log(2) - 0.5, accuracy: 1e-15)
        XCTAssertEqual(BestOfN.klBound(n: 4), log(4) - 0.75, accuracy: 1e-15)
        XCTAssertEqual(BestOfN.klBound(n: 16), log(16) - 15.0 / 16, accuracy: 1e-15)
    }

    func testPlugInEstimateByHand() {
        // All N samples score alike (a deterministic policy): best-of-N is the policy, KL 0.
        XCTAssertEqual(BestOfN.klPlugIn(scores: [2, 2, 2, 2]), 0)
        XCTAssertEqual(BestOfN.klPlugIn(scores: [5]), 0)
        // N = 2 distinct: levels of mass ½ each; P = (¼, ¾): ¼·log(½) + ¾·log(3/2).
        XCTAssertEqual(BestOfN.klPlugIn(scores: [0.3, -1]), 0.25 * log(0.5) + 0.75 * log(1.5), accuracy: 1e-12)
        // N = 3, scores [1, 1, 2]: level 1 has mass ⅔, P₁ = (⅔)³ = 8/27; level 2 has ⅓, P₂ = 19/27.
        let expected = 8.0 / 27 * log((8.0 / 27) / (2.0 / 3)) + 19.0 / 27 * log((19.0 / 27) / (1.0 / 3))
        XCTAssertEqual(BestOfN.klPlugIn(scores: [1, 2, 1]), expected, accuracy: 1e-12)
        // Distinct scores: below the bound (the plug-in's downward bias), and never negative.
        for n in [2, 4, 8] {
            let e = BestOfN.klPlugIn(scores: (0..<n).map(Float.init))
            XCTAssertLessThan(e, BestOfN.klBound(n: n))
            XCTAssertGreaterThan(e, 0)
        }
    }

    func testSelection() {
        XCTAssertEqual(BestOfN.select([0.1, 0.5, -2, 0.5]), 1, "the first of equal best scores")
        XCTAssertEqual(BestOfN.select([3]), 0)
        XCTAssertEqual(BestOfN.select([.nan, 1, 0]), 1)
    }

    func testRunKeepsTheBestOnItsOwnStreams() {
        var c = BestOfNConfig()
        c.n = 4
        c.maxCompletionLength = 10
        c.temperature = 0.9
        c.stopToken = PPOFixtures.eos
        let prompts = PPOFixtures.prompts(count: 5, seed: 3)
        let a = BestOfN.run(policy: PPOFixtures.sft, prompts: prompts, reward: CountReward(), config: c, seed: 7, batch: 3)
        let b = BestOfN.run(policy: PPOFixtures.sft, prompts: prompts, reward: CountReward(), config: c, seed: 7, batch: 64)
        XCTAssertEqual(a, b, "the generator's batch does not change any completion")
        XCTAssertEqual(a.count, 5)
        for r in a {
            XCTAssertEqual(r.completions.count, 4)
            XCTAssertEqual(r.bestScore, r.scores.max())
            XCTAssertEqual(r.scores, r.completions.map { min(Float($0.filter { $0 == 3 }.count), 4) })
            XCTAssertEqual(r.klBound, log(4) - 0.75, accuracy: 1e-15)
            XCTAssertEqual(r.klEstimate, BestOfN.klPlugIn(scores: r.scores))
            XCTAssertLessThanOrEqual(r.klEstimate, r.klBound + 1e-12)
        }
        XCTAssertNotEqual(Set(a.flatMap(\.completions)).count, 1, "samples differ")
        // A near-greedy policy: all N samples are the same completion, the estimate is 0 while the bound is not.
        c.temperature = 1e-4
        for r in BestOfN.run(policy: PPOFixtures.sft, prompts: prompts, reward: CountReward(), config: c, seed: 7) {
            XCTAssertEqual(Set(r.completions).count, 1)
            XCTAssertEqual(r.klEstimate, 0)
        }
    }

}
