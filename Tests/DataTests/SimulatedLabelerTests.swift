import Engine
import XCTest
@testable import Data

final class SimulatedLabelerTests: XCTestCase {
    func testAgreementRateAtDefaultTemperature() {
        let posts = TLDRSynth(seed: 11).posts(split: .valid, count: 150)
        var rng = RNG(seed: 11)
        let pairs = SimulatedLabeler.typicalPairs(posts: posts, rng: &rng)
        let labeler = SimulatedLabeler()
        XCTAssertEqual(labeler.temperature, SimulatedLabeler.defaultTemperature)
        let rate = labeler.agreementRate(pairs: pairs, rng: &rng)
        print("labeler agreement at T = \(labeler.temperature): sampled \(rate), expected \(labeler.expectedAgreement(pairs: pairs))")
        XCTAssertTrue((0.70...0.82).contains(rate), "agreement \(rate)")
        XCTAssertTrue((0.70...0.82).contains(labeler.expectedAgreement(pairs: pairs)))
        // A near-zero temperature follows the gold ordering; a huge one flips coins.
        XCTAssertEqual(SimulatedLabeler(temperature: 1e-6).agreementRate(pairs: pairs, rng: &rng), 1)
        XCTAssertEqual(SimulatedLabeler(temperature: 1e6).expectedAgreement(pairs: pairs), 0.5, accuracy: 1e-3)
    }

    func testCalibratedTemperatureHitsTarget() {
        let posts = TLDRSynth(seed: 12).posts(split: .train, count: 80)
        var rng = RNG(seed: 12)
        let pairs = SimulatedLabeler.typicalPairs(posts: posts, rng: &rng)
        for target in [0.65, 0.75, 0.9] {
            let t = SimulatedLabeler.calibratedTemperature(pairs: pairs, target: target)
            XCTAssertEqual(SimulatedLabeler(temperature: t).expectedAgreement(pairs: pairs), target, accuracy: 1e-3)
        }
        let t75 = SimulatedLabeler.calibratedTemperature(pairs: pairs)
        XCTAssertEqual(t75, SimulatedLabeler.defaultTemperature, accuracy: 0.3)
    }

    func testBradleyTerry() {
        let p = TLDRSynth(seed: 13).post(index: 0, split: .train)
        let labeler = SimulatedLabeler(temperature: 0.5)
        let judge = GoldJudge()
        let a = p.reference, b = "Something else entirely about tacos."
        let pa = labeler.probabilityFirst(post: p, a, b)
        let expected = 1 / (1 + exp(-(judge.score(post: p, summary: a) - judge.score(post: p, summary: b)) / 0.5))
        XCTAssertEqual(pa, expected, accuracy: 1e-12)
        XCTAssertEqual(pa + labeler.probabilityFirst(post: p, b, a), 1, accuracy: 1e-12)
        XCTAssertEqual(labeler.probabilityFirst(post: p, a, a), 0.5)
        // One draw per decision, and the decision is the draw compared with P(a ≻ b).
        var r1 = RNG(seed: 5), r2 = RNG(seed: 5)
        let first = labeler.prefersFirst(post: p, a, b, rng: &r1)
        XCTAssertEqual(first, r2.uniformDouble() < pa)
        XCTAssertEqual(r1, r2)
    }

    func testReferencePairs() {
        let posts = TLDRSynth(seed: 14).posts(split: .train, count: 60)
        var rng = RNG(seed: 14)
        let pairs = referencePairs(posts: posts, rng: &rng)
        var again = RNG(seed: 14)
        XCTAssertEqual(pairs, referencePairs(posts: posts, rng: &again))
        XCTAssertEqual(pairs.count, 60)
        var refChosen = 0
        for (pair, post) in zip(pairs, posts) {
            XCTAssertEqual(pair.prompt, post.query)
            XCTAssertTrue(pair.chosen.hasPrefix(" ") && pair.rejected.hasPrefix(" "))
            XCTAssertNotEqual(pair.chosen, pair.rejected)
            XCTAssertTrue(pair.chosen == " " + post.reference || pair.rejected == " " + post.reference)
            if pair.chosen == " " + post.reference { refChosen += 1 }
        }
        XCTAssertTrue((40...59).contains(refChosen), "reference chosen in \(refChosen) of 60")
    }
}
