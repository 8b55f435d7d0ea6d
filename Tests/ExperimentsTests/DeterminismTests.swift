import Foundation
import XCTest
@testable import Experiments

/// A run gives the same bits with any `threads` setting: every stage's model and the evaluation
/// are byte for byte those of a one-thread run.
final class DeterminismTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("det-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        stopRequested = 0
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testEveryStageGivesTheSameBitsAtOneAndTwoThreads() throws {
        let path = dir.appendingPathComponent("micro.json").path
        try PipelineTests.micro.write(toFile: path, atomically: true, encoding: .utf8)
        for threads in [1, 2] {
            let cfg = try ExperimentConfig.load(path: path, overrides: ["threads=\(threads)"])
            try Lab.runExperiment(cfg, dir: dir.appendingPathComponent("t\(threads)"))
        }
        for f in ["models/pretrain.safetensors", "models/sft.safetensors", "models/reward_model.safetensors",
                  "models/ppo.safetensors", "models/dpo.safetensors", "eval.json", "data/preferences_train.jsonl"] {
            let one = try Data(contentsOf: dir.appendingPathComponent("t1/" + f)), two = try Data(contentsOf: dir.appendingPathComponent("t2/" + f))
            XCTAssertEqual(one, two, "\(f) differs between threads 1 and 2")
        }
    }
}
