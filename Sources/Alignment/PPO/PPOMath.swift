import Foundation

/// PPO's arithmetic is the shared arithmetic of the online methods (`OnlineMath`: KL estimators,
/// GAE, whitening, the clipped surrogate) plus what only a method with a value model needs, below.
public typealias PPOMath = OnlineMath

extension OnlineMath {
    // MARK: - Clipped value loss (PPO's value model)

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
