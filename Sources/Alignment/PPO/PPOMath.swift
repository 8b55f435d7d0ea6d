import Foundation

/// The arithmetic of PPO for RLHF, as pure functions over flat (B, L) arrays of response tokens
/// (row b, column t = t-th response token of sequence b). `mask[i]` marks real tokens (up to and
/// including EOS); padding sits at the tail of each row.
public enum PPOMath {
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

    // MARK: - Clipped surrogate losses (Schulman et al. 2017)

    /// One token's clipped policy loss, with ρ = exp(logπ_new − logπ_old):
    ///   ℓ = max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)).
    /// dℓ/dlogπ_new = −A·ρ when the unclipped term is the max, 0 when the clipped one strictly is
    /// (the clip is then active, so its term is constant in ρ).
    public struct PolicyTerm: Equatable, Sendable {
        public var loss: Float
        public var dLogp: Float
        public var ratio: Float
        /// The clipped term was strictly larger (TRL's pg_clipfrac counts these).
        public var clipped: Bool
    }

    public static func policyLoss(newLogp: Float, oldLogp: Float, advantage a: Float, cliprange eps: Double) -> PolicyTerm {
        let ratio = Float(Foundation.exp(Double(newLogp) - Double(oldLogp)))
        let clippedRatio = min(max(ratio, Float(1 - eps)), Float(1 + eps))
        let l1 = -a * ratio, l2 = -a * clippedRatio
        if l2 > l1 { return PolicyTerm(loss: l2, dLogp: 0, ratio: ratio, clipped: true) }
        return PolicyTerm(loss: l1, dLogp: -a * ratio, ratio: ratio, clipped: false)
    }

    /// One token's clipped value loss, with V_c = clip(V, V_old − ε_v, V_old + ε_v):
    ///   ℓ = ½·max((V − R)², (V_c − R)²).
    /// dℓ/dV = V − R when the unclipped term is the max, 0 when the clipped one strictly is.
    public struct ValueTerm: Equatable, Sendable {
        public var loss: Float
        public var dValue: Float
        public var clipped: Bool
    }

    public static func valueLoss(value v: Float, oldValue: Float, ret: Float, cliprange eps: Double) -> ValueTerm {
        let vc = min(max(v, oldValue - Float(eps)), oldValue + Float(eps))
        let l1 = (v - ret) * (v - ret), l2 = (vc - ret) * (vc - ret)
        if l2 > l1 { return ValueTerm(loss: 0.5 * l2, dValue: 0, clipped: true) }
        return ValueTerm(loss: 0.5 * l1, dValue: v - ret, clipped: false)
    }
}

// MARK: - Adaptive KL controller (Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences")

/// β_{k+1} = β_k · (1 + e·n/horizon), with e = clip(KL/target − 1, −0.2, 0.2) the proportional
/// error of the measured KL and n the number of samples of the iteration. A fixed controller
/// (adaptive false) keeps β.
public struct KLController: Codable, Equatable, Sendable {
    public var value: Double
    public var adaptive: Bool
    public var target: Double
    public var horizon: Double

    public init(value: Double, adaptive: Bool = false, target: Double = 6, horizon: Double = 10_000) {
        self.value = value
        self.adaptive = adaptive
        self.target = target
        self.horizon = horizon
    }

    public mutating func update(currentKL: Double, samples n: Int) {
        guard adaptive, currentKL.isFinite else { return }
        let error = min(max(currentKL / target - 1, -0.2), 0.2)
        value *= 1 + error * Double(n) / horizon
    }
}
