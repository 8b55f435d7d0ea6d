import Foundation
import JSON
import XCTest

/// Helpers of the run-directory recovery tests: micro configurations, `rlhf` children that run in
/// the background (to be signalled or killed), and readers of a run's logs.
enum Recovery {
    /// The micro configuration of PipelineTests with `threads` and, when given, `stages` and
    /// replacements of its sections (`"pretrain": {...}` lines by section name; a section it does
    /// not have is added before eval).
    static func config(name: String, threads: Int = 1, stages: [String]? = nil, sections: [String: String] = [:]) -> String {
        var text = PipelineTests.micro
            .replacingOccurrences(of: "\"name\": \"micro\", \"seed\": 3, \"threads\": 2",
                                  with: "\"name\": \"\(name)\", \"seed\": 3, \"threads\": \(threads)" + (stages.map { ", \"stages\": [" + $0.map { "\"\($0)\"" }.joined(separator: ", ") + "]" } ?? ""))
        for (section, body) in sections.sorted(by: { $0.key < $1.key }) {
            var found = false
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                let t = line.trimmingCharacters(in: .whitespaces)
                guard t.hasPrefix("\"\(section)\":") else { return String(line) }
                found = true
                return "  \"\(section)\": \(body)" + (t.hasSuffix(",") ? "," : "")
            }
            // A section the micro configuration lacks goes before eval, the last one.
            if !found, let eval = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("\"eval\":") }) {
                lines.insert("  \"\(section)\": \(body),", at: eval)
            }
            text = lines.joined(separator: "\n")
        }
        return text
    }

    static func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// Starts `rlhf args` with stdout discarded and stderr in `stderr`; the caller waits for it.
    static func start(_ args: [String], stderr: URL, cwd: URL? = nil) throws -> Process {
        let p = Process()
        p.executableURL = rlhfBinary
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        FileManager.default.createFile(atPath: stderr.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: stderr)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Polls `condition` every 10 ms for at most `timeout` seconds; returns whether it became true.
    @discardableResult
    static func waitUntil(_ timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    static func text(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// The lines of a JSON-lines file, each parsed (nil where a line is not JSON).
    static func lines(_ url: URL) -> [JSONValue?] {
        text(url).split(separator: "\n").map { try? JSONParser.parse(String($0)) }
    }

    /// "stage:step" of every metrics row, in order.
    static func steps(_ run: URL) -> [String] {
        lines(run.appendingPathComponent("metrics.jsonl")).map { v in
            "\(v?["stage"]?.stringValue ?? "?"):\(v?["step"]?.intValue ?? -1)"
        }
    }

    /// Metrics rows without the figures that depend on the clock (throughput, elapsed time).
    static func timelessMetrics(_ run: URL) -> [String] {
        lines(run.appendingPathComponent("metrics.jsonl")).map { v in
            guard case .object(let kv)? = v else { return "not JSON" }
            return kv.filter { !$0.0.hasSuffix("_per_s") && $0.0 != "elapsed" && !$0.0.hasSuffix("seconds") && !$0.0.hasPrefix("time/") }
                .map { "\($0.0)=\($0.1.serialized(pretty: false))" }.joined(separator: ",")
        }
    }

    /// The first difference of two lists of log rows, or nil ("row 7: ... instead of ...").
    static func firstDifference(_ got: [String], _ expected: [String]) -> String? {
        for i in 0..<max(got.count, expected.count) {
            let g = i < got.count ? got[i] : "nothing", e = i < expected.count ? expected[i] : "nothing"
            if g != e { return "row \(i + 1) of \(got.count) (expected \(expected.count)): \(g) instead of \(e)" }
        }
        return nil
    }

    /// Every file under `dir` whose name marks an unfinished write or a half-made directory.
    static func leftovers(_ dir: URL) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        return e.compactMap { $0 as? String }.filter { ($0 as NSString).lastPathComponent.contains(".tmp-") }
    }

    /// The sorted relative paths of the regular files under `dir`.
    static func files(_ dir: URL) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        return e.compactMap { $0 as? String }.filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path, isDirectory: &isDir) && !isDir.boolValue
        }.sorted()
    }
}
