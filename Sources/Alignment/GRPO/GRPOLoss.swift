import Foundation

/// GRPO's per-token loss and the four ways of turning per-token losses into the step's loss.
///
/// Per token t of completion i, with ρ = π(y_t)/π_old(y_t) and A_i the completion's advantage:
///   ℓ_t = −min(ρ·A_i, clip(ρ, 1 − ε, 1 + ε_high)·A_i) + β·k3_t,
///   k3_t = π_ref(y_t)/π(y_t) − log(π_ref(y_t)/π(y_t)) − 1   (Schulman's k3 of KL(π‖π_ref)),
///   dℓ_t/d logπ(y_t) = [−A_i·ρ unless the clip is active] + β·(1 − π_ref(y_t)/π(y_t)).
/// The step's loss is Σ_micro Σ_i Σ_t w_i·ℓ_t / Σ_micro count(micro), summed over processes:
///   grpo    w_i = 1/|o_i|,      count = completions of the microbatch  (mean over tokens, then completions)
///   bnpo    w_i = 1/N_micro,    count = 1 per microbatch               (per-microbatch token mean, averaged)
///   dapo    w_i = 1,            count = tokens of the microbatch       (token mean over the whole step)
///   dr_grpo w_i = 1,            count = completions × max_completion_length
/// where |o_i| and N_micro count the tokens that enter the loss: a masked completion (truncated, with
/// `mask_truncated_completions`) has w = 0 and no tokens but still counts as a completion for grpo
/// and dr_grpo, as in TRL.
public enum GRPOLoss {
    /// One token's loss ℓ_t and dℓ_t/d logπ(y_t); `refLogp` nil or β = 0: no KL term.
    public static func token(logp: Float, oldLogp: Float, refLogp: Float?, advantage: Float, epsilonLow: Double, epsilonHigh: Double,
                             beta: Double) -> (loss: Float, dLogp: Float, term: OnlineMath.PolicyTerm, kl: Float) {
        let term = OnlineMath.clippedSurrogate(logRatio: Double(logp) - Double(oldLogp), advantage: advantage,
                                               epsilonLow: epsilonLow, epsilonHigh: epsilonHigh)
        guard let refLogp, beta != 0 else { return (term.loss, term.dLogp, term, 0) }
        let k = OnlineMath.kl(logp: logp, refLogp: refLogp, estimator: .k3)
        let dk = OnlineMath.klGradient(logp: logp, refLogp: refLogp, estimator: .k3)
        return (term.loss + Float(beta) * k, term.dLogp + Float(beta) * dk, term, k)
    }

    /// What one microbatch weighs in the step's mean (`count`) and the weight w_i of each token of
    /// its completion i; `lengths` are the completions' token counts, `active` whether each enters the loss.
    /// In a data-parallel job the completions are one process's part of a microbatch, and
    /// `microbatch` gives the loss tokens of the whole microbatch (bnpo's N_micro) and whether this
    /// part counts the microbatch (one part of each does); the other types' counts add up over parts.
    public static func normalization(_ type: GRPOLossType, lengths: [Int], active: [Bool], maxCompletionLength: Int,
                                     microbatch: (tokens: Int, counted: Bool)? = nil) -> (count: Double, weights: [Double]) {
        precondition(lengths.count == active.count)
        let tokens = zip(lengths, active).reduce(0) { $0 + ($1.1 ? $1.0 : 0) }
        let microTokens = microbatch?.tokens ?? tokens
        let weights: [Double] = zip(lengths, active).map { n, on in
            guard on else { return 0 }
            switch type {
            case .grpo: return 1 / Double(max(n, 1))
            case .bnpo: return 1 / Double(max(microTokens, 1))
            case .dapo, .drGRPO: return 1
            }
        }
        let count: Double
        switch type {
        case .grpo: count = Double(lengths.count)
        case .bnpo: count = (microbatch?.counted ?? true) ? 1 : 0
        case .dapo: count = Double(tokens)
        case .drGRPO: count = Double(lengths.count * maxCompletionLength)
        }
        return (count, weights)
    }

    /// The step's loss from per-token losses `losses[micro][completion][token]` (the rule above, as
    /// the trainer applies it through `OptimizerStep`); for tests and inspection.
    public static func stepLoss(_ losses: [[[Double]]], active: [[Bool]], type: GRPOLossType, maxCompletionLength: Int) -> Double {
        var total = 0.0, sum = 0.0
        for (m, micro) in losses.enumerated() {
            let (count, w) = normalization(type, lengths: micro.map(\.count), active: active[m], maxCompletionLength: maxCompletionLength)
            total += count
            for (i, seq) in micro.enumerated() { sum += w[i] * seq.reduce(0, +) }
        }
        return total > 0 ? sum / total : 0
    }
}
