import XCTest
import Foundation

/// The `rlhf` binary turns bad input into one line on stderr and exit code 2.
final class CommandLineTests: XCTestCase {
    func run(_ args: [String]) throws -> (code: Int32, stdout: String, stderr: String) { try runRLHF(args) }

    func run(executable: URL, _ args: [String]) throws -> (code: Int32, stdout: String, stderr: String) {
        try runProcess(executable, args)
    }

    func expectUsageError(_ args: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args)
        XCTAssertEqual(r.code, 2, "exit code for \(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr, "error: " + message + "\n", file: file, line: line)
    }

    func testMissingConfigFile() throws {
        try expectUsageError(["run", "/nonexistent/x.json"], "/nonexistent/x.json: config file not found; check the path (configs/quickstart.json is a ready one)")
    }

    func testBadValueThroughSet() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).json")
        try #"{"sft": {}}"#.write(to: tmp, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: tmp) }
        try expectUsageError(["run", tmp.path, "--set", "sft.lr=fast", "--dry-run"], "\(tmp.path): sft.lr: expected a number in (0, 1], found \"fast\"")
        let ok = try run(["run", tmp.path, "--set", "sft.lr=0.01", "--dry-run"])
        XCTAssertEqual(ok.code, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("\"lr\": 0.01"), ok.stdout)
    }

    func testResumeOfSomethingThatIsNotARun() throws {
        try expectUsageError(["resume", "/tmp"], "/tmp: not a run directory (no state.json); start one with: rlhf run CONFIG.json")
    }

    /// Every --threads takes the config's range (1...256), and sizes no memory can hold are refused
    /// before any work, --dry-run included.
    func testThreadFlagsAndSizesAreRangeChecked() throws {
        for n in [0, 257, 100_000] {
            try expectUsageError(["bench", "--threads", "\(n)"], "--threads: expected an integer in 1...256, found \(n)")
            try expectUsageError(["verify", "/nonexistent-run", "--threads", "\(n)"], "--threads: expected an integer in 1...256, found \(n)")
        }
        let memory = ProcessInfo.processInfo.physicalMemory
        let most = "expected at most \(memory / 800) posts (each takes at least 800 bytes of memory and this machine has \(String(format: "%.1f GB", Double(memory) / 1e9)))"
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try expectUsageError(["data", "tldr-synth", "--out", out.path, "--posts", "1000000000000"], "--posts: \(most), found 1000000000000; lower it")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        let cfg = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).json")
        try #"{"stages": ["tokenizer", "sft"]}"#.write(to: cfg, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: cfg) }
        try expectUsageError(["run", cfg.path, "--set", "data.train_posts=1000000000000", "--dry-run"],
                             "\(cfg.path): data.train_posts: \(most), found 1000000000000; lower it")
        try expectUsageError(["run", cfg.path, "--set", "tokenizer.corpus_posts=99999999999", "--dry-run"],
                             "\(cfg.path): tokenizer.corpus_posts: \(most), found 99999999999; lower it")
    }

    func testBadFlags() throws {
        try expectUsageError(["bench", "--shapes", "huge"], "--shapes: unknown shape \"huge\"; expected a comma-separated list of tiny, small, gpt2 (e.g. tiny,small)")
        try expectUsageError(["bench", "--parts", "train,trian"],
                             "--parts: unknown part \"trian\"; expected all or a comma-separated list of train, generate, dpo, ppo, grpo, rloo, tokenizer")
        try expectUsageError(["eval", "/nonexistent-run", "--set", "model.n_layer=3"],
                             "--set model.n_layer=3: rlhf eval takes only eval.* settings and threads (e.g. --set eval.prompts=100); the run's other settings are the ones it trained with")
        let r = try run(["frobnicate"])
        XCTAssertEqual(r.code, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr)
        let s = try run(["sample", "/tmp", "--prompt", "x", "--temperature=-1"])
        XCTAssertEqual(s.code, 2)
        XCTAssertTrue(s.stderr.contains("--temperature must be ≥ 0, found -1.0"), s.stderr)
    }

    func testCorruptCheckpoint() throws {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("ck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: d) }
        let ck = d.appendingPathComponent("model.safetensors")
        try Data([1, 2, 3]).write(to: ck)
        let tok = d.appendingPathComponent("tokenizer.json")
        try "{}".write(to: tok, atomically: true, encoding: .utf8)
        try expectUsageError(["sample", ck.path, "--prompt", "hi", "--tokenizer", tok.path],
                             "checkpoint \(ck.path): not a safetensors file (3 bytes)")
    }

    // MARK: scripts/bench_vs_torch.sh (bad flags end before any build or download)

    func expectScriptError(_ args: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let r = try run(executable: URL(fileURLWithPath: "/bin/bash"), [repo.appendingPathComponent("scripts/bench_vs_torch.sh").path] + args)
        XCTAssertEqual(r.code, 2, "exit code for \(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr, "bench_vs_torch.sh: " + message + "\n", file: file, line: line)
    }

    func testBenchVsTorchBadFlags() throws {
        let usage = "expected --peer PATH, --venv DIR, --rounds N or --shapes LIST"
        let peer = #filePath     // any existing file passes the --peer check
        try expectScriptError(["--bogus"], "unknown argument '--bogus'; " + usage)
        try expectScriptError(["--rounds"], "--rounds needs a value; " + usage)
        try expectScriptError(["--peer", "/nonexistent/torch_bench.py"],
                              "/nonexistent/torch_bench.py not found; pass the peers' torch_bench.py with --peer PATH")
        try expectScriptError(["--peer", peer, "--rounds", "0"], "--rounds: expected a positive integer")
        try expectScriptError(["--peer", peer, "--rounds", "two"], "--rounds: expected a positive integer")
        try expectScriptError(["--peer", peer, "--shapes", "tiny,huge"], "--shapes: unknown shape 'huge'; expected a comma-separated list of tiny, small, gpt2")
    }
}
