import XCTest
import Foundation

/// Bad run names, output directories, run files and flags: one line on stderr naming the file and
/// the fix, exit code 2, and nothing the user had is overwritten (tests run the `rlhf` binary).
final class RunInputTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("runinput-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: dir)
    }

    // MARK: - Helpers

    /// Runs `rlhf args` in `cwd` (default: the test directory).
    func rlhf(_ args: [String], cwd: URL? = nil) throws -> (code: Int32, stdout: String, stderr: String) {
        try runRLHF(args, cwd: cwd ?? dir)
    }

    func expectError(_ args: [String], _ message: String, cwd: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try rlhf(args, cwd: cwd)
        XCTAssertEqual(r.code, 2, "exit code for \(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr, "error: " + message + "\n", file: file, line: line)
    }

    /// The micro configuration of PipelineTests (one thread), limited to `stages`.
    func writeMicro(_ name: String = "micro", stages: [String]? = nil, data: String? = nil) throws -> URL {
        let stagesLine = stages.map { "\"stages\": [" + $0.map { "\"\($0)\"" }.joined(separator: ", ") + "]," } ?? ""
        let text = """
        {
          "name": "\(name)", "seed": 3, "threads": 1, \(stagesLine)
          "data": \(data ?? #"{"task": "tldr-synth", "train_posts": 120, "valid_posts": 16, "test_posts": 12, "corpus_posts": 150, "max_prompt_tokens": 150, "max_completion_tokens": 24}"#),
          "tokenizer": {"vocab_size": 400, "corpus_posts": 120},
          "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 176},
          "pretrain": {"steps": 6, "batch_size": 4, "eval_every": 3, "checkpoint_every": 3},
          "eval": {"temperatures": [0], "prompts": 2}
        }
        """
        let u = dir.appendingPathComponent("\(name).json")
        try text.write(to: u, atomically: true, encoding: .utf8)
        return u
    }

    /// A run directory with the given state.json and config.json texts (no training).
    func fakeRun(_ name: String, state: String, config: String = #"{"name": "fake", "threads": 1}"#) throws -> URL {
        let run = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try state.write(to: run.appendingPathComponent("state.json"), atomically: true, encoding: .utf8)
        try config.write(to: run.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        return run
    }

    static let emptyState = #"{"finished": [], "stageSeconds": {}, "summaries": {}, "notes": {}}"#

    /// A directory that `compare` accepts (summary.json only).
    func fakeFinishedRun(_ name: String) throws -> URL {
        let run = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try #"{"name": "\#(name)", "finished": [], "stages": {}}"#.write(to: run.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        return run
    }

    func read(_ u: URL) throws -> String { try String(contentsOf: u, encoding: .utf8) }

    // MARK: - 3. A damaged state.json is an error, never a fresh start

    func testDamagedStateIsAnErrorNotARestart() throws {
        let damaged = "{\"finished\": [\"tokenizer\""
        let run = try fakeRun("damaged", state: damaged)
        let state = run.appendingPathComponent("state.json").path
        let message = "\(state): the run state is damaged (invalid JSON at line 1, column 26: unexpected end of file inside an array); restore it from a backup, or start the run again in a new directory"
        try expectError(["resume", run.path], message)
        try expectError(["eval", run.path], message)
        // Valid JSON of the wrong shape.
        try #"{"finished": "all"}"#.write(toFile: state, atomically: true, encoding: .utf8)
        try expectError(["resume", run.path], "\(state): the run state is damaged (unexpected value at finished); restore it from a backup, or start the run again in a new directory")
        try damaged.write(toFile: state, atomically: true, encoding: .utf8)
        // Nothing was rewritten or created.
        XCTAssertEqual(try read(run.appendingPathComponent("state.json")), damaged)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.path).sorted(), ["config.json", "state.json"])
    }

    // MARK: - 1. Run names that are not a directory name

    func testRunNamesThatEscapeTheRunsDirectory() throws {
        let cfg = try writeMicro()
        for bad in ["..", ".", "a\\b"] {
            try expectError(["run", cfg.path, "--set", "name=\(bad)", "--dry-run"],
                            "\(cfg.path): name: expected a run name usable as a directory name (not empty, \".\" or \"..\", without '/', '\\' or control characters), found \(quoted(bad)); e.g. \"my-run\"")
        }
        // Nothing was written next to the config (the run would have gone to runs/.. = the working directory).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["micro.json"])
    }

    func quoted(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\") + "\"" }

    // MARK: - 2. --out: never into the user's files

    func testOutIntoAnExistingNonRunDirectoryIsRefused() throws {
        let cfg = try writeMicro()
        let user = dir.appendingPathComponent("mine")
        try FileManager.default.createDirectory(at: user, withIntermediateDirectories: true)
        try "keep me\n".write(to: user.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        try expectError(["run", cfg.path, "--out", user.path],
                        "\(user.path): not empty and not a run directory (no state.json); a run would overwrite its files: choose another --out, or move its 1 entry away")
        XCTAssertEqual(try read(user.appendingPathComponent("metrics.jsonl")), "keep me\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: user.path), ["metrics.jsonl"])

        let file = dir.appendingPathComponent("afile")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        try expectError(["run", cfg.path, "--out", file.path], "\(file.path): exists and is not a directory; choose another --out")
        try expectError(["run", cfg.path, "--out", ""], "--out: expected a directory path, found an empty string; e.g. --out runs/micro")
    }

    // MARK: - 4. Resume after the last checkpoint, before the state was saved

    func testResumeOfAStageStoppedAfterItsFinalCheckpoint() throws {
        let cfg = try writeMicro(stages: ["tokenizer", "pretrain"])
        let run = dir.appendingPathComponent("runs/r")
        let first = try rlhf(["run", cfg.path, "--out", run.path])
        XCTAssertEqual(first.code, 0, first.stderr)
        let stateURL = run.appendingPathComponent("state.json")
        let finished = try JSONSerialization.jsonObject(with: Data(contentsOf: stateURL)) as! [String: Any]
        let loss = ((finished["summaries"] as! [String: Any])["pretrain"] as! [String: Any])["final_loss"] as! Double
        // As if killed after pretrain's checkpoint at step 6, before state.json recorded the stage.
        var killed = finished
        killed["finished"] = ["tokenizer"]
        var summaries = finished["summaries"] as! [String: Any]
        summaries["pretrain"] = nil
        killed["summaries"] = summaries
        try JSONSerialization.data(withJSONObject: killed).write(to: stateURL)
        let r = try rlhf(["resume", run.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        let resumed = try JSONSerialization.jsonObject(with: Data(contentsOf: stateURL)) as! [String: Any]
        XCTAssertEqual(resumed["finished"] as? [String], ["tokenizer", "pretrain"])
        let s = (resumed["summaries"] as! [String: Any])["pretrain"] as! [String: Any]
        XCTAssertEqual(s["final_loss"] as? Double, loss, "the final loss comes from metrics.jsonl")
        XCTAssertEqual(s["steps"] as? Double, 6)
    }

    // MARK: - 5. File-system errors: the path and the cause

    func testFileSystemErrorsNameThePathAndTheCause() throws {
        let cfg = try writeMicro()
        let file = dir.appendingPathComponent("afile")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        let sub = file.appendingPathComponent("sub")
        try expectError(["run", cfg.path, "--out", sub.path],
                        "\(sub.path): cannot create the run directory (\(file.path) is a file, not a directory); choose another --out")
        try expectError(["data", "tldr-synth", "--posts", "2", "--out", sub.path],
                        "\(sub.path): cannot create the data directory (\(file.path) is a file, not a directory); choose another --out")
        let done = try fakeFinishedRun("done")
        try expectError(["compare", done.path, "--out", sub.path],
                        "\(sub.path): cannot create the report directory (\(file.path) is a file, not a directory); choose another --out")
        // A run whose metrics.jsonl is a directory.
        let run = try fakeRun("weird", state: Self.emptyState)
        try FileManager.default.createDirectory(at: run.appendingPathComponent("metrics.jsonl"), withIntermediateDirectories: true)
        try expectError(["resume", run.path],
                        "\(run.path)/metrics.jsonl: cannot open for writing (is a directory); remove or rename it")
    }

    // MARK: - 6. Messages name the file that is wrong

    func testRunConfigMistakesNameTheRunsConfig() throws {
        let original = try writeMicro()
        let state = #"{"finished": [], "stageSeconds": {}, "summaries": {}, "notes": {"config_file": "\#(original.path)"}}"#
        let run = try fakeRun("badkey", state: state, config: #"{"name": "badkey", "sft": {"lrr": 0.1}}"#)
        let message = "\(run.path)/config.json: sft.lrr: unknown key; did you mean \"lr\"?"
        try expectError(["resume", run.path], message)
        try expectError(["eval", run.path], message)
    }

    func testCompareReportsDamagedRunFiles() throws {
        let run = try fakeFinishedRun("r")
        let summary = run.appendingPathComponent("summary.json")
        try "{\"name\": ".write(to: summary, atomically: true, encoding: .utf8)
        try expectError(["compare", run.path],
                        "\(summary.path): invalid JSON (line 1, column 10: unexpected end of file, expected a value); re-create it with: rlhf resume \(run.path)")
        try #"{"name": "r", "finished": [], "stages": {}}"#.write(to: summary, atomically: true, encoding: .utf8)
        try "{\"policies\": [}".write(to: run.appendingPathComponent("eval.json"), atomically: true, encoding: .utf8)
        try expectError(["compare", run.path],
                        "\(run.path)/eval.json: invalid JSON (line 1, column 15: unexpected character '}', expected a value); re-create it with: rlhf eval \(run.path)")
        try FileManager.default.removeItem(at: run.appendingPathComponent("eval.json"))
        // A last line cut short (a run killed mid-write) is skipped; damage before it is reported.
        let metrics = run.appendingPathComponent("metrics.jsonl")
        try "{\"stage\": \"sft\", \"step\": 1}\n{\"stage\": \"sft\", \"st\n".write(to: metrics, atomically: true, encoding: .utf8)
        XCTAssertEqual(try rlhf(["compare", run.path]).code, 0)
        try "{\"stage\": \"sft\", \"step\": 1}\n{\"stage\": \"sft\", \"st\n{\"stage\": \"sft\", \"step\": 3}\n".write(to: metrics, atomically: true, encoding: .utf8)
        try expectError(["compare", run.path],
                        "\(run.path)/metrics.jsonl: line 2: invalid JSON (column 21: unterminated string); delete or repair that line")
    }

    // MARK: - 7. Negative and non-finite sampling options meet the range checks

    func testNegativeAndNonFiniteSampleOptions() throws {
        try expectError(["sample", dir.path, "--prompt", "x", "--temperature", "-1"], "--temperature must be ≥ 0, found -1.0 (see rlhf --help)")
        try expectError(["sample", dir.path, "--prompt", "x", "--top-k", "-1"], "--top-k must be ≥ 0, found -1 (see rlhf --help)")
        try expectError(["sample", dir.path, "--prompt", "x", "--seed", "-1"], "--seed must be ≥ 0, found -1 (see rlhf --help)")
        try expectError(["sample", dir.path, "--prompt", "x", "--temperature", "inf"], "--temperature must be a finite number ≥ 0, found inf (see rlhf --help)")
    }

    /// Help of a subcommand stays help (exit 0), not an error.
    func testSubcommandHelp() throws {
        for args in [["data", "tldr-synth", "--help"], ["help", "run"]] {
            let r = try rlhf(args)
            XCTAssertEqual(r.code, 0, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr, "", "\(args)")
            XCTAssertTrue(r.stdout.contains("USAGE:"), r.stdout)
        }
        XCTAssertTrue(try rlhf(["data", "tldr-synth", "--help"]).stdout.contains("--force"))
    }

    // MARK: - 8. Empty bench lists

    func testEmptyBenchListsAreErrors() throws {
        try expectError(["bench", "--shapes", ""], "--shapes: expected a comma-separated list of tiny, small, gpt2 (e.g. tiny,small), found \"\"")
        try expectError(["bench", "--shapes", ","], "--shapes: expected a comma-separated list of tiny, small, gpt2 (e.g. tiny,small), found \",\"")
        try expectError(["bench", "--parts", ","], "--parts: expected all or a comma-separated list of train, generate, dpo, ppo, grpo, rloo, tokenizer, found \",\"")
    }

    // MARK: - 9. One line, whatever the user's text holds

    func testMessagesWithNewlinesStayOneLine() throws {
        let path = dir.appendingPathComponent("a\nb.json").path
        try expectError(["run", path], "\(dir.path)/a\\nb.json: config file not found; check the path (configs/quickstart.json is a ready one)")
    }

    // MARK: - 10. data tldr-synth does not overwrite without --force

    func testDataWriterRefusesToOverwrite() throws {
        let out = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try "mine\n".write(to: out.appendingPathComponent("train.jsonl"), atomically: true, encoding: .utf8)
        try expectError(["data", "tldr-synth", "--posts", "2", "--out", out.path],
                        "\(out.path)/train.jsonl: already exists; pass --force to overwrite the data set's files, or choose another --out")
        XCTAssertEqual(try read(out.appendingPathComponent("train.jsonl")), "mine\n")
        let forced = try rlhf(["data", "tldr-synth", "--posts", "2", "--out", out.path, "--force"])
        XCTAssertEqual(forced.code, 0, forced.stderr)
        XCTAssertNotEqual(try read(out.appendingPathComponent("train.jsonl")), "mine\n")
        try expectError(["data", "tldr-synth", "--out", ""], "--out: expected a directory path, found an empty string; e.g. --out data/tldr (see rlhf --help)")
    }

    // MARK: - 11. A bad data file stops the run before the run directory exists

    func testBadDataFileLeavesNoRunBehind() throws {
        let bad = dir.appendingPathComponent("train.jsonl")
        try "not json\n".write(to: bad, atomically: true, encoding: .utf8)
        let cfg = try writeMicro("files", stages: ["tokenizer", "pretrain"],
                                 data: #"{"task": "files", "sft_train": "train.jsonl", "max_prompt_tokens": 150, "max_completion_tokens": 24}"#)
        let run = dir.appendingPathComponent("runs/files")
        let r = try rlhf(["run", cfg.path, "--out", run.path])
        XCTAssertEqual(r.code, 2, r.stderr)
        // (The data error's own wording belongs to the loader's tests.)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(bad.path):1: "), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path), "a failed start leaves no run directory")
        // A run that fails later says how to start over.
        let started = try fakeRun("started", state: Self.emptyState)
        try expectError(["run", cfg.path, "--out", started.path],
                        "\(started.path) already holds a run; continue it with: rlhf resume \(started.path) (which keeps that run's config.json), or, to start over with this config, delete \(started.path) or choose another --out")
    }
}
