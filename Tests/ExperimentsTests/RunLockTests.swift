import Foundation
import XCTest
@testable import Experiments

/// One writer per run directory (a flock on RUN/.lock held by `run`, `resume` and `eval`), and
/// signals: SIGHUP stops a run the way SIGINT and SIGTERM do. The tests run the `rlhf` binary.
final class RunLockTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("runlock-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func refusal(_ run: URL) -> String {
        let text = Recovery.text(run.appendingPathComponent(".lock"))
        let lines = text.split(separator: "\n")
        let pid = lines.first { $0.hasPrefix("pid ") }?.dropFirst(4) ?? "?"
        let started = lines.first { $0.hasPrefix("started ") }?.dropFirst(8) ?? "?"
        return "error: \(run.path) is in use by another rlhf process (pid \(pid), started \(started)); wait for it or stop it\n"
    }

    /// A finished tokenizer-only run (a second, quick to make).
    func tokenizerRun() throws -> (run: URL, config: URL) {
        let cfg = dir.appendingPathComponent("tok.json")
        try Recovery.write(Recovery.config(name: "tok", stages: ["tokenizer"]), to: cfg)
        let run = dir.appendingPathComponent("runs/tok")
        let r = try runRLHF(["run", cfg.path, "--out", run.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        return (run, cfg)
    }

    func testEveryWriterIsRefusedWhileAnotherHoldsTheRun() throws {
        let (run, cfg) = try tokenizerRun()
        // This process holds the run as an rlhf process would.
        let lock = try RunLock(runDirectory: run)
        XCTAssertTrue(Recovery.text(run.appendingPathComponent(".lock")).hasPrefix("pid \(getpid())\nstarted "))
        let expected = refusal(run)
        for args in [["resume", run.path], ["eval", run.path], ["run", cfg.path, "--out", run.path]] {
            let r = try runRLHF(args)
            XCTAssertEqual(r.code, 2, "\(args)")
            XCTAssertEqual(r.stderr, expected, "\(args)")
        }
        // Readers are not refused.
        let compare = try runRLHF(["compare", run.path])
        XCTAssertEqual(compare.code, 0, compare.stderr)
        lock.release()
        let resumed = try runRLHF(["resume", run.path])
        XCTAssertEqual(resumed.code, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("[tokenizer] already finished, skipping"), resumed.stderr)
    }

    func testALockFileLeftByAKilledProcessBlocksNobody() throws {
        let (run, _) = try tokenizerRun()
        // A holder that dies with kill -9: its lock file stays, naming it; the lock does not.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec flock --no-fork -x \(run.appendingPathComponent(".lock").path) sleep 30"]
        try holder.run()
        XCTAssertTrue(Recovery.waitUntil(5) { RunLock.isHeld(run.appendingPathComponent(".lock")) }, "flock(1) did not take the lock")
        XCTAssertEqual(try runRLHF(["resume", run.path]).code, 2)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(".lock").path))
        let r = try runRLHF(["resume", run.path])
        XCTAssertEqual(r.code, 0, r.stderr)
    }

    /// A config whose pretraining lasts long enough to meet it with other commands (≈ 4 s).
    func longConfig() throws -> URL {
        let cfg = dir.appendingPathComponent("long.json")
        try Recovery.write(Recovery.config(name: "long", stages: ["tokenizer", "pretrain"],
                                           sections: ["pretrain": #"{"steps": 600, "batch_size": 4, "eval_every": 0, "checkpoint_every": 100}"#]), to: cfg)
        return cfg
    }

    func testRunAgainstResumeEvalAndRunOnOneDirectory() throws {
        let cfg = try longConfig()
        let run = dir.appendingPathComponent("runs/long")
        // Two `rlhf run` into one new directory at the same moment: one runs, the other is refused.
        let a = try Recovery.start(["run", cfg.path, "--out", run.path], stderr: dir.appendingPathComponent("a.err"))
        let b = try Recovery.start(["run", cfg.path, "--out", run.path], stderr: dir.appendingPathComponent("b.err"))
        XCTAssertTrue(Recovery.waitUntil(30) { !Recovery.steps(run).isEmpty || !a.isRunning || !b.isRunning })
        XCTAssertTrue(Recovery.waitUntil(10) { !a.isRunning || !b.isRunning })
        let (loser, winner, loserErr) = b.isRunning ? (a, b, "a.err") : (b, a, "b.err")
        loser.waitUntilExit()
        XCTAssertTrue(Recovery.waitUntil(30) { !Recovery.steps(run).isEmpty || !winner.isRunning })
        XCTAssertEqual(loser.terminationStatus, 2)
        XCTAssertTrue(winner.isRunning, "the run finished before the checks; make it longer")
        let expected = refusal(run)
        XCTAssertTrue(expected.contains("(pid \(winner.processIdentifier), started "), expected)
        XCTAssertEqual(Recovery.text(dir.appendingPathComponent(loserErr)), expected)
        // While it runs, resume, eval and another run are refused.
        for args in [["resume", run.path], ["eval", run.path], ["run", cfg.path, "--out", run.path]] {
            let r = try runRLHF(args)
            XCTAssertEqual(r.code, 2, "\(args)")
            XCTAssertEqual(r.stderr, expected, "\(args)")
        }
        XCTAssertTrue(winner.isRunning, "the run finished before the checks; make it longer")
        // SIGHUP stops it as SIGINT and SIGTERM do: a checkpoint, one line, exit code 130.
        kill(winner.processIdentifier, SIGHUP)
        winner.waitUntilExit()
        XCTAssertEqual(winner.terminationReason, .exit)
        XCTAssertEqual(winner.terminationStatus, 130)
        let err = Recovery.text(dir.appendingPathComponent(loserErr == "a.err" ? "b.err" : "a.err"))
        let last = err.split(separator: "\n").last.map(String.init) ?? ""
        let step = Recovery.steps(run).last.flatMap { Int($0.split(separator: ":")[1]) } ?? -1
        XCTAssertEqual(last, "error: stopped during pretrain at step \(step) after saving a checkpoint; continue with: rlhf resume \(run.path)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/pretrain/step-\(String(format: "%06d", step))").path))
        // The lock went with the process; the resumed run logs every step once.
        let r = try runRLHF(["resume", run.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        XCTAssertEqual(Recovery.steps(run), (1...600).map { "pretrain:\($0)" })
    }

    func testEverySignalStopsATrainerWithOneLineAndCode130() throws {
        let cfg = try longConfig()
        for (name, sig) in [("SIGINT", SIGINT), ("SIGTERM", SIGTERM), ("SIGHUP", SIGHUP)] {
            let run = dir.appendingPathComponent("runs/\(name)")
            let err = dir.appendingPathComponent("\(name).err")
            let p = try Recovery.start(["run", cfg.path, "--out", run.path], stderr: err)
            XCTAssertTrue(Recovery.waitUntil(30) { Recovery.steps(run).count >= 2 || !p.isRunning })
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .exit, name)
            XCTAssertEqual(p.terminationStatus, 130, name)
            let step = Recovery.steps(run).last.flatMap { Int($0.split(separator: ":")[1]) } ?? -1
            XCTAssertEqual(Recovery.text(err).split(separator: "\n").last.map(String.init),
                           "error: stopped during pretrain at step \(step) after saving a checkpoint; continue with: rlhf resume \(run.path)", name)
        }
    }

    /// In a stage without checkpoints a signal ends the process at once, with its one line.
    func testASignalDuringAStageWithoutCheckpointsStopsAtOnce() throws {
        let cfg = dir.appendingPathComponent("tok.json")
        try Recovery.write(Recovery.config(name: "tok", stages: ["tokenizer"], sections: [
            "data": #"{"task": "tldr-synth", "train_posts": 120, "valid_posts": 16, "test_posts": 12, "corpus_posts": 2000, "max_prompt_tokens": 150, "max_completion_tokens": 24}"#,
            "tokenizer": #"{"vocab_size": 8000, "corpus_posts": 2000}"#]), to: cfg)
        let run = dir.appendingPathComponent("runs/tok")
        let err = dir.appendingPathComponent("tok.err")
        let p = try Recovery.start(["run", cfg.path, "--out", run.path], stderr: err)
        XCTAssertTrue(Recovery.waitUntil(30) { Recovery.text(err).contains("[tokenizer] training") || !p.isRunning })
        let t0 = Date()
        kill(p.processIdentifier, SIGHUP)
        p.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1, "the stage ran on after the signal")
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 130)
        XCTAssertEqual(Recovery.text(err).split(separator: "\n").last.map(String.init),
                       "error: stopped during tokenizer (a stage without checkpoints: it starts over); continue with: rlhf resume \(run.path)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("tokenizer.json").path))
    }
}
