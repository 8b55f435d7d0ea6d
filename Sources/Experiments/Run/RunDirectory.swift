import Foundation
import GPT

/// `runs/NAME/`: config.json (resolved), state.json (finished stages), metrics.jsonl,
/// samples.jsonl, summary.json, tokenizer.json, models/, checkpoints/, data/, eval.json, report/.
public final class RunDirectory {
    public let url: URL
    let metricsHandle: FileHandle
    let samplesHandle: FileHandle

    public init(url: URL) throws {
        self.url = url
        let fm = FileManager.default
        do {
            for sub in ["", "models", "checkpoints", "data", "report"] {
                try fm.createDirectory(at: url.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
        } catch {
            throw UserError("\(url.path): cannot create the run directory (\(error.localizedDescription)); choose another --out")
        }
        metricsHandle = try Self.appendHandle(url.appendingPathComponent("metrics.jsonl"))
        samplesHandle = try Self.appendHandle(url.appendingPathComponent("samples.jsonl"))
    }

    deinit {
        try? metricsHandle.close()
        try? samplesHandle.close()
    }

    static func appendHandle(_ u: URL) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: u.path) { _ = FileManager.default.createFile(atPath: u.path, contents: nil) }   // a failure surfaces in FileHandle below
        let h = try FileHandle(forWritingTo: u)
        try h.seekToEnd()
        return h
    }

    public func path(_ name: String) -> URL { url.appendingPathComponent(name) }
    public func model(_ stage: String) -> URL { url.appendingPathComponent("models/\(stage).safetensors") }
    public func checkpoints(_ stage: String) -> URL { url.appendingPathComponent("checkpoints/\(stage)") }

    /// Appends one line to metrics.jsonl (flushed: a killed run keeps every logged step).
    public func logMetrics(stage: String, step: Int, _ metrics: [String: Double], extra: [String: Any] = [:]) {
        var obj: [(String, JSONValue)] = [("stage", .string(stage)), ("step", .number(Double(step), isInteger: true))]
        for k in metrics.keys.sorted() { obj.append((k, .number(metrics[k]!, isInteger: false))) }
        for k in extra.keys.sorted() { obj.append((k, JSONValue(extra[k]))) }
        let line = JSONValue.object(obj).serialized(pretty: false) + "\n"
        metricsHandle.write(Data(line.utf8))
    }

    public func logSample(_ item: [String: Any]) {
        samplesHandle.write(Data((JSONValue(item).serialized(pretty: false) + "\n").utf8))
    }

    /// Drops metrics lines of `stage` with step > `step` (after resuming from an earlier checkpoint).
    public func truncateMetrics(stage: String, after step: Int) throws {
        let u = path("metrics.jsonl")
        guard let text = try? String(contentsOf: u, encoding: .utf8) else { return }
        var kept: [Substring] = []
        for line in text.split(separator: "\n") {
            if let v = try? JSONParser.parse(String(line)), v["stage"]?.stringValue == stage, let s = v["step"]?.doubleValue, Int(s) > step { continue }
            kept.append(line)
        }
        try metricsHandle.truncate(atOffset: 0)
        metricsHandle.write(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8))
    }

    // MARK: - Run state

    public struct State: Codable {
        public var finished: [String] = []
        public var stageSeconds: [String: Double] = [:]
        public var summaries: [String: [String: Double]] = [:]
        public var notes: [String: String] = [:]
    }

    public func loadState() -> State {
        guard let d = FileManager.default.contents(atPath: path("state.json").path),
              let s = try? JSONDecoder().decode(State.self, from: d) else { return State() }
        return s
    }

    public func saveState(_ s: State) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(s), to: path("state.json"))
    }

    public func writeJSON(_ v: JSONValue, _ name: String) throws {
        try AtomicFile.write(v.serialized() + "\n", to: path(name))
    }
}
