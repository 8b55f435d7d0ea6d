import Foundation
import GPT
import JSON
import XCTest
@testable import Experiments

/// `rlhf verify`: a stage run again from its oldest checkpoint (or its start) gives the run's own
/// weights and metrics; a changed weight or metric is found and named; bad input is one line.
final class VerifyTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        stopRequested = 0
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// The micro pipeline without pretraining and evaluation: checkpoints of sft at steps 3 and 6,
    /// of reward_model at 2 and 4, of ppo at 1 and 2, of dpo only at its last step (3).
    func tinyRun() throws -> URL {
        let text = PipelineTests.micro.replacingOccurrences(of: #""name": "micro", "seed": 3, "threads": 2,"#,
            with: #""name": "micro", "seed": 3, "threads": 2, "stages": ["tokenizer", "sft", "preferences", "reward_model", "ppo", "dpo"],"#)
        XCTAssertNotEqual(text, PipelineTests.micro)
        let path = dir.appendingPathComponent("micro.json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let run = dir.appendingPathComponent("run")
        try Lab.runExperiment(try ExperimentConfig.load(path: path), dir: run)
        return run
    }

    func testVerifyPassesThenNamesAChangedWeightAndAChangedMetric() throws {
        let run = try tinyRun()
        var lines: [String] = []
        let outcomes = try Verify.run(run, stage: nil) { lines.append($0) }
        XCTAssertEqual(outcomes.map(\.stage), ["sft", "reward_model", "ppo", "dpo"])
        XCTAssertTrue(outcomes.allSatisfy(\.identical), lines.joined(separator: "\n"))
        let sftTensors = try SafeTensors.open(run.appendingPathComponent("models/sft.safetensors")).tensors.count
        // sft: 6 steps, eval every 3, re-run from its checkpoint at step 3: the rows of steps 4, 5, 6.
        XCTAssertEqual(lines[0], "verified: sft identical (\(sftTensors) tensors, 3 metric rows; re-run from checkpoint step 3)")
        XCTAssertTrue(lines[2].hasPrefix("verified: ppo identical ("), lines[2])
        XCTAssertTrue(lines[2].hasSuffix(" tensors, 1 metric row, 1 snapshot; re-run from checkpoint step 1)"), lines[2])
        XCTAssertTrue(lines[3].hasSuffix("; re-run from the start of the stage)"), "dpo kept only its last step's checkpoint: \(lines[3])")

        // At another thread count than the run's (2), the same bits.
        XCTAssertEqual(try Verify.run(run, stage: "reward_model", threads: 1) { _ in }.map(\.identical), [true])

        // One float of the DPO policy changed, the file still valid: verify names the tensor and
        // the element, the run's value first; exit code 1.
        let model = run.appendingPathComponent("models/dpo.safetensors")
        let file = try SafeTensors.open(model)
        let t = file.tensors[1]
        let old = file.values(t.name)![5]
        var bytes = try Data(contentsOf: model)
        let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        let offset = 8 + headerLength + t.begin + 5 * 4
        let changed = old + 0.5
        withUnsafeBytes(of: changed.bitPattern.littleEndian) { bytes.replaceSubrange(offset..<(offset + 4), with: $0) }
        try bytes.write(to: model)
        XCTAssertEqual(try SafeTensors.open(model).values(t.name)![5], changed, "the file stays a valid model")
        let r = try runRLHF(["verify", run.path, "--stage", "dpo"])
        XCTAssertEqual(r.code, 1, r.stderr)
        XCTAssertEqual(r.stdout, "dpo: models/dpo.safetensors tensor \(t.name) element 5: \(changed) vs \(old) (re-run from the start of the stage)\n")

        // A metric of SFT's last row changed in metrics.jsonl.
        let metrics = run.appendingPathComponent("metrics.jsonl")
        var rows = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").map(String.init)
        let i = try XCTUnwrap(rows.lastIndex { $0.contains(#""stage":"sft""#) })
        guard case .object(var kv) = try JSONParser.parse(rows[i]) else { return XCTFail(rows[i]) }
        let k = try XCTUnwrap(kv.firstIndex { $0.0 == "loss" })
        let loss = try XCTUnwrap(kv[k].1.doubleValue)
        kv[k].1 = .number(loss + 1, isInteger: false)
        rows[i] = JSONValue.object(kv).serialized(pretty: false)
        try (rows.joined(separator: "\n") + "\n").write(to: metrics, atomically: true, encoding: .utf8)
        let sft = try Verify.run(run, stage: "sft") { _ in }
        XCTAssertEqual(sft.map(\.line), ["sft: metrics row step 6 key loss: \(loss + 1) vs \(loss) (re-run from checkpoint step 3)"])

        // Bad input: one line, exit code 2.
        let bad = try runRLHF(["verify", run.path, "--stage", "ddpo"])
        XCTAssertEqual(bad.code, 2)
        XCTAssertEqual(bad.stderr, "error: --stage: unknown stage \"ddpo\"; \(run.path): its finished trained stages are sft, reward_model, ppo, dpo\n")
        let notTrained = try runRLHF(["verify", run.path, "--stage", "preferences"])
        XCTAssertEqual(notTrained.code, 2)
        XCTAssertEqual(notTrained.stderr, "error: --stage: preferences trains no model, so there is nothing to re-run; \(run.path): its finished trained stages are sft, reward_model, ppo, dpo\n")
        let notRun = try runRLHF(["verify", run.path, "--stage", "grpo"])
        XCTAssertEqual(notRun.code, 2)
        XCTAssertEqual(notRun.stderr, "error: --stage: \(run.path) has not finished stage grpo (its finished trained stages are sft, reward_model, ppo, dpo); finish it with: rlhf resume \(run.path)\n")
        let noRun = try runRLHF(["verify", dir.appendingPathComponent("nothing").path])
        XCTAssertEqual(noRun.code, 2)
        XCTAssertEqual(noRun.stderr, "error: \(dir.appendingPathComponent("nothing").path): not a run directory (no state.json); start one with: rlhf run CONFIG.json\n")
    }

    func testMetricComparisonLeavesTimingsAsideAndComparesEverythingElse() {
        XCTAssertNil(Verify.compareMetrics([["step": 1, "loss": 0.5, "tokens_per_s": 100, "elapsed": 3, "time/generate_s": 1, "memory_bytes": 7]],
                                           [["step": 1, "loss": 0.5, "tokens_per_s": 90, "elapsed": 4, "time/generate_s": 2, "memory_bytes": 8]]))
        XCTAssertEqual(Verify.compareMetrics([["step": 2, "loss": 0.5, "cost/flops": 10]], [["step": 2, "loss": 0.5, "cost/flops": 11]]),
                       "metrics row step 2 key cost/flops: 10.0 vs 11.0")
        XCTAssertEqual(Verify.compareMetrics([["step": 2, "loss": 0.5]], [["step": 2]]), "metrics row step 2 key loss: 0.5 vs missing")
        XCTAssertEqual(Verify.compareMetrics([["step": 2, "loss": .nan]], [["step": 2, "loss": .nan]]), nil)
        XCTAssertEqual(Verify.compareMetrics([["step": 2, "loss": 0.0]], [["step": 2, "loss": -0.0]]), "metrics row step 2 key loss: 0.0 vs -0.0")
        XCTAssertEqual(Verify.compareMetrics([["step": 1], ["step": 2]], [["step": 1]]), "metrics: the run logged 2 rows for the stage, the re-run 1")
    }
}
