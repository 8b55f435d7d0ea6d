import XCTest
@testable import Experiments

/// The statistics of rlhf compare's verdicts against values computed by hand.
final class VerdictsTests: XCTestCase {
    typealias U = Verdicts.Unit

    func testMeanAcrossSeedsWithItsTInterval() {
        // Seed means 0.5, 0.7, 0.6 (two prompts each): mean 0.6, sd 0.1, t(0.975, 2) = 4.303.
        let v: [U: Double] = [U(seed: 1, prompt: 0): 0.5, U(seed: 1, prompt: 1): 0.5, U(seed: 2, prompt: 0): 1, U(seed: 2, prompt: 1): 0.4,
                              U(seed: 3, prompt: 0): 0.6, U(seed: 3, prompt: 1): 0.6]
        let a = Verdicts.acrossSeeds(v)
        XCTAssertEqual(a.mean, 0.6, accuracy: 1e-12)
        XCTAssertEqual(a.halfWidth!, 4.303 * 0.1 / 3.0.squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(a.seeds, 3)
        XCTAssertNil(Verdicts.acrossSeeds([U(seed: 1, prompt: 0): 1]).halfWidth)
    }

    func testPairedDifferenceAndItsBootstrapInterval() {
        // A constant difference: the interval is that point, and it is resolved.
        var a: [U: Double] = [:], b: [U: Double] = [:]
        for s in 1...3 { for p in 0..<20 { a[U(seed: UInt64(s), prompt: p)] = Double(p % 3) + 0.1; b[U(seed: UInt64(s), prompt: p)] = Double(p % 3) } }
        let d = Verdicts.paired(a, b)!
        XCTAssertEqual(d.mean, 0.1, accuracy: 1e-12)
        XCTAssertEqual(d.low, 0.1, accuracy: 1e-12)
        XCTAssertEqual(d.high, 0.1, accuracy: 1e-12)
        XCTAssertTrue(d.resolved)
        XCTAssertEqual(d.units, 60)
        XCTAssertEqual(d.perSeed.count, 3)
        // One seed, differences {0, 1}: resample means are 0, ½, 1 with probabilities ¼, ½, ¼, so
        // the 2.5% and 97.5% quantiles are 0 and 1: not resolved.
        let x: [U: Double] = [U(seed: 7, prompt: 0): 1, U(seed: 7, prompt: 1): 2], y: [U: Double] = [U(seed: 7, prompt: 0): 1, U(seed: 7, prompt: 1): 1]
        let e = Verdicts.paired(x, y)!
        XCTAssertEqual(e.mean, 0.5)
        XCTAssertEqual(e.low, 0)
        XCTAssertEqual(e.high, 1)
        XCTAssertFalse(e.resolved)
        // Only shared units are paired; none shared: no verdict.
        XCTAssertNil(Verdicts.paired([U(seed: 1, prompt: 0): 1], [U(seed: 2, prompt: 0): 1]))
        // The same inputs give the same interval.
        XCTAssertEqual(Verdicts.paired(a, b), Verdicts.paired(a, b))
    }

    func testVerdictLine() {
        let p = Verdicts.Paired(mean: 0.031, low: -0.012, high: 0.072, perSeed: [0.01, 0.02, 0.06], units: 600)
        XCTAssertEqual(Verdicts.line("DPO − PPO at T=0", p),
                       "DPO − PPO at T=0: +0.031 [−0.012, +0.072], not resolved (3 seeds: +0.010, +0.020, +0.060)")
        let q = Verdicts.Paired(mean: -0.2, low: -0.3, high: -0.1, perSeed: [-0.2], units: 200)
        XCTAssertEqual(Verdicts.line("PPO − SFT at T=1", q, digits: 2), "PPO − SFT at T=1: −0.20 [−0.30, −0.10], resolved (1 seed)")
    }
}

final class RunLabelTests: XCTestCase {
    func testRunsAreToldApartEvenWithTheSameName() {
        let runs = [URL(fileURLWithPath: "/x/a/quickstart"), URL(fileURLWithPath: "/x/b/quickstart"), URL(fileURLWithPath: "/x/paper-dpo")]
        XCTAssertEqual(PairedComparison.labels(runs), ["a/quickstart", "b/quickstart", "paper-dpo"])
        XCTAssertEqual(PairedComparison.labels([URL(fileURLWithPath: "/r/one")]), ["one"])
    }
}
