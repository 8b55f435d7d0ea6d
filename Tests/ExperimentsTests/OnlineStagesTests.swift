import JSON
import XCTest
@testable import Experiments

/// GRPO, RLOO and online DPO as stages of an experiment: each trains from the SFT policy with the
/// reward it is given, saves its policy, logs under its own name and is evaluated beside the rest.
final class OnlineStagesTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("online-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func config(_ sections: String, stages: [String]) throws -> ExperimentConfig {
        let text = """
        {
          "name": "online", "seed": 5, "threads": 2,
          "stages": [\(stages.map { "\"\($0)\"" }.joined(separator: ", "))],
          "data": {"task": "tldr-synth", "train_posts": 80, "valid_posts": 16, "test_posts": 12, "corpus_posts": 100, "max_prompt_tokens": 150, "max_completion_tokens": 16},
          "tokenizer": {"vocab_size": 400, "corpus_posts": 80},
          "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 176},
          "sft": {"steps": 4, "batch_size": 4, "eval_every": 2},
          "preferences": {"prompts": 16, "valid_prompts": 8},
          "reward_model": {"steps": 2, "batch_size": 4, "eval_every": 2},
          \(sections),
          "eval": {"temperatures": [1.0], "prompts": 4}
        }
        """
        let p = dir.appendingPathComponent("online.json").path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return try ExperimentConfig.load(path: p)
    }

    func testGRPORLOOAndOnlineDPOTrainAndAreEvaluated() throws {
        let cfg = try config("""
          "grpo": {"steps": 2, "batch_size": 2, "num_generations": 4, "grad_accum": 2, "snapshot_every": 1, "checkpoint_every": 1},
          "rloo": {"steps": 2, "batch_size": 4, "num_generations": 2, "reward": "gold"},
          "online_dpo": {"steps": 2, "batch_size": 4, "judge": "labelers"}
        """, stages: ["tokenizer", "sft", "preferences", "reward_model", "grpo", "rloo", "online_dpo", "eval"])
        XCTAssertEqual(cfg.grpo?.trainer.maxCompletionLength, 16, "the data's completion budget")
        XCTAssertEqual(cfg.rloo?.reward, "gold")
        XCTAssertEqual(cfg.onlineDPO?.reward, "labelers")
        let runDir = dir.appendingPathComponent("run")
        try Lab.runExperiment(cfg, dir: runDir)
        for f in ["models/grpo.safetensors", "models/rloo.safetensors", "models/online_dpo.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: runDir.appendingPathComponent(f).path), "missing \(f)")
        }
        let summary = try JSONParser.parse(String(contentsOf: runDir.appendingPathComponent("summary.json"), encoding: .utf8))
        for s in ["grpo", "rloo", "online_dpo"] {
            XCTAssertEqual(summary["stages"]?[s]?["steps"]?.doubleValue, 2, s)
            XCTAssertGreaterThan(summary["stages"]?[s]?["cost/flops"]?.doubleValue ?? 0, 0, s)
            XCTAssertGreaterThan(summary["stages"]?[s]?["cost/generated_tokens"]?.doubleValue ?? 0, 0, s)
        }
        XCTAssertEqual(summary["stages"]?["grpo"]?["cost/judge_calls"]?.doubleValue, 2 * 2 * 4)
        XCTAssertEqual(summary["stages"]?["online_dpo"]?["cost/labels"]?.doubleValue, 2 * 4)
        let metrics = try String(contentsOf: runDir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        for s in ["grpo", "rloo", "online_dpo"] { XCTAssertTrue(metrics.contains("\"stage\":\"\(s)\""), "no metrics for \(s)") }
        XCTAssertTrue(metrics.contains("objective/gold"), "the gold judge watches GRPO on the built-in task")
        let eval = try JSONParser.parse(String(contentsOf: runDir.appendingPathComponent("eval.json"), encoding: .utf8))
        XCTAssertEqual(eval["policies"]?.arrayValue?.compactMap { $0["policy"]?.stringValue }, ["sft", "grpo", "rloo", "online_dpo"])
        XCTAssertTrue(eval["frontier"]?.arrayValue?.contains { $0["policy"]?.stringValue == "grpo" } ?? false, "GRPO's snapshots")
        XCTAssertTrue(FileManager.default.fileExists(atPath: runDir.appendingPathComponent("checkpoints/grpo").path))
    }

    func testAStageWithoutItsRewardIsRefusedBeforeAnythingRuns() {
        XCTAssertThrowsError(try config(#""grpo": {"steps": 1}"#, stages: ["tokenizer", "sft", "grpo"])) {
            XCTAssertTrue("\($0)".contains("grpo"), "\($0)")
            XCTAssertTrue("\($0)".contains("reward_model"), "\($0)")
        }
        XCTAssertNoThrow(try config(#""grpo": {"steps": 1, "reward": "gold"}"#, stages: ["tokenizer", "sft", "grpo"]))
        XCTAssertThrowsError(try config(#""online_dpo": {"judge": "humans"}"#, stages: ["tokenizer", "sft", "online_dpo"])) {
            XCTAssertTrue("\($0)".hasSuffix("online.json: online_dpo.judge: expected one of \"reward_model\", \"gold\", \"labelers\", found \"humans\""), "\($0)")
        }
        XCTAssertThrowsError(try config(#""rloo": {"batch_size": 3, "num_generations": 2, "grad_accum": 4}"#, stages: ["tokenizer", "sft", "rloo"])) {
            XCTAssertTrue("\($0)".hasSuffix("rloo.grad_accum: batch_size × num_generations (3 × 2 = 6 completions) must be divisible by grad_accum (4)"), "\($0)")
        }
    }
}
