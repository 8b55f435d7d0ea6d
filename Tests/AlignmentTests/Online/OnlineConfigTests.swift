import XCTest
@testable import Alignment
import Foundation

/// Each config's `problems()`: the key and the one-line message the runner shows.
final class OnlineConfigTests: XCTestCase {
    func messages(_ p: [(key: String, message: String)]) -> [String] { p.map { "\($0.key): \($0.message)" } }

    func testDefaultsAreUsable() {
        XCTAssertTrue(GRPOConfig().problems().isEmpty)
        XCTAssertTrue(RLOOConfig().problems().isEmpty)
        XCTAssertTrue(OnlineDPOConfig().problems().isEmpty)
        XCTAssertTrue(BestOfNConfig().problems().isEmpty)
    }

    func testGRPOProblems() {
        var c = GRPOConfig()
        c.numGenerations = 1
        XCTAssertEqual(messages(c.problems()), ["num_generations: expected an integer ≥ 2 (a group needs at least two completions to compare), found 1"])
        c = GRPOConfig()
        c.epsilonHigh = 0.1
        XCTAssertEqual(messages(c.problems()), ["epsilon_high: epsilon_high (0.1) must be at least epsilon (0.2); leave it null to use epsilon"])
        c = GRPOConfig()
        c.batchSize = 3
        c.numGenerations = 4
        c.gradAccum = 5
        XCTAssertEqual(messages(c.problems()), ["grad_accum: batch_size × num_generations (3 × 4 = 12 completions) must be divisible by grad_accum (5)"])
        c = GRPOConfig()
        c.beta = -0.1
        c.epsilon = 1.5
        c.temperature = 0
        c.numIterations = 0
        c.steps = 0
        c.lr = 0
        c.maxCompletionLength = 0
        c.checkpointEvery = -1
        c.missingEOSPenalty = .infinity
        XCTAssertEqual(messages(c.problems()), [
            "steps: expected an integer ≥ 1, found 0",
            "num_iterations: expected an integer ≥ 1, found 0",
            "max_completion_length: expected an integer ≥ 1, found 0",
            "temperature: expected a number > 0, found 0.0",
            "missing_eos_penalty: expected a finite number or null, found inf",
            "beta: expected a number ≥ 0, found -0.1",
            "epsilon: expected a number in (0, 1), found 1.5",
            "lr: expected a number > 0, found 0.0",
            "checkpoint_every: expected an integer ≥ 0, found -1",
        ])
        c = GRPOConfig()
        c.beta = 0
        c.epsilonHigh = 0.28
        XCTAssertTrue(c.problems().isEmpty, "β = 0 and DAPO's clip-higher are allowed")
    }

    func testRLOOProblems() {
        var c = RLOOConfig()
        c.numGenerations = 1
        c.epsilonHigh = 0.1
        XCTAssertEqual(c.problems().map(\.key), ["num_generations", "epsilon_high"])
        c = RLOOConfig()
        c.batchSize = 5
        c.gradAccum = 4
        XCTAssertEqual(messages(c.problems()), ["grad_accum: batch_size × num_generations (5 × 2 = 10 completions) must be divisible by grad_accum (4)"])
    }

    func testOnlineDPOProblems() {
        var c = OnlineDPOConfig()
        c.batchSize = 6
        c.gradAccum = 4
        c.beta = 0
        XCTAssertEqual(messages(c.problems()), [
            "grad_accum: batch_size (6 prompts) must be divisible by grad_accum (4)",
            "beta: expected a number > 0, found 0.0",
        ])
    }

    func testJSONKeysAndDefaults() throws {
        let json = #"{"num_generations": 4, "epsilon_high": 0.28, "scale_rewards": "none", "loss_type": "dr_grpo", "mask_truncated_completions": true, "beta": 0, "grad_accum": 2}"#
        let g = try JSONDecoder().decode(GRPOConfig.self, from: Data(json.utf8))
        XCTAssertEqual(g.numGenerations, 4)
        XCTAssertEqual(g.upperEpsilon, 0.28)
        XCTAssertEqual(g.scaleRewards, .none)
        XCTAssertEqual(g.lossType, .drGRPO)
        XCTAssertTrue(g.maskTruncatedCompletions)
        XCTAssertEqual(g.beta, 0)
        XCTAssertEqual(g.epsilon, 0.2)       // default kept
        XCTAssertEqual(try JSONDecoder().decode(GRPOConfig.self, from: try JSONEncoder().encode(g)), g)
        XCTAssertEqual(GRPOConfig().lossType, .dapo, "TRL's default")
        XCTAssertNil(GRPOConfig().epsilonHigh)
        XCTAssertEqual(GRPOConfig().upperEpsilon, 0.2)

        let r = try JSONDecoder().decode(RLOOConfig.self, from: Data(#"{"normalize_advantages": true, "kl_estimator": "k3", "num_generations": 4}"#.utf8))
        XCTAssertTrue(r.normalizeAdvantages)
        XCTAssertEqual(r.klEstimator, .k3)
        XCTAssertEqual(try JSONDecoder().decode(RLOOConfig.self, from: try JSONEncoder().encode(r)), r)
        XCTAssertEqual(RLOOConfig().numGenerations, 2)
        XCTAssertEqual(RLOOConfig().beta, 0.05)

        let o = try JSONDecoder().decode(OnlineDPOConfig.self, from: Data(#"{"loss_type": "ipo", "beta": 0.2}"#.utf8))
        XCTAssertEqual(o.lossType, .ipo)
        XCTAssertEqual(o.dpo.beta, 0.2)
        XCTAssertEqual(try JSONDecoder().decode(OnlineDPOConfig.self, from: try JSONEncoder().encode(o)), o)

        let b = try JSONDecoder().decode(BestOfNConfig.self, from: Data(#"{"n": 16}"#.utf8))
        XCTAssertEqual(b.n, 16)
    }
}
