import Foundation

// MARK: - Stable sigmoid pieces

public enum DPOMath {
    /// log σ(x) = −softplus(−x) = min(x, 0) − log(1 + e^−|x|): finite for every finite x
    /// (log σ(−1e4) = −1e4, log σ(1e4) = −0).
    @inline(__always) public static func logSigmoid(_ x: Double) -> Double { min(x, 0) - log1p(exp(-abs(x))) }

    /// σ(x) without overflow: the exponential never exceeds 1 in either branch.
    @inline(__always) public static func sigmoid(_ x: Double) -> Double {
        if x >= 0 { return 1 / (1 + exp(-x)) }
        let e = exp(x)
        return e / (1 + e)
    }
}

// MARK: - Per-pair loss

/// The loss of one preference pair and its derivatives with respect to the four SEQUENCE
/// log-probs passed in (sums over completion tokens), plus the implicit rewards it implies.
public struct DPOLossTerms: Equatable, Sendable {
    public var loss: Double
    public var dPolicyChosen: Double
    public var dPolicyRejected: Double
    public var dRefChosen: Double
    public var dRefRejected: Double
    /// Implicit rewards β·(log π(y) − log π_ref(y)) (Rafailov et al. §5), from the log-probs the loss
    /// uses (per-token averages for `ipo`, sums otherwise), as TRL reports them.
    public var chosenReward: Double
    public var rejectedReward: Double
    /// The policy log-probs as the loss uses them (TRL's `logps/chosen`, `logps/rejected`):
    /// per-token averages for `ipo`, sums otherwise.
    public var chosenLogp: Double
    public var rejectedLogp: Double
    /// z, the log-ratio margin the loss is a function of (TRL's `logits`).
    public var margin: Double
    /// −log π(y_w)/|y_w|, the length-normalized NLL of the chosen completion (RPO's term before α).
    public var chosenNLL: Double
}

/// One pair's DPO-family loss.
///
/// Inputs are sequence log-probs: the SUM over completion tokens of log π(y_t | x, y_<t), prompt
/// and padding excluded; `chosenLength`/`rejectedLength` are the completion token counts.
/// With h_w = log π(y_w) − log π_ref(y_w), h_l likewise, z = h_w − h_l and ε = label smoothing:
/// - sigmoid (DPO, Rafailov et al. 2023; cDPO for ε > 0):  −(1−ε) log σ(βz) − ε log σ(−βz)
///     dL/dz = −β(1−ε) σ(−βz) + βε σ(βz)
/// - robust (Chowdhury et al. 2024):  (−(1−ε) log σ(βz) + ε log σ(−βz)) / (1−2ε)
///     dL/dz = −β((1−ε) σ(−βz) + ε σ(βz)) / (1−2ε)
/// - ipo (Azar et al. 2023):  (z − 1/(2β))²,  dL/dz = 2(z − 1/(2β)), where — as in Azar et al. and
///   TRL — every log-prob is first AVERAGED over its completion's tokens (log π(y)/|y|), so
///   d/d(sum) carries a factor 1/|y|.
/// - hinge (SLiC, Zhao et al. 2023):  max(0, 1 − βz),  dL/dz = −β when βz < 1, else 0.
/// RPO (rpoAlpha = α > 0) adds α · (−log π(y_w)/|y_w|), so dL/d log π(y_w) gains −α/|y_w|.
/// Then dL/d log π(y_w) = dL/dz, dL/d log π(y_l) = −dL/dz, and the reference derivatives are
/// their negatives. log σ is evaluated stably: no overflow or NaN even at |βz| = 1e4.
public func dpoLoss(policyChosen: Double, policyRejected: Double, refChosen: Double, refRejected: Double,
                    chosenLength: Int = 1, rejectedLength: Int = 1, config: DPOConfig) -> DPOLossTerms {
    let logSigmoid = DPOMath.logSigmoid, sigmoid = DPOMath.sigmoid
    let beta = config.beta, eps = config.labelSmoothing
    let nw = Double(max(chosenLength, 1)), nl = Double(max(rejectedLength, 1))
    // Scale from a sequence log-prob to the log-prob the loss uses.
    let sw = config.lossType == .ipo ? 1 / nw : 1, sl = config.lossType == .ipo ? 1 / nl : 1
    let hw = (policyChosen - refChosen) * sw, hl = (policyRejected - refRejected) * sl
    let z = hw - hl
    let bz = beta * z
    var loss: Double, dz: Double
    switch config.lossType {
    case .sigmoid:
        loss = -(1 - eps) * logSigmoid(bz) - eps * logSigmoid(-bz)
        dz = -beta * (1 - eps) * sigmoid(-bz) + beta * eps * sigmoid(bz)
    case .robust:
        loss = (-(1 - eps) * logSigmoid(bz) + eps * logSigmoid(-bz)) / (1 - 2 * eps)
        dz = -beta * ((1 - eps) * sigmoid(-bz) + eps * sigmoid(bz)) / (1 - 2 * eps)
    case .ipo:
        let d = z - 1 / (2 * beta)
        loss = d * d
        dz = 2 * d
    case .hinge:
        loss = max(0, 1 - bz)
        dz = bz < 1 ? -beta : 0
    }
    var dpw = dz * sw
    let dpl = -dz * sl
    let nll = -policyChosen / nw
    if let alpha = config.rpoAlpha, alpha > 0 {
        loss += alpha * nll
        dpw += -alpha / nw
    }
    return DPOLossTerms(loss: loss, dPolicyChosen: dpw, dPolicyRejected: dpl,
                        dRefChosen: -dz * sw, dRefRejected: dz * sl,
                        chosenReward: beta * hw, rejectedReward: beta * hl,
                        chosenLogp: policyChosen * sw, rejectedLogp: policyRejected * sl, margin: z, chosenNLL: nll)
}
