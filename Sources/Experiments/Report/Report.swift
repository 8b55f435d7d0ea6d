import Foundation
import JSON

/// `rlhf compare`: one row per (run, policy) with the headline numbers.
public enum Report {
    struct RunData {
        let url: URL
        /// How tables and legends name the run: its directory, with as many parent directories as
        /// it takes to tell it from the other runs compared (two runs of one config differ).
        let name: String
        let summary: JSONValue
        let eval: JSONValue?
        let config: JSONValue?
        let metrics: [JSONValue]
    }

    static func load(_ url: URL, label: String? = nil) throws -> RunData {
        /// A run file as JSON: nil when absent, an error naming the file when present but unreadable.
        func json(_ name: String) throws -> JSONValue? {
            let u = url.appendingPathComponent(name)
            guard let t = try text(u) else { return nil }
            do { return try JSONParser.parse(t) } catch {
                throw UserError("\(u.path): invalid JSON (\(error)); re-create it with: rlhf \(name == "eval.json" ? "eval" : "resume") \(url.path)")
            }
        }
        func text(_ u: URL) throws -> String? {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir) else { return nil }
            guard !isDir.boolValue else { throw UserError("\(u.path): is a directory, expected the run's file; remove or rename it") }
            guard let d = FileManager.default.contents(atPath: u.path) else {
                throw UserError("\(u.path): cannot read the file (\(FileSystem.cause(u))); check its permissions")
            }
            guard let t = String(data: d, encoding: .utf8) else { throw UserError("\(u.path): not UTF-8 text; the run directory is damaged") }
            return t
        }
        guard let summary = try json("summary.json") else {
            throw UserError("\(url.path): no summary.json; not a run directory, or the run has not finished a stage yet")
        }
        var metrics: [JSONValue] = []
        let metricsURL = url.appendingPathComponent("metrics.jsonl")
        if let t = try text(metricsURL) {
            let lines = t.split(separator: "\n", omittingEmptySubsequences: false)
            let last = lines.lastIndex { !$0.isEmpty }
            for (i, line) in lines.enumerated() where !line.isEmpty {
                do { metrics.append(try JSONParser.parse(String(line))) } catch {
                    // A last line cut short is what a run killed mid-write leaves (resume drops it);
                    // damage anywhere else is reported.
                    if i == last { continue }
                    let why = (error as? JSONParseError).map { "column \($0.column): \($0.message)" } ?? "\(error)"
                    throw UserError("\(metricsURL.path): line \(i + 1): invalid JSON (\(why)); delete or repair that line")
                }
            }
        }
        return RunData(url: url, name: label ?? url.lastPathComponent, summary: summary,
                       eval: try json("eval.json"), config: try json("config.resolved.json"), metrics: metrics)
    }

    /// Prints the comparison table and the verdicts, and writes the report (report.md + SVG
    /// plots). A replicated experiment (a directory of seed-S/ runs) is a row per seed in the
    /// table and one method per policy in the verdicts.
    public static func compare(runs: [URL], out: URL?) throws -> String {
        // A replicate is named by its set and its seed directory (micro/seed-5).
        let setLabels = PairedComparison.labels(runs)
        var expanded: [URL] = [], labels: [String] = []
        for (run, label) in zip(runs, setLabels) {
            let seeds = PairedComparison.seedRuns(run)
            expanded += seeds
            labels += seeds == [run] ? [label] : seeds.map { label + "/" + $0.lastPathComponent }
        }
        let data = try zip(expanded, labels).map { try load($0, label: $1) }
        let table = Table.make(data)
        let paired = try PairedComparison(runs: runs, labels: setLabels)
        let dir = out ?? runs[0].appendingPathComponent("report")
        try ReportWriter.write(data, table: table, verdicts: paired, to: dir)
        var text = table.text
        let wins = paired.worthReporting ? paired.lines(metric: "win") : []
        if !wins.isEmpty {
            text += "\nVerdicts (paired over identical prompts and sampling streams; 95% bootstrap intervals over prompts within seeds):\n"
            text += wins.map { "  " + $0 }.joined(separator: "\n") + "\n"
        }
        if let budget = Budget.table(Budget.curves(data)) {
            text += "\nAt equal budget (win rate at T = 1 of each method's last snapshot within the largest budget every method reached):\n"
            text += budget.text + "\n"
        }
        return text + "\nreport: \(dir.appendingPathComponent("report.md").path)"
    }
}
