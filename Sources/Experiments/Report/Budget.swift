import Foundation
import JSON

/// Budget-matched comparison of `rlhf compare`: each method's evaluated snapshots (eval.json's
/// "frontier", at T = 1, ending at the final policy) placed by what they had cost when they were
/// taken, and the methods' win rates read off at a budget that every one of them reached.
///
/// What a snapshot of method M at step s cost, beyond the SFT policy that every method starts from
/// (tokenizer, pretraining and SFT are shared, and left out):
/// - preference labels: the pairs labelled for it. An offline method (DPO) and a method scoring with
///   the reward model pay for the whole labelled set before their first step (the dpo or
///   reward_model stage's `cost/labels`); online DPO with simulated labelers pays per step
///   (`cost/labels` × s / steps). A method rewarded by the gold judge uses no preference labels.
/// - FLOPs (training and inference, counted by FlopCounter): M's metrics row at step s
///   (`cost/flops`, cumulative over the stage), plus the whole preferences and reward_model stages
///   when M learns from their labels.
/// - KL(π‖π_SFT) of the snapshot's samples, from the evaluation.
enum Budget {
    enum Axis: CaseIterable {
        case labels, flops, kl
    }

    struct Point: Equatable {
        var step: Int
        var labels: Double?
        var flops: Double?
        var kl: Double?
        var win: Double
        var winCI: Double?

        func value(_ axis: Axis) -> Double? {
            switch axis {
            case .labels: return labels
            case .flops: return flops
            case .kl: return kl
            }
        }
    }

    /// One method of one run: its snapshots in step order.
    struct Curve: Equatable {
        var label: String
        /// The policy's index in `Plots.policyKeys` (its colour and marker in every plot).
        var styleIndex: Int
        var points: [Point]
    }

    /// The methods that start from the SFT policy and may leave snapshots.
    static let methods = Set(Stage.fromSFT.map(\.rawValue))
    /// Methods whose labels are gathered while they train (one judged pair per prompt and step).
    static let labelsPerStep: Set<String> = ["online_dpo"]

    static func curves(_ runs: [Report.RunData]) -> [Curve] {
        let names = Plots.runLabels(runs)
        var out: [Curve] = []
        for (k, key) in Plots.policyKeys(runs).enumerated() where methods.contains(key.policy) {
            let r = runs[key.run]
            let stageSummary = summary(r, key.policy)
            let steps = stageSummary.flatMap { Plots.number($0, "steps") ?? Plots.number($0, "iterations") }
            var entries: [(step: Int, row: JSONValue)] = []
            for e in r.eval?["frontier"]?.arrayValue ?? [] where e["policy"]?.stringValue == key.policy {
                if let s = Plots.number(e, "step") { entries.append((Int(s), e)) }
            }
            // The final policy, when no snapshot was taken at the last step.
            if let steps, !entries.contains(where: { $0.step == Int(steps) }),
               let final = Plots.policyRows(r, key.policy).first(where: { Plots.number($0, "temperature") == 1 }) {
                entries.append((Int(steps), final))
            }
            let points = entries.sorted { $0.step < $1.step }.compactMap { step, row -> Point? in
                guard let win = Plots.number(row, "win_rate") else { return nil }
                return Point(step: step, labels: labels(r, key.policy, step: step, steps: steps), flops: flops(r, key.policy, step: step),
                             kl: Plots.number(row, "kl"), win: win, winCI: Plots.number(row, "win_rate_ci"))
            }
            if !points.isEmpty { out.append(Curve(label: "\(names[key.run]) · \(key.policy)", styleIndex: k, points: points)) }
        }
        return out
    }

    // MARK: - Costs

    /// The stage's summary in this run, or in the run it was initialized from (a replicate's shared
    /// stages ran in its set's directory), following init_from at most 8 times.
    static func summary(_ r: Report.RunData, _ stage: String) -> JSONValue? {
        if let s = r.summary["stages"]?[stage] { return s }
        var from = r.config?["init_from"]?.stringValue
        for _ in 0..<8 {
            guard let dir = from else { return nil }
            let url = URL(fileURLWithPath: dir, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            guard let text = try? String(contentsOf: url.appendingPathComponent("summary.json"), encoding: .utf8),
                  let sum = try? JSONParser.parse(text) else { return nil }
            if let s = sum["stages"]?[stage] { return s }
            let cfg = (try? String(contentsOf: url.appendingPathComponent("config.resolved.json"), encoding: .utf8)).flatMap { try? JSONParser.parse($0) }
            from = cfg?["init_from"]?.stringValue
        }
        return nil
    }

    /// Whether `method` learns from the reward model (and so from the labels it was trained on).
    static func usesRewardModel(_ r: Report.RunData, _ method: String) -> Bool {
        guard method != "dpo" else { return false }
        let key = method == "online_dpo" ? "judge" : "reward"
        return (r.config?[method]?[key]?.stringValue ?? "reward_model") == "reward_model"
    }

    static func labels(_ r: Report.RunData, _ method: String, step: Int, steps: Double?) -> Double? {
        var total = 0.0
        if usesRewardModel(r, method) {
            guard let l = summary(r, "reward_model").flatMap({ Plots.number($0, "cost/labels") }) else { return nil }
            total += l
        }
        if let own = summary(r, method).flatMap({ Plots.number($0, "cost/labels") }) {
            if labelsPerStep.contains(method) {
                guard let steps, steps > 0 else { return nil }
                total += own * Double(step) / steps
            } else {
                total += own
            }
        }
        return total
    }

    static func flops(_ r: Report.RunData, _ method: String, step: Int) -> Double? {
        let row = r.metrics.last { $0["stage"]?.stringValue == method && Plots.number($0, "step") == Double(step) }
        guard var total = Plots.number(row, "cost/flops") else { return nil }
        if method == "dpo" || usesRewardModel(r, method) {
            // Labels from the preferences stage (when the run generated its pairs) and, through the
            // reward model, that stage's training.
            let upstream = method == "dpo" ? ["preferences"] : ["preferences", "reward_model"]
            for s in upstream {
                if let f = summary(r, s).flatMap({ Plots.number($0, "cost/flops") }) { total += f }
            }
        }
        return total
    }

    // MARK: - Equal budget

    /// The budget every curve reached on `axis`: the smallest of the curves' largest values
    /// (nil when a curve has no value on it).
    static func commonBudget(_ curves: [Curve], _ axis: Axis) -> Double? {
        var budget = Double.infinity
        for c in curves {
            guard let m = c.points.compactMap({ $0.value(axis) }).max() else { return nil }
            budget = min(budget, m)
        }
        return budget.isFinite ? budget : nil
    }

    /// The snapshot at which the curve is read at `budget`: the last one, in step order, before the
    /// curve first exceeds the budget (for labels and FLOPs, which only grow, the last snapshot
    /// whose cost does not exceed it). No interpolation: a method is never credited with a win
    /// rate it did not reach at a budget it did not spend. Nil when its first snapshot already exceeds it.
    static func read(_ c: Curve, _ axis: Axis, at budget: Double) -> Point? {
        var last: Point?
        for p in c.points {
            guard let x = p.value(axis) else { continue }
            if x > budget * (1 + 1e-12) { break }
            last = p
        }
        return last
    }

    /// The table "at equal budget": per curve, the win rate (and the step) at each axis's common
    /// budget. Nil with fewer than two curves.
    static func table(_ curves: [Curve]) -> Table? {
        guard curves.count >= 2 else { return nil }
        var header = ["run · policy"]
        var budgets: [(Axis, Double)] = []
        for a in Axis.allCases {
            guard let b = commonBudget(curves, a) else { continue }
            budgets.append((a, b))
            header += ["win @ " + describe(a, b), "step"]
        }
        guard !budgets.isEmpty else { return nil }
        let rows = curves.map { c -> [String] in
            var row = [c.label]
            for (a, b) in budgets {
                if let p = read(c, a, at: b) {
                    row += [Table.num(p.win, 3) + (p.winCI.map { "±" + Table.num($0, 2) } ?? ""), String(p.step)]
                } else {
                    row += ["-", "-"]
                }
            }
            return row
        }
        return Table(header: header, rows: rows)
    }

    /// "≤ 1,600 labels", "≤ 2.41 TFLOP", "KL ≤ 3.20".
    static func describe(_ axis: Axis, _ b: Double) -> String {
        switch axis {
        case .labels: return "≤ \(Int(b.rounded())) labels"
        case .flops:
            let (scale, unit) = flopUnit(b)
            return "≤ " + String(format: "%.3g", b / scale) + " " + unit
        case .kl: return "KL ≤ " + Table.num(b, 2)
        }
    }

    /// The SI unit that shows `v` FLOPs with one to three digits before the point.
    static func flopUnit(_ v: Double) -> (Double, String) {
        let units: [(Double, String)] = [(1e18, "EFLOP"), (1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP"), (1e3, "kFLOP")]
        return units.first { v >= $0.0 } ?? (1, "FLOP")
    }

    static let caption = "Win rate against the reference summaries (T = 1, 95% CI) of each method's evaluated snapshots, ending at its final policy, "
        + "against what it had cost when the snapshot was taken, beyond the shared SFT policy: preference labels used (the labelled set of the reward model "
        + "or of DPO is paid for before the first step; online DPO's labels accrue per step; a method rewarded by the gold judge uses none), "
        + "training and inference FLOPs (the method's own up to the snapshot, plus the preferences and reward-model stages it learns from), "
        + "and KL(π‖π_SFT) of the snapshot's samples."

    /// The three panels (labels, FLOPs, KL) over every curve, or nil when no run has evaluated snapshots.
    static func figure(_ runs: [Report.RunData]) -> (figure: Chart.Figure, caption: String)? {
        let curves = curves(runs)
        guard !curves.isEmpty else { return nil }
        let flopMax = curves.flatMap { $0.points.compactMap(\.flops) }.max() ?? 1
        let (scale, unit) = flopUnit(flopMax)
        let axes: [(Axis, String, Double)] = [
            (.labels, "preference labels used (pairs)", 1),
            (.flops, "training + inference FLOPs" + (scale > 1 ? " (\(unit))" : ""), scale),
            (.kl, "KL(π‖π_SFT), nats per sequence", 1),
        ]
        var panels: [Chart.Panel] = []
        for (axis, xLabel, s) in axes {
            let series = curves.compactMap { c -> Chart.Series? in
                let pts = c.points.compactMap { p in p.value(axis).map { Chart.Point(x: $0 / s, y: p.win, yErr: p.winCI) } }
                return pts.isEmpty ? nil : Chart.Series(label: c.label, style: .indexed(c.styleIndex), points: pts)
            }
            guard !series.isEmpty else { continue }
            panels.append(Chart.Panel(xLabel: xLabel, yLabel: "win rate vs. reference (T = 1)", series: series, yDomain: (0, 1),
                                      xIncludesZero: true, yTickTarget: 5,
                                      referenceLines: [Chart.ReferenceLine(y: 0.5, label: "0.5: as good as the reference")],
                                      id: "budget-\(axis)"))
        }
        guard !panels.isEmpty else { return nil }
        let legend = curves.map { Chart.LegendEntry(label: $0.label, style: .indexed($0.styleIndex), kind: .series) }
            + [Chart.LegendEntry(label: "0.5: as good as the reference", style: .indexed(0), kind: .referenceLine)]
        let figure = Chart.Figure(title: "Win rate against cost", subtitle: "each method's snapshots in step order, ending at its final policy · error bars: 95% CI",
                                  panels: panels, columns: min(3, panels.count), panelWidth: 360, panelHeight: 300,
                                  legend: legend, legendOnTop: true)
        return (figure, caption)
    }

    /// The report's section: the table at equal budget and how it is read.
    static func section(_ runs: [Report.RunData]) -> String {
        guard let t = table(curves(runs)) else { return "" }
        return "\n## At equal budget\n\n"
            + "Each column's budget is the largest that every method reached (the smallest of their largest costs). "
            + "A method's win rate there is that of its last snapshot, in step order, before its cost first exceeded the budget "
            + "(no interpolation between snapshots; `-`: its first snapshot already cost more). Costs as in the plot \"Win rate against cost\".\n\n"
            + t.markdown + "\n"
    }
}
