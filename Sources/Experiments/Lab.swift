import Alignment
import Data
import Engine
import Foundation
import GPT
import JSON
import Tokenizer

/// What the command line does, one function per command.
public enum Lab {
    /// A new run goes into a missing or empty directory: never over the user's files, nor into
    /// another run (nor one that another process is creating or running).
    public static func checkNewRunDirectory(_ dir: URL) throws {
        let fm = FileManager.default
        try RunLock.checkFree(dir)
        if fm.fileExists(atPath: dir.appendingPathComponent("state.json").path) {
            throw UserError("\(dir.path) already holds a run; continue it with: rlhf resume \(dir.path) (which keeps that run's config.json), or, to start over with this config, delete \(dir.path) or choose another --out")
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir.path, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw UserError("\(dir.path): exists and is not a directory; choose another --out") }
        guard let entries = try? fm.contentsOfDirectory(atPath: dir.path) else {
            throw UserError("\(dir.path): cannot list the directory (\(FileSystem.cause(dir))); choose another --out")
        }
        if !entries.isEmpty {
            throw UserError("\(dir.path): not empty and not a run directory (no state.json); a run would overwrite its files: choose another --out, or move its \(entries.count == 1 ? "1 entry" : "\(entries.count) entries") away")
        }
    }

    /// `rlhf run`: the run directory appears whole (config, state, empty logs, its lock) or not
    /// at all, and this process holds its lock until the run ends.
    /// Under a data-parallel job, every rank runs it (`DataParallelRun`).
    public static func runExperiment(_ cfg: ExperimentConfig, dir: URL) throws {
        try checkDataParallel(cfg)
        if isFollower { return try follow(cfg, dir: dir, resuming: false) }
        try startRun(cfg, dir: dir)
    }

    static func startRun(_ cfg: ExperimentConfig, dir: URL) throws {
        if cfg.replicates != nil { return try runReplicated(cfg, dir: dir, resuming: false) }
        let (runner, lock) = try createRun(cfg, dir: dir)
        defer { lock.release() }
        try runner.execute()
        try finish(runner)
    }

    /// Creates the run directory of `cfg` at `dir`, whole, and returns its runner with the lock held.
    static func createRun(_ cfg: ExperimentConfig, dir: URL, prefix: String = "") throws -> (ExperimentRunner, RunLock) {
        // Every data file is read before the run directory exists: a bad file stops the run here,
        // and the corrected config runs into the same directory.
        let data = try TaskData(cfg.data, configDir: URL(fileURLWithPath: cfg.file).deletingLastPathComponent(), tokenizerPosts: cfg.tokenizer.corpusPosts)
        ExperimentRunner.installSignalHandlers()
        // Built before the directory exists (it writes nothing): init_from mistakes stop the run here too.
        let runner = try ExperimentRunner(config: cfg, runDir: dir)
        runner.progress.prefix = prefix
        runner.progress.quiet = isFollower
        runner._data = data
        runner.state.notes["config_file"] = URL(fileURLWithPath: cfg.file).standardizedFileURL.path
        let lock = try RunDirectory.create(dir, state: runner.state, files: [
            ("config.json", Data((cfg.input.serialized() + "\n").utf8)),
            ("config.resolved.json", Data((cfg.resolved.serialized() + "\n").utf8)),
        ])
        do { try runner.prepareToWrite() } catch { lock.release(); throw error }
        runner.progress.message("run directory: \(dir.path)")
        return (runner, lock)
    }

    /// `rlhf resume`: under the run's lock, continues the unfinished stages from their last checkpoints.
    public static func resumeExperiment(_ dir: URL) throws {
        let cfg = try loadRunConfig(dir)
        try checkDataParallel(cfg)
        if isFollower { return try follow(cfg, dir: dir, resuming: true) }
        letFollowersCopy()
        try continueRun(dir)
    }

    static func continueRun(_ dir: URL) throws {
        let cfg = try loadRunConfig(dir)
        if cfg.replicates != nil { return try runReplicated(cfg, dir: dir, resuming: true) }
        let (runner, lock) = try reopenRun(cfg, dir: dir)
        defer { lock.release() }
        try runner.execute()
        try finish(runner)
    }

    /// The runner of an existing run with its lock held, its logs repaired and open.
    static func reopenRun(_ cfg: ExperimentConfig, dir: URL, prefix: String = "") throws -> (ExperimentRunner, RunLock) {
        ExperimentRunner.installSignalHandlers()
        let lock = try RunLock(runDirectory: dir)
        do {
            let runner = try ExperimentRunner(config: cfg, runDir: dir)
            runner.progress.prefix = prefix
            runner.progress.quiet = isFollower
            try runner.prepareToWrite()
            runner.progress.message("resuming \(dir.path); finished stages: \(runner.state.finished.isEmpty ? "none" : runner.state.finished.joined(separator: ", "))")
            return (runner, lock)
        } catch {
            lock.release()
            throw error
        }
    }

    // MARK: - Replicates

    /// A replicated experiment: the stages before `replicates.from_stage` once in `dir` (whose
    /// lock is held throughout), then the others once per seed in dir/seed-S/, each a run of its
    /// own initialized from `dir`, with that seed (every random stream, the evaluation's too).
    /// A set stopped anywhere continues with `rlhf resume dir`.
    static func runReplicated(_ cfg: ExperimentConfig, dir: URL, resuming: Bool) throws {
        let rep = cfg.replicates!
        let first = cfg.stages.firstIndex(of: rep.fromStage)!
        var shared = cfg
        shared.stages = Array(cfg.stages[..<first])
        let (base, lock) = resuming ? try reopenRun(shared, dir: dir) : try createRun(shared, dir: dir)
        defer { lock.release() }
        try base.execute()
        let original = base.state.notes["config_file"] ?? cfg.file
        for (k, seed) in rep.seeds.enumerated() {
            let child = dir.appendingPathComponent("seed-\(seed)")
            let prefix = "[seed \(seed), \(k + 1)/\(rep.seeds.count)] "
            var json = cfg.input
            for assignment in ["seed=\(seed)", "replicates=null", "init_from=" + JSONValue.quote(dir.standardizedFileURL.path),
                               "stages=[" + cfg.stages[first...].map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]"] {
                json = try ConfigLoader.applySet(assignment, to: json)
            }
            let childCfg = try ExperimentConfig(json: json, file: original)
            let exists = FileManager.default.fileExists(atPath: child.appendingPathComponent("state.json").path)
            let (runner, childLock) = exists ? try reopenRun(childCfg, dir: child, prefix: prefix) : try createRun(childCfg, dir: child, prefix: prefix)
            defer { childLock.release() }
            try runner.execute()
        }
        if isFollower { return }
        if cfg.stages.contains(.eval) {
            print(try Report.compare(runs: [dir], out: nil))
        } else {
            print("done: \(dir.path) (\(rep.seeds.count) replicates in seed-S/)")
        }
    }

    /// The config a run was started with (its merged input), validated again.
    static func loadRunConfig(_ dir: URL, overrides: [String] = []) throws -> ExperimentConfig {
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("state.json").path) else {
            throw UserError("\(dir.path): not a run directory (no state.json); start one with: rlhf run CONFIG.json")
        }
        let state = try RunDirectory.readState(dir)
        let cfgURL = dir.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: cfgURL.path) else {
            throw UserError("\(cfgURL.path): missing; the run directory is incomplete")
        }
        guard let text = try? String(contentsOf: cfgURL, encoding: .utf8) else {
            throw UserError("\(cfgURL.path): cannot read the run's config (\(FileSystem.cause(cfgURL)) or not UTF-8 text); the run directory is damaged")
        }
        var json: JSONValue
        do { json = try JSONParser.parse(text) } catch {
            throw UserError("\(cfgURL.path): invalid JSON (\(error)); the run directory is damaged")
        }
        for o in overrides { json = try ConfigLoader.applySet(o, to: json) }
        // Validated as the file it is read from, so that a mistake names RUN/config.json ...
        let cfg = try ExperimentConfig(json: json, file: cfgURL.path)
        // ... then bound to the original config file: relative data paths (and a name taken from
        // the file name) resolve against it.
        guard let original = state.notes["config_file"] else { return cfg }
        return try ExperimentConfig(json: json, file: original)
    }

    static func finish(_ runner: ExperimentRunner) throws {
        if isFollower { return }
        if runner.config.stages.contains(.eval) {
            let table = try Report.compare(runs: [runner.run.url], out: nil)
            print(table)
        } else {
            print("done: \(runner.run.url.path) (summary.json, metrics.jsonl)")
        }
    }

    public static func evaluateRun(_ dir: URL, overrides: [String], printing: Bool = true) throws {
        // The run's other settings describe how it was trained (and config.json is rewritten with
        // the overrides): only the evaluation's own may change.
        for o in overrides where !o.hasPrefix("eval.") && !o.hasPrefix("threads=") {
            throw UserError("--set \(o): rlhf eval takes only eval.* settings and threads (e.g. --set eval.prompts=100); the run's other settings are the ones it trained with")
        }
        var cfg = try loadRunConfig(dir, overrides: overrides)
        if let rep = cfg.replicates {
            // A replicated set: each replicate is a run of its own.
            for seed in rep.seeds {
                let child = dir.appendingPathComponent("seed-\(seed)")
                guard FileManager.default.fileExists(atPath: child.appendingPathComponent("state.json").path) else { continue }
                try evaluateRun(child, overrides: overrides, printing: false)
            }
            print(try Report.compare(runs: [dir], out: nil))
            return
        }
        if cfg.eval == nil { cfg.eval = EvalConfig() }
        cfg.stages = [.eval]
        ExperimentRunner.installSignalHandlers()
        let lock = try RunLock(runDirectory: dir)
        defer { lock.release() }
        let runner = try ExperimentRunner(config: cfg, runDir: dir)
        runner.continueCommand = "rlhf eval"
        runner.state.finished.removeAll { $0 == "eval" }
        try runner.prepareToWrite()
        try runner.execute()
        if printing { print(try Report.compare(runs: [dir], out: nil)) }
    }

    /// The files `rlhf data tldr-synth` writes.
    public static let tldrSynthFiles = ["train.jsonl", "valid.jsonl", "test.jsonl", "comparisons_train.jsonl", "comparisons_valid.jsonl"]

    /// Writes the data set; existing files of the same names are replaced only with `force`.
    public static func writeTLDRSynth(to dir: URL, posts: Int, seed: UInt64, force: Bool = false) throws {
        if let why = TLDRSynth.tooManyPosts(posts) { throw UserError("--posts: \(why)") }
        try FileSystem.createDirectory(dir, what: "the data directory", fix: "choose another --out")
        for name in tldrSynthFiles {
            let u = dir.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir) else { continue }
            if isDir.boolValue { throw UserError("\(u.path): is a directory, where the data set writes a file; choose another --out") }
            if !force { throw UserError("\(u.path): already exists; pass --force to overwrite the data set's files, or choose another --out") }
        }
        guard access(dir.path, W_OK) == 0 else {
            throw UserError("\(dir.path): cannot write the data set (\(FileSystem.cause(errno: errno))); choose another --out")
        }
        do {
            try Datasets.writeTLDRSynth(to: dir, posts: posts, seed: seed)
        } catch let e as DataError {
            throw UserError(e.description)
        } catch {
            throw UserError("\(dir.path): cannot write the data set (\(FileSystem.describe(error) ?? "\(error)")); choose another --out")
        }
        print("wrote tldr-synth (\(posts) train posts, seed \(seed)) to \(dir.path)")
        // How noisy the written labels are, and the labeler temperature that would give the
        // papers' ~75% agreement on typical pairs of these posts.
        let trainPosts = TLDRSynth(seed: seed).posts(split: .train, count: posts)
        var rng = RNG(seed: seed).split("calibration")
        let pairs = SimulatedLabeler.typicalPairs(posts: trainPosts, rng: &rng)
        let labeler = SimulatedLabeler()
        print(String(format: "simulated labelers: Bradley–Terry temperature %.3f, expected agreement with the gold ordering %.3f on typical pairs of these posts (%.3f would give 75%%)",
                     labeler.temperature, labeler.expectedAgreement(pairs: pairs), SimulatedLabeler.calibratedTemperature(pairs: pairs)))
    }

    public static func bench(shapes: String, steps: Int, threads: Int?, parts: String = "all") throws {
        let names = Bench.shapes.map(\.name)
        guard !shapes.split(separator: ",").isEmpty else {
            throw UserError("--shapes: expected a comma-separated list of \(names.joined(separator: ", ")) (e.g. tiny,small), found \(JSONValue.quote(shapes))")
        }
        let list = try shapes.split(separator: ",").map { name -> Bench.Shape in
            guard let s = Bench.shapes.first(where: { $0.name == name }) else {
                throw UserError("--shapes: unknown shape \"\(name)\"; expected a comma-separated list of \(names.joined(separator: ", ")) (e.g. tiny,small)")
            }
            return s
        }
        guard steps >= 1 else { throw UserError("--steps: expected an integer ≥ 1, found \(steps)") }
        let partNames = Bench.Part.allCases.map(\.rawValue).joined(separator: ", ")
        guard !parts.split(separator: ",").isEmpty else {
            throw UserError("--parts: expected all or a comma-separated list of \(partNames), found \(JSONValue.quote(parts))")
        }
        let selected: Set<Bench.Part> = parts == "all" ? Set(Bench.Part.allCases) : Set(try parts.split(separator: ",").map { name in
            guard let p = Bench.Part(rawValue: String(name)) else {
                throw UserError("--parts: unknown part \"\(name)\"; expected all or a comma-separated list of \(partNames)")
            }
            return p
        })
        if let threads {
            try ExperimentConfig.checkThreadsFlag(threads)
            Parallel.threads = threads
            BLAS.setThreads(threads)
        }
        if DataParallel.launched {
            // Under mpirun or srun (even with one process, the comparison's baseline): the
            // data-parallel training step alone.
            guard selected == Set(Bench.Part.allCases) || selected == [.train] else {
                throw UserError("--parts: under mpirun or srun rlhf bench measures the data-parallel training step only; pass --parts train (or all), found \(JSONValue.quote(parts))")
            }
            Bench.runDataParallel(shapes: list, steps: steps, reducer: DataParallel.reducer) { print($0); fflush(stdout) }
            return
        }
        Bench.run(shapes: list, steps: steps, parts: selected) { print($0); fflush(stdout) }
    }
}
