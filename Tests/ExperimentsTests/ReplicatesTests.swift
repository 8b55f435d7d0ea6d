import Foundation
import JSON
import XCTest
@testable import Experiments

/// A replicated experiment runs its shared stages once and the rest once per seed, resumes a set
/// stopped part way, and compares its methods with paired verdicts.
final class ReplicatesTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("rep-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        stopRequested = 0
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testSharedStagesOnceAndTheRestPerSeed() throws {
        let path = dir.appendingPathComponent("micro.json").path
        try PipelineTests.micro.write(toFile: path, atomically: true, encoding: .utf8)
        let cfg = try ExperimentConfig.load(path: path, overrides: [#"replicates={"seeds": [5, 6], "from_stage": "ppo"}"#])
        XCTAssertEqual(cfg.replicates, Replicates(seeds: [5, 6], fromStage: .ppo))
        let run = dir.appendingPathComponent("runs/micro")
        try Lab.runExperiment(cfg, dir: run)
        let fm = FileManager.default
        XCTAssertTrue(fm.fileExists(atPath: run.appendingPathComponent("models/reward_model.safetensors").path))
        XCTAssertFalse(fm.fileExists(atPath: run.appendingPathComponent("models/ppo.safetensors").path), "replicated stages run per seed only")
        for s in [5, 6] {
            let child = run.appendingPathComponent("seed-\(s)")
            for f in ["models/ppo.safetensors", "models/dpo.safetensors", "eval.json"] {
                XCTAssertTrue(fm.fileExists(atPath: child.appendingPathComponent(f).path), "seed-\(s)/\(f)")
            }
            XCTAssertFalse(fm.fileExists(atPath: child.appendingPathComponent("models/sft.safetensors").path), "the shared SFT model is not copied")
            let eval = try JSONParser.parse(String(contentsOf: child.appendingPathComponent("eval.json"), encoding: .utf8))
            XCTAssertEqual(eval["seed"]?.intValue, s)
        }
        let a = try Data(contentsOf: run.appendingPathComponent("seed-5/models/ppo.safetensors"))
        let b = try Data(contentsOf: run.appendingPathComponent("seed-6/models/ppo.safetensors"))
        XCTAssertNotEqual(a, b, "the seeds differ")

        // A set stopped before its second replicate resumes into the same bytes.
        let seed6 = run.appendingPathComponent("seed-6")
        let before = try Data(contentsOf: seed6.appendingPathComponent("models/dpo.safetensors"))
        try fm.removeItem(at: seed6)
        try Lab.resumeExperiment(run)
        XCTAssertEqual(try Data(contentsOf: seed6.appendingPathComponent("models/dpo.safetensors")), before)

        // The comparison: a row per seed and policy, and paired verdicts between the policies.
        let text = try Report.compare(runs: [run], out: dir.appendingPathComponent("report"))
        XCTAssertTrue(text.contains("micro/seed-5") && text.contains("micro/seed-6"), text)
        XCTAssertTrue(text.contains("Verdicts (paired"), text)
        XCTAssertTrue(text.contains("win at T=0, mean across seeds: sft (micro) "), text)
        XCTAssertTrue(text.contains("win ppo (micro) − sft (micro) at T=0: "), text)
        XCTAssertTrue(text.contains("(2 seeds: "), text)
        let report = try String(contentsOf: dir.appendingPathComponent("report/report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("## Verdicts") && report.contains("### gold") && report.contains("### kl"), report)
    }

    func testBadReplicatesAreRefused() throws {
        let path = dir.appendingPathComponent("micro.json").path
        try PipelineTests.micro.write(toFile: path, atomically: true, encoding: .utf8)
        func message(_ value: String) -> String {
            do { _ = try ExperimentConfig.load(path: path, overrides: ["replicates=" + value]); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message(#"{"seeds": [1, 2, 1]}"#), "\(path): replicates.seeds: element 2: seed 1 is listed twice")
        XCTAssertEqual(message(#"{"seeds": []}"#), "\(path): replicates.seeds: expected at least one integer, found an empty array")
        XCTAssertEqual(message(#"{"seeds": [-1]}"#), "\(path): replicates.seeds: element 0: expected an integer ≥ 0, found -1")
        XCTAssertTrue(message(#"{"seeds": [1], "from_stage": "grpo"}"#).hasPrefix("\(path): replicates.from_stage: expected one of \"tokenizer\", \"pretrain\""),
                      message(#"{"seeds": [1], "from_stage": "grpo"}"#))
    }
}
