import Foundation

/// `rlhf compare`: one row per (run, policy) with the headline numbers.
public enum Report {
    struct RunData {
        let url: URL
        let name: String
        let summary: JSONValue
        let eval: JSONValue?
        let config: JSONValue?
        let metrics: [JSONValue]
    }

    static func load(_ url: URL) throws -> RunData {
        func json(_ name: String) -> JSONValue? {
            guard let t = try? String(contentsOf: url.appendingPathComponent(name), encoding: .utf8) else { return nil }
            return try? JSONParser.parse(t)
        }
        guard let summary = json("summary.json") else {
            throw UserError("\(url.path): no summary.json; not a run directory, or the run has not finished a stage yet")
        }
        var metrics: [JSONValue] = []
        if let t = try? String(contentsOf: url.appendingPathComponent("metrics.jsonl"), encoding: .utf8) {
            for line in t.split(separator: "\n") { if let v = try? JSONParser.parse(String(line)) { metrics.append(v) } }
        }
        return RunData(url: url, name: summary["name"]?.stringValue ?? url.lastPathComponent, summary: summary,
                       eval: json("eval.json"), config: json("config.resolved.json"), metrics: metrics)
    }

    /// Prints the comparison table and writes the report (report.md + SVG plots).
    public static func compare(runs: [URL], out: URL?) throws -> String {
        let data = try runs.map(load)
        let table = Table.make(data)
        let dir = out ?? runs[0].appendingPathComponent("report")
        try ReportWriter.write(data, table: table, to: dir)
        return table.text + "\nreport: \(dir.appendingPathComponent("report.md").path)"
    }
}
