import Foundation
import JSON

/// The comparison table: one row per run and policy.
struct Table {
    var header: [String]
    var rows: [[String]]

    var text: String {
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == 0 || i == 1 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[i] - c.count) + c }.joined(separator: "  ")
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
    }

    var markdown: String {
        (["| " + header.joined(separator: " | ") + " |", "|" + header.map { _ in "---" }.joined(separator: "|") + "|"]
            + rows.map { "| " + $0.joined(separator: " | ") + " |" }).joined(separator: "\n")
    }

    static func num(_ v: Double?, _ digits: Int = 3) -> String {
        guard let v, v.isFinite else { return "-" }
        return String(format: "%.\(digits)f", v)
    }

    static func make(_ runs: [Report.RunData]) -> Table {
        let temps: [Double] = {
            var s: [Double] = []
            for r in runs {
                for p in r.eval?["policies"]?.arrayValue ?? [] {
                    for row in p["by_temperature"]?.arrayValue ?? [] {
                        if let t = row["temperature"]?.doubleValue, !s.contains(t) { s.append(t) }
                    }
                }
            }
            return s.sorted()
        }()
        var header = ["run", "policy", "key hyperparameters"]
        header += temps.map { "win@T=\(Table.num($0, 2))" }
        // Headline columns at the highest temperature ≤ 1 evaluated (T = 1 in the default list),
        // named with it so that they are not read as greedy-decoding figures.
        let headT = temps.last { $0 <= 1.0 } ?? temps.last
        let at = headT.map { "@T=" + Table.num($0, 2) } ?? ""
        header += ["gold" + at, "rm" + at, "kl" + at, "length" + at, "stage time", "tokens/s"]
        var rows: [[String]] = []
        for r in runs {
            for p in r.eval?["policies"]?.arrayValue ?? [] {
                let name = p["policy"]?.stringValue ?? "?"
                let byT = p["by_temperature"]?.arrayValue ?? []
                func at(_ t: Double) -> JSONValue? { byT.first { $0["temperature"]?.doubleValue == t } }
                // Headline numbers at the highest temperature ≤ 1 evaluated (T = 1 in the default list).
                let head = byT.last { ($0["temperature"]?.doubleValue ?? 9) <= 1.0 } ?? byT.last
                var row = [r.name, name, hyper(r, name)]
                row += temps.map { t in
                    guard let w = at(t)?["win_rate"]?.doubleValue else { return "-" }
                    let ci = at(t)?["win_rate_ci"]?.doubleValue
                    return Table.num(w, 2) + (ci.map { "±" + Table.num($0, 2) } ?? "")
                }
                let stage = r.summary["stages"]?[name]
                row += [Table.num(head?["gold"]?.doubleValue), Table.num(head?["rm_score"]?.doubleValue),
                        // Best-of-N's KL is its analytic upper bound, marked as one.
                        (head?["kl_estimator"] != nil ? "≤" : "") + Table.num(head?["kl"]?.doubleValue, 2), Table.num(head?["length"]?.doubleValue, 1),
                        stage?["seconds"]?.doubleValue.map { String(format: "%.0fs", $0) } ?? "-",
                        Table.num(stage?["tokens_per_s"]?.doubleValue, 0)]
                rows.append(row)
            }
        }
        return Table(header: header, rows: rows)
    }

    /// The hyperparameters that distinguish a method's run.
    static func hyper(_ r: Report.RunData, _ policy: String) -> String {
        // bon-N: N samples of the SFT policy, the reward model's best kept (no training, no section).
        if Overoptimization.isBestOfN(policy) { return "N=\(policy.dropFirst(Overoptimization.bestOfNCurve.count + 1)), reward model's best" }
        guard let c = r.config?[policy] else { return "" }
        let keys: [String]
        switch policy {
        case "ppo": keys = ["reward", "kl_coef"] + (c["adaptive_kl"] == .bool(true) ? ["target_kl"] : []) + ["steps", "lr"]
        case "dpo": keys = ["loss_type", "beta", "steps", "lr"]
        case "grpo": keys = ["reward", "loss_type", "scale_rewards", "beta", "num_generations", "steps", "lr"]
        case "rloo": keys = ["reward", "beta", "num_generations", "steps", "lr"]
        case "online_dpo": keys = ["judge", "loss_type", "beta", "steps", "lr"]
        case "sft", "pretrain": keys = ["steps", "lr"]
        default: keys = []
        }
        return keys.compactMap { k in
            guard let v = c[k] else { return nil }
            switch v {
            case .null: return nil
            case .string(let s): return "\(k)=\(s)"
            case .bool(let b): return "\(k)=\(b)"
            case .number(let d, _): return "\(k)=\(fmt(d))"
            default: return nil
            }
        }.joined(separator: " ")
    }
}
