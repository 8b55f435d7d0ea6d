import Alignment
import Files
import Foundation
import GPT
import JSON

/// `rlhf verify RUN [--stage S]`: runs a finished trained stage again, from the oldest checkpoint
/// the run kept for it (or from the stage's start), with the run's own config and the models of
/// its earlier stages, in a temporary run directory, and compares what comes out with what the
/// run holds: the stage's model file (every tensor bit for bit, and its metadata), the policy
/// snapshots the re-run wrote, and the stage's metrics rows (timings, throughput and memory
/// aside). A run restored from a checkpoint continues bit for bit as the uninterrupted one (see
/// docs/ARCHITECTURE.md), so any difference is a fault: a file changed after the run, or
/// computation that depends on something other than the config, the seed and the data.
///
/// The re-run is the run's own code path: an `ExperimentRunner` over a run directory whose
/// `init_from` is the verified run (the artifacts of earlier stages are read from there) and
/// whose only stage is the verified one, resumed through `resumeFromCheckpoint` from a copy of
/// the checkpoint and of the log rows the checkpoint recorded.
public enum Verify {
    /// The outcome for one stage: identical, or the first difference found.
    public struct Outcome: Equatable, Sendable {
        public let stage: String
        public let identical: Bool
        /// "verified: sft identical (…)" or "sft: models/sft.safetensors tensor … element …: A vs B".
        public let line: String
    }

    /// Stages that train a model, in pipeline order: those `verify` can run again.
    static let trainedStages = Stage.allCases.filter { !ExperimentRunner.stagesWithoutCheckpoints.contains($0) }

    /// Verifies the finished trained stages of the run at `dir` (or only `stage`), reporting each
    /// outcome's line through `report` as soon as it is known. A replicated set (`replicates`)
    /// verifies its shared stages and then each replicate's (RUN/seed-S). Throws a `UserError`
    /// for a directory that is not a run or a stage it did not train.
    public static func run(_ dir: URL, stage: String?, threads: Int? = nil, report: (String) -> Void = { print($0) }) throws -> [Outcome] {
        ExperimentRunner.installSignalHandlers()
        let runs = try runDirectories(dir)
        var plan: [(URL, Stage, String)] = []
        var trained: [String] = []
        for r in runs {
            let state = try RunDirectory.readState(r)
            let label = r == dir ? "" : r.lastPathComponent + "/"
            for s in trainedStages where state.finished.contains(s.rawValue) {
                trained.append(label + s.rawValue)
                if stage == nil || stage == s.rawValue { plan.append((r, s, label)) }
            }
        }
        if let stage, plan.isEmpty {
            let has = trained.isEmpty ? "it has finished no trained stage" : "its finished trained stages are \(trained.joined(separator: ", "))"
            if let s = Stage(rawValue: stage), !trainedStages.contains(s) {
                throw UserError("--stage: \(stage) trains no model, so there is nothing to re-run; \(dir.path): \(has)")
            }
            guard Stage(rawValue: stage) != nil else {
                throw UserError("--stage: unknown stage \(JSONValue.excerpt(stage)); \(dir.path): \(has)")
            }
            throw UserError("--stage: \(dir.path) has not finished stage \(stage) (\(has)); finish it with: rlhf resume \(dir.path)")
        }
        guard !plan.isEmpty else {
            throw UserError("\(dir.path): no trained stage has finished, so there is nothing to verify; continue the run with: rlhf resume \(dir.path)")
        }
        var outcomes: [Outcome] = []
        for (r, s, label) in plan {
            let o = try verify(stage: s, of: r, label: label, threads: threads)
            report(o.line)
            outcomes.append(o)
        }
        return outcomes
    }

    /// The run directories of `dir`: itself, and for a replicated set each replicate that exists.
    static func runDirectories(_ dir: URL) throws -> [URL] {
        let cfg = try Lab.loadRunConfig(dir)
        guard let rep = cfg.replicates else { return [dir] }
        return [dir] + rep.seeds.map { dir.appendingPathComponent("seed-\($0)") }.filter {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("state.json").path)
        }
    }

    /// Runs `stage` of the run at `dir` again in a temporary directory and compares.
    static func verify(stage: Stage, of dir: URL, label: String, threads: Int?) throws -> Outcome {
        let name = stage.rawValue
        let source = dir.standardizedFileURL
        // The run is only read (it may sit on a read-only disk): refused while another process writes into it.
        try RunLock.checkFree(source)
        var overrides = ["stages=[\"\(name)\"]", "init_from=" + JSONValue.quote(source.path), "replicates=null"]
        if let threads { overrides.append("threads=\(threads)") }
        let cfg = try Lab.loadRunConfig(source, overrides: overrides)

        let fm = FileManager.default
        let tmp = fm.temporaryDirectory.appendingPathComponent("rlhf-verify-\(getpid())-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: tmp) }
        let work = tmp.appendingPathComponent("run")
        let original = try RunDirectory(url: source)
        var state = RunDirectory.State()
        state.notes = original.loadState().notes
        let workLock = try RunDirectory.create(work, state: state, files: [])
        defer { workLock.release() }

        // The oldest checkpoint the run kept that is not at the stage's end (a checkpoint at the
        // last step leaves nothing to run again), with the log rows the stage had written: the
        // resume cuts them back to what the checkpoint recorded, as `rlhf resume` does.
        let summary = original.loadState().summaries[name] ?? [:]
        let lastStep = (summary["steps"] ?? summary["iterations"]).map { Int($0) }
        let start = CheckpointStore.checkpoints(root: original.checkpoints(name)).last {
            guard let s = CheckpointStore.step(ofDirectoryName: $0.lastPathComponent) else { return false }
            return lastStep.map { s < $0 } ?? true
        }
        if let start {
            try fm.createDirectory(at: work.appendingPathComponent("checkpoints/\(name)"), withIntermediateDirectories: true)
            try fm.copyItem(at: start, to: work.appendingPathComponent("checkpoints/\(name)/\(start.lastPathComponent)"))
            for log in ["metrics.jsonl", "samples.jsonl"] {
                let rows = RunLog(url: source.appendingPathComponent(log)).read().lines.filter { $0.stage == name }
                try DurableFile.write(rows.map { $0.text + "\n" }.joined(), to: work.appendingPathComponent(log))
            }
        }
        let startStep = start.flatMap { CheckpointStore.step(ofDirectoryName: $0.lastPathComponent) }

        let runner = try ExperimentRunner(config: cfg, runDir: work)
        runner.progress.prefix = "[verify \(label)\(name)] "
        runner.continueCommand = "rlhf verify"
        try runner.prepareToWrite()
        do {
            try runner.execute()
        } catch is RunStopped {
            throw RunStopped(description: "verify of \(label)\(name) stopped by a signal; nothing was compared")
        }

        let from = startStep.map { "from checkpoint step \($0)" } ?? "from the start of the stage"
        func differ(_ what: String) -> Outcome {
            Outcome(stage: label + name, identical: false, line: "\(label)\(name): \(what) (re-run \(from))")
        }
        // The model file, then the snapshots the re-run wrote, then the metrics rows.
        var tensors = 0
        var files = ["models/\(name).safetensors"]
        let snapshots = (try? fm.contentsOfDirectory(atPath: work.appendingPathComponent("models/snapshots").path)) ?? []
        files += snapshots.filter { $0.hasPrefix(name + "-") && $0.hasSuffix(".safetensors") }.sorted().map { "models/snapshots/" + $0 }
        for f in files {
            switch try compareModels(source.appendingPathComponent(f), work.appendingPathComponent(f), relative: f) {
            case .difference(let d): return differ(d)
            case .identical(let n): if f == files[0] { tensors = n }
            }
        }
        let theirs = original.metricsRows(stage: name), mine = runner.run.metricsRows(stage: name)
        if let d = compareMetrics(theirs, mine) { return differ(d) }
        let rerun = mine.filter { row in startStep.map { Int(row["step"] ?? 0) > $0 } ?? true }.count
        let snapshotNote = files.count > 1 ? ", \(files.count - 1) snapshot\(files.count == 2 ? "" : "s")" : ""
        return Outcome(stage: label + name, identical: true,
                       line: "verified: \(label)\(name) identical (\(tensors) tensors, \(rerun) metric row\(rerun == 1 ? "" : "s")\(snapshotNote); re-run \(from))")
    }

    enum ModelComparison: Equatable {
        case identical(tensors: Int)
        case difference(String)
    }

    /// Compares two model files tensor by tensor, bit for bit (the run's `a`, the re-run's `b`).
    static func compareModels(_ a: URL, _ b: URL, relative: String) throws -> ModelComparison {
        guard FileManager.default.fileExists(atPath: a.path) else {
            return .difference("\(relative) is missing from the run, the re-run wrote it")
        }
        guard FileManager.default.fileExists(atPath: b.path) else {
            return .difference("\(relative) is in the run, the re-run did not write it")
        }
        let fa: SafeTensors.File
        do { fa = try SafeTensors.open(a) } catch {
            return .difference("\(relative) of the run does not load (\(error))")
        }
        let fb = try SafeTensors.open(b)
        let names = Set(fa.tensors.map(\.name))
        if let extra = fb.tensors.first(where: { !names.contains($0.name) }) {
            return .difference("\(relative) tensor \(extra.name) is missing from the run's file")
        }
        for ta in fa.tensors {
            guard let tb = fb[ta.name] else { return .difference("\(relative) tensor \(ta.name) is not in the re-run's file") }
            guard ta.shape == tb.shape else {
                return .difference("\(relative) tensor \(ta.name) shape \(ta.shape) vs \(tb.shape)")
            }
            guard ta.dtype == tb.dtype else {
                return .difference("\(relative) tensor \(ta.name) dtype \(ta.dtype.rawValue) vs \(tb.dtype.rawValue)")
            }
            let va = fa.values(ta.name)!, vb = fb.values(tb.name)!
            for i in va.indices where va[i].bitPattern != vb[i].bitPattern {
                return .difference("\(relative) tensor \(ta.name) element \(i): \(va[i]) vs \(vb[i])")
            }
        }
        for key in Set(fa.metadata.keys).union(fb.metadata.keys).sorted() where fa.metadata[key] != fb.metadata[key] {
            return .difference("\(relative) metadata \(key): \(fa.metadata[key] ?? "missing") vs \(fb.metadata[key] ?? "missing")")
        }
        return .identical(tensors: fa.tensors.count)
    }

    /// Keys that measure the machine rather than the computation: wall and step times,
    /// throughput, memory. Everything else a row holds is a function of the config and the data.
    static func isTimingOrMemory(_ key: String) -> Bool {
        key == "elapsed" || key.hasPrefix("time/") || key.hasSuffix("_per_s") || key.hasSuffix("seconds")
            || key.contains("memory") || key.contains("rss")
    }

    /// The first difference between the run's rows `a` and the re-run's `b` of one stage, if any.
    static func compareMetrics(_ a: [[String: Double]], _ b: [[String: Double]]) -> String? {
        func show(_ x: Double?) -> String { x.map { "\($0)" } ?? "missing" }
        for (ra, rb) in zip(a, b) {
            let step = ra["step"].map { String(Int($0)) } ?? "?"
            if ra["step"] != rb["step"] { return "metrics row step \(step): the re-run logged step \(show(rb["step"])) there" }
            for key in Set(ra.keys).union(rb.keys).sorted() where key != "step" && !isTimingOrMemory(key) {
                let x = ra[key], y = rb[key]
                let same = x.flatMap { x in y.map { y in x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN) } } ?? false
                if !same { return "metrics row step \(step) key \(key): \(show(x)) vs \(show(y))" }
            }
        }
        if a.count != b.count {
            return "metrics: the run logged \(a.count) rows for the stage, the re-run \(b.count)"
        }
        return nil
    }
}
