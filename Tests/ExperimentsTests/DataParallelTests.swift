import Foundation
import GPT
import JSON
import XCTest

/// `mpirun -np 2 rlhf run` against one process: the same losses and the same weights up to the
/// order of floating-point sums, rank 0 alone writes, and a mistake ends the whole job with one line.
final class DataParallelTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dp-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func makeBase() throws -> URL { try MPI.makeBase(in: dir) }

    func writeConfig(base: URL, stages: [String] = ["sft", "reward_model", "dpo"], checkpointEvery: Int = 2) throws -> URL {
        try MPI.writeConfig(in: dir, base: base, stages: stages, checkpointEvery: checkpointEvery)
    }

    func testTwoRanksTrainAsOneProcessAndOnlyRankZeroWrites() throws {
        let mpirun = try MPI.mpirun()
        let base = try makeBase()
        let cfg = try writeConfig(base: base, stages: ["sft", "reward_model", "ppo", "dpo"])
        let one = dir.appendingPathComponent("one"), two = dir.appendingPathComponent("two")
        let r1 = try runRLHF(["run", cfg.path, "--out", one.path])
        XCTAssertEqual(r1.code, 0, r1.stderr)
        let scratchBefore = MPI.rankScratch()
        let r2 = try runProcess(mpirun, MPI.args(np: 2) + [rlhfBinary.path, "run", cfg.path, "--out", two.path])
        XCTAssertEqual(r2.code, 0, r2.stderr)
        // One process's progress lines: each stage starts once, and the table is printed once.
        for stage in ["sft", "reward_model", "ppo", "dpo"] {
            XCTAssertEqual(r2.stderr.components(separatedBy: "[\(stage)] starting\n").count - 1, 1, r2.stderr)
        }
        XCTAssertEqual(r2.stdout.components(separatedBy: "done: ").count - 1, 1, r2.stdout)
        // The other rank's scratch run directory is gone.
        XCTAssertEqual(MPI.leftScratch(since: scratchBefore), [])
        MPI.assertSameRun(one, two, models: ["sft", "reward_model", "ppo", "dpo"], tolerance: 2e-4)
    }

    /// GRPO (reward model, scale_rewards batch, the dapo loss, two updates a step, microbatches of 3
    /// completions with one cut between the ranks) and RLOO (gold judge, normalize_advantages, a
    /// microbatch per rank and one more) on batches of 3 prompts × 2 completions: rank 0 samples
    /// and trains on the group of prompt 0, rank 1 on those of prompts 1 and 2.
    /// Bit for bit the same as one process: the first step's completions (same policy, same
    /// streams) and, scored by the gold judge (RLOO), that step's reward statistics. Within
    /// tolerance (the gradients' sums run in another order, and the reward model scores each rank's
    /// share in batches of its own): the models and every logged metric.
    func testGRPOAndRLOOOnTwoRanksEqualOneProcess() throws {
        let mpirun = try MPI.mpirun()
        let cfg = try MPI.writeConfig(in: dir, base: try makeBase(), stages: ["reward_model", "grpo", "rloo"], sections: """
          "grpo": {"steps": 3, "batch_size": 3, "num_generations": 2, "grad_accum": 2, "num_iterations": 2, "scale_rewards": "batch", "lr": 3e-3,
                   "max_completion_length": 8, "samples_every": 1, "samples_count": 6, "checkpoint_every": 2},
          "rloo": {"steps": 3, "batch_size": 3, "num_generations": 2, "grad_accum": 3, "normalize_advantages": true, "reward": "gold", "lr": 3e-3,
                   "max_completion_length": 8, "samples_every": 1, "samples_count": 6, "checkpoint_every": 2}
        """)
        let (one, two) = try MPI.runOnceAndOnTwoRanks(mpirun, cfg, in: dir)
        MPI.assertSameRun(one, two, models: ["reward_model", "grpo", "rloo"], tolerance: 2e-4)
        // The tolerance is far below what training changed.
        MPI.assertMoved(two, models: ["grpo", "rloo"], from: "sft", by: 2e-3)
        MPI.assertSameFirstSamples(one, two, stages: ["grpo", "rloo"], keys: ["prompt", "completion", "ended_with_eos"])
        let first = { (u: URL) in MPI.metrics(u, stage: "rloo", step: 1) }
        for k in ["reward", "reward_std", "frac_reward_zero_std", "completions/mean_length"] {
            XCTAssertEqual(first(one)[k], first(two)[k], "rloo step 1 \(k): the gold judge's scores of the same completions")
            XCTAssertNotNil(first(one)[k], k)
        }
    }

    /// Online DPO judged by the simulated labelers, 3 pairs a step in 3 microbatches: rank 0
    /// samples, judges and trains on pair 0, rank 1 on pairs 1 and 2. Bit for bit the same as one
    /// process: the first step's pairs (completions on their own streams, each judgement on its
    /// pair's stream) and their length and EOS statistics; within tolerance: the model and the
    /// other metrics.
    func testOnlineDPOOnTwoRanksEqualsOneProcess() throws {
        let mpirun = try MPI.mpirun()
        let cfg = try MPI.writeConfig(in: dir, base: try makeBase(), stages: ["online_dpo"], sections: """
          "online_dpo": {"steps": 5, "batch_size": 3, "grad_accum": 3, "judge": "labelers", "max_completion_length": 8, "lr": 3e-3,
                         "samples_every": 1, "samples_count": 3, "checkpoint_every": 2}
        """)
        let (one, two) = try MPI.runOnceAndOnTwoRanks(mpirun, cfg, in: dir)
        MPI.assertSameRun(one, two, models: ["online_dpo"], tolerance: 2e-4)
        MPI.assertMoved(two, models: ["online_dpo"], from: "sft", by: 2e-3)
        MPI.assertSameFirstSamples(one, two, stages: ["online_dpo"], keys: ["prompt", "chosen", "rejected"])
        for k in ["completions/mean_length", "val/contain_eos_token"] {
            XCTAssertEqual(MPI.metrics(one, stage: "online_dpo", step: 1)[k], MPI.metrics(two, stage: "online_dpo", step: 1)[k], k)
        }
    }

    /// The preferences stage samples about 84 train completions (48 prompts, a quarter of them
    /// pairing the reference with one sample; rank 0 samples the first generation batch of 64,
    /// rank 1 the rest) and 2 × 8 validation ones (one batch: rank 1 has none); the labels come
    /// from one stream in pair order in every rank. The pairs written are the same bytes as one
    /// process's.
    func testPreferencesOnTwoRanksAreTheSameBytes() throws {
        let mpirun = try MPI.mpirun()
        let cfg = try MPI.writeConfig(in: dir, base: try makeBase(), stages: ["preferences"], sections: """
          "preferences": {"prompts": 48, "valid_prompts": 8, "reference_fraction": 0.25}
        """)
        let (one, two) = try MPI.runOnceAndOnTwoRanks(mpirun, cfg, in: dir)
        for f in ["data/preferences_train.jsonl", "data/preferences_valid.jsonl"] {
            let a = try Data(contentsOf: one.appendingPathComponent(f)), b = try Data(contentsOf: two.appendingPathComponent(f))
            XCTAssertEqual(a, b, f)
            XCTAssertGreaterThan(a.count, 0, f)
        }
        let summary = try JSONParser.parse(String(contentsOf: two.appendingPathComponent("summary.json"), encoding: .utf8))
        XCTAssertGreaterThan(summary["stages"]?["preferences"]?["train_reference_pairs"]?.doubleValue ?? 0, 0)
    }

    /// Eval of the SFT and DPO policies at T = 0 and 1 and best-of-1 and -2 from a base run's models,
    /// with the base's reward model as this run's and, through eval.judge, as an independent judge
    /// (reward-model scores, judge scores and KL on every row), 10 prompts in units of 4: rank 0
    /// computes prompts 0-3 of every row, rank 1 prompts 4-9. eval.json and eval_samples.jsonl are
    /// the same bytes as one process's.
    func testEvalOnTwoRanksIsTheSameBytes() throws {
        let mpirun = try MPI.mpirun()
        let base = try MPI.makeBase(in: dir, more: ["reward_model", "dpo"])
        let cfg = try MPI.writeConfig(in: dir, base: base, stages: ["eval"], sections: """
          "eval": {"temperatures": [0, 1.0], "prompts": 10, "batch_size": 4, "best_of_n": [1, 2], "judge": \(JSONValue.quote(base.path))}
        """)
        let (one, two) = try MPI.runOnceAndOnTwoRanks(mpirun, cfg, in: dir)
        for f in ["eval.json", "eval_samples.jsonl"] {
            let a = try Data(contentsOf: one.appendingPathComponent(f)), b = try Data(contentsOf: two.appendingPathComponent(f))
            XCTAssertEqual(a, b, f)
        }
        let eval = try JSONParser.parse(String(contentsOf: two.appendingPathComponent("eval.json"), encoding: .utf8))
        XCTAssertEqual(eval["policies"]?.arrayValue?.compactMap { $0["policy"]?.stringValue }, ["sft", "dpo", "bon-1", "bon-2"])
        let dpo = eval["policies"]?.arrayValue?[1]["by_temperature"]?.arrayValue?[1]
        for k in ["rm_score", "judge_score", "kl", "gold"] { XCTAssertNotNil(dpo?[k]?.doubleValue, k) }
        XCTAssertEqual(dpo?["n"]?.doubleValue, 10)
    }

    func testABadConfigEndsTheJobWithRankZerosLine() throws {
        let mpirun = try MPI.mpirun()
        // A global batch smaller than the job: a process would have no prompt.
        let cfg = try MPI.writeConfig(in: dir, base: try makeBase(), stages: ["sft", "grpo"],
                                      sections: #""grpo": {"batch_size": 1, "num_generations": 2, "grad_accum": 1, "reward": "gold"}"#)
        let r = try runProcess(mpirun, MPI.args(np: 2) + [rlhfBinary.path, "run", cfg.path, "--out", dir.appendingPathComponent("x").path])
        XCTAssertEqual(r.code, 2)
        XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines),
                       "error: \(cfg.path): grpo.batch_size: is 1, fewer than the 2 processes of this job (batch sizes are global: each process samples and trains on the groups of its share of the step's prompts); set grpo.batch_size to at least 2 or start fewer processes")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x").path))
        // A command that does not train runs as one process.
        let c = try runProcess(mpirun, MPI.args(np: 2) + [rlhfBinary.path, "compare", dir.path])
        XCTAssertEqual(c.code, 2)
        XCTAssertEqual(c.stderr.trimmingCharacters(in: .whitespacesAndNewlines),
                       "error: rlhf compare runs as one process; start it without mpirun/srun (only rlhf run, resume and bench run data-parallel)")
    }

    func testPlainRunStartsNoMPI() throws {
        // Without a launcher's environment no MPI_Init runs: a bad flag ends as always, and a
        // dry run prints its config (no Open MPI daemon, no MPI banner).
        let cfg = try writeConfig(base: dir)
        let r = try runRLHF(["run", cfg.path, "--dry-run"])
        XCTAssertEqual(r.code, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
    }
}

/// Running Open MPI's launcher from the tests.
enum MPI {
    /// The run every data-parallel test starts from (one process): a tokenizer, an SFT policy
    /// and its preference pairs, so that the runs under test have SFT, reward-model and DPO data.
    /// `more`: stages after those (of the micro pipeline's sections).
    static func makeBase(in dir: URL, more: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let base = dir.appendingPathComponent("base")
        let cfg = dir.appendingPathComponent("base.json")
        try Recovery.write(Recovery.config(name: "base", stages: ["tokenizer", "sft", "preferences"] + more,
                                           sections: ["sft": #"{"steps": 2, "batch_size": 4, "eval_every": 0, "checkpoint_every": 0}"#]), to: cfg)
        let r = try runRLHF(["run", cfg.path, "--out", base.path])
        XCTAssertEqual(r.code, 0, r.stderr, file: file, line: line)
        return base
    }

    /// SFT, reward model, PPO and DPO from `base` (batch sizes 6, 4, 6 and 4: two ranks take 3, 2,
    /// 3 and 2; PPO's minibatches of 3 sequences split 1 + 2, with a separate value model, the
    /// adaptive KL controller and reward whitening over the global batch), written to `dir/dp.json`.
    /// `sections`: more members of the config (other stages' sections), as JSON text.
    static func writeConfig(in dir: URL, base: URL, stages: [String] = ["sft", "reward_model", "dpo"], sftSteps: Int = 4, checkpointEvery: Int = 2,
                            sections: String? = nil) throws -> URL {
        // With more sections, the base's model (the sampling stages check its context).
        let json = """
        {\(sections.map { "\n" + $0 + ",\n" + #""model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 176},"# } ?? "")
          "name": "dp", "seed": 5, "threads": 1, "init_from": \(JSONValue.quote(base.path)), "stages": [\(stages.map { "\"\($0)\"" }.joined(separator: ", "))],
          "data": {"task": "tldr-synth", "train_posts": 120, "valid_posts": 16, "test_posts": 12, "corpus_posts": 150, "max_prompt_tokens": 150, "max_completion_tokens": 24},
          "tokenizer": {"vocab_size": 400, "corpus_posts": 120},
          "sft": {"steps": \(sftSteps), "batch_size": 6, "grad_accum": 2, "eval_every": 2, "checkpoint_every": \(checkpointEvery)},
          "reward_model": {"steps": 3, "batch_size": 4, "eval_every": 3, "checkpoint_every": \(checkpointEvery)},
          "dpo": {"steps": 3, "batch_size": 4, "eval_every": 3, "checkpoint_every": \(checkpointEvery)},
          "ppo": {"steps": 2, "batch_size": 6, "num_mini_batches": 2, "response_length": 8, "adaptive_kl": true, "whiten_rewards": true, "checkpoint_every": \(checkpointEvery)}
        }
        """
        let u = dir.appendingPathComponent("dp.json")
        try Recovery.write(json, to: u)
        return u
    }

    /// mpirun from PATH. Its absence fails the test (scripts/setup.sh installs openmpi-bin, and the
    /// build links Open MPI's library): a skipped data-parallel test would pass unseen.
    static func mpirun(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        for d in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let u = URL(fileURLWithPath: String(d)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        XCTFail("mpirun is not on PATH: run scripts/setup.sh (it installs openmpi-bin)", file: file, line: line)
        throw MissingTool()
    }

    struct MissingTool: Error {}

    /// The launcher's flags: no banner (--quiet), as root in CI, two ranks on two cores or fewer.
    static func args(np: Int, extra: [String] = []) -> [String] {
        ["--quiet", "--allow-run-as-root", "--oversubscribe", "-np", "\(np)"] + extra
    }

    /// The pid of rank `rank` among the children of `parent` (mpirun starts the ranks of its own
    /// host itself), found through /proc.
    static func rankProcess(of parent: Int32, rank: Int) -> Int32? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for name in names {
            guard let pid = Int32(name),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // "pid (comm) state ppid ...": comm may hold spaces, so the fields after the last ")".
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == parent,
                  let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if env.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) { return pid }
        }
        return nil
    }

    /// The scratch run directories of ranks > 0 now in the temporary directory.
    static func rankScratch() -> Set<String> {
        let tmp = FileManager.default.temporaryDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []
        return Set(names.filter { $0.hasPrefix("rlhf-rank") })
    }

    /// The scratch directories that appeared since `before` and whose rank has ended: left behind.
    /// A rank of another job running at the same time (another test suite) still lives, and is not counted.
    static func leftScratch(since before: Set<String>) -> Set<String> {
        rankScratch().subtracting(before).filter { name in
            guard let pid = name.split(separator: "-").last.flatMap({ Int32($0) }) else { return true }
            return kill(pid, 0) != 0 && errno == ESRCH
        }
    }

    /// `cfg` run as one process into dir/one, then by `mpirun -np 2` into dir/two: both succeed, the
    /// job prints its end once, and the other rank's scratch directory is gone.
    static func runOnceAndOnTwoRanks(_ mpirun: URL, _ cfg: URL, in dir: URL, file: StaticString = #filePath, line: UInt = #line) throws -> (URL, URL) {
        let one = dir.appendingPathComponent("one"), two = dir.appendingPathComponent("two")
        let r1 = try runRLHF(["run", cfg.path, "--out", one.path])
        XCTAssertEqual(r1.code, 0, r1.stderr, file: file, line: line)
        let scratchBefore = rankScratch()
        let r2 = try runProcess(mpirun, args(np: 2) + [rlhfBinary.path, "run", cfg.path, "--out", two.path])
        XCTAssertEqual(r2.code, 0, r2.stderr, file: file, line: line)
        // What the run prints at its end (the done line or the eval table), once.
        XCTAssertEqual(r2.stdout.split(separator: "\n").count, r1.stdout.split(separator: "\n").count, r2.stdout, file: file, line: line)
        XCTAssertEqual(leftScratch(since: scratchBefore), [], file: file, line: line)
        return (one, two)
    }

    /// The logged metrics of `stage` at `step` in run `u`.
    static func metrics(_ u: URL, stage: String, step: Int) -> [String: Double] {
        guard let row = Recovery.lines(u.appendingPathComponent("metrics.jsonl")).compactMap({ $0 })
            .first(where: { $0["stage"]?.stringValue == stage && $0["step"]?.doubleValue == Double(step) }),
              case .object(let members) = row else { return [:] }
        var m: [String: Double] = [:]
        for (k, v) in members { if let d = v.doubleValue { m[k] = d } }
        return m
    }

    /// The samples logged at step 1 of each of `stages` are the same in both runs, field for field
    /// (`keys`), and there are some.
    static func assertSameFirstSamples(_ a: URL, _ b: URL, stages: [String], keys: [String], file: StaticString = #filePath, line: UInt = #line) {
        let rows = { (u: URL, stage: String) -> [[String]] in
            Recovery.lines(u.appendingPathComponent("samples.jsonl")).compactMap { $0 }
                .filter { $0["stage"]?.stringValue == stage && $0["step"]?.doubleValue == 1 }
                .map { r in keys.map { r[$0]?.stringValue ?? "" } }
        }
        for s in stages {
            XCTAssertGreaterThan(rows(a, s).count, 0, "no samples of \(s) at step 1", file: file, line: line)
            XCTAssertEqual(rows(a, s), rows(b, s), "\(s): the samples of step 1", file: file, line: line)
        }
    }

    /// Each of `models` of run `u` differs from the `from` model of the base run beside it
    /// (`makeBase`) by more than `by` (max |Δ| over the parameters).
    static func assertMoved(_ u: URL, models: [String], from: String, by: Float, file: StaticString = #filePath, line: UInt = #line) {
        let base = u.deletingLastPathComponent().appendingPathComponent("base")
        guard let start = try? GPT.load(from: base.appendingPathComponent("models/\(from).safetensors")) else {
            return XCTFail("no models/\(from).safetensors in \(base.path)", file: file, line: line)
        }
        for m in models {
            guard let x = try? GPT.load(from: u.appendingPathComponent("models/\(m).safetensors")) else {
                XCTFail("no models/\(m).safetensors in \(u.path)", file: file, line: line)
                continue
            }
            var d: Float = 0
            for i in 0..<min(x.params.count, start.params.count) { d = max(d, abs(x.params[i] - start.params[i])) }
            print("models/\(m).safetensors: max |Δ| \(d) from \(from)")
            XCTAssertGreaterThan(d, by, "models/\(m).safetensors barely moved from \(from)", file: file, line: line)
        }
    }

    /// Every model of run `a` equals the one of run `b` within `tolerance` (max |Δ| over the
    /// parameters), and so does every logged loss and accuracy, step for step.
    static func assertSameRun(_ a: URL, _ b: URL, models: [String] = ["sft", "reward_model", "dpo"], tolerance: Float,
                              file: StaticString = #filePath, line: UInt = #line) {
        for m in models {
            let ua = a.appendingPathComponent("models/\(m).safetensors"), ub = b.appendingPathComponent("models/\(m).safetensors")
            guard let x = try? GPT.load(from: ua), let y = try? GPT.load(from: ub) else {
                XCTFail("models/\(m).safetensors missing in \(a.path) or \(b.path)", file: file, line: line)
                continue
            }
            XCTAssertEqual(x.params.count, y.params.count, file: file, line: line)
            var d: Float = 0
            for i in 0..<min(x.params.count, y.params.count) { d = max(d, abs(x.params[i] - y.params[i])) }
            XCTAssertLessThan(d, tolerance, "models/\(m).safetensors: max |Δ| \(d)", file: file, line: line)
            print("models/\(m).safetensors: max |Δ| \(d) between \(a.lastPathComponent) and \(b.lastPathComponent)")
            XCTAssertGreaterThan(x.params.count, 0, file: file, line: line)
        }
        let rows = { (u: URL) -> [JSONValue] in Recovery.lines(u.appendingPathComponent("metrics.jsonl")).compactMap { $0 } }
        let ra = rows(a), rb = rows(b)
        XCTAssertEqual(ra.count, rb.count, "metrics rows", file: file, line: line)
        XCTAssertGreaterThan(ra.count, 2 * models.count + 2, file: file, line: line)
        for (x, y) in zip(ra, rb) {
            XCTAssertEqual(x["stage"]?.stringValue, y["stage"]?.stringValue, file: file, line: line)
            XCTAssertEqual(x["step"]?.doubleValue, y["step"]?.doubleValue, file: file, line: line)
            // (Not DPO's rewards/accuracies: at step 1 the policy is the reference and every margin
            // is 0 up to rounding, so the count of margins > 0 is the rounding's.)
            for k in ["loss", "eval/loss", "accuracy", "eval/accuracy", "rewards/margins", "eval/rewards/margins", "grad_norm",
                      "objective/scores", "objective/kl", "objective/kl_coef", "objective/entropy", "loss/policy", "loss/value",
                      "policy/approxkl", "val/ratio", "val/explained_variance", "response_length",
                      "reward", "reward_std", "kl", "entropy", "clip_ratio/region_mean", "completions/mean_length", "objective/rlhf_reward",
                      "frac_reward_zero_std", "rewards/chosen", "rewards/rejected", "objective/non_score_reward", "val/contain_eos_token"] {
                guard let p = x[k]?.doubleValue else { continue }
                guard let q = y[k]?.doubleValue else { XCTFail("\(k) missing in \(b.path)", file: file, line: line); continue }
                XCTAssertEqual(p, q, accuracy: 1e-4 * max(1, abs(p)), "\(x["stage"]?.stringValue ?? "") step \(x["step"]?.doubleValue ?? 0) \(k)", file: file, line: line)
            }
        }
    }
}
