import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

/// A checkpoint's state.json with a step counter out of range (negative, or past the configured
/// total) is reported as a one-line CheckpointError naming the file, before any batch indexes
/// with it (a negative step used to trap in the batch sources and PPO's prompt order).
final class ResumeStateValidationTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("resume-state-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// Saves a checkpoint with `save`, sets `key` in its state.json to `value`, returns the directory.
    func checkpoint(key: String, value: Int, save: (URL) throws -> Void) throws -> URL {
        try CheckpointStore.save(root: dir, step: 0, write: save)
        let ck = CheckpointStore.latest(root: dir)!
        let url = ck.appendingPathComponent("state.json")
        var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        XCTAssertNotNil(obj[key], "state.json has no \(key)")
        obj[key] = value
        try JSONSerialization.data(withJSONObject: obj).write(to: url)
        return ck
    }

    func expectError(_ body: () throws -> Void, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue(e is CheckpointError, "\(type(of: e))", file: file, line: line)
            XCTAssertEqual("\(e)", message, file: file, line: line)
        }
    }

    func negative(_ path: String, _ key: String, _ value: Int, _ total: Int, _ name: String) -> String {
        "checkpoint state \(path): \"\(key)\" is \(value), expected an integer in 0...\(total) (\(name)); the checkpoint is corrupted, delete it to fall back to the previous one"
    }

    func beyond(_ path: String, _ key: String, _ value: Int, _ total: Int, _ name: String) -> String {
        "checkpoint state \(path): \"\(key)\" is \(value), beyond the configured \(name) (\(total)); set \(name) in the run's config.json back to at least \(value), or delete the checkpoint to fall back to the previous one"
    }

    func testSFTStepOutOfRange() throws {
        func trainer() -> SFTTrainer {
            var c = SFTConfig()
            c.steps = 5; c.batchSize = 4; c.evalEvery = 0; c.checkpointEvery = 0
            let config = GPTConfig(vocabSize: 12, context: 12, nLayer: 1, nHead: 2, nEmbd: 8)
            return SFTTrainer(model: GPT(config: config, seed: 1), config: c,
                              source: ShuffledEpochs(copyTask(count: 16, seed: 2), batchSize: 4, microPerStep: 1, seed: 1),
                              valid: [], pad: 0, maxLength: 12, seed: 1)
        }
        let t = trainer()
        var ck = try checkpoint(key: "step", value: -3) { try t.save(to: $0) }
        let path = ck.appendingPathComponent("state.json").path
        let second = trainer()
        expectError({ try second.restore(from: ck) }, negative(path, "step", -3, 5, "sft.steps"))
        XCTAssertEqual(second.step, 0)
        ck = try checkpoint(key: "step", value: 6) { try t.save(to: $0) }
        expectError({ try trainer().restore(from: ck) }, beyond(path, "step", 6, 5, "sft.steps"))
        // In range (the last step included) is accepted.
        ck = try checkpoint(key: "step", value: 5) { try t.save(to: $0) }
        let third = trainer()
        try third.restore(from: ck)
        XCTAssertEqual(third.step, 5)
    }

    func testDPOStepOutOfRange() throws {
        func trainer() -> DPOTrainer {
            let c = DPOToy.dpoConfig(steps: 4, batchSize: 4)
            let p = DPOToy.randomModel(seed: 11, scale: 0.1)
            return DPOTrainer(policy: p, reference: GPT(copying: p), config: c, train: DPOToy.pairs(count: 8, seed: 21, lengths: 3...5),
                              valid: [], pad: DPOToy.pad, seed: 5)
        }
        let t = trainer()
        var ck = try checkpoint(key: "step", value: -1) { try t.save(to: $0) }
        let path = ck.appendingPathComponent("state.json").path
        expectError({ try trainer().restore(from: ck) }, negative(path, "step", -1, 4, "dpo.steps"))
        ck = try checkpoint(key: "step", value: Int(Int32.max)) { try t.save(to: $0) }
        expectError({ try trainer().restore(from: ck) }, beyond(path, "step", Int(Int32.max), 4, "dpo.steps"))
    }

    func testRewardModelStepOutOfRange() throws {
        let t = rmMakeTrainer(steps: 3)
        var ck = try checkpoint(key: "step", value: -7) { try t.save(to: $0) }
        let path = ck.appendingPathComponent("state.json").path
        expectError({ try rmMakeTrainer(steps: 3).restore(from: ck) }, negative(path, "step", -7, 3, "reward_model.steps"))
        ck = try checkpoint(key: "step", value: 4) { try t.save(to: $0) }
        expectError({ try rmMakeTrainer(steps: 3).restore(from: ck) }, beyond(path, "step", 4, 3, "reward_model.steps"))
    }

    func testPPOIterationOutOfRange() throws {
        var c = PPOFixtures.ppoConfig()
        c.iterations = 4
        let t = PPOFixtures.trainer(c)
        var ck = try checkpoint(key: "iteration", value: -2) { try t.save(to: $0) }
        let path = ck.appendingPathComponent("state.json").path
        expectError({ try PPOFixtures.trainer(c).restore(from: ck) }, negative(path, "iteration", -2, 4, "ppo.steps"))
        ck = try checkpoint(key: "iteration", value: 5) { try t.save(to: $0) }
        expectError({ try PPOFixtures.trainer(c).restore(from: ck) }, beyond(path, "iteration", 5, 4, "ppo.steps"))
    }
}
