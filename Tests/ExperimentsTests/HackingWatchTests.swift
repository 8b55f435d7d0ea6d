import XCTest
@testable import Experiments

/// The reward-hacking warnings on series whose turning points are known.
final class HackingWatchTests: XCTestCase {
    func testEachWarningFiresOnceWhereItsSignAppears() {
        var w = HackingWatch()
        let kl = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0, 1.6, 2.4, 3.4, 4.0]
        let entropy = [2.0, 1.9, 1.8, 1.6, 1.4, 1.2, 0.9, 0.8, 0.7, 0.6, 0.5]
        let length = [20.0, 21, 22, 31, 32, 33, 34, 35, 36, 37, 38]
        let reward = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]
        let judge = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
        var lines: [String] = []
        for i in kl.indices {
            lines += w.observe(step: i + 1, kl: kl[i], entropy: entropy[i], length: length[i], reward: reward[i], judge: judge[i])
        }
        // The judge turns down after step 6; by step 9 the last five judge scores fall while the
        // rewards rise, beyond both fits' noise.
        XCTAssertEqual(w.fired.map(\.name), ["length_drifting", "entropy_collapsing", "reward_judge_diverging", "kl_accelerating"])
        XCTAssertEqual(w.fired.map(\.step), [4, 7, 9, 10])
        XCTAssertEqual(w.judgePeakStep, 6)
        XCTAssertEqual(w.summary["watch/kl_accelerating_step"], 10)
        XCTAssertEqual(w.summary["watch/judge_peak_step"], 6)
        XCTAssertEqual(lines.first, "length_drifting at step 4: mean response length 31.0 against 20.0 at the start")
        XCTAssertEqual(lines[3], "kl_accelerating at step 10: KL rose by 2.80 over the last 5 iterations, 0.40 over the 5 before (now 3.40)")
    }

    func testNoWarningOnASteadyRunOrWithoutAJudge() {
        var w = HackingWatch()
        for i in 0..<20 {
            // Slow, even KL growth, stable entropy and length; rising reward and judge alike.
            let x = Double(i)
            _ = w.observe(step: i + 1, kl: 0.05 * x, entropy: 2 - 0.01 * x, length: 20 + 0.1 * x, reward: 0.1 * x, judge: 0.05 * x)
        }
        XCTAssertTrue(w.fired.isEmpty, "\(w.fired)")
        var noJudge = HackingWatch()
        for i in 0..<10 { _ = noJudge.observe(step: i + 1, kl: nil, entropy: nil, length: nil, reward: Double(i), judge: nil) }
        XCTAssertTrue(noJudge.fired.isEmpty)
        XCTAssertNil(noJudge.judgePeakStep)
    }

    func testSlopeAndItsNoise() {
        let (b, se) = HackingWatch.slope([1, 3, 5, 7])
        XCTAssertEqual(b, 2, accuracy: 1e-12)
        XCTAssertEqual(se, 0, accuracy: 1e-12)
        let (b2, se2) = HackingWatch.slope([0, 1, 0, 1, 0])
        XCTAssertEqual(b2, 0, accuracy: 1e-12)
        XCTAssertGreaterThan(se2, 0)
    }
}
