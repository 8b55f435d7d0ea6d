import Foundation
import XCTest

/// The whole pipeline (tokenizer, pretrain, sft, preferences, reward_model, ppo, dpo, grpo, rloo,
/// online_dpo, eval) as a child process, killed with SIGKILL at random moments (and at moments
/// chosen to fall into the windows where a resume can go wrong) and resumed until done, ends with
/// the same bytes as an uninterrupted run: every model, snapshot, eval.json, the logs (less their
/// clock readings). After every kill the run directory is absent or a complete run, and after the
/// last resume nothing half-written is left.
final class FaultInjectionTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// Checkpoints at most steps, so that kills land between checkpoints of every trainer.
    static let sections = [
        "pretrain": #"{"steps": 6, "batch_size": 4, "eval_every": 3, "checkpoint_every": 2}"#,
        "sft": #"{"steps": 6, "batch_size": 4, "eval_every": 3, "checkpoint_every": 2}"#,
        "reward_model": #"{"steps": 4, "batch_size": 4, "eval_every": 2, "checkpoint_every": 1}"#,
        "dpo": #"{"steps": 3, "batch_size": 4, "eval_every": 3, "checkpoint_every": 1, "snapshot_every": 2}"#,
        "grpo": #"{"steps": 3, "batch_size": 2, "num_generations": 4, "grad_accum": 2, "max_completion_length": 10, "checkpoint_every": 1, "snapshot_every": 2}"#,
        "rloo": #"{"steps": 3, "batch_size": 2, "num_generations": 3, "max_completion_length": 10, "checkpoint_every": 1}"#,
        "online_dpo": #"{"judge": "reward_model", "steps": 3, "batch_size": 4, "max_completion_length": 10, "checkpoint_every": 1}"#,
    ]

    /// splitmix64: the kill moments, the same at every run of the test.
    struct Moments {
        var state: UInt64
        mutating func next(below limit: Double) -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 11) / Double(1 << 53) * limit
        }
    }

    /// When a kill lands: at a random moment, or as soon as the child reaches a point where a
    /// careless resume goes wrong (polled every millisecond, so the kill lands in the window that
    /// follows it or shortly after).
    enum Moment {
        case random
        /// A trainer logged its first step, before its first checkpoint (a resume must drop that row).
        case firstRow(String)
        /// A stage's final checkpoint is published, its state not yet recorded (a resume must not
        /// log the rows that follow it twice, nor write other bytes).
        case published(String, Int)
        /// The run directory exists (it must be whole).
        case created
    }

    func reached(_ m: Moment, _ run: URL) -> Bool {
        switch m {
        case .random: return false
        case .created: return FileManager.default.fileExists(atPath: run.path)
        case .firstRow(let stage):
            return Recovery.text(run.appendingPathComponent("metrics.jsonl")).contains("{\"stage\":\"\(stage)\",\"step\":1,")
        case .published(let stage, let step):
            return FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/\(stage)/" + String(format: "step-%06d", step)).path)
        }
    }

    func testKilledAtRandomMomentsTheRunResumesToTheSameBytes() throws {
        let cfg = dir.appendingPathComponent("micro.json")
        try Recovery.write(Recovery.config(name: "micro", sections: Self.sections), to: cfg)
        let runs = dir.appendingPathComponent("runs")
        let reference = runs.appendingPathComponent("reference")
        let t0 = Date()
        let r = try runRLHF(["run", cfg.path, "--out", reference.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        let duration = Date().timeIntervalSince(t0)
        let start = Date()
        var moments = Moments(state: 20_261_207)
        let plans: [[Moment]] = [
            [.created, .firstRow("pretrain"), .random],
            [.published("sft", 6), .random, .random],
            [.firstRow("sft"), .published("reward_model", 4), .random],
            [.random, .firstRow("dpo"), .random],
            [.firstRow("grpo"), .published("rloo", 3), .random],
            [.published("grpo", 3), .firstRow("online_dpo"), .random],
            [.random, .random, .random],
        ]
        var kills = 0
        for (seed, plan) in plans.enumerated() {
            let run = runs.appendingPathComponent("killed-\(seed)")
            let state = run.appendingPathComponent("state.json")
            func command() -> [String] {
                FileManager.default.fileExists(atPath: state.path) ? ["resume", run.path] : ["run", cfg.path, "--out", run.path]
            }
            for (attempt, moment) in plan.enumerated() {
                let err = dir.appendingPathComponent("killed-\(seed)-\(attempt).err")
                let p = try Recovery.start(command(), stderr: err)
                if case .random = moment {
                    Recovery.waitUntil(0.02 + moments.next(below: duration)) { !p.isRunning }
                } else {
                    let end = Date().addingTimeInterval(2 * duration + 5)
                    while p.isRunning && Date() < end && !reached(moment, run) { usleep(1000) }
                }
                if p.isRunning {
                    kill(p.processIdentifier, SIGKILL)
                    kills += 1
                }
                p.waitUntilExit()
                if p.terminationReason == .exit {
                    XCTAssertEqual(p.terminationStatus, 0, "plan \(seed), attempt \(attempt) ended on its own: \(Recovery.text(err))")
                }
                // All of the run directory or none of it, whenever the kill landed.
                XCTAssertTrue(!FileManager.default.fileExists(atPath: run.path) || FileManager.default.fileExists(atPath: state.path),
                              "plan \(seed), attempt \(attempt): \(run.path) exists without state.json: \(Recovery.files(run))")
            }
            let last = try runRLHF(command())
            XCTAssertEqual(last.code, 0, "plan \(seed): \(last.stderr)")
            try expectSameResults(reference, run, "plan \(seed) \(plan)")
        }
        XCTAssertEqual(Recovery.leftovers(runs), [], "half-written files or directories left behind")
        print("fault injection: \(kills) kills over \(plans.count) runs of the pipeline in \(String(format: "%.1f", Date().timeIntervalSince(start))) s (one uninterrupted run: \(String(format: "%.1f", duration)) s)")
        XCTAssertGreaterThanOrEqual(kills, 6, "too few kills landed to test anything")
    }

    func expectSameResults(_ a: URL, _ b: URL, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let models = Recovery.files(a.appendingPathComponent("models"))
        for m in ["ppo", "dpo", "grpo", "rloo", "online_dpo"] {
            XCTAssertTrue(models.contains("\(m).safetensors"), "models/\(m).safetensors missing: \(models)", file: file, line: line)
        }
        XCTAssertTrue(models.contains("snapshots/dpo-000002.safetensors") && models.contains("snapshots/grpo-000002.safetensors"), "\(models)",
                      file: file, line: line)
        XCTAssertEqual(Recovery.files(b.appendingPathComponent("models")), models, what, file: file, line: line)
        for f in models.map({ "models/" + $0 }) + ["eval.json", "eval_samples.jsonl", "samples.jsonl", "tokenizer.json",
                                                   "data/preferences_train.jsonl", "data/preferences_valid.jsonl"] {
            let x = try Data(contentsOf: a.appendingPathComponent(f)), y = try Data(contentsOf: b.appendingPathComponent(f))
            XCTAssertTrue(x == y, "\(what): \(f) differs from the uninterrupted run's", file: file, line: line)
        }
        XCTAssertNil(Recovery.firstDifference(Recovery.timelessMetrics(b), Recovery.timelessMetrics(a)), "\(what): metrics.jsonl", file: file, line: line)
    }
}
