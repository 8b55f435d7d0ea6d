import Foundation

/// Watches an online RL stage (PPO, GRPO, RLOO) for the signs of reward hacking that Gao et al.
/// 2023 and the RLHF reproductions describe, from the series the trainers log each iteration:
///
/// - `kl_accelerating`: KL(π‖π_ref) grows more than twice as fast over the last `window`
///   iterations as over the `window` before (once it is above 0.5 nats: growth from nothing is
///   the start of training, not a runaway);
/// - `entropy_collapsing`: the policy's entropy has fallen below half its first value;
/// - `length_drifting`: the mean response length has moved by more than half its first value;
/// - `reward_judge_diverging`: over the last `window` iterations the reward model's score rose
///   while an independent judge's score of the same samples fell (a fitted slope of each, both
///   beyond their noise), the over-optimisation itself. Needs the judge's series.
///
/// Each fires once, at the iteration it is first seen; `report` says when, beside the iteration
/// where the judge's score peaked, so that a run shows which sign came before the damage.
struct HackingWatch {
    /// The signs, by the names the progress lines and the summary keys (`watch/NAME_step`) use.
    enum Sign: String, CaseIterable {
        case klAccelerating = "kl_accelerating", entropyCollapsing = "entropy_collapsing"
        case lengthDrifting = "length_drifting", rewardJudgeDiverging = "reward_judge_diverging"
    }

    /// The prefix of the watch's stage-summary keys; the key of the step where the judge's score
    /// peaked; the key of the step where a sign first fired.
    static let keyPrefix = "watch/"
    static let judgePeakKey = keyPrefix + "judge_peak_step"
    static func key(_ sign: Sign) -> String { keyPrefix + sign.rawValue + "_step" }

    /// A sign and the step it first fired at.
    struct Firing {
        let sign: Sign, step: Int
        var name: String { sign.rawValue }
    }

    var window = 5
    private(set) var kl: [Double] = [], entropy: [Double] = [], length: [Double] = []
    private(set) var reward: [Double] = [], judge: [Double] = []
    private(set) var steps: [Int] = []
    /// The signs fired so far, in the order they fired.
    private(set) var fired: [Firing] = []

    /// Adds one iteration; returns the warnings that fire now (a line each for the progress).
    mutating func observe(step: Int, kl k: Double?, entropy e: Double?, length l: Double?, reward r: Double?, judge j: Double?) -> [String] {
        steps.append(step)
        kl.append(k ?? .nan); entropy.append(e ?? .nan); length.append(l ?? .nan)
        reward.append(r ?? .nan); judge.append(j ?? .nan)
        var now: [String] = []
        func fire(_ sign: Sign, _ why: String) {
            guard !fired.contains(where: { $0.sign == sign }) else { return }
            fired.append(Firing(sign: sign, step: step))
            now.append("\(sign.rawValue) at step \(step): \(why)")
        }
        let w = window, n = steps.count
        if n >= 2 * w, let a = Self.finite(kl[(n - 2 * w)..<(n - w)]), let b = Self.finite(kl[(n - w)...]) {
            let before = a.last! - a.first!, recent = b.last! - b.first!
            if b.last! > 0.5 && recent > 2 * max(before, 0) && recent > 0.1 {
                fire(.klAccelerating, String(format: "KL rose by %.2f over the last %d iterations, %.2f over the %d before (now %.2f)", recent, w, before, w, b.last!))
            }
        }
        if let first = entropy.first(where: \.isFinite), let last = entropy.last, last.isFinite, first > 0, last < 0.5 * first {
            fire(.entropyCollapsing, String(format: "entropy %.3f, below half of its first value %.3f", last, first))
        }
        if let first = length.first(where: \.isFinite), let last = length.last, last.isFinite, first > 0, abs(last - first) > 0.5 * first {
            fire(.lengthDrifting, String(format: "mean response length %.1f against %.1f at the start", last, first))
        }
        if n >= w, let rs = Self.finite(reward[(n - w)...]), let js = Self.finite(judge[(n - w)...]) {
            let (rSlope, rNoise) = Self.slope(rs), (jSlope, jNoise) = Self.slope(js)
            if rSlope > 2 * rNoise && jSlope < -2 * jNoise {
                fire(.rewardJudgeDiverging, String(format: "over the last %d iterations the reward rose (%+.3f an iteration) while the judge's score fell (%+.3f)", w, rSlope, jSlope))
            }
        }
        return now
    }

    /// The step where the judge's score peaked (nil without a judge).
    var judgePeakStep: Int? {
        guard let i = judge.indices.filter({ judge[$0].isFinite }).max(by: { judge[$0] < judge[$1] }) else { return nil }
        return steps[i]
    }

    /// Stage summary entries: `watch/NAME_step` for each warning fired, `watch/judge_peak_step`.
    var summary: [String: Double] {
        var s: [String: Double] = [:]
        for f in fired { s[Self.key(f.sign)] = Double(f.step) }
        if let p = judgePeakStep { s[Self.judgePeakKey] = Double(p) }
        return s
    }

    static func finite(_ xs: ArraySlice<Double>) -> [Double]? {
        xs.allSatisfy(\.isFinite) && !xs.isEmpty ? Array(xs) : nil
    }

    /// Least-squares slope of xs against 0..<n and its standard error.
    static func slope(_ xs: [Double]) -> (slope: Double, stderr: Double) {
        let n = Double(xs.count)
        guard xs.count >= 3 else { return (0, .infinity) }
        let mx = (n - 1) / 2, my = xs.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0
        for (i, y) in xs.enumerated() { let dx = Double(i) - mx; sxx += dx * dx; sxy += dx * (y - my) }
        let b = sxy / sxx
        var sse = 0.0
        for (i, y) in xs.enumerated() { let r = y - (my + b * (Double(i) - mx)); sse += r * r }
        return (b, (sse / (n - 2) / sxx).squareRoot())
    }
}
