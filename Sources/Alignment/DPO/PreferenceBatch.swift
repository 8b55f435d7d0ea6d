import Engine
import GPT

// MARK: - Pair order

/// Epochs over the pair indices 0..<count, reshuffled each epoch (as `ShuffledEpochs` does for
/// sequences): the pairs of (step, micro) are a pure function of (seed, step, micro), so a resumed
/// run sees exactly the batches of the uninterrupted one. The last epoch's permutation is kept.
public final class PairEpochs {
    public let count: Int
    public let batchSize: Int
    public let microPerStep: Int
    let rng: RNG
    var cachedEpoch = -1
    var perm: [Int] = []

    public init(count: Int, batchSize: Int, microPerStep: Int, seed: UInt64) {
        precondition(count > 0, "DPO needs at least one training pair")
        self.count = count
        self.batchSize = batchSize
        self.microPerStep = microPerStep
        rng = RNG(seed: seed).split("dpo-pairs")
    }

    func order(epoch: Int) -> [Int] {
        var idx = Array(0..<count)
        var r = rng.split("epoch", epoch)
        r.shuffle(&idx)
        return idx
    }

    /// Indices of the `batchSize` pairs of microbatch `micro` of optimizer step `step`.
    public func indices(step: Int, micro: Int) -> [Int] {
        let start = (step * microPerStep + micro) * batchSize
        return (start..<(start + batchSize)).map { k in
            let epoch = k / count
            if epoch != cachedEpoch { perm = order(epoch: epoch); cachedEpoch = epoch }
            return perm[k % count]
        }
    }
}

// MARK: - Chosen and rejected in one batch

/// B preference pairs as ONE right-padded batch of 2·B sequences — prompt + chosen in rows
/// 0..<B, prompt + rejected in rows B..<2B — so that the policy scores both completions of every
/// pair in a single forward pass. Only completion tokens are predicted (prompt and padding masked).
public struct PreferenceBatch {
    public let pairs: Int
    public let batch: TokenBatch

    public init(_ examples: [PreferenceExample], pad: Int32, fixedT: Int? = nil) {
        pairs = examples.count
        let seqs = examples.map { SequenceExample(prompt: $0.prompt, completion: $0.chosen) }
            + examples.map { SequenceExample(prompt: $0.prompt, completion: $0.rejected) }
        batch = TokenBatch(seqs, pad: pad, fixedT: fixedT)
    }

    /// Number of predicted (completion) tokens of sequence `s` (chosen of pair i: s = i; rejected: s = B + i).
    public func tokenCount(_ s: Int) -> Int { batch.rowStart[s + 1] - batch.rowStart[s] }

    /// Sequence log-probs: Σ_t log π(y_t | x, y_<t) over the completion tokens of each of the 2·B
    /// sequences, from the per-row log-probs `logp` (row order of `batch`), summed in Double in order.
    public func sequenceSums(_ logp: UnsafePointer<Float>) -> [Double] {
        (0..<(2 * pairs)).map { s in
            var acc = 0.0
            for r in batch.rowStart[s]..<batch.rowStart[s + 1] { acc += Double(logp[r]) }
            return acc
        }
    }

    /// Forward of `model` over the batch (no dropout) and the 2·B sequence log-probs.
    /// `logp` is scratch for the per-row values.
    public func sequenceLogProbs(model: GPT, ws: GPTWorkspace, logp: Scratch) -> [Double] {
        batch.tokens.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: batch.B, T: batch.T, ws: ws) }
        let lp = logp.pointer(max(1, batch.rows.count))
        model.tokenLogProbs(ws: ws, rows: batch.rows, targets: batch.targets, logp: lp)
        return sequenceSums(lp)
    }
}
