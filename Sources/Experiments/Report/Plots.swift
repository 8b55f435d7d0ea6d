import Files
import Foundation
import GPT
import JSON

/// The plots of `rlhf compare`, built from the run directories' eval.json and metrics.jsonl.
/// Every plot is written only when some run has data for it.
enum Plots {
    static let winRateFile = "winrate_vs_temperature.svg"
    static let frontierFile = "frontier_gold_vs_kl.svg"
    static let learningCurvesFile = "learning_curves.svg"
    static let budgetFile = "winrate_vs_cost.svg"

    /// A plot written next to report.md.
    struct Output: Equatable {
        let file: String
        let title: String
        let caption: String
    }

    /// Writes the plots that have data into `dir` and removes earlier versions of those that have none
    /// (so report.md never sits next to a stale plot). Returns the plots written, in report order.
    static func write(_ runs: [Report.RunData], to dir: URL) throws -> [Output] {
        let made: [(String, (figure: Chart.Figure, caption: String)?)] = [
            (winRateFile, winRate(runs)), (frontierFile, frontier(runs)), (learningCurvesFile, learningCurves(runs)),
            (budgetFile, Budget.figure(runs)),
        ]
        var out: [Output] = []
        for (file, plot) in made {
            let url = dir.appendingPathComponent(file)
            guard let plot else {
                try? FileManager.default.removeItem(at: url)
                continue
            }
            do { try DurableFile.write(Chart.render(plot.figure), to: url) } catch {
                throw UserError("\(url.path): cannot write the plot (\(FileSystem.describe(error) ?? "\(error)")); check that the report directory is writable")
            }
            out.append(Output(file: file, title: plot.figure.title, caption: plot.caption))
        }
        return out
    }

    // MARK: - Series identity

    /// Legends name runs as tables do: by their distinct path labels (`Report.RunData.name`).
    static func runLabels(_ runs: [Report.RunData]) -> [String] { runs.map(\.name) }

    struct PolicyKey: Equatable {
        let run: Int
        let policy: String
    }

    /// Every (run, policy) in eval.json order (evaluated policies, then policies with snapshots
    /// only), so that a policy has the same colour and marker in every plot.
    static func policyKeys(_ runs: [Report.RunData]) -> [PolicyKey] {
        var keys: [PolicyKey] = []
        for (i, r) in runs.enumerated() {
            let names = (r.eval?["policies"]?.arrayValue ?? []).compactMap { $0["policy"]?.stringValue }
                + (r.eval?["frontier"]?.arrayValue ?? []).compactMap { $0["policy"]?.stringValue }
            for n in names where !keys.contains(PolicyKey(run: i, policy: n)) { keys.append(PolicyKey(run: i, policy: n)) }
        }
        return keys
    }

    /// A finite number at `key`, or nil (missing, null, a string, NaN, or absurdly large).
    static func number(_ v: JSONValue?, _ key: String) -> Double? {
        guard let d = v?[key]?.doubleValue, d.isFinite, abs(d) < 1e15 else { return nil }
        return d
    }

    static func policyRows(_ r: Report.RunData, _ policy: String) -> [JSONValue] {
        (r.eval?["policies"]?.arrayValue ?? []).first { $0["policy"]?.stringValue == policy }?["by_temperature"]?.arrayValue ?? []
    }

    static func judgeName(_ r: Report.RunData) -> String? {
        switch r.eval?["judge"]?.stringValue {
        case "gold": return "gold"
        case "reward_model": return "reward model"
        case "none": return "none"
        case let s? where s.hasPrefix("reward_model:"): return "reward model \(URL(fileURLWithPath: String(s.dropFirst("reward_model:".count))).lastPathComponent)"
        default: return nil
        }
    }

    // MARK: - Win rate against temperature

    static func winRate(_ runs: [Report.RunData]) -> (figure: Chart.Figure, caption: String)? {
        let names = runLabels(runs)
        var series: [Chart.Series] = []
        for (k, key) in policyKeys(runs).enumerated() {
            let pts = policyRows(runs[key.run], key.policy).compactMap { row -> Chart.Point? in
                guard let t = number(row, "temperature"), let w = number(row, "win_rate") else { return nil }
                return Chart.Point(x: t, y: w, yErr: number(row, "win_rate_ci"))
            }.sorted { $0.x < $1.x }
            if !pts.isEmpty { series.append(Chart.Series(label: "\(names[key.run]) · \(key.policy)", style: .indexed(k), points: pts)) }
        }
        guard !series.isEmpty else { return nil }
        let parity = Chart.ReferenceLine(y: 0.5, label: "0.5: as good as the reference")
        let panel = Chart.Panel(xLabel: "sampling temperature T", yLabel: "win rate vs. reference summaries", series: series,
                                yDomain: (0, 1), yTickTarget: 5, referenceLines: [parity], dodge: true, id: "winrate")
        let judges = judgeSummary(runs.indices.filter { i in series.contains { $0.label.hasPrefix(names[i] + " · ") } }, runs, names)
        let figure = Chart.Figure(title: "Win rate against the reference summaries", subtitle: "judge: \(judges) · error bars: 95% CI · ties count half",
                                  panels: [panel], legend: series.map { Chart.LegendEntry(label: $0.label, style: $0.style, kind: .series) }
                                      + [Chart.LegendEntry(label: parity.label, style: .indexed(0), kind: .referenceLine)])
        return (figure, "Win rate of each policy's summaries against the reference summaries on held-out prompts, by sampling temperature (judge: \(judges); error bars: 95% CI).")
    }

    static func judgeSummary(_ idx: [Int], _ runs: [Report.RunData], _ names: [String]) -> String {
        let judges = idx.map { judgeName(runs[$0]) ?? "unknown" }
        if Set(judges).count <= 1 { return judges.first ?? "unknown" }
        var order: [String] = []
        for j in judges where !order.contains(j) { order.append(j) }
        return order.map { j in "\(j) (\(zip(idx, judges).filter { $0.1 == j }.map { names[$0.0] }.joined(separator: ", ")))" }
            .joined(separator: ", ")
    }

    // MARK: - Reward against KL

    /// "gold" when the run's eval has gold scores (synthetic task), else "rm_score".
    static func rewardMetric(_ r: Report.RunData) -> String {
        let rows = (r.eval?["policies"]?.arrayValue ?? []).flatMap { $0["by_temperature"]?.arrayValue ?? [] }
            + (r.eval?["frontier"]?.arrayValue ?? [])
        return rows.contains { number($0, "gold") != nil } ? "gold" : "rm_score"
    }

    /// The row a policy's final point uses: T = 1, else the highest temperature ≤ 1 (as the table).
    static func headRow(_ rows: [JSONValue]) -> JSONValue? {
        rows.first { number($0, "temperature") == 1 } ?? rows.last { (number($0, "temperature") ?? 9) <= 1 } ?? rows.last
    }

    /// The symlog threshold for a KL axis whose largest value exceeds 20× the median positive one
    /// (nil: a linear axis reads better).
    static func klAxisSymlog(_ values: [Double]) -> Double? {
        let kls = values.filter { $0.isFinite && $0 > 0 }.sorted()
        return kls.count >= 2 && kls.last! > 20 * kls[kls.count / 2] ? 0.1 : nil
    }

    static func frontier(_ runs: [Report.RunData]) -> (figure: Chart.Figure, caption: String)? {
        let names = runLabels(runs)
        var byMetric: [String: [Chart.Series]] = [:]
        var anySnapshot = false, anyFinal = false
        for (k, key) in policyKeys(runs).enumerated() {
            // Best-of-N's policies are the points of its "bon" curve, drawn once as that curve.
            if Overoptimization.isBestOfN(key.policy) { continue }
            let r = runs[key.run], metric = rewardMetric(r)
            var snaps: [(step: Double, point: Chart.Point)] = []
            for e in r.eval?["frontier"]?.arrayValue ?? [] where e["policy"]?.stringValue == key.policy {
                guard let kl = number(e, "kl"), let y = number(e, metric) else { continue }
                snaps.append((number(e, "step") ?? .infinity, Chart.Point(x: kl, y: y)))
            }
            var pts = snaps.enumerated().sorted { ($0.element.step, $0.offset) < ($1.element.step, $1.offset) }.map(\.element.point)
            anySnapshot = anySnapshot || !pts.isEmpty
            if let head = headRow(policyRows(r, key.policy)), let kl = number(head, "kl"), let y = number(head, metric) {
                pts.append(Chart.Point(x: kl, y: y, big: true))
                anyFinal = true
            }
            if !pts.isEmpty {
                byMetric[metric, default: []].append(Chart.Series(label: "\(names[key.run]) · \(key.policy)", style: .indexed(k), points: pts))
            }
        }
        guard !byMetric.isEmpty else { return nil }
        // KL spanning decades (a PPO run without KL penalty next to penalized ones) would squash
        // every other policy against zero on a linear axis: use a symmetric-log axis then.
        let symlog = klAxisSymlog(byMetric.values.flatMap { $0.flatMap { $0.points.map(\.x) } })
        let xLabel = "KL(π‖π_SFT), nats per sequence" + (symlog != nil ? " (log scale beyond 0.1)" : "")
        var panels: [Chart.Panel] = []
        var legendRef: [Chart.LegendEntry] = []
        if let s = byMetric["gold"] {
            // The reference summaries' gold score, when all runs agree on it (same task and prompts).
            let refs = runs.indices.filter { rewardMetric(runs[$0]) == "gold" }.compactMap { number(runs[$0].eval, "reference_gold") }
            var lines: [Chart.ReferenceLine] = []
            if let r0 = refs.first, refs.allSatisfy({ abs($0 - r0) <= 1e-6 * max(1, abs(r0)) }) {
                let line = Chart.ReferenceLine(y: r0, label: String(format: "reference summaries (gold %.2f)", r0))
                lines.append(line)
                legendRef.append(.init(label: line.label, style: .indexed(0), kind: .referenceLine))
            }
            panels.append(Chart.Panel(title: byMetric.count > 1 ? "gold judge (synthetic task)" : "", xLabel: xLabel,
                                      yLabel: "gold reward (judge score)", series: s, xIncludesZero: true, xSymlog: symlog,
                                      referenceLines: lines, id: "gold"))
        }
        if let s = byMetric["rm_score"] {
            panels.append(Chart.Panel(title: byMetric.count > 1 ? "no gold judge: reward-model score" : "", xLabel: xLabel,
                                      yLabel: "reward-model score", series: s, xIncludesZero: true, xSymlog: symlog, id: "rm_score"))
        }
        let allSeries = panels.flatMap(\.series)
        var legend = allSeries.map { Chart.LegendEntry(label: $0.label, style: $0.style, kind: .series) }
        let key = Chart.Style(color: "#888888", marker: .circle, dash: nil)
        if anySnapshot { legend.append(.init(label: "snapshot during training (T = 1)", style: key, kind: .marker(big: false))) }
        if anyFinal { legend.append(.init(label: "final policy (T = 1)", style: key, kind: .marker(big: true))) }
        legend += legendRef
        let what = byMetric.count > 1 ? "Reward" : (byMetric["gold"] != nil ? "Gold reward" : "Reward-model score")
        let figure = Chart.Figure(title: "\(what) against KL from the SFT policy",
                                  subtitle: "lines join each policy's snapshots in step order, ending at the final policy",
                                  panels: panels, columns: panels.count, panelWidth: panels.count > 1 ? 460 : 600,
                                  panelHeight: panels.count > 1 ? 380 : 400, legend: legend, legendOnTop: panels.count > 1)
        let bon = policyKeys(runs).contains { $0.policy == Overoptimization.bestOfNCurve }
            ? " The bon curve is best-of-N from the SFT policy, one point per N in increasing order, at its KL bound log N − (N−1)/N." : ""
        let caption = (byMetric.count > 1
            ? "Reward against KL(π‖π_SFT) at T = 1: gold judge score for runs on the synthetic task, reward-model score for runs without a gold judge (scales differ; compare within a panel). Small markers: snapshots during training; large: final policies."
            : byMetric["gold"] != nil
            ? "Gold reward against KL(π‖π_SFT) at T = 1: small markers are snapshots during training (joined in step order), large markers the final policies."
            : "Reward-model score (no gold judge for these runs) against KL(π‖π_SFT) at T = 1: small markers are snapshots during training (joined in step order), large markers the final policies.") + bon
        return (figure, caption)
    }

    // MARK: - Learning curves

    struct CurveSpec {
        let stage: String
        let key: String
        let stageTitle: String
        let isAccuracy: Bool
    }

    static let curveSpecs: [CurveSpec] = [
        CurveSpec(stage: "pretrain", key: "loss", stageTitle: "pretrain", isAccuracy: false),
        CurveSpec(stage: "sft", key: "loss", stageTitle: "SFT", isAccuracy: false),
        CurveSpec(stage: "reward_model", key: "loss", stageTitle: "reward model", isAccuracy: false),
        CurveSpec(stage: "reward_model", key: "eval/accuracy", stageTitle: "reward model", isAccuracy: true),
        CurveSpec(stage: "ppo", key: "objective/scores", stageTitle: "PPO", isAccuracy: false),
        CurveSpec(stage: "ppo", key: "objective/kl", stageTitle: "PPO", isAccuracy: false),
        CurveSpec(stage: "grpo", key: "reward", stageTitle: "GRPO", isAccuracy: false),
        CurveSpec(stage: "grpo", key: "kl", stageTitle: "GRPO", isAccuracy: false),
        CurveSpec(stage: "rloo", key: "reward", stageTitle: "RLOO", isAccuracy: false),
        CurveSpec(stage: "rloo", key: "kl", stageTitle: "RLOO", isAccuracy: false),
        CurveSpec(stage: "online_dpo", key: "rewards/margins", stageTitle: "online DPO", isAccuracy: false),
        CurveSpec(stage: "online_dpo", key: "objective/kl", stageTitle: "online DPO", isAccuracy: false),
        CurveSpec(stage: "dpo", key: "rewards/margins", stageTitle: "DPO", isAccuracy: false),
        CurveSpec(stage: "dpo", key: "rewards/accuracies", stageTitle: "DPO", isAccuracy: true),
        CurveSpec(stage: "dpo", key: "eval/rewards/accuracies", stageTitle: "DPO", isAccuracy: true),
    ]

    /// (step, value) of one metric of one stage, by step; a step logged twice (a resumed run) keeps the last value.
    static func curve(_ r: Report.RunData, stage: String, key: String) -> [Chart.Point] {
        var byStep: [Double: Double] = [:]
        for m in r.metrics where m["stage"]?.stringValue == stage {
            guard let s = number(m, "step"), let v = number(m, key) else { continue }
            byStep[s] = v
        }
        return byStep.keys.sorted().map { Chart.Point(x: $0, y: byStep[$0]!) }
    }

    static func learningCurves(_ runs: [Report.RunData]) -> (figure: Chart.Figure, caption: String)? {
        let names = runLabels(runs)
        var panels: [Chart.Panel] = []
        var used = Set<Int>()
        var smoothed = false
        for spec in curveSpecs {
            var series: [Chart.Series] = []
            for (i, r) in runs.enumerated() {
                let pts = curve(r, stage: spec.stage, key: spec.key)
                if pts.isEmpty { continue }
                series.append(Chart.Series(label: names[i], style: .indexed(i), points: pts))
                used.insert(i)
                smoothed = smoothed || pts.count > Chart.smoothThreshold
            }
            if series.isEmpty { continue }
            panels.append(Chart.Panel(title: "\(spec.stageTitle) · \(spec.key)", xLabel: "step", yLabel: spec.key, series: series,
                                      yDomain: spec.isAccuracy ? (0, 1) : nil, xIncludesZero: true, xInteger: true,
                                      yTickTarget: spec.isAccuracy ? 5 : nil, smoothLong: true, id: "\(spec.stage):\(spec.key)"))
        }
        guard !panels.isEmpty else { return nil }
        let legend = used.sorted().map { Chart.LegendEntry(label: names[$0], style: .indexed($0), kind: .series) }
        // Two columns keep the figure about 800 px wide, so text stays legible where markdown viewers scale it down.
        let columns = min(2, panels.count)
        let note = smoothed ? "faint: every logged step; bold: smoothed (exponential moving average)" : "every logged step"
        let figure = Chart.Figure(title: "Learning curves", subtitle: "one line per run · \(note)", panels: panels,
                                  columns: columns, panelWidth: panels.count == 1 ? 600 : 380,
                                  panelHeight: panels.count == 1 ? 380 : 260, legend: legend, legendOnTop: panels.count > 1)
        let caption = "Training metrics per logged step (metrics.jsonl), one panel per stage and metric that some run logged"
            + (smoothed ? "; long curves are drawn faint with a bold exponential moving average." : ".")
        return (figure, caption)
    }
}
