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

/// B preference pairs as ONE batch, so that the policy scores both completions of every pair in a
/// single forward pass. Only completion tokens are predicted (prompt and padding masked).
/// - Separate layout: 2·B right-padded sequences, prompt + chosen in rows 0..<B, prompt + rejected
///   in rows B..<2B.
/// - Shared-prompt layout (`sharedPrompt`): B sequences [prompt | chosen | rejected], the rejected
///   completion attending to the prompt and to itself only, at the positions it has after the
///   prompt (`PrefixBranch`). Each prompt goes through the model once instead of twice; the
///   log-probs are those of the separate layout up to float rounding.
/// In both, the LM-head rows of sequence s (chosen of pair i: s = i; rejected: s = B + i) are
/// `batch.rowStart[s]..<batch.rowStart[s+1]`.
public struct PreferenceBatch {
    public let pairs: Int
    public let batch: TokenBatch
    /// The shared-prompt layout of each sequence (nil: separate layout).
    public let branches: [PrefixBranch]?

    public init(_ examples: [PreferenceExample], pad: Int32, fixedT: Int? = nil, sharedPrompt: Bool = false) {
        pairs = examples.count
        guard sharedPrompt else {
            let seqs = examples.map { SequenceExample(prompt: $0.prompt, completion: $0.chosen) }
                + examples.map { SequenceExample(prompt: $0.prompt, completion: $0.rejected) }
            batch = TokenBatch(seqs, pad: pad, fixedT: fixedT)
            branches = nil
            return
        }
        let packed = SharedPrefixRows(examples.map { (a: $0.prompt + $0.chosen, b: $0.prompt + $0.rejected, prefix: $0.prompt.count) },
                                      pad: pad, minT: fixedT ?? 1)
        // Completion token t (t ≥ |prompt|, t ≥ 1: a sequence's first token is never predicted) is
        // predicted at the row holding token t − 1 of its own sequence; for the rejected one's first
        // token that is the prompt's last position.
        var rows: [Int32] = [], targets: [Int32] = [], rowStart = [0]
        for chosen in [true, false] {
            for (i, e) in examples.enumerated() {
                let seq = e.prompt + (chosen ? e.chosen : e.rejected)
                for t in max(1, e.prompt.count)..<max(1, seq.count) {
                    rows.append(Int32(chosen ? packed.rowA(i, t - 1) : packed.rowB(i, t - 1)))
                    targets.append(seq[t])
                }
                rowStart.append(rows.count)
            }
        }
        batch = TokenBatch(B: packed.B, T: packed.T, tokens: packed.tokens, promptLengths: examples.map(\.prompt.count),
                           lengths: examples.map { $0.prompt.count + $0.chosen.count + $0.rejected.count },
                           rows: rows, targets: targets, rowStart: rowStart)
        branches = packed.branches
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

    /// Runs `model` forward over the batch (`dropout` as in `GPT.forward`).
    public func forward(model: GPT, ws: GPTWorkspace, dropout: UnsafeMutablePointer<RNG>? = nil) {
        batch.tokens.withUnsafeBufferPointer {
            model.forward(tokens: $0.baseAddress!, B: batch.B, T: batch.T, ws: ws, dropout: dropout, branches: branches)
        }
    }

    /// Forward of `model` over the batch (no dropout) and the 2·B sequence log-probs.
    /// `logp` is scratch for the per-row values.
    public func sequenceLogProbs(model: GPT, ws: GPTWorkspace, logp: Scratch) -> [Double] {
        forward(model: model, ws: ws)
        let lp = logp.pointer(max(1, batch.rows.count))
        model.tokenLogProbs(ws: ws, rows: batch.rows, targets: batch.targets, logp: lp)
        return sequenceSums(lp)
    }

    /// The workspace shape (sequences, tokens) that holds any batch of up to `batchSize` of `pairs`.
    public static func workspaceShape(_ pairs: [PreferenceExample], batchSize: Int, sharedPrompt: Bool) -> (maxB: Int, maxT: Int) {
        let longest = pairs.map { $0.prompt.count + (sharedPrompt ? $0.chosen.count + $0.rejected.count : max($0.chosen.count, $0.rejected.count)) }.max() ?? 1
        return (sharedPrompt ? batchSize : 2 * batchSize, max(1, longest))
    }
}
