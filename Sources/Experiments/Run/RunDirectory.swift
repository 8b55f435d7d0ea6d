import Alignment
import Files
import Foundation
import GPT
import JSON

/// `runs/NAME/`: config.json (resolved), state.json (finished stages), metrics.jsonl,
/// samples.jsonl, summary.json, tokenizer.json, models/, checkpoints/, data/, eval.json, report/,
/// and `.lock` (see `RunLock`).
///
/// What a run directory guarantees: it appears whole or not at all (`create`); every file in it is
/// replaced whole (temporary file, fsync, rename: `DurableFile`), except the two
/// logs, which only grow by whole lines (`RunLog`); one process writes into it at a time.
/// Opening one writes nothing: the writers (`Lab`) take the lock first.
public final class RunDirectory {
    public let url: URL
    /// state.json as found when the directory was opened (empty for a new run).
    let state: State
    let metrics: RunLog
    let samples: RunLog
    /// The first append to metrics.jsonl or samples.jsonl that failed. Later lines are not written
    /// (a log with a gap would pass for a complete one): the runner stops the stage with it.
    public private(set) var writeFailure: Error?

    public init(url: URL) throws {
        self.url = url
        // A present state.json must be readable before anything is written: a damaged one
        // would otherwise restart the run from scratch over its checkpoints and summaries.
        state = try Self.readState(url)
        metrics = RunLog(url: url.appendingPathComponent("metrics.jsonl"))
        samples = RunLog(url: url.appendingPathComponent("samples.jsonl"))
    }

    public func path(_ name: String) -> URL { url.appendingPathComponent(name) }
    public func model(_ stage: String) -> URL { url.appendingPathComponent("models/\(stage).safetensors") }
    public func checkpoints(_ stage: String) -> URL { url.appendingPathComponent("checkpoints/\(stage)") }

    // MARK: - Creation

    static let subdirectories = ["models", "checkpoints", "data", "report"]

    /// Creates the run directory `dir` whole or not at all: it is built as a hidden sibling
    /// (`.NAME.tmp-PID`, holding its lock from the start) with its subdirectories, `files`, empty
    /// logs and `state`, then renamed into place (over `dir` when that is an empty directory).
    /// Returns the lock, held. Siblings left by a creation that was killed are removed first.
    static func create(_ dir: URL, state: State, files: [(String, Data)]) throws -> RunLock {
        let fm = FileManager.default
        let parent = dir.deletingLastPathComponent()
        let fix = "choose another --out"
        func failure(_ cause: String, _ e: Int32) -> UserError {
            let advice = (e == ENOSPC || e == EDQUOT) ? "free some space, then run the command again" : fix
            return UserError("\(dir.path): cannot create the run directory (\(cause)); \(advice)")
        }
        if let f = FileSystem.fileInTheWay(dir) {
            let why = f.path == dir.standardizedFileURL.path ? "it exists and is not a directory" : "\(f.path) is a file, not a directory"
            throw UserError("\(dir.path): cannot create the run directory (\(why)); \(fix)")
        }
        do { try DurableFile.createDirectory(parent) } catch let e as FileWriteError {
            throw failure(FileSystem.cause(errno: e.code) + (e.path == parent.standardizedFileURL.path ? "" : " at \(e.path)"), e.code)
        }
        removeAbandonedSiblings(of: dir)
        let tmp = parent.appendingPathComponent(".\(dir.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        guard mkdir(tmp.path, 0o755) == 0 else { let e = errno; throw failure(FileSystem.cause(errno: e), e) }
        let lock: RunLock
        do {
            lock = try RunLock(file: tmp.appendingPathComponent(RunLock.fileName), for: dir)
            for sub in subdirectories where mkdir(tmp.appendingPathComponent(sub).path, 0o755) != 0 {
                throw FileWriteError(path: tmp.appendingPathComponent(sub).path, code: errno)
            }
            for (name, data) in files { try DurableFile.write(data, to: tmp.appendingPathComponent(name)) }
            for log in ["metrics.jsonl", "samples.jsonl"] { try DurableFile.write(Data(), to: tmp.appendingPathComponent(log)) }
            try DurableFile.write(try encoder.encode(state), to: tmp.appendingPathComponent("state.json"))
            DurableFile.syncDirectory(tmp)
        } catch {
            try? fm.removeItem(at: tmp)
            if let w = error as? FileWriteError { throw failure(w.reason, w.code) }
            throw error
        }
        if rename(tmp.path, dir.path) != 0 {
            let e = errno
            lock.release()
            try? fm.removeItem(at: tmp)
            if e == ENOTEMPTY || e == EEXIST {
                // Another process got there first: say who, or what the directory now holds.
                try RunLock.checkFree(dir)
                try Lab.checkNewRunDirectory(dir)
            }
            throw failure(FileSystem.cause(errno: e) + (e == EBUSY ? ", a mount point: use a directory inside it" : ""), e)
        }
        DurableFile.syncDirectory(parent)
        return lock
    }

    /// Removes `.NAME.tmp-PID` siblings of `dir` that no living process is building.
    static func removeAbandonedSiblings(of dir: URL) {
        let parent = dir.deletingLastPathComponent()
        let prefix = ".\(dir.lastPathComponent).tmp-"
        for n in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? [] where n.hasPrefix(prefix) {
            let u = parent.appendingPathComponent(n)
            let lockFile = u.appendingPathComponent(RunLock.fileName)
            if FileManager.default.fileExists(atPath: lockFile.path) {
                if RunLock.isHeld(lockFile) { continue }
            } else if let pid = Int32(n.dropFirst(prefix.count)), pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH {
                continue  // its creator may not have taken its lock yet
            }
            try? FileManager.default.removeItem(at: u)
        }
    }

    // MARK: - Logs

    /// Opens metrics.jsonl and samples.jsonl for appending (an unwritable one fails here, before any work).
    func openLogs() throws {
        try metrics.open()
        try samples.open()
    }

    /// Appends one line to metrics.jsonl (one write: a killed run keeps every logged step whole).
    public func logMetrics(stage: String, step: Int, _ metrics: [String: Double], extra: [String: Any] = [:]) {
        var obj: [(String, JSONValue)] = [("stage", .string(stage)), ("step", .number(Double(step), isInteger: true))]
        for k in metrics.keys.sorted() { obj.append((k, .number(metrics[k]!, isInteger: false))) }
        for k in extra.keys.sorted() { obj.append((k, JSONValue(extra[k]))) }
        append(self.metrics, JSONValue.object(obj).serialized(pretty: false), stage: stage)
    }

    public func logSample(_ item: [String: Any]) {
        append(samples, JSONValue(item).serialized(pretty: false), stage: item["stage"] as? String ?? "")
    }

    private func append(_ log: RunLog, _ line: String, stage: String) {
        guard writeFailure == nil else { return }
        do { try log.append(line, stage: stage) } catch { writeFailure = error }
    }

    /// Drops the lines of metrics.jsonl and samples.jsonl that are not JSON objects (a write cut
    /// short, or anything appended by hand); returns one line per file that had some.
    func repairLogs() throws -> [String] {
        var notes: [String] = []
        for log in [metrics, samples] {
            let dropped = try log.repair()
            guard !dropped.isEmpty else { continue }
            let list = dropped.prefix(5).map(String.init).joined(separator: ", ") + (dropped.count > 5 ? ", ..." : "")
            notes.append("\(log.url.path): dropped \(dropped.count) line\(dropped.count == 1 ? "" : "s") that \(dropped.count == 1 ? "is" : "are") not JSON (line\(dropped.count == 1 ? "" : "s") \(list))")
        }
        return notes
    }

    /// What a checkpoint of `stage` records about the logs: how many rows of the stage each held.
    func logPositions(stage: String) -> Data {
        metrics.sync()
        samples.sync()
        let obj: JSONValue = .object([("metrics_rows", .number(Double(metrics.rows[stage] ?? 0), isInteger: true)),
                                      ("samples_rows", .number(Double(samples.rows[stage] ?? 0), isInteger: true))])
        return Data(obj.serialized(pretty: false).utf8)
    }
    static let logPositionsFile = "run_logs.json"

    /// Cuts the rows of `stage` back to what the checkpoint `dir` recorded (its `run_logs.json`;
    /// without one, rows up to `step`; with no checkpoint, all of them). Returns the rows dropped.
    @discardableResult
    func cutLogs(stage: String, checkpoint dir: URL?, step: Int) throws -> Int {
        var m = RunLog.Cut.throughStep(dir == nil ? -1 : step), s = m
        if let dir, let d = FileManager.default.contents(atPath: dir.appendingPathComponent(Self.logPositionsFile).path),
           let v = try? JSONParser.parse(String(decoding: d, as: UTF8.self)),
           let mr = v["metrics_rows"]?.intValue, let sr = v["samples_rows"]?.intValue, mr >= 0, sr >= 0 {
            m = .rows(mr)
            s = .rows(sr)
        }
        return try metrics.cut(stage: stage, m) + samples.cut(stage: stage, s)
    }

    /// The last value of each metric `stage` logged to metrics.jsonl (a stage resumed at its
    /// final checkpoint runs no step, so its final figures come from there).
    public func lastMetrics(stage: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for row in metricsRows(stage: stage) {
            for (k, d) in row where k != "step" && k != "elapsed" { out[k] = d }
        }
        return out
    }

    /// The numbers of each metrics row of `stage`, in order ("step" included).
    public func metricsRows(stage: String) -> [[String: Double]] {
        metrics.read().lines.filter { $0.stage == stage }.compactMap { line in
            guard case .object(let kv)? = try? JSONParser.parse(String(line.text)) else { return nil }
            var row: [String: Double] = [:]
            for (k, x) in kv where k != "stage" { if let d = x.doubleValue { row[k] = d } }
            return row
        }
    }

    // MARK: - Leftovers

    /// Removes what writes cut short left behind (`.NAME.tmp-X` files, `.tmp-step-N` checkpoint
    /// directories) and returns the paths those writes were meant for. Only the lock's holder may
    /// call it: with the lock held, no write is under way but its own.
    func removeTemporaryFiles() -> [String] {
        let fm = FileManager.default
        var targets: [String] = []
        func sweep(_ dir: URL) {
            for n in (try? fm.contentsOfDirectory(atPath: dir.path)) ?? [] {
                let u = dir.appendingPathComponent(n)
                if n.hasPrefix("."), let r = n.range(of: ".tmp-", options: .backwards), r.lowerBound > n.index(after: n.startIndex) {
                    targets.append(dir.appendingPathComponent(String(n[n.index(after: n.startIndex)..<r.lowerBound])).path)
                    try? fm.removeItem(at: u)
                } else if n.hasPrefix(".tmp-step-") {
                    targets.append(dir.appendingPathComponent(String(n.dropFirst(5))).path)
                    try? fm.removeItem(at: u)
                } else if n.hasPrefix(".replaced-step-") {
                    try? fm.removeItem(at: u)
                }
            }
        }
        for d in [url, path("models"), path("models/snapshots"), path("data"), path("report")] { sweep(d) }
        for stage in (try? fm.contentsOfDirectory(atPath: path("checkpoints").path)) ?? [] {
            let root = path("checkpoints/\(stage)")
            let published = CheckpointStore.checkpoints(root: root)  // puts back a checkpoint set aside mid-replacement
            sweep(root)
            for ck in published { sweep(ck) }
        }
        return targets
    }

    // MARK: - Run state

    public struct State: Codable {
        public var finished: [String] = []
        public var stageSeconds: [String: Double] = [:]
        public var summaries: [String: [String: Double]] = [:]
        public var notes: [String: String] = [:]
    }

    public func loadState() -> State { state }

    /// state.json of the run at `dir`: empty when there is none (a new run), an error naming the
    /// file when it is present but unreadable, or names stages that do not exist or finished
    /// stages out of the pipeline's order.
    public static func readState(_ dir: URL) throws -> State {
        let u = dir.appendingPathComponent("state.json")
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir) else { return State() }
        guard !isDir.boolValue, let d = FileManager.default.contents(atPath: u.path) else {
            throw UserError("\(u.path): cannot read the run state (\(isDir.boolValue ? "is a directory" : FileSystem.cause(u))); restore it from a backup, or start the run again in a new directory")
        }
        let fix = "restore it from a backup, or start the run again in a new directory"
        guard let text = String(data: d, encoding: .utf8) else {
            throw UserError("\(u.path): the run state is damaged (not UTF-8 text); \(fix)")
        }
        do { _ = try JSONParser.parse(text) } catch {
            throw UserError("\(u.path): the run state is damaged (invalid JSON at \(error)); \(fix)")
        }
        let state: State
        do {
            state = try decoder.decode(State.self, from: d)
        } catch {
            throw UserError("\(u.path): the run state is damaged (\(FileSystem.describeDecoding(error))); \(fix)")
        }
        let order = Stage.allCases.map(\.rawValue)
        let known = "the stages are \(order.joined(separator: ", "))"
        var last = -1
        for name in state.finished {
            guard let i = order.firstIndex(of: name) else {
                throw UserError("\(u.path): the run state is damaged (finished: unknown stage \(JSONValue.quote(name)); \(known)); \(fix)")
            }
            guard i > last else {
                let why = i == last ? "is listed twice" : "comes after \"\(order[last])\", out of the pipeline's order"
                throw UserError("\(u.path): the run state is damaged (finished: \"\(name)\" \(why); \(known)); \(fix)")
            }
            last = i
        }
        for (key, names) in [("summaries", Array(state.summaries.keys)), ("stageSeconds", Array(state.stageSeconds.keys))] {
            if let bad = names.sorted().first(where: { !order.contains($0) }) {
                throw UserError("\(u.path): the run state is damaged (\(key): unknown stage \(JSONValue.quote(bad)); \(known)); \(fix)")
            }
        }
        return state
    }

    /// Non-finite summary values (a diverged loss) are written as the strings "nan", "inf", "-inf".
    static let encoder: JSONEncoder = {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return enc
    }()
    static let decoder: JSONDecoder = {
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return dec
    }()

    public func saveState(_ s: State) throws {
        try DurableFile.write(try Self.encoder.encode(s), to: path("state.json"))
    }

    public func writeJSON(_ v: JSONValue, _ name: String) throws {
        try DurableFile.write(v.serialized() + "\n", to: path(name))
    }
}
