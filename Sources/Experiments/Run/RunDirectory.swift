import Foundation
import GPT
import JSON

/// `runs/NAME/`: config.json (resolved), state.json (finished stages), metrics.jsonl,
/// samples.jsonl, summary.json, tokenizer.json, models/, checkpoints/, data/, eval.json, report/.
public final class RunDirectory {
    public let url: URL
    let metricsHandle: FileHandle
    let samplesHandle: FileHandle
    /// state.json as found when the directory was opened (empty for a new run).
    let state: State

    public init(url: URL) throws {
        self.url = url
        // A present state.json must be readable before anything is written: a damaged one
        // would otherwise restart the run from scratch over its checkpoints and summaries.
        state = try Self.readState(url)
        try FileSystem.createDirectory(url, what: "the run directory", fix: "choose another --out")
        for sub in ["models", "checkpoints", "data", "report"] {
            try FileSystem.createDirectory(url.appendingPathComponent(sub), what: "the run directory", fix: "remove it or choose another --out")
        }
        metricsHandle = try FileSystem.openForAppending(url.appendingPathComponent("metrics.jsonl"))
        samplesHandle = try FileSystem.openForAppending(url.appendingPathComponent("samples.jsonl"))
    }

    deinit {
        try? metricsHandle.close()
        try? samplesHandle.close()
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

    /// Drops metrics lines of `stage` with step > `step` (after resuming from an earlier
    /// checkpoint), and lines that are not JSON: only a write cut short by a crash leaves those.
    public func truncateMetrics(stage: String, after step: Int) throws {
        let u = path("metrics.jsonl")
        guard let text = try? String(contentsOf: u, encoding: .utf8) else { return }
        var kept: [Substring] = []
        for line in text.split(separator: "\n") {
            guard let v = try? JSONParser.parse(String(line)) else { continue }
            if v["stage"]?.stringValue == stage, let s = v["step"]?.doubleValue, Int(s) > step { continue }
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

    public func loadState() -> State { state }

    /// state.json of the run at `dir`: empty when there is none (a new run), an error naming the
    /// file when it is present but unreadable.
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
        do {
            return try decoder.decode(State.self, from: d)
        } catch {
            throw UserError("\(u.path): the run state is damaged (\(FileSystem.describeDecoding(error))); \(fix)")
        }
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
        try AtomicFile.write(try Self.encoder.encode(s), to: path("state.json"))
    }

    /// The last value of each metric `stage` logged to metrics.jsonl (a stage resumed at its
    /// final checkpoint runs no step, so its final figures come from there).
    public func lastMetrics(stage: String) -> [String: Double] {
        guard let text = try? String(contentsOf: path("metrics.jsonl"), encoding: .utf8) else { return [:] }
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            guard let v = try? JSONParser.parse(String(line)), v["stage"]?.stringValue == stage, case .object(let kv) = v else { continue }
            for (k, x) in kv where k != "stage" && k != "step" && k != "elapsed" {
                if let d = x.doubleValue { out[k] = d }
            }
        }
        return out
    }

    public func writeJSON(_ v: JSONValue, _ name: String) throws {
        try AtomicFile.write(v.serialized() + "\n", to: path(name))
    }
}

// MARK: - File-system errors as one line

/// File operations whose failures become one `UserError` line naming the path and the cause
/// ("is a directory", "not a directory", "permission denied"), instead of a Foundation error dump.
public enum FileSystem {
    /// The system's text for `code`, lowercased: "no such file or directory".
    public static func cause(errno code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }

    /// Why `url` cannot be read, found by asking the file system.
    static func cause(_ url: URL) -> String {
        let fd = open(url.path, O_RDONLY)
        if fd < 0 { return cause(errno: errno) }
        close(fd)
        return "unreadable"
    }

    /// `DecodingError`s in a few words (the JSON is parsed first for a line and column).
    static func describeDecoding(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c), DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            let path = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? "not valid JSON" : "unexpected value at \(path)"
        case DecodingError.keyNotFound(let k, _):
            return "missing key \"\(k.stringValue)\""
        default:
            return "\(error)"
        }
    }

    /// The first existing component of `url`'s path (walking up from `url`) that is not a directory.
    static func fileInTheWay(_ url: URL) -> URL? {
        var u = url.standardizedFileURL
        while u.path != "/" && !u.path.isEmpty {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir) {
                return isDir.boolValue ? nil : u
            }
            u = u.deletingLastPathComponent()
        }
        return nil
    }

    /// `mkdir -p url`; a failure names the path, `what` it was meant to be, the cause and `fix`.
    public static func createDirectory(_ url: URL, what: String, fix: String) throws {
        if let f = fileInTheWay(url) {
            let why = f.path == url.standardizedFileURL.path ? "it exists and is not a directory" : "\(f.path) is a file, not a directory"
            throw UserError("\(url.path): cannot create \(what) (\(why)); \(fix)")
        }
        var prefix = "/"
        for c in url.standardizedFileURL.pathComponents where c != "/" {
            prefix = (prefix as NSString).appendingPathComponent(c)
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                let e = errno
                let at = prefix == url.standardizedFileURL.path ? "" : " at \(prefix)"
                throw UserError("\(url.path): cannot create \(what) (\(cause(errno: e))\(at)); \(fix)")
            }
        }
    }

    /// Opens `url` for appending, creating it when missing.
    public static func openForAppending(_ url: URL) throws -> FileHandle {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw UserError("\(url.path): cannot open for writing (\(cause(errno: errno))); remove or rename it")
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// One line for a Foundation file error (`CocoaError` with a path and a POSIX cause), or nil.
    public static func describe(_ error: Error) -> String? {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return nil }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        var why: String
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            why = cause(errno: Int32(u.code))
        } else if ns.domain == NSPOSIXErrorDomain {
            why = cause(errno: Int32(ns.code))
        } else if let p = path, let f = fileInTheWay(URL(fileURLWithPath: p)) {
            why = f.path == p ? "it is not a directory" : "\(f.path) is a file, not a directory"
        } else if let p = path {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir) {
                why = isDir.boolValue ? "is a directory" : (access(p, W_OK) != 0 ? cause(errno: errno) : "file error \(ns.code)")
            } else {
                why = access((p as NSString).deletingLastPathComponent, W_OK) != 0 ? cause(errno: errno) : "no such file or directory"
            }
        } else {
            why = "file error \(ns.code)"
        }
        return path.map { "\($0): \(why)" } ?? "file-system error: \(why)"
    }
}
