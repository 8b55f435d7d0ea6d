import Alignment
import Data
import Engine
import Foundation
import GPT
import Tokenizer

/// What the command line does, one function per command.
public enum Lab {
    public static func runExperiment(_ cfg: ExperimentConfig, dir: URL) throws {
        ExperimentRunner.installSignalHandlers()
        let runner = try ExperimentRunner(config: cfg, runDir: dir)
        runner.state.notes["config_file"] = URL(fileURLWithPath: cfg.file).standardizedFileURL.path
        try runner.run.saveState(runner.state)
        runner.progress.message("run directory: \(dir.path)")
        try runner.execute()
        try finish(runner)
    }

    public static func resumeExperiment(_ dir: URL) throws {
        let stateURL = dir.appendingPathComponent("state.json")
        guard FileManager.default.fileExists(atPath: stateURL.path) else {
            throw UserError("\(dir.path): not a run directory (no state.json); start one with: rlhf run CONFIG.json")
        }
        let cfg = try loadRunConfig(dir)
        ExperimentRunner.installSignalHandlers()
        let runner = try ExperimentRunner(config: cfg, runDir: dir)
        runner.progress.message("resuming \(dir.path); finished stages: \(runner.state.finished.isEmpty ? "none" : runner.state.finished.joined(separator: ", "))")
        try runner.execute()
        try finish(runner)
    }

    /// The config a run was started with (its merged input), validated again.
    static func loadRunConfig(_ dir: URL, overrides: [String] = []) throws -> ExperimentConfig {
        let cfgURL = dir.appendingPathComponent("config.json")
        guard let text = try? String(contentsOf: cfgURL, encoding: .utf8) else {
            throw UserError("\(cfgURL.path): missing; the run directory is incomplete")
        }
        var json: JSONValue
        do { json = try JSONParser.parse(text) } catch {
            throw UserError("\(cfgURL.path): invalid JSON (\(error)); the run directory is damaged")
        }
        for o in overrides { json = try ConfigLoader.applySet(o, to: json) }
        let state = RunDirectory.State.load(dir)
        // Relative data paths resolve against the original config file's directory.
        let file = state.notes["config_file"] ?? cfgURL.path
        return try ExperimentConfig(json: json, file: file)
    }

    static func finish(_ runner: ExperimentRunner) throws {
        if runner.config.stages.contains(.eval) {
            let table = try Report.compare(runs: [runner.run.url], out: nil)
            print(table)
        } else {
            print("done: \(runner.run.url.path) (summary.json, metrics.jsonl)")
        }
    }

    public static func evaluateRun(_ dir: URL, overrides: [String]) throws {
        var cfg = try loadRunConfig(dir, overrides: overrides)
        if cfg.eval == nil { cfg.eval = EvalConfig() }
        cfg.stages = [.eval]
        let runner = try ExperimentRunner(config: cfg, runDir: dir)
        runner.state.finished.removeAll { $0 == "eval" }
        try runner.execute()
        print(try Report.compare(runs: [dir], out: nil))
    }

    public static func writeTLDRSynth(to dir: URL, posts: Int, seed: UInt64) throws {
        do {
            try Datasets.writeTLDRSynth(to: dir, posts: posts, seed: seed)
        } catch let e as DataError {
            throw UserError(e.description)
        } catch {
            throw UserError("\(dir.path): cannot write the data set (\(error.localizedDescription)); choose another --out")
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
        let known = ["tiny": Bench.tiny, "small": Bench.small]
        let list = try shapes.split(separator: ",").map { name -> Bench.Shape in
            guard let s = known[String(name)] else { throw UserError("--shapes: unknown shape \"\(name)\"; expected tiny, small or both (tiny,small)") }
            return s
        }
        guard steps >= 1 else { throw UserError("--steps: expected an integer ≥ 1, found \(steps)") }
        let selected: Set<Bench.Part> = parts == "all" ? Set(Bench.Part.allCases) : Set(try parts.split(separator: ",").map { name in
            guard let p = Bench.Part(rawValue: String(name)) else {
                throw UserError("--parts: unknown part \"\(name)\"; expected all or a comma-separated list of \(Bench.Part.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return p
        })
        if let threads {
            guard threads >= 1 else { throw UserError("--threads: expected an integer ≥ 1, found \(threads)") }
            Parallel.threads = threads
            BLAS.setThreads(threads)
        }
        Bench.run(shapes: list, steps: steps, parts: selected) { print($0); fflush(stdout) }
    }
}

extension RunDirectory.State {
    static func load(_ dir: URL) -> RunDirectory.State {
        guard let d = FileManager.default.contents(atPath: dir.appendingPathComponent("state.json").path),
              let s = try? JSONDecoder().decode(RunDirectory.State.self, from: d) else { return .init() }
        return s
    }
}
