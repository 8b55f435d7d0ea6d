import XCTest
@testable import Alignment
import Foundation
import Engine

/// The advantage estimators of the group methods against values computed by hand.
final class GroupAdvantagesTests: XCTestCase {
    // Two groups of G = 3: [1, 2, 6] (mean 3, deviations −2, −1, 3, unbiased var (4+1+9)/2 = 7)
    // and [0, 0, 0] (std 0). The batch [1, 2, 6, 0, 0, 0]: mean 1.5, Σ(x − 1.5)² = 0.25 + 0.25 +
    // 20.25 + 3·2.25 = 27.5, unbiased var 27.5/5 = 5.5.
    let rewards: [Double] = [1, 2, 6, 0, 0, 0]

    func testScaleRewardsGroup() {
        let (a, std) = GroupAdvantages.groupNormalized(rewards, groupSize: 3, scale: .group)
        let s = 7.0.squareRoot() + 1e-4
        let expected = [-2 / s, -1 / s, 3 / s, 0, 0, 0]
        for i in 0..<6 { XCTAssertEqual(a[i], expected[i], accuracy: 1e-12, "A[\(i)]") }
        XCTAssertEqual(std[0], 7.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(std[4], 0)
        // The advantages of a group sum to 0, and the std-0 group learns nothing.
        XCTAssertEqual(a[0] + a[1] + a[2], 0, accuracy: 1e-12)
    }

    func testScaleRewardsBatch() {
        let (a, std) = GroupAdvantages.groupNormalized(rewards, groupSize: 3, scale: .batch)
        let s = 5.5.squareRoot() + 1e-4
        // The mean is still the group's; only the divisor is the batch's.
        let expected = [-2 / s, -1 / s, 3 / s, 0, 0, 0]
        for i in 0..<6 { XCTAssertEqual(a[i], expected[i], accuracy: 1e-12, "A[\(i)]") }
        XCTAssertTrue(std.allSatisfy { abs($0 - 5.5.squareRoot()) < 1e-12 })
    }

    func testScaleRewardsNoneIsDrGRPO() {
        let (a, std) = GroupAdvantages.groupNormalized(rewards, groupSize: 3, scale: .none)
        XCTAssertEqual(a, [-2, -1, 3, 0, 0, 0])
        XCTAssertEqual(std[0], 7.0.squareRoot(), accuracy: 1e-12)   // still measured, for frac_reward_zero_std
    }

    func testLeaveOneOutBaseline() {
        // Group [1, 2, 6]: baselines (2+6)/2 = 4, (1+6)/2 = 3.5, (1+2)/2 = 1.5 → A = −3, −1.5, 4.5
        // (= G/(G−1) · (r − mean)); group [5, 5, 5] → 0.
        let a = GroupAdvantages.leaveOneOut([1, 2, 6, 5, 5, 5], groupSize: 3)
        XCTAssertEqual(a, [-3, -1.5, 4.5, 0, 0, 0])
        // G = 2: the baseline is the other completion's reward.
        XCTAssertEqual(GroupAdvantages.leaveOneOut([0.25, 1, 3, -1], groupSize: 2), [-0.75, 0.75, 4, -4])
        // Normalized over the batch: [−3, −1.5, 4.5, 0, 0, 0] has mean 0, unbiased var (9 + 2.25 + 20.25)/5 = 6.3.
        let n = GroupAdvantages.normalized(a)
        XCTAssertEqual(n[2], 4.5 / (6.3.squareRoot() + 1e-4), accuracy: 1e-12)
        XCTAssertEqual(n[3], 0, accuracy: 1e-12)
    }

    func testZeroStdShare() {
        XCTAssertTrue(GroupAdvantages.isZeroStd(0))
        XCTAssertTrue(GroupAdvantages.isZeroStd(1e-9))
        XCTAssertFalse(GroupAdvantages.isZeroStd(1e-6))
        XCTAssertEqual(GroupAdvantages.moments([2.0]).std, 0)
        XCTAssertEqual(GroupAdvantages.moments([1.0, 3]).std, 2.0.squareRoot(), accuracy: 1e-15)
    }

    /// A data-parallel job cuts a microbatch into the parts of its processes: the loss's normaliser
    /// over the parts is the whole microbatch's, for every loss type. Microbatch: completions of 2, 4
    /// (masked), 3 and 5 tokens, 10 loss tokens; process 0 holds the first two, process 1 the others.
    func testNormalisationOfAMicrobatchCutBetweenProcesses() {
        let lengths = [2, 4, 3, 5], active = [true, false, true, true]
        for type in GRPOLossType.allCases {
            let whole = GRPOLoss.normalization(type, lengths: lengths, active: active, maxCompletionLength: 8)
            let a = GRPOLoss.normalization(type, lengths: [2, 4], active: [true, false], maxCompletionLength: 8, microbatch: (10, true))
            let b = GRPOLoss.normalization(type, lengths: [3, 5], active: [true, true], maxCompletionLength: 8, microbatch: (10, false))
            XCTAssertEqual(a.count + b.count, whole.count, "\(type)")
            XCTAssertEqual(a.weights + b.weights, whole.weights, "\(type)")
        }
        // bnpo: each token weighs 1/10 (the whole microbatch's tokens), and the microbatch counts once.
        let b = GRPOLoss.normalization(.bnpo, lengths: [3, 5], active: [true, true], maxCompletionLength: 8, microbatch: (10, false))
        XCTAssertEqual(b.weights, [0.1, 0.1])
        XCTAssertEqual(b.count, 0)
    }
}
