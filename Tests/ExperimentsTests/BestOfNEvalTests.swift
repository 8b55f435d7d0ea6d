@testable import Alignment
import JSON
import XCTest
@testable import Experiments

/// Best-of-N as an eval policy (eval.best_of_n) and Gao et al.'s over-optimisation fits in the report.
final class BestOfNEvalTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("bon-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func config(stages: [String], bestOfN: String = "[1, 2, 4]") throws -> ExperimentConfig {
        let text = """
        {
          "name": "bon", "seed": 3, "threads": 2,
          "stages": [\(stages.map { "\"\($0)\"" }.joined(separator: ", "))],
          "data": {"task": "tldr-synth", "train_posts": 60, "valid_posts": 12, "test_posts": 10, "corpus_posts": 80, "max_prompt_tokens": 150, "max_completion_tokens": 12},
          "tokenizer": {"vocab_size": 400, "corpus_posts": 60},
          "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 170},
          "sft": {"steps": 4, "batch_size": 4, "eval_every": 2},
          "preferences": {"prompts": 12, "valid_prompts": 6},
          "reward_model": {"steps": 2, "batch_size": 4, "eval_every": 2},
          "eval": {"temperatures": [0, 1.0], "prompts": 6, "best_of_n": \(bestOfN)}
        }
        """
        let p = dir.appendingPathComponent("bon.json").path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return try ExperimentConfig.load(path: p)
    }

    func testBestOfNRowsFrontierAndFitsInTheReport() throws {
        let runDir = dir.appendingPathComponent("run")
        try Lab.runExperiment(try config(stages: ["tokenizer", "sft", "preferences", "reward_model", "eval"]), dir: runDir)
        let eval = try JSONParser.parse(String(contentsOf: runDir.appendingPathComponent("eval.json"), encoding: .utf8))
        let policies = eval["policies"]?.arrayValue ?? []
        XCTAssertEqual(policies.compactMap { $0["policy"]?.stringValue }, ["sft", "bon-1", "bon-2", "bon-4"])
        func row(_ name: String, _ t: Double) -> JSONValue? {
            policies.first { $0["policy"]?.stringValue == name }?["by_temperature"]?.arrayValue?.first { $0["temperature"]?.doubleValue == t }
        }
        // Best-of-1 is the SFT policy's own sample on the shared stream: the same summaries, so the same scores.
        let sft = try XCTUnwrap(row("sft", 1)), bon1 = try XCTUnwrap(row("bon-1", 1))
        for k in ["win_rate", "gold", "rm_score", "length"] {
            XCTAssertEqual(sft[k]?.doubleValue, bon1[k]?.doubleValue, k)
        }
        XCTAssertNil(row("bon-2", 0), "best-of-N is evaluated at T = 1 only")
        // KL: the analytic bound log N − (N−1)/N as "kl", the plug-in estimate beside it.
        for n in [1, 2, 4] {
            let r = try XCTUnwrap(row("bon-\(n)", 1))
            XCTAssertEqual(r["kl"]?.doubleValue ?? -1, log(Double(n)) - Double(n - 1) / Double(n), accuracy: 1e-12)
            let est = try XCTUnwrap(r["kl_estimate"]?.doubleValue)
            XCTAssertGreaterThanOrEqual(est, 0)
            XCTAssertLessThanOrEqual(est, r["kl"]!.doubleValue! + 1e-12, "the plug-in estimate stays below the bound")
            XCTAssertEqual(r["best_of_n"]?.intValue, n)
            XCTAssertNotNil(r["kl_estimator"]?.stringValue)
        }
        // The reward model's best of more samples scores at least as high on every prompt (nested
        // draws), so the mean can only rise with N.
        let rm = [1, 2, 4].map { row("bon-\($0)", 1)?["rm_score"]?.doubleValue ?? .nan }
        XCTAssertLessThanOrEqual(rm[0], rm[1] + 1e-6)
        XCTAssertLessThanOrEqual(rm[1], rm[2] + 1e-6)
        let curve = (eval["frontier"]?.arrayValue ?? []).filter { $0["policy"]?.stringValue == "bon" }
        XCTAssertEqual(curve.compactMap { $0["step"]?.intValue }, [1, 2, 4], "the over-optimisation curve over N")
        // Per-sample lines carry the estimate, not a per-token KL (paired KL verdicts skip best-of-N).
        let lines = try String(contentsOf: runDir.appendingPathComponent("eval_samples.jsonl"), encoding: .utf8).split(separator: "\n")
        let bonLine = try JSONParser.parse(String(try XCTUnwrap(lines.first { $0.contains("\"policy\":\"bon-4\"") })))
        XCTAssertNil(bonLine["kl"])
        XCTAssertNotNil(bonLine["kl_estimate"])

        let reportDir = dir.appendingPathComponent("report")
        let text = try Report.compare(runs: [runDir], out: reportDir)
        XCTAssertTrue(text.contains("bon-4"), text)
        XCTAssertTrue(text.contains("≤0.64"), "best-of-4's KL is shown as the bound it is: \(text)")
        let md = try String(contentsOf: reportDir.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("## Over-optimisation fits"), md)
        XCTAssertTrue(md.contains("| bon | gold | d(α − βd) |"), md)
        let svg = try String(contentsOf: reportDir.appendingPathComponent(Plots.frontierFile), encoding: .utf8)
        XCTAssertTrue(svg.contains("· bon<") || svg.contains("· bon "), "the bon curve is drawn")
        XCTAssertFalse(svg.contains("bon-2"), "its single-N policies are points of that curve, not series of their own")
    }

    func testBestOfNWithoutARewardModelIsRefusedBeforeSampling() throws {
        let runDir = dir.appendingPathComponent("run")
        XCTAssertThrowsError(try Lab.runExperiment(try config(stages: ["tokenizer", "sft", "eval"]), dir: runDir)) {
            XCTAssertTrue("\($0)".hasSuffix("bon.json: eval.best_of_n keeps the reward model's best of N samples, but this run has no models/reward_model.safetensors; add the reward_model stage (or init_from a run that trained one), or remove eval.best_of_n"), "\($0)")
        }
        XCTAssertThrowsError(try config(stages: ["tokenizer", "sft", "eval"], bestOfN: "[0]")) {
            XCTAssertTrue("\($0)".contains("eval.best_of_n"), "\($0)")
        }
    }

    func testPrefixesKeepTheBestOfTheFirstNSamples() {
        let r = BestOfNResult(prompt: [1], completions: [[1], [2], [3], [4]], endedWithEOS: [true, true, true, true],
                              scores: [0.5, 0.2, 0.9, 0.9], best: 2, klBound: BestOfN.klBound(n: 4), klEstimate: 0)
        let p = BestOfN.prefixes([r], ns: [1, 2, 3, 4])
        XCTAssertEqual(p.map(\.n), [1, 2, 3, 4])
        XCTAssertEqual(p.map { $0.best[0] }, [0, 0, 2, 2], "the first of equal scores")
        XCTAssertEqual(p[0].klEstimate[0], 0, "one sample: best-of-1 is the policy")
        XCTAssertEqual(p[1].klEstimate[0], BestOfN.klPlugIn(scores: [0.5, 0.2]), accuracy: 0)
    }

    /// Gao et al.'s forms recovered exactly from points on them; no fit from two points.
    func testOveroptimizationFitsRecoverTheirCoefficients() throws {
        let ds = [0.0, 0.3, 0.6, 0.9, 1.4, 2.0]
        let bon = ds.map { (d: $0, y: $0 * (0.8 - 0.25 * $0)) }
        let f = try XCTUnwrap(Overoptimization.fit(bon, form: .bestOfN))
        XCTAssertEqual(f.alpha, 0.8, accuracy: 1e-9)
        XCTAssertEqual(f.beta, 0.25, accuracy: 1e-9)
        XCTAssertEqual(f.rmse, 0, accuracy: 1e-9)
        XCTAssertEqual(Overoptimization.Form.bestOfN.peak(alpha: 0.8, beta: 0.25)!, 1.6, accuracy: 1e-12)
        let rl = ds.map { (d: $0, y: $0 * (0.5 - 0.3 * ($0 > 0 ? log($0) : 0))) }
        let g = try XCTUnwrap(Overoptimization.fit(rl, form: .rl))
        XCTAssertEqual(g.alpha, 0.5, accuracy: 1e-9)
        XCTAssertEqual(g.beta, 0.3, accuracy: 1e-9)
        XCTAssertEqual(Overoptimization.Form.rl.peak(alpha: 0.5, beta: 0.3)!, exp(0.5 / 0.3 - 1), accuracy: 1e-12)
        XCTAssertNil(Overoptimization.fit(Array(bon.prefix(2)), form: .bestOfN))
        XCTAssertNil(Overoptimization.Form.rl.peak(alpha: 1, beta: -0.1), "no maximum when the curve keeps rising")
        XCTAssertTrue(Overoptimization.isBestOfN("bon-16"))
        XCTAssertFalse(Overoptimization.isBestOfN("bon"))
        XCTAssertFalse(Overoptimization.isBestOfN("bon-x"))
    }
}
