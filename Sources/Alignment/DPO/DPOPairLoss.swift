import Engine
import GPT

/// The DPO family's loss over a batch of preference pairs, as DPO and online DPO compute it: the
/// pairs as one batch (`PreferenceBatch`: shared-prompt rows or two rows per pair), the reference's
/// sequence log-probs (cached, 0 when reference-free, or one forward of the frozen model), one
/// forward of the policy, `dpoLoss` of each pair, and the backward of the scaled sum of the losses.
final class DPOPairLoss {
    let policy: GPT
    /// The frozen π_ref (nil when reference-free).
    let reference: GPT?
    let config: DPOConfig
    let pad: Int32
    let seed: UInt64
    let ws: GPTWorkspace
    let logpScratch = Scratch(), dlogpScratch = Scratch()

    init(policy: GPT, reference: GPT?, config: DPOConfig, pad: Int32, seed: UInt64, ws: GPTWorkspace) {
        precondition(config.referenceFree || reference != nil, "DPO without reference_free needs a reference model")
        self.policy = policy
        self.reference = reference
        self.config = config
        self.pad = pad
        self.seed = seed
        self.ws = ws
    }

    /// Forward over the pairs (chosen and rejected in one batch: B shared-prompt sequences, or 2·B), the loss of each
    /// pair, and — when `gradScale` is given — backward of gradScale·Σ_pairs loss into the policy's
    /// gradients. `cached` are the reference log-probs of `pairs` if precomputed.
    func process(_ pairs: [PreferenceExample], cached: [(Double, Double)]?, gradScale: Double?, dropoutStream: Int,
                 each: (DPOLossTerms) -> Void) -> Int {
        let pb = PreferenceBatch(pairs, pad: pad, sharedPrompt: config.sharedPrompt)
        let batch = pb.batch, B = pairs.count
        // Reference: cached, constant 0 (reference-free), or one forward of the frozen model.
        var refSeq: [Double]
        if config.referenceFree {
            refSeq = [Double](repeating: 0, count: 2 * B)
        } else if let cached {
            refSeq = cached.map(\.0) + cached.map(\.1)
        } else {
            refSeq = pb.sequenceLogProbs(model: reference!, ws: ws, logp: logpScratch)
        }
        // Policy forward; per-row log-probs of the completion tokens.
        let n = batch.rows.count
        let logp = logpScratch.pointer(max(1, n))
        if !config.disableDropout && policy.config.dropout > 0 && gradScale != nil {
            var rng = RNG(seed: seed).split("dropout", dropoutStream)
            pb.forward(model: policy, ws: ws, dropout: &rng)
        } else {
            pb.forward(model: policy, ws: ws)
        }
        if n > 0 { policy.tokenLogProbs(ws: ws, rows: batch.rows, targets: batch.targets, logp: logp) }
        let seq = pb.sequenceSums(logp)
        // Loss of each pair; its derivative w.r.t. each sequence log-prob.
        var dseq = [Double](repeating: 0, count: 2 * B)
        for i in 0..<B {
            let t = dpoLoss(policyChosen: seq[i], policyRejected: seq[B + i], refChosen: refSeq[i], refRejected: refSeq[B + i],
                            chosenLength: pb.tokenCount(i), rejectedLength: pb.tokenCount(B + i), config: config)
            each(t)
            dseq[i] = t.dPolicyChosen
            dseq[B + i] = t.dPolicyRejected
        }
        // Backward: log π(y) = Σ_t log π(y_t|·), so every completion token of sequence s receives
        // dL/dlogp_t = dL/d log π(y_s); prompt and padding rows receive nothing.
        if let gradScale, n > 0 {
            let dl = dlogpScratch.pointer(n)
            for s in 0..<(2 * B) {
                let g = Float(dseq[s] * gradScale)
                for r in batch.rowStart[s]..<batch.rowStart[s + 1] { dl[r] = g }
            }
            ws.zeroHiddenGrad()
            policy.tokenLogProbs(ws: ws, rows: batch.rows, targets: batch.targets, logp: nil, dlogp: dl)
            batch.tokens.withUnsafeBufferPointer { policy.backward(tokens: $0.baseAddress!, ws: ws) }
        }
        return batch.lengths.reduce(0, +)
    }
}
