import Files
import Foundation
import GPT
import JSON

/// report.md: the table, the plots written by `Plots` next to it, and a section per run.
enum ReportWriter {
    static func write(_ runs: [Report.RunData], table: Table, verdicts: PairedComparison? = nil, to dir: URL) throws {
        try FileSystem.createDirectory(dir, what: "the report directory", fix: "choose another --out")
        let plots = try Plots.write(runs, to: dir)
        var md = "# Comparison of \(runs.map(\.name).joined(separator: ", "))\n\n"
        md += "Win rate: fraction of held-out prompts where the policy's summary beats the reference summary under the judge (ties count half), ±95% CI.\n"
        md += "gold, rm, kl and length at T = 1 (the highest evaluated temperature ≤ 1): judge score, reward-model score, KL(π‖π_SFT) in nats per sequence, tokens.\n\n"
        md += table.markdown + "\n"
        if let v = verdicts, v.worthReporting { md += verdictsSection(v) }
        md += plotsSection(plots, runs)
        md += Overoptimization.section(runs)
        md += Budget.section(runs)
        md += watchSection(runs)
        md += judgeSection(runs)
        md += runsSection(runs)
        let file = dir.appendingPathComponent("report.md")
        do { try DurableFile.write(md, to: file) } catch {
            throw UserError("\(file.path): cannot write the report (\(FileSystem.describe(error) ?? "\(error)")); check that the report directory is writable")
        }
    }

    /// Means across seeds and paired differences for the win rate, the gold score and the KL.
    static func verdictsSection(_ v: PairedComparison) -> String {
        var md = "\n## Verdicts\n\n"
        md += "Each method is evaluated on the same held-out prompts with the same sampling stream per prompt and temperature, in each of \(v.seeds.count) seed\(v.seeds.count == 1 ? "" : "s"). "
        md += "Mean across seeds: the mean of the per-seed means, ± the 95% t-interval across seeds. "
        md += "Paired difference: mean over the (seed, prompt) units both methods have, [95% interval of a bootstrap over prompts within each seed], "
        md += "\"resolved\" when the interval excludes 0, and the per-seed differences beside it (the run-to-run spread that the bootstrap does not resample).\n\n"
        for metric in PairedComparison.metrics {
            let lines = v.lines(metric: metric)
            guard !lines.isEmpty else { continue }
            md += "### \(metric)\n\n" + lines.map { "- " + $0 }.joined(separator: "\n") + "\n\n"
        }
        return md
    }

    /// The plots embedded with their captions, and a line for each plot that could not be drawn.
    static func plotsSection(_ plots: [Plots.Output], _ runs: [Report.RunData]) -> String {
        var md = "\n## Plots\n\n"
        for p in plots {
            md += "![\(p.title)](\(p.file))\n\n\(p.caption)\n\n"
        }
        let files = Set(plots.map(\.file))
        if !files.contains(Plots.winRateFile) || !files.contains(Plots.frontierFile) {
            let noEval = runs.allSatisfy { $0.eval == nil }
            var missing: [String] = []
            if !files.contains(Plots.winRateFile) { missing.append("win rate against temperature") }
            if !files.contains(Plots.frontierFile) { missing.append("reward against KL") }
            md += "No \(missing.joined(separator: " or ")) plot: "
                + (noEval ? "no run has an eval.json (add the \"eval\" stage and `rlhf resume` the run).\n\n"
                          : "no run's eval.json has the numbers it needs.\n\n")
        }
        if !files.contains(Plots.learningCurvesFile) {
            md += "No learning curves: no run's metrics.jsonl has a plotted metric.\n\n"
        }
        return md
    }

    /// When each sign of reward hacking (`HackingWatch`) first fired in each online stage, against
    /// the step where the judge's score of the rollouts peaked (summary.json's `watch/` keys).
    static func watchSection(_ runs: [Report.RunData]) -> String {
        let labels = Plots.runLabels(runs), signs = HackingWatch.Sign.allCases
        var rows: [String] = []
        for (i, r) in runs.enumerated() {
            for (stage, s) in r.summary["stages"]?.objectValue ?? [] {
                let peak = Plots.number(s, HackingWatch.judgePeakKey)
                let steps = signs.map { Plots.number(s, HackingWatch.key($0)) }
                guard peak != nil || steps.contains(where: { $0 != nil }) else { continue }
                let cells = steps.map { step -> String in
                    guard let step else { return "-" }
                    guard let peak else { return String(Int(step)) }
                    let d = Int(step - peak)
                    return "\(Int(step)) (\(d == 0 ? "at the peak" : d < 0 ? "\(-d) before" : "\(d) after"))"
                }
                rows.append("| \(escape(labels[i])) | \(escape(stage)) | \(peak.map { String(Int($0)) } ?? "-") | " + cells.joined(separator: " | ") + " |")
            }
        }
        guard !rows.isEmpty else { return "" }
        return "## Reward-hacking watch\n\nThe step at which each sign of reward hacking first fired during training, against the step where the judge's "
            + "mean score of the rollouts peaked (- : never fired; no judge peak without a judge's series). A sign that fires before the peak warns in time.\n\n"
            + "| run | stage | judge peak | " + signs.map { $0.rawValue.replacingOccurrences(of: "_", with: " ") }.joined(separator: " | ") + " |\n"
            + "|---|---|---:|" + String(repeating: "---:|", count: signs.count) + "\n"
            + rows.joined(separator: "\n") + "\n\n"
    }

    /// What the gold judge saw, per run, policy and temperature (runs judged by the gold judge only).
    static func judgeSection(_ runs: [Report.RunData]) -> String {
        let labels = Plots.runLabels(runs)
        var rows: [String] = []
        for (i, r) in runs.enumerated() {
            for p in r.eval?["policies"]?.arrayValue ?? [] {
                for t in p["by_temperature"]?.arrayValue ?? [] {
                    guard let facts = Plots.number(t, "facts_expressed") else { continue }
                    rows.append("| \(escape(labels[i])) | \(escape(p["policy"]?.stringValue ?? "?")) | \(Table.num(Plots.number(t, "temperature"), 2)) "
                        + "| \(Table.num(Plots.number(t, "win_rate"), 3)) | \(Table.num(Plots.number(t, "gold"), 2)) | \(Table.num(facts, 3)) "
                        + "| \(Table.num(Plots.number(t, "unsupported_words"), 2)) | \(Table.num(Plots.number(t, "length"), 1)) |")
                }
            }
        }
        guard !rows.isEmpty else { return "" }
        return "## What the judge saw\n\nfacts: mean share of the post's key facts (who, event, problem, question) the summary expresses; "
            + "unsupported: mean number of distinct words absent from the post (hallucinations) per summary.\n\n"
            + "| run | policy | T | win rate | gold | facts | unsupported | length |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
            + rows.joined(separator: "\n") + "\n\n"
    }

    /// Per run: directory, judge, and wall time and throughput of each stage (summary.json).
    static func runsSection(_ runs: [Report.RunData]) -> String {
        let labels = Plots.runLabels(runs)
        var md = "## Runs\n"
        for (i, r) in runs.enumerated() {
            md += "\n### \(escape(labels[i]))\n\n"
            md += "Directory: `\(r.url.path)`"
            if let finished = r.summary["finished"]?.arrayValue?.compactMap(\.stringValue), !finished.isEmpty {
                md += "; finished stages: \(finished.joined(separator: ", "))"
            }
            md += ".\n"
            if let eval = r.eval {
                let judge = Plots.judgeName(r) ?? "unknown"
                var line = "Evaluation: judge \(judge)"
                if let n = Plots.number(eval, "prompts") { line += " on \(Int(n)) held-out prompts" }
                if let g = Plots.number(eval, "reference_gold") { line += String(format: "; reference summaries score %.3f (gold)", g) }
                let snaps = eval["frontier"]?.arrayValue?.count ?? 0
                if snaps > 0 { line += "; \(snaps) training snapshot\(snaps == 1 ? "" : "s") evaluated" }
                md += line + ".\n"
            } else {
                md += "No eval.json: this run was not evaluated.\n"
            }
            let stages = r.summary["stages"]?.objectValue ?? []
            if stages.isEmpty {
                md += "\nNo stage has finished.\n"
            } else {
                md += "\n| stage | wall time | tokens/s | final metrics |\n|---|---:|---:|---|\n"
                var total = 0.0
                for (name, s) in stages {
                    let secs = Plots.number(s, "seconds")
                    total += secs ?? 0
                    md += "| \(escape(name)) | \(secs.map(duration) ?? "-") | \(Table.num(Plots.number(s, "tokens_per_s"), 0)) | \(escape(finalMetrics(s))) |\n"
                }
                md += "| total | \(duration(total)) | | |\n"
            }
            if let notes = r.summary["notes"]?.objectValue, !notes.isEmpty {
                md += "\nNotes:\n"
                for (k, v) in notes {
                    let text = v.stringValue ?? v.serialized(pretty: false)
                    md += "- \(escape(k)): \(escape(text))\n"
                }
            }
        }
        return md
    }

    /// A few of the stage's summary numbers besides time and throughput.
    static func finalMetrics(_ s: JSONValue) -> String {
        let skip: Set<String> = ["seconds", "tokens_per_s"]
        let items = (s.objectValue ?? []).compactMap { k, v -> String? in
            guard !skip.contains(k), !k.hasPrefix(HackingWatch.keyPrefix), let d = v.doubleValue, d.isFinite else { return nil }
            let text = d == d.rounded() && abs(d) < 1e9 ? String(Int64(d)) : String(format: abs(d) >= 100 ? "%.1f" : "%.4g", d)
            return "\(k) \(text)"
        }
        return items.prefix(5).joined(separator: ", ")
    }

    /// "45.2 s", "2 min 05 s", "1 h 02 min".
    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "-" }
        if s < 60 { return String(format: "%.1f s", s) }
        let t = Int(s.rounded())
        if t < 3600 { return String(format: "%ld min %02ld s", t / 60, t % 60) }
        return String(format: "%ld h %02ld min", t / 3600, (t % 3600) / 60)
    }

    /// Text safe inside a markdown table cell or heading.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
