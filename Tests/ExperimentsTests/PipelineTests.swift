import Data
import GPT
import JSON
import XCTest
@testable import Experiments

/// The whole pipeline on a micro configuration: every stage runs, writes its artifacts, and a
/// run stopped by a signal resumes to exactly the weights of an uninterrupted run.
final class PipelineTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("pipe-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        stopRequested = 0
    }

    override func tearDown() {
        stopRequested = 0
        try? FileManager.default.removeItem(at: dir)
    }

    static let micro = """
    {
      "name": "micro", "seed": 3, "threads": 2,
      "data": {"task": "tldr-synth", "train_posts": 120, "valid_posts": 16, "test_posts": 12, "corpus_posts": 150, "max_prompt_tokens": 150, "max_completion_tokens": 24},
      "tokenizer": {"vocab_size": 400, "corpus_posts": 120},
      "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 176},
      "pretrain": {"steps": 6, "batch_size": 4, "eval_every": 3, "checkpoint_every": 3},
      "sft": {"steps": 6, "batch_size": 4, "eval_every": 3, "checkpoint_every": 3},
      "preferences": {"prompts": 24, "valid_prompts": 8},
      "reward_model": {"steps": 4, "batch_size": 4, "eval_every": 2, "checkpoint_every": 2},
      "ppo": {"steps": 2, "batch_size": 8, "num_mini_batches": 2, "num_ppo_epochs": 1, "response_length": 12, "checkpoint_every": 1, "snapshot_every": 1},
      "dpo": {"steps": 3, "batch_size": 4, "eval_every": 3, "checkpoint_every": 3, "snapshot_every": 3},
      "eval": {"temperatures": [0, 1.0], "prompts": 6}
    }
    """

    func writeConfig(_ text: String, _ name: String = "micro.json") -> String {
        let p = dir.appendingPathComponent(name).path
        try! text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testEveryStageWritesItsArtifacts() throws {
        let cfg = try ExperimentConfig.load(path: writeConfig(Self.micro))
        let runDir = dir.appendingPathComponent("runs/micro")
        try Lab.runExperiment(cfg, dir: runDir)
        let fm = FileManager.default
        for f in ["config.json", "config.resolved.json", "tokenizer.json", "metrics.jsonl", "samples.jsonl", "summary.json", "eval.json",
                  "models/pretrain.safetensors", "models/sft.safetensors", "models/reward_model.safetensors",
                  "models/ppo.safetensors", "models/dpo.safetensors", "data/preferences_train.jsonl",
                  "report/report.md", "report/winrate_vs_temperature.svg", "report/learning_curves.svg"] {
            XCTAssertTrue(fm.fileExists(atPath: runDir.appendingPathComponent(f).path), "missing \(f)")
        }
        let summary = try JSONParser.parse(String(contentsOf: runDir.appendingPathComponent("summary.json"), encoding: .utf8))
        XCTAssertEqual(summary["finished"]?.arrayValue?.compactMap(\.stringValue),
                       ["tokenizer", "pretrain", "sft", "preferences", "reward_model", "ppo", "dpo", "eval"])
        let eval = try JSONParser.parse(String(contentsOf: runDir.appendingPathComponent("eval.json"), encoding: .utf8))
        XCTAssertEqual(eval["policies"]?.arrayValue?.compactMap { $0["policy"]?.stringValue }, ["sft", "ppo", "dpo"])
        XCTAssertEqual(eval["judge"]?.stringValue, "gold")
        let rows = eval["policies"]?.arrayValue?.first?["by_temperature"]?.arrayValue ?? []
        XCTAssertEqual(rows.count, 2)
        for r in rows {
            let w = r["win_rate"]?.doubleValue ?? -1
            XCTAssertTrue(w >= 0 && w <= 1, "win rate \(w)")
        }
        XCTAssertFalse(eval["frontier"]?.arrayValue?.isEmpty ?? true, "snapshots were not evaluated")
        let row = rows.first ?? .null
        XCTAssertTrue((0...1).contains(row["facts_expressed"]?.doubleValue ?? -1))
        XCTAssertGreaterThanOrEqual(row["unsupported_words"]?.doubleValue ?? -1, 0)
        let report = try String(contentsOf: runDir.appendingPathComponent("report/report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("## What the judge saw\n"), report)
        XCTAssertTrue(report.contains("| micro | dpo | 1.00 |"), report)
        // eval_samples.jsonl: one judged sample per policy, temperature and prompt, then the snapshots'.
        let sampleLines = try String(contentsOf: runDir.appendingPathComponent("eval_samples.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONParser.parse(String($0)) }
        let frontier = eval["frontier"]?.arrayValue ?? []
        XCTAssertEqual(sampleLines.filter { ["sft", "ppo", "dpo"].contains($0["policy"]?.stringValue ?? "") }.count, 3 * 2 * 6)
        // Snapshots before the last step are sampled on the same prompts; the last one is the final policy's row.
        XCTAssertEqual(sampleLines.filter { $0["policy"]?.stringValue == "ppo-000001" }.count, 6)
        XCTAssertEqual(sampleLines.filter { $0["policy"]?.stringValue == "ppo-000002" }.count, 0)
        let ppoFinalAtOne = eval["policies"]?.arrayValue?.first { $0["policy"]?.stringValue == "ppo" }?["by_temperature"]?.arrayValue?.last
        let lastSnapshot = frontier.first { $0["policy"]?.stringValue == "ppo" && $0["step"]?.doubleValue == 2 }
        XCTAssertNotNil(lastSnapshot)
        XCTAssertEqual(lastSnapshot?["gold"]?.doubleValue, ppoFinalAtOne?["gold"]?.doubleValue)
        XCTAssertEqual(lastSnapshot?["kl"]?.doubleValue, ppoFinalAtOne?["kl"]?.doubleValue)
        XCTAssertEqual(sampleLines.filter { $0["policy"]?.stringValue == "dpo" && $0["temperature"]?.doubleValue == 1 }.count, 6)
        for l in sampleLines {
            XCTAssertNotNil(l["gold"]?.doubleValue)
            XCTAssertNotNil(l["reference_gold"]?.doubleValue)
            XCTAssertNotNil(l["summary"]?.stringValue)
            XCTAssertNotNil(l["facts"]?.arrayValue)
        }
        // Every stage logged metrics under its name.
        let metrics = try String(contentsOf: runDir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        for s in ["pretrain", "sft", "reward_model", "ppo", "dpo"] {
            XCTAssertTrue(metrics.contains("\"stage\":\"\(s)\""), "no metrics for \(s)")
        }
        XCTAssertTrue(metrics.contains("objective/kl") && metrics.contains("rewards/margins"))
        // `rlhf eval` re-runs only the eval stage and keeps every stage's figures in summary.json.
        try Lab.evaluateRun(runDir, overrides: ["eval.temperatures=[0.5]"])
        let after = try JSONParser.parse(String(contentsOf: runDir.appendingPathComponent("summary.json"), encoding: .utf8))
        XCTAssertEqual(after["stages"]?.objectValue?.map(\.0),
                       ["tokenizer", "pretrain", "sft", "preferences", "reward_model", "ppo", "dpo", "eval"])
        // A finished run cannot be started again over itself.
        let again = try ExperimentConfig.load(path: writeConfig(Self.micro))
        XCTAssertNoThrow(try Lab.resumeExperiment(runDir))  // resuming a finished run only reports
        _ = again
    }

    func testReferenceFractionPairsReferencesWithSamplesInTrainOnly() throws {
        let text = Self.micro.replacingOccurrences(of: "\"name\": \"micro\"", with: "\"name\": \"refs\", \"stages\": [\"tokenizer\", \"pretrain\", \"sft\", \"preferences\"]")
            .replacingOccurrences(of: "\"preferences\": {\"prompts\": 24", with: "\"preferences\": {\"reference_fraction\": 1, \"prompts\": 24")
        let cfg = try ExperimentConfig.load(path: writeConfig(text, "refs.json"))
        XCTAssertEqual(cfg.preferences?.referenceFraction, 1)
        let runDir = dir.appendingPathComponent("runs/refs")
        try Lab.runExperiment(cfg, dir: runDir)
        let references = Set(TLDRSynth(seed: cfg.data.taskSeed).posts(split: .train, count: 24).map { " " + $0.reference.trimmingCharacters(in: .whitespacesAndNewlines) })
        let train = try Datasets.loadPreferencePairs(from: runDir.appendingPathComponent("data/preferences_train.jsonl"))
        let valid = try Datasets.loadPreferencePairs(from: runDir.appendingPathComponent("data/preferences_valid.jsonl"))
        XCTAssertFalse(train.isEmpty)
        for p in train { XCTAssertTrue(references.contains(p.chosen) != references.contains(p.rejected), "\(p)") }
        let summary = try JSONParser.parse(String(contentsOf: runDir.appendingPathComponent("summary.json"), encoding: .utf8))
        XCTAssertEqual(summary["stages"]?["preferences"]?["train_reference_pairs"]?.doubleValue, Double(train.count))
        XCTAssertEqual(summary["stages"]?["preferences"]?["valid_reference_pairs"]?.doubleValue, 0)
        XCTAssertEqual(summary["stages"]?["preferences"]?["valid_pairs"]?.doubleValue, Double(valid.count))
    }

    /// model.dropout trains SFT with dropout; PPO turns it off in all its models (it used to
    /// pass validation and then stop on a precondition after every earlier stage had trained).
    func testPPORunsWithDropoutOffAfterSFTWithDropout() throws {
        let text = Self.micro.replacingOccurrences(of: "\"name\": \"micro\"",
                                                   with: "\"name\": \"drop\", \"stages\": [\"tokenizer\", \"sft\", \"preferences\", \"reward_model\", \"ppo\"]")
            .replacingOccurrences(of: "\"n_positions\": 176}", with: "\"n_positions\": 176, \"dropout\": 0.2}")
        let cfg = try ExperimentConfig.load(path: writeConfig(text, "drop.json"))
        XCTAssertEqual(cfg.model.dropout, 0.2)
        let runDir = dir.appendingPathComponent("runs/drop")
        try Lab.runExperiment(cfg, dir: runDir)
        let summary = try JSONParser.parse(String(contentsOf: runDir.appendingPathComponent("summary.json"), encoding: .utf8))
        XCTAssertEqual(summary["finished"]?.arrayValue?.compactMap(\.stringValue), ["tokenizer", "sft", "preferences", "reward_model", "ppo"])
        XCTAssertEqual(summary["stages"]?["ppo"]?["iterations"]?.doubleValue, 2)
        // The saved policy keeps the configured architecture, dropout included.
        XCTAssertEqual(try GPT.load(from: runDir.appendingPathComponent("models/ppo.safetensors")).config.dropout, 0.2)
    }

    func testStoppedRunResumesToTheUninterruptedWeights() throws {
        let short = Self.micro.replacingOccurrences(of: "\"name\": \"micro\"", with: "\"name\": \"short\", \"stages\": [\"tokenizer\", \"pretrain\", \"sft\"]")
        let cfg = try ExperimentConfig.load(path: writeConfig(short, "short.json"))
        let a = dir.appendingPathComponent("runs/a"), b = dir.appendingPathComponent("runs/b")
        try Lab.runExperiment(cfg, dir: a)
        // Run b receives a "signal" before it starts: it checkpoints after the first pretrain step and stops.
        stopRequested = 1
        XCTAssertThrowsError(try Lab.runExperiment(cfg, dir: b)) { e in
            XCTAssertTrue(e is RunStopped, "\(e)")
            XCTAssertTrue("\(e)".contains("stopped during pretrain at step 1"), "\(e)")
        }
        XCTAssertNotNil(CheckpointLatest.at(b.appendingPathComponent("checkpoints/pretrain")))
        stopRequested = 0
        try Lab.resumeExperiment(b)
        for m in ["pretrain", "sft"] {
            let wa = try GPT.load(from: a.appendingPathComponent("models/\(m).safetensors")).params.array
            let wb = try GPT.load(from: b.appendingPathComponent("models/\(m).safetensors")).params.array
            XCTAssertEqual(wa, wb, "\(m) weights of the resumed run differ")
        }
        // The resumed run's metrics have one line per step (the stop's lines were not duplicated).
        let lines = try String(contentsOf: b.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("\"stage\":\"pretrain\"") }.count, 6)
    }
}

enum CheckpointLatest {
    static func at(_ root: URL) -> URL? {
        guard let s = try? String(contentsOf: root.appendingPathComponent("latest"), encoding: .utf8) else { return nil }
        return root.appendingPathComponent(s.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
