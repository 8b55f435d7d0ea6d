import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

/// The checkpoint store finds its way back: the newest checkpoint that loads is restored (newer
/// damaged ones are set aside), a failed save leaves nothing half-made, a replacement killed
/// midway is undone, and a state.json that does not decode is one line naming the key and what
/// was expected.
final class CheckpointRecoveryTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ck-recovery-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func sft(steps: Int = 6) -> SFTTrainer {
        var c = SFTConfig()
        c.steps = steps; c.batchSize = 4; c.evalEvery = 0; c.checkpointEvery = 0
        let config = GPTConfig(vocabSize: 12, context: 12, nLayer: 1, nHead: 2, nEmbd: 8)
        return SFTTrainer(model: GPT(config: config, seed: 1), config: c,
                          source: ShuffledEpochs(copyTask(count: 16, seed: 2), batchSize: 4, microPerStep: 1, seed: 1),
                          valid: [], pad: 0, maxLength: 12, seed: 1)
    }

    /// Checkpoints of one SFT trainer at steps 2 and 4; returns the weights at each.
    func twoCheckpoints() throws -> [Int: [Float]] {
        let t = sft()
        var weights: [Int: [Float]] = [:]
        for step in [2, 4] {
            while t.step < step { t.trainStep() }
            try CheckpointStore.save(root: dir, step: step) { try t.save(to: $0) }
            weights[step] = t.model.params.array
        }
        return weights
    }

    func step(_ n: Int) -> URL { dir.appendingPathComponent(CheckpointStore.directoryName(n)) }

    func testTheNewestIntactCheckpointIsRestored() throws {
        let damage: [(String, (URL) throws -> Void)] = [
            ("a truncated optimizer", { try Data([0, 1]).write(to: $0.appendingPathComponent("optimizer.safetensors")) }),
            ("a state.json that is not JSON", { try "{\"step\": ".write(to: $0.appendingPathComponent("state.json"), atomically: true, encoding: .utf8) }),
            ("a missing state.json", { try FileManager.default.removeItem(at: $0.appendingPathComponent("state.json")) }),
        ]
        for (what, harm) in damage {
            try? FileManager.default.removeItem(at: dir)
            let weights = try twoCheckpoints()
            try harm(step(4))
            let t = sft()
            guard let (restored, skipped) = try CheckpointStore.restoreNewest(root: dir, restore: t.restore(from:)) else {
                XCTFail("\(what): nothing restored")
                continue
            }
            XCTAssertEqual(restored.lastPathComponent, "step-000002", what)
            XCTAssertEqual(t.step, 2, what)
            XCTAssertEqual(t.model.params.array, weights[2], "\(what): the weights are not those of step 2")
            XCTAssertEqual(skipped.map(\.directory.lastPathComponent), ["step-000004"], what)
            XCTAssertEqual(skipped.first?.movedTo?.lastPathComponent, "damaged-step-000004", what)
            XCTAssertEqual(CheckpointStore.checkpoints(root: dir).map(\.lastPathComponent), ["step-000002"], what)
        }
    }

    func testARemovedNewestCheckpointIsNotLookedFor() throws {
        let weights = try twoCheckpoints()
        try FileManager.default.removeItem(at: step(4))
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("latest"), encoding: .utf8), "step-000004\n")
        XCTAssertEqual(CheckpointStore.latest(root: dir)?.lastPathComponent, "step-000002")
        let t = sft()
        XCTAssertEqual(try CheckpointStore.restoreNewest(root: dir, restore: t.restore(from:))?.restored.lastPathComponent, "step-000002")
        XCTAssertEqual(t.model.params.array, weights[2])
        // A checkpoint published after `latest` was last written (a kill between the two) is found.
        try "step-000001\n".write(to: dir.appendingPathComponent("latest"), atomically: true, encoding: .utf8)
        XCTAssertEqual(CheckpointStore.latest(root: dir)?.lastPathComponent, "step-000002")
    }

    func testWhenNothingLoadsTheNewestErrorIsThrownAndNothingMoves() throws {
        _ = try twoCheckpoints()
        for s in [2, 4] { try Data([1, 2, 3]).write(to: step(s).appendingPathComponent("model.safetensors")) }
        XCTAssertThrowsError(try CheckpointStore.restoreNewest(root: dir, restore: sft().restore(from:))) { e in
            XCTAssertEqual("\(e)", "checkpoint \(self.step(4).path)/model.safetensors: not a safetensors file (3 bytes)")
        }
        XCTAssertEqual(CheckpointStore.checkpoints(root: dir).map(\.lastPathComponent), ["step-000004", "step-000002"])
        XCTAssertNil(try CheckpointStore.restoreNewest(root: dir.appendingPathComponent("none"), restore: { _ in XCTFail("called") }))
    }

    func testAFailedSaveLeavesNoPartialCheckpoint() throws {
        _ = try twoCheckpoints()
        struct Full: Error {}
        XCTAssertThrowsError(try CheckpointStore.save(root: dir, step: 6) { d in
            try Data([1]).write(to: d.appendingPathComponent("model.safetensors"))
            throw Full()
        })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["latest", "step-000002", "step-000004"])
        // A full disk inside the checkpoint names the file it was writing, under the checkpoint's own name.
        XCTAssertThrowsError(try CheckpointStore.save(root: dir, step: 6) { d in
            FileManager.default.createFile(atPath: d.appendingPathComponent(".optimizer.safetensors.tmp-42").path, contents: Data([1]))
            throw NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteOutOfSpace.rawValue,
                          userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
        }) { e in
            XCTAssertEqual("\(e)", "\(self.step(6).path)/optimizer.safetensors: cannot write (No space left on device)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["latest", "step-000002", "step-000004"])
    }

    func testAReplacementCutShortIsUndone() throws {
        let weights = try twoCheckpoints()
        // Killed after setting step 4 aside, before renaming its replacement into place.
        XCTAssertEqual(rename(step(4).path, dir.appendingPathComponent(".replaced-step-000004").path), 0)
        XCTAssertEqual(CheckpointStore.checkpoints(root: dir).map(\.lastPathComponent), ["step-000004", "step-000002"])
        let t = sft()
        try t.restore(from: step(4))
        XCTAssertEqual(t.model.params.array, weights[4])
        // A replacement that completes keeps one directory of that step.
        try CheckpointStore.save(root: dir, step: 4) { try t.save(to: $0) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["latest", "step-000002", "step-000004"])
    }

    // MARK: - state.json that does not decode

    func expectState(_ body: () throws -> Void, _ path: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue(e is CheckpointError, "\(type(of: e))", file: file, line: line)
            XCTAssertEqual("\(e)", "checkpoint state \(path): \(what); the checkpoint is corrupted, delete it to fall back to the previous one", file: file, line: line)
        }
    }

    /// Saves a checkpoint with `save`, replaces its state.json with `text`, returns the directory.
    func checkpoint(state text: String, save: (URL) throws -> Void) throws -> URL {
        try? FileManager.default.removeItem(at: dir)
        try CheckpointStore.save(root: dir, step: 0, write: save)
        let ck = try XCTUnwrap(CheckpointStore.latest(root: dir))
        try text.write(to: ck.appendingPathComponent("state.json"), atomically: true, encoding: .utf8)
        return ck
    }

    func testStateErrorsNameTheKeyAndWhatWasExpected() throws {
        let t = sft()
        var ck = try checkpoint(state: #"{"step": "abc", "tokensSeen": 0, "timeSpent": 0}"#) { try t.save(to: $0) }
        let path = ck.appendingPathComponent("state.json").path
        expectState({ try self.sft().restore(from: ck) }, path, "\"step\": expected an integer, found \"abc\"")
        ck = try checkpoint(state: #"{"step": 2.5, "tokensSeen": 0, "timeSpent": 0}"#) { try t.save(to: $0) }
        expectState({ try self.sft().restore(from: ck) }, path, "\"step\": expected an integer, found 2.5")
        ck = try checkpoint(state: #"{"tokensSeen": 0, "timeSpent": 0}"#) { try t.save(to: $0) }
        expectState({ try self.sft().restore(from: ck) }, path, "\"step\" is missing, expected an integer")
        ck = try checkpoint(state: #"{"step": 1, "tokensSeen": null, "timeSpent": 0}"#) { try t.save(to: $0) }
        expectState({ try self.sft().restore(from: ck) }, path, "\"tokensSeen\": expected a number, found null")
        ck = try checkpoint(state: #"[1, 2]"#) { try t.save(to: $0) }
        expectState({ try self.sft().restore(from: ck) }, path, "expected a JSON object, found an array")
        ck = try checkpoint(state: #"{"step": "#) { try t.save(to: $0) }
        expectState({ try self.sft().restore(from: ck) }, path, "not valid JSON")
    }

    func testANestedStateKeyIsNamedByItsPath() throws {
        var c = PPOFixtures.ppoConfig()
        c.iterations = 4
        let t = PPOFixtures.trainer(c)
        try CheckpointStore.save(root: dir, step: 0) { try t.save(to: $0) }
        let url = try XCTUnwrap(CheckpointStore.latest(root: dir)).appendingPathComponent("state.json")
        var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var kl = obj["kl_controller"] as! [String: Any]
        kl["value"] = "high"
        obj["kl_controller"] = kl
        try JSONSerialization.data(withJSONObject: obj).write(to: url)
        expectState({ try PPOFixtures.trainer(c).restore(from: url.deletingLastPathComponent()) }, url.path,
                    "\"kl_controller.value\": expected a number, found \"high\"")
    }
}
