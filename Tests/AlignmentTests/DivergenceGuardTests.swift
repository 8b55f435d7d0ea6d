import Engine
import Foundation
import GPT
import XCTest
@testable import Alignment

/// A stage whose loss or weights become non-finite stops with one line before its next
/// checkpoint, instead of finishing with a model that stopped learning.
final class DivergenceGuardTests: XCTestCase {
    func testThreeNonFiniteStepsInARowStopTheStage() throws {
        let model = GPT(config: GPTConfig(vocabSize: 8, context: 4, nLayer: 1, nHead: 1, nEmbd: 4), seed: 1)
        var g = DivergenceGuard(stage: "dpo", keys: ["loss", "grad_norm"])
        try g.check(step: 1, metrics: ["loss": .nan, "grad_norm": .nan], models: [model])
        try g.check(step: 2, metrics: ["loss": 0.7, "grad_norm": 1.2], models: [model])      // a finite step resets the count
        try g.check(step: 3, metrics: ["loss": 0.7, "grad_norm": .infinity], models: [model])
        try g.check(step: 4, metrics: ["loss": .nan, "grad_norm": .nan], models: [model])
        XCTAssertThrowsError(try g.check(step: 5, metrics: ["loss": .nan, "grad_norm": .nan], models: [model])) { e in
            XCTAssertEqual("\(e)", "dpo: training diverged: loss nan, grad_norm nan for 3 steps in a row up to step 5 (AdamW skipped them, the weights stopped changing); the last checkpoint is kept: lower dpo.lr (or raise dpo.eps, dpo.max_grad_norm) in the run's config.json, then rlhf resume")
        }
    }

    func testATrainerWithNonFiniteWeightsStopsBeforeItsCheckpoint() {
        let config = GPTConfig(vocabSize: 12, context: 12, nLayer: 1, nHead: 2, nEmbd: 16)
        var c = SFTConfig()
        c.steps = 5; c.batchSize = 8; c.evalEvery = 0; c.checkpointEvery = 1
        let model = GPT(config: config, seed: 1)
        let w = model.layout["h.0.mlp.c_fc.weight"]!
        model.params[w.offset + 3] = .infinity
        let t = SFTTrainer(model: model, config: c, source: ShuffledEpochs(copyTask(count: 32, seed: 2), batchSize: 8, microPerStep: 1, seed: 1),
                           valid: [], pad: 0, maxLength: 12, seed: 1)
        var checkpoints: [Int] = []
        t.hooks.checkpoint = { checkpoints.append($0) }
        XCTAssertThrowsError(try t.run()) { e in
            XCTAssertTrue(e is TrainingError, "\(type(of: e))")
            XCTAssertEqual("\(e)", "sft: training diverged at step 1: loss nan, grad_norm nan, and the weights are no longer finite (h.0.mlp.c_fc.weight element 3 is inf); the last checkpoint is kept: lower sft.lr (or raise sft.eps, sft.max_grad_norm) in the run's config.json, then rlhf resume")
        }
        XCTAssertEqual(checkpoints, [], "a diverged step must not be checkpointed")
    }
}
