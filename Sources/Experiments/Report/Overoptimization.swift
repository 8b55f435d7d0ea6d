import Foundation
import JSON

/// Gao et al. 2023 ("Scaling laws for reward model overoptimization") fitted to a run's eval:
/// the reward gained over the SFT policy, R, against d = √KL(π‖π_SFT), follows
///   best-of-N:  R(d) = d (α − β d)
///   RL:         R(d) = d (α − β log d)
/// Both pass through R(0) = 0 and are linear in (α, β), so each is an ordinary least-squares fit
/// over a policy's points (its training snapshots and final policy; best-of-N's points over N).
/// With a gold judge this is the study Gao et al. ran with a synthetic gold model, on the real one.
enum Overoptimization {
    /// Name of best-of-N's curve over N in eval.json's frontier; its single-N policies are "bon-N".
    static let bestOfNCurve = "bon"

    static func isBestOfN(_ policy: String) -> Bool {
        policy.hasPrefix(bestOfNCurve + "-") && Int(policy.dropFirst(bestOfNCurve.count + 1)) != nil
    }

    enum Form: String {
        case bestOfN = "d(α − βd)"
        case rl = "d(α − β log d)"

        /// The term β multiplies (with a minus sign) at d.
        func curvature(_ d: Double) -> Double {
            switch self {
            case .bestOfN: return d * d
            case .rl: return d > 0 ? d * Foundation.log(d) : 0
            }
        }

        /// The d where R peaks (nil when the fit has no maximum: β ≤ 0).
        func peak(alpha: Double, beta: Double) -> Double? {
            guard beta > 0 else { return nil }
            switch self {
            case .bestOfN: return alpha / (2 * beta)
            case .rl: return Foundation.exp(alpha / beta - 1)
            }
        }
    }

    struct Fit: Equatable {
        let run: Int
        let policy: String
        let metric: String
        let form: Form
        let alpha: Double
        let beta: Double
        let points: Int
        let rmse: Double
        /// KL at the fitted peak, nats (d*²); nil when the fit has none.
        var peakKL: Double? { form.peak(alpha: alpha, beta: beta).map { $0 * $0 } }
    }

    /// Least squares of y ≈ α d − β c(d) without intercept; nil with fewer than 3 points or when
    /// the two columns are (nearly) collinear over the points.
    static func fit(_ points: [(d: Double, y: Double)], form: Form) -> (alpha: Double, beta: Double, rmse: Double)? {
        guard points.count >= 3 else { return nil }
        var sdd = 0.0, sdc = 0.0, scc = 0.0, sdy = 0.0, scy = 0.0
        for p in points {
            let c = -form.curvature(p.d)
            sdd += p.d * p.d; sdc += p.d * c; scc += c * c; sdy += p.d * p.y; scy += c * p.y
        }
        let det = sdd * scc - sdc * sdc
        guard det.isFinite, det > 1e-12 * max(sdd * scc, 1e-300) else { return nil }
        let alpha = (sdy * scc - scy * sdc) / det
        let beta = (scy * sdd - sdy * sdc) / det
        let sse = points.reduce(0.0) { s, p in
            let r = p.y - (alpha * p.d - beta * form.curvature(p.d))
            return s + r * r
        }
        return (alpha, beta, (sse / Double(points.count)).squareRoot())
    }

    /// Every policy's fit in every run, for the gold score and the reward-model score (where the
    /// eval has them), against the SFT policy's score at T = 1.
    static func fits(_ runs: [Report.RunData]) -> [Fit] {
        var out: [Fit] = []
        for (i, r) in runs.enumerated() {
            let frontier = r.eval?["frontier"]?.arrayValue ?? []
            let policies = (r.eval?["policies"]?.arrayValue ?? []).compactMap { $0["policy"]?.stringValue }
            var names: [String] = []
            for n in frontier.compactMap({ $0["policy"]?.stringValue }) + policies where !names.contains(n) { names.append(n) }
            for metric in ["gold", "rm_score"] {
                guard let base = Plots.headRow(Plots.policyRows(r, "sft")).flatMap({ Plots.number($0, metric) })
                    ?? Plots.policyRows(r, bestOfNCurve + "-1").first.flatMap({ Plots.number($0, metric) }) else { continue }
                for name in names where name != "sft" && name != "pretrain" && !isBestOfN(name) {
                    var rows = frontier.filter { $0["policy"]?.stringValue == name }
                    if let head = Plots.headRow(Plots.policyRows(r, name)) { rows.append(head) }
                    // A final policy saved as its last snapshot appears twice; one point each.
                    var pts: [(d: Double, y: Double)] = []
                    for row in rows {
                        guard let kl = Plots.number(row, "kl"), let y = Plots.number(row, metric) else { continue }
                        let p = (d: max(kl, 0).squareRoot(), y: y - base)
                        if !pts.contains(where: { $0.d == p.d && $0.y == p.y }) { pts.append(p) }
                    }
                    let form: Form = name == bestOfNCurve ? .bestOfN : .rl
                    guard let f = fit(pts, form: form) else { continue }
                    out.append(Fit(run: i, policy: name, metric: metric, form: form, alpha: f.alpha, beta: f.beta, points: pts.count, rmse: f.rmse))
                }
            }
        }
        return out
    }

    /// report.md's section: one row per fit.
    static func section(_ runs: [Report.RunData]) -> String {
        let fits = fits(runs)
        guard !fits.isEmpty else { return "" }
        let labels = Plots.runLabels(runs)
        var md = "## Over-optimisation fits\n\n"
        md += "Gao et al. (2023)'s functional forms fitted by least squares to each policy's points at T = 1 (training snapshots and the final policy; "
        md += "best-of-N's over N, at its KL bound): R is the score gained over the SFT policy, d = √KL(π‖π_SFT). "
        md += "Best-of-N: R = d(α − βd); RL: R = d(α − β log d). Peak KL: where the fitted R is highest (d*²), when β > 0; "
        md += "a gold peak at a KL the proxy (reward-model) fit still rises through is over-optimisation.\n\n"
        md += "| run | policy | score | form | α | β | peak KL | points | RMSE |\n|---|---|---|---|---:|---:|---:|---:|---:|\n"
        for f in fits {
            md += "| \(ReportWriter.escape(labels[f.run])) | \(ReportWriter.escape(f.policy)) | \(f.metric == "gold" ? "gold" : "reward model") | \(f.form.rawValue) "
                + "| \(String(format: "%.4g", f.alpha)) | \(String(format: "%.4g", f.beta)) | \(f.peakKL.map { String(format: "%.3g", $0) } ?? "-") "
                + "| \(f.points) | \(String(format: "%.3g", f.rmse)) |\n"
        }
        return md + "\n"
    }
}
