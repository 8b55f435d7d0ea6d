import Foundation

/// How GRPO divides the group-centred rewards (TRL's `scale_rewards`).
public enum ScaleRewards: String, Codable, Sendable, CaseIterable {
    /// By the std of the completion's own group (Shao et al. 2024, DeepSeekMath).
    case group
    /// By the std of the whole batch (Hu 2025, REINFORCE++'s batch normalisation; the mean stays the group's).
    case batch
    /// Not at all (Liu et al. 2025, "Understanding R1-Zero-Like Training": Dr. GRPO).
    case none
}

/// The critic-free advantage estimators: one scalar per completion from the rewards of the G
/// completions sampled for the same prompt (groups are consecutive: completion j belongs to group
/// j / G). Every std is the unbiased one (n − 1), as torch's `std` that TRL uses.
public enum GroupAdvantages {
    /// TRL's constant added to a std before dividing by it.
    public static let stdEpsilon = 1e-4

    /// Mean and unbiased std of `x` (std 0 for fewer than two values).
    public static func moments<C: Collection>(_ x: C) -> (mean: Double, std: Double) where C.Element == Double {
        let n = Double(x.count)
        guard n > 0 else { return (0, 0) }
        let mean = x.reduce(0, +) / n
        guard n > 1 else { return (mean, 0) }
        let ss = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (mean, (ss / (n - 1)).squareRoot())
    }

    /// GRPO (Shao et al. 2024): A_j = r_j − mean(group of j), divided by (std + 1e-4) where the std
    /// is the group's (`.group`), the batch's (`.batch`), or not divided (`.none`, Dr. GRPO).
    /// Also returns the std each completion's "is its std zero" test looks at (the group's for
    /// `.group` and `.none`, the batch's for `.batch`), as TRL's `frac_reward_zero_std` counts it.
    public static func groupNormalized(_ rewards: [Double], groupSize G: Int, scale: ScaleRewards) -> (advantages: [Double], std: [Double]) {
        precondition(G >= 1 && rewards.count % G == 0, "rewards must come in whole groups of \(G)")
        let groups = rewards.count / G
        var adv = [Double](repeating: 0, count: rewards.count), std = adv
        let batchStd = moments(rewards).std
        for g in 0..<groups {
            let r = rewards[(g * G)..<((g + 1) * G)]
            let (mean, groupStd) = moments(r)
            let s = scale == .batch ? batchStd : groupStd
            for j in (g * G)..<((g + 1) * G) {
                adv[j] = rewards[j] - mean
                if scale != .none { adv[j] /= s + stdEpsilon }
                std[j] = s
            }
        }
        return (adv, std)
    }

    /// RLOO (Ahmadian et al. 2024; Kool et al. 2019): A_j = r_j − (1/(G−1)) Σ_{i≠j in the group} r_i,
    /// the mean of the other G − 1 rewards as the baseline (= G/(G−1)·(r_j − group mean)).
    public static func leaveOneOut(_ rewards: [Double], groupSize G: Int) -> [Double] {
        precondition(G >= 2 && rewards.count % G == 0, "leave-one-out needs whole groups of at least 2")
        var adv = [Double](repeating: 0, count: rewards.count)
        for g in 0..<(rewards.count / G) {
            let range = (g * G)..<((g + 1) * G)
            let sum = rewards[range].reduce(0, +)
            for j in range { adv[j] = rewards[j] - (sum - rewards[j]) / Double(G - 1) }
        }
        return adv
    }

    /// (x − mean)/(std + 1e-4) over the whole batch (TRL RLOO's `normalize_advantages`).
    public static func normalized(_ x: [Double]) -> [Double] {
        let (mean, std) = moments(x)
        return x.map { ($0 - mean) / (std + stdEpsilon) }
    }

    /// TRL's `torch.isclose(std, 0)`: |std| ≤ 1e-8.
    public static func isZeroStd(_ s: Double) -> Bool { abs(s) <= 1e-8 }
}
