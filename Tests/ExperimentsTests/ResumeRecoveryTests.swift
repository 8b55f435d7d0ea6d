import Foundation
import GPT
import XCTest
@testable import Experiments

/// `rlhf resume` finds its way back: past a damaged or removed newest checkpoint (to the newest
/// intact one, its logs cut back to it), past log lines that are not JSON, without duplicating a
/// log row; a state.json that names unknown stages, or stages out of order, is refused; a missing
/// tokenizer or model names the run directory; a config path that is not a file says what it is.
final class ResumeRecoveryTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("recovery-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// A finished run of `stages` (the micro configuration, one thread) in runs/NAME.
    func finishedRun(_ name: String, stages: [String]) throws -> URL {
        let cfg = dir.appendingPathComponent("\(name).json")
        try Recovery.write(Recovery.config(name: name, stages: stages), to: cfg)
        let run = dir.appendingPathComponent("runs/\(name)")
        let r = try runRLHF(["run", cfg.path, "--out", run.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        return run
    }

    /// As if the run had been killed after `stage`'s last checkpoint, before state.json recorded it.
    func forget(_ stage: String, in run: URL) throws {
        let u = run.appendingPathComponent("state.json")
        var state = try JSONSerialization.jsonObject(with: Data(contentsOf: u)) as! [String: Any]
        state["finished"] = (state["finished"] as! [String]).filter { $0 != stage }
        for key in ["summaries", "stageSeconds"] {
            var d = state[key] as! [String: Any]
            d[stage] = nil
            state[key] = d
        }
        try JSONSerialization.data(withJSONObject: state).write(to: u)
        try? FileManager.default.removeItem(at: run.appendingPathComponent("models/\(stage).safetensors"))
    }

    func checkpoint(_ run: URL, _ stage: String, _ step: Int) -> URL {
        run.appendingPathComponent("checkpoints/\(stage)/" + String(format: "step-%06d", step))
    }

    func expectSame(_ a: URL, _ b: URL, _ files: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        for f in files {
            XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent(f)), try Data(contentsOf: a.appendingPathComponent(f)), f, file: file, line: line)
        }
        XCTAssertNil(Recovery.firstDifference(Recovery.timelessMetrics(b), Recovery.timelessMetrics(a)), "metrics.jsonl", file: file, line: line)
    }

    // MARK: - Checkpoints

    func testADamagedNewestCheckpointFallsBackToTheNewestIntactOne() throws {
        let a = try finishedRun("a", stages: ["tokenizer", "pretrain"])
        let b = try finishedRun("b", stages: ["tokenizer", "pretrain"])
        try forget("pretrain", in: b)
        let newest = checkpoint(b, "pretrain", 6)
        try Data([1, 2, 3]).write(to: newest.appendingPathComponent("model.safetensors"))
        let r = try runRLHF(["resume", b.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("[pretrain] checkpoint \(newest.path) is damaged (checkpoint \(newest.path)/model.safetensors: not a safetensors file (3 bytes)); moved to damaged-step-000006, resuming from step-000003"), r.stderr)
        XCTAssertTrue(lines.contains("[pretrain] resumed from step-000003 (dropped 3 log rows written after it)"), r.stderr)
        try expectSame(a, b, ["models/pretrain.safetensors"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: b.appendingPathComponent("checkpoints/pretrain/damaged-step-000006/model.safetensors").path))
        XCTAssertEqual(try Data(contentsOf: newest.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: checkpoint(a, "pretrain", 6).appendingPathComponent("model.safetensors")), "step 6 was not written again")
    }

    func testARemovedNewestCheckpointFallsBackWithoutDuplicatingMetrics() throws {
        let a = try finishedRun("a", stages: ["tokenizer", "pretrain"])
        let b = try finishedRun("b", stages: ["tokenizer", "pretrain"])
        try forget("pretrain", in: b)
        try FileManager.default.removeItem(at: checkpoint(b, "pretrain", 6))  // `latest` still names it
        let r = try runRLHF(["resume", b.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("[pretrain] resumed from step-000003 (dropped 3 log rows written after it)\n"), r.stderr)
        XCTAssertEqual(Recovery.steps(b), (1...6).map { "pretrain:\($0)" })
        try expectSame(a, b, ["models/pretrain.safetensors"])
    }

    func testWithoutAnyCheckpointTheStageStartsOverWithoutDuplicates() throws {
        let a = try finishedRun("a", stages: ["tokenizer", "pretrain"])
        let b = try finishedRun("b", stages: ["tokenizer", "pretrain"])
        try forget("pretrain", in: b)
        try FileManager.default.removeItem(at: b.appendingPathComponent("checkpoints/pretrain"))
        let r = try runRLHF(["resume", b.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("[pretrain] no checkpoint: starting over (dropped 6 log rows of the interrupted attempt)\n"), r.stderr)
        try expectSame(a, b, ["models/pretrain.safetensors"])
    }

    func testWhenNoCheckpointLoadsTheNewestOnesErrorStopsTheResume() throws {
        let b = try finishedRun("b", stages: ["tokenizer", "pretrain"])
        try forget("pretrain", in: b)
        for step in [3, 6] { try Data([1, 2, 3]).write(to: checkpoint(b, "pretrain", step).appendingPathComponent("model.safetensors")) }
        let r = try runRLHF(["resume", b.path])
        XCTAssertEqual(r.code, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").last.map(String.init),
                       "error: checkpoint \(checkpoint(b, "pretrain", 6).path)/model.safetensors: not a safetensors file (3 bytes)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: b.appendingPathComponent("checkpoints/pretrain").path).sorted(),
                       ["latest", "step-000003", "step-000006"], "nothing is set aside when nothing can be restored")
    }

    /// SFT logs its samples after training: a resume at its final checkpoint logs them once.
    func testRowsLoggedAfterTheFinalCheckpointAreNotDuplicated() throws {
        let a = try finishedRun("a", stages: ["tokenizer", "sft"])
        let b = try finishedRun("b", stages: ["tokenizer", "sft"])
        try forget("sft", in: b)
        let r = try runRLHF(["resume", b.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("[sft] resumed from step-000006 (dropped 4 log rows written after it)\n"), r.stderr)
        try expectSame(a, b, ["models/sft.safetensors", "samples.jsonl"])
    }

    // MARK: - Logs

    func testLinesThatAreNotJSONAreDroppedAndCounted() throws {
        let a = try finishedRun("a", stages: ["tokenizer", "pretrain"])
        let b = try finishedRun("b", stages: ["tokenizer", "pretrain"])
        try forget("pretrain", in: b)
        let metrics = b.appendingPathComponent("metrics.jsonl")
        var lines = Recovery.text(metrics).split(separator: "\n").map(String.init)
        lines.insert("garbage", at: 2)
        try (lines.joined(separator: "\n") + "\n{\"stage\":\"pretrain\",\"st").write(to: metrics, atomically: true, encoding: .utf8)
        try "not json either\n".write(to: b.appendingPathComponent("samples.jsonl"), atomically: true, encoding: .utf8)
        // compare names the damaged line (a line cut short at the end would be skipped).
        let compare = try runRLHF(["compare", b.path])
        XCTAssertEqual(compare.code, 2)
        XCTAssertTrue(compare.stderr.hasPrefix("error: \(metrics.path): line 3: invalid JSON (") && compare.stderr.hasSuffix("); delete or repair that line\n"), compare.stderr)
        let r = try runRLHF(["resume", b.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        let out = r.stderr.split(separator: "\n").map(String.init)
        XCTAssertTrue(out.contains("\(metrics.path): dropped 2 lines that are not JSON (lines 3, 8)"), r.stderr)
        XCTAssertTrue(out.contains("\(b.path)/samples.jsonl: dropped 1 line that is not JSON (line 1)"), r.stderr)
        try expectSame(a, b, ["models/pretrain.safetensors"])
        XCTAssertEqual(try runRLHF(["compare", b.path]).code, 0)
    }

    func testATornLastLineIsCutBeforeTheNextAppend() throws {
        let u = dir.appendingPathComponent("log.jsonl")
        try "{\"stage\":\"x\",\"step\":1}\n{\"stage\":\"x\",\"st".write(to: u, atomically: true, encoding: .utf8)
        let log = RunLog(url: u)
        XCTAssertEqual(log.rows, ["x": 1])
        try log.append("{\"stage\":\"x\",\"step\":2}", stage: "x")
        XCTAssertEqual(Recovery.text(u), "{\"stage\":\"x\",\"step\":1}\n{\"stage\":\"x\",\"step\":2}\n")
        XCTAssertEqual(log.rows, ["x": 2])
    }

    // MARK: - state.json

    func fakeRun(_ finished: String) throws -> URL {
        let run = dir.appendingPathComponent("runs/fake")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try #"{"finished": \#(finished), "stageSeconds": {}, "summaries": {}, "notes": {}}"#.write(to: run.appendingPathComponent("state.json"), atomically: true, encoding: .utf8)
        try #"{"name": "fake", "threads": 1}"#.write(to: run.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        return run
    }

    func testStateNamingUnknownStagesOrStagesOutOfOrderIsRefused() throws {
        let stages = "the stages are tokenizer, pretrain, sft, preferences, reward_model, ppo, grpo, rloo, online_dpo, dpo, eval"
        let fix = "restore it from a backup, or start the run again in a new directory"
        for (finished, why) in [(#"["tokenizer", "sfft"]"#, "finished: unknown stage \"sfft\"; \(stages)"),
                                (#"["sft", "tokenizer"]"#, "finished: \"tokenizer\" comes after \"sft\", out of the pipeline's order; \(stages)"),
                                (#"["sft", "sft"]"#, "finished: \"sft\" is listed twice; \(stages)")] {
            let run = try fakeRun(finished)
            for command in ["resume", "eval"] {
                let r = try runRLHF([command, run.path])
                XCTAssertEqual(r.code, 2)
                XCTAssertEqual(r.stderr, "error: \(run.path)/state.json: the run state is damaged (\(why)); \(fix)\n", command)
            }
        }
        let run = try fakeRun("[]")
        try #"{"finished": [], "stageSeconds": {}, "summaries": {"ppo2": {}}, "notes": {}}"#.write(to: run.appendingPathComponent("state.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try runRLHF(["resume", run.path]).stderr,
                       "error: \(run.path)/state.json: the run state is damaged (summaries: unknown stage \"ppo2\"; \(stages)); \(fix)\n")
    }

    // MARK: - Messages that name what is missing

    func runner(stages: [String], state: String? = nil) throws -> (ExperimentRunner, URL, URL) {
        let cfg = dir.appendingPathComponent("m.json")
        try Recovery.write(Recovery.config(name: "m", stages: stages), to: cfg)
        let run = dir.appendingPathComponent("runs/m")
        if let state {
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            try state.write(to: run.appendingPathComponent("state.json"), atomically: true, encoding: .utf8)
        }
        return (try ExperimentRunner(config: try ExperimentConfig.load(path: cfg.path), runDir: run), run, cfg)
    }

    func expectMessage(_ body: () throws -> Void, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue(e is UserError, "\(type(of: e))", file: file, line: line)
            XCTAssertEqual("\(e)", message, file: file, line: line)
        }
    }

    func testAMissingTokenizerOrModelNamesTheRunDirectory() throws {
        var (r, run, cfg) = try runner(stages: ["pretrain"])
        expectMessage({ _ = try r.tokenizer }, "\(run.path): tokenizer.json is not in the run directory; add \"tokenizer\" to the stages of \(cfg.path), or init_from a run that has it")
        expectMessage({ _ = try r.requireModel("sft", for: .ppo) },
                      "\(run.path): stage \"ppo\" needs models/sft.safetensors, which is not in the run directory; add \"sft\" to the stages of \(cfg.path), or init_from a run that has it")
        (r, run, cfg) = try runner(stages: ["tokenizer", "pretrain", "sft"], state: #"{"finished": ["tokenizer", "pretrain"], "stageSeconds": {}, "summaries": {}, "notes": {}}"#)
        expectMessage({ _ = try r.tokenizer }, "\(run.path): tokenizer.json is missing, though this run's tokenizer stage finished; put the file back, or start the run again in a new directory")
        expectMessage({ _ = try r.requireModel("pretrain", for: .sft) },
                      "\(run.path): stage \"sft\" needs models/pretrain.safetensors, which is missing, though this run's pretrain stage finished; put the file back, or start the run again in a new directory")
    }

    func testAConfigPathThatIsNotAFileSaysWhatItIs() throws {
        let fix = "not a config file; give the path of a JSON experiment file (configs/quickstart.json is a ready one)"
        let r = try runRLHF(["run", dir.path])
        XCTAssertEqual(r.code, 2)
        XCTAssertEqual(r.stderr, "error: \(dir.path): is a directory, \(fix)\n")
        let fifo = dir.appendingPathComponent("config.json").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let f = try runRLHF(["run", fifo])
        XCTAssertEqual(f.code, 2)
        XCTAssertEqual(f.stderr, "error: \(fifo): is not a regular file (a named pipe), \(fix)\n")
    }

    // MARK: - Creation

    func testAnAbandonedCreationIsRemovedAndALiveOneKept() throws {
        let runs = dir.appendingPathComponent("runs")
        let dead = runs.appendingPathComponent(".tok.tmp-999999999")
        let live = runs.appendingPathComponent(".tok.tmp-1")
        for d in [dead, live] {
            try FileManager.default.createDirectory(at: d.appendingPathComponent("models"), withIntermediateDirectories: true)
            try "{}".write(to: d.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        }
        // One being created by a living process holds its lock.
        let lock = try RunLock(file: live.appendingPathComponent(".lock"), for: runs.appendingPathComponent("tok"))
        defer { lock.release() }
        let cfg = dir.appendingPathComponent("tok.json")
        try Recovery.write(Recovery.config(name: "tok", stages: ["tokenizer"]), to: cfg)
        let r = try runRLHF(["run", cfg.path, "--out", runs.appendingPathComponent("tok").path])
        XCTAssertEqual(r.code, 0, r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: runs.path).sorted(), [".tok.tmp-1", "tok"])
    }
}
