import Foundation

// MARK: - Options

/// Estimator of the per-token KL(π‖π_ref) (Schulman, "Approximating KL divergence", 2020), with
/// r = π_ref(y)/π(y) for the sampled token y ~ π:
///   k1 = log π − log π_ref = −log r            (unbiased, can be negative per token)
///   k3 = (r − 1) − log r                       (unbiased, always ≥ 0, lower variance)
public enum KLEstimator: String, Codable, Sendable, CaseIterable { case k1, k3 }

/// The arithmetic every online method shares (PPO, GRPO, RLOO), as pure functions: KL
/// estimators, advantage estimators (GAE here; group-normalised and leave-one-out in
/// `GroupAdvantages`), whitening and the clipped surrogate. Per-token arrays are flat (B, L)
/// arrays of response tokens (row b, column t = t-th response token of sequence b); `mask[i]`
/// marks real tokens (up to and including EOS), padding sits at the tail of each row.
/// `PPOMath` is this type under PPO's name (it adds the value loss).
public enum OnlineMath {
    // MARK: - KL estimators

    /// Per-token KL estimate from the sampled token's log-probs (Schulman 2020), r = π_ref/π:
    ///   k1 = logπ − logπ_ref,   k3 = (r − 1) − log r.
    public static func kl(logp: Float, refLogp: Float, estimator: KLEstimator) -> Float {
        let logr = Double(refLogp) - Double(logp)
        switch estimator {
        case .k1: return Float(-logr)
        case .k3: return Float(Foundation.expm1(logr) - logr)
        }
    }

    /// d kl / d logπ (π_ref fixed): k1 → 1;  k3 = e^{log r} − 1 − log r with log r = logπ_ref − logπ
    /// → −e^{log r} + 1 = 1 − r.
    public static func klGradient(logp: Float, refLogp: Float, estimator: KLEstimator) -> Float {
        switch estimator {
        case .k1: return 1
        case .k3: return Float(-Foundation.expm1(Double(refLogp) - Double(logp)))
        }
    }

    // MARK: - Generalized advantage estimation (Schulman et al. 2016)

    /// GAE over each row of length L, backwards, with V = 0 after the last real token:
    ///   δ_t = r_t + γ·V_{t+1} − V_t,   A_t = δ_t + γλ·A_{t+1},   R_t = A_t + V_t.
    /// Padding entries have r = V = 0 in the recursion and A = R = 0 in the output.
    public static func gae(rewards: [Float], values: [Float], mask: [Bool], L: Int, gamma: Double, lam: Double)
        -> (advantages: [Float], returns: [Float]) {
        precondition(rewards.count == values.count && values.count == mask.count && L > 0 && mask.count % L == 0)
        let B = mask.count / L
        var adv = [Float](repeating: 0, count: mask.count), ret = adv
        for b in 0..<B {
            var last = 0.0, nextValue = 0.0
            for t in stride(from: L - 1, through: 0, by: -1) {
                let i = b * L + t
                let r = mask[i] ? Double(rewards[i]) : 0, v = mask[i] ? Double(values[i]) : 0
                let delta = r + gamma * nextValue - v
                last = delta + gamma * lam * last
                nextValue = v
                if mask[i] {
                    adv[i] = Float(last)
                    ret[i] = Float(last + v)
                }
            }
        }
        return (adv, ret)
    }

    // MARK: - Whitening

    /// Mean and unbiased variance (n−1) of the masked entries (TRL's masked_mean / masked_var).
    public static func maskedMoments(_ x: [Float], mask: [Bool]) -> (mean: Double, variance: Double, count: Int) {
        var n = 0, s = 0.0
        for i in x.indices where mask[i] { s += Double(x[i]); n += 1 }
        guard n > 0 else { return (0, 0, 0) }
        let mean = s / Double(n)
        var ss = 0.0
        for i in x.indices where mask[i] { let d = Double(x[i]) - mean; ss += d * d }
        return (mean, n > 1 ? ss / Double(n - 1) : 0, n)
    }

    /// (x − mean)/√(var + 1e-8) over the masked entries; with `shiftMean` false the mean is added
    /// back (only the scale changes, as TRL does for rewards). Padding entries become 0.
    public static func whiten(_ x: [Float], mask: [Bool], shiftMean: Bool = true) -> [Float] {
        precondition(x.count == mask.count)
        let (mean, variance, _) = maskedMoments(x, mask: mask)
        let inv = 1 / (variance + 1e-8).squareRoot()
        var out = [Float](repeating: 0, count: x.count)
        for i in x.indices where mask[i] {
            let w = (Double(x[i]) - mean) * inv
            out[i] = Float(shiftMean ? w : w + mean)
        }
        return out
    }

    /// 1 − Var(R − V)/Var(R) over the masked entries (how much of the returns' variance the
    /// value predictions explain; 1 is perfect, ≤ 0 is no better than a constant). 0 when the
    /// returns do not vary (undefined; 0 keeps the metrics log valid JSON).
    public static func explainedVariance(values: [Float], returns: [Float], mask: [Bool]) -> Double {
        let (_, vr, n) = maskedMoments(returns, mask: mask)
        guard n > 1, vr > 0 else { return 0 }
        let diff = zip(returns, values).map { $0 - $1 }
        return 1 - maskedMoments(diff, mask: mask).variance / vr
    }

    // MARK: - Clipped surrogate (Schulman et al. 2017)

    /// One term of the clipped surrogate, with ρ = exp(log ρ):
    ///   ℓ = max(−A·ρ, −A·clip(ρ, 1−ε_low, 1+ε_high)).
    /// dℓ/dlog ρ = −A·ρ when the unclipped term is the max, 0 when the clipped one strictly is (the
    /// clip is then active, so its term is constant in ρ).
    public struct PolicyTerm: Equatable, Sendable {
        public var loss: Float
        /// dℓ/d log ρ, which is dℓ/d logπ_new of every token whose log-prob enters log ρ.
        public var dLogp: Float
        public var ratio: Float
        /// The clipped term was strictly larger (TRL's pg_clipfrac counts these).
        public var clipped: Bool
        /// TRL's clip_ratio/low: ρ < 1 − ε_low with A < 0; clip_ratio/high: ρ > 1 + ε_high with A > 0.
        public var clippedLow: Bool
        public var clippedHigh: Bool
    }

    /// PPO's token term: log ρ = logπ_new − logπ_old, ε_low = ε_high = `cliprange`.
    public static func policyLoss(newLogp: Float, oldLogp: Float, advantage a: Float, cliprange eps: Double) -> PolicyTerm {
        clippedSurrogate(logRatio: Double(newLogp) - Double(oldLogp), advantage: a, epsilonLow: eps, epsilonHigh: eps)
    }

    /// The clipped surrogate of one log-ratio: a token's (PPO, GRPO) or a whole sequence's (RLOO,
    /// whose completion is one action), with DAPO's asymmetric clip (ε_high ≥ ε_low: "clip-higher").
    public static func clippedSurrogate(logRatio: Double, advantage a: Float, epsilonLow: Double, epsilonHigh: Double) -> PolicyTerm {
        let ratio = Float(Foundation.exp(logRatio))
        let lo = Float(1 - epsilonLow), hi = Float(1 + epsilonHigh)
        let clippedRatio = min(max(ratio, lo), hi)
        let l1 = -a * ratio, l2 = -a * clippedRatio
        let low = ratio < lo && a < 0, high = ratio > hi && a > 0
        if l2 > l1 { return PolicyTerm(loss: l2, dLogp: 0, ratio: ratio, clipped: true, clippedLow: low, clippedHigh: high) }
        return PolicyTerm(loss: l1, dLogp: -a * ratio, ratio: ratio, clipped: false, clippedLow: low, clippedHigh: high)
    }
}
