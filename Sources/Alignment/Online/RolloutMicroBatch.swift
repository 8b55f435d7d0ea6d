import Engine
import GPT

/// Sequences of a rollout laid out for one forward pass: `n` right-padded rows of `T` tokens, and
/// for every real response token its LM-head row, its id and its slot b·L + t in the rollout
/// arrays. Response token t of a sequence whose prompt has P tokens sits at position P + t and is
/// predicted at the row of the token before it (P + t − 1), which is also where V(s_t) is read.
///
/// Two layouts:
/// - plain: one sequence per row, [prompt | response] (PPO);
/// - shared prompt: the completions of one group (GRPO, RLOO: G answers to the same prompt) that
///   fall in the microbatch share one row, [prompt | response 1 | response 2 | …], each response
///   attending to the prompt and to itself only, at the positions it has after the prompt
///   (`PrefixBranch`, as DPO's chosen and rejected). The prompt goes through the model once for
///   the group: a row of P + G·L tokens replaces G of P + L. The log-probs are those of the plain
///   layout up to float rounding.
struct RolloutMicroBatch {
    /// Rows of the forward pass and their length.
    let n: Int
    let T: Int
    var tokens: [Int32]
    var rows: [Int32] = []
    var targets: [Int32] = []
    var slots: [Int] = []
    /// The shared-prompt layout of each row (nil: plain rows).
    var branches: [PrefixBranch]?
    /// The rollout's sequences in this microbatch, in order; the entries of `rows`/`targets`/`slots`
    /// of sequences[j] are seqStart[j]..<seqStart[j+1].
    var sequences: [Int] = []
    var seqStart: [Int] = [0]

    /// One sequence per row, rows of `T` tokens (PPO passes the rollout's T: the same shapes in
    /// every microbatch, as its tests pin the bits of).
    static func plain(_ buffer: RolloutBuffer, _ indices: [Int], T: Int, pad: Int32) -> RolloutMicroBatch {
        let L = buffer.L
        var mb = RolloutMicroBatch(n: indices.count, T: T, tokens: [Int32](repeating: pad, count: indices.count * T))
        for (j, b) in indices.enumerated() {
            let p = buffer.prompts[b], r = buffer.responses[b]
            for (t, tok) in p.enumerated() { mb.tokens[j * T + t] = tok }
            for (t, tok) in r.enumerated() {
                mb.tokens[j * T + p.count + t] = tok
                mb.rows.append(Int32(j * T + p.count + t - 1))
                mb.targets.append(tok)
                mb.slots.append(b * L + t)
            }
            mb.sequences.append(b)
            mb.seqStart.append(mb.rows.count)
        }
        return mb
    }

    /// Consecutive sequences of `indices` of the same group (sequence b belongs to group b / G, and
    /// a group's sequences answer one prompt) share a row. T is the longest row of this microbatch.
    static func sharedPrompt(_ buffer: RolloutBuffer, _ indices: [Int], groupSize G: Int, pad: Int32) -> RolloutMicroBatch {
        var groups: [[Int]] = []
        for b in indices {
            if let last = groups.last?.last, last / G == b / G {
                precondition(buffer.prompts[last] == buffer.prompts[b], "the sequences of a group answer the same prompt")
                groups[groups.count - 1].append(b)
            } else {
                groups.append([b])
            }
        }
        let packed = SharedPrefixRows(groups: groups.map { g in
            (sequences: g.map { buffer.prompts[$0] + buffer.responses[$0] }, prefix: buffer.prompts[g[0]].count)
        }, pad: pad)
        let L = buffer.L
        var mb = RolloutMicroBatch(n: packed.B, T: packed.T, tokens: packed.tokens)
        for (i, g) in groups.enumerated() {
            let P = buffer.prompts[g[0]].count
            for (k, b) in g.enumerated() {
                // Response token t sits at P + t of its sequence and is predicted at P + t − 1: for
                // its first token, the prompt's last position.
                for (t, tok) in buffer.responses[b].enumerated() {
                    mb.rows.append(Int32(packed.position(i, k, P + t - 1)))
                    mb.targets.append(tok)
                    mb.slots.append(b * L + t)
                }
                mb.sequences.append(b)
                mb.seqStart.append(mb.rows.count)
            }
        }
        mb.branches = packed.branches
        return mb
    }

    /// Number of predicted tokens of the j-th sequence of this microbatch.
    func tokenCount(_ j: Int) -> Int { seqStart[j + 1] - seqStart[j] }

    /// Runs `model` forward over the rows (no dropout).
    func forward(_ model: GPT, ws: GPTWorkspace) {
        tokens.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: n, T: T, ws: ws, branches: branches) }
    }

    /// Forward of `model` and the log-probs of the response tokens (logits / temperature), in row order.
    func logProbs(_ model: GPT, ws: GPTWorkspace, temperature: Float) -> [Float] {
        forward(model, ws: ws)
        var lp = [Float](repeating: 0, count: rows.count)
        model.tokenLogProbs(ws: ws, rows: rows, targets: targets, temperature: temperature, logp: &lp)
        return lp
    }

    /// One forward/backward of the policy over the microbatch: log-probs and exact entropies of the
    /// response tokens (logits / temperature), `gradient(logp, entropy)` returning d loss / d logp of
    /// each (scaled as the optimizer step wants), then the backward through the LM head; `heads()`
    /// may add other heads' gradients into `ws.hiddenGrad` (PPO's shared value head) before the
    /// backward through the trunk, which ADDS into the policy's gradients.
    func policyGradient(_ policy: GPT, ws: GPTWorkspace, temperature: Float,
                        gradient: (_ logp: [Float], _ entropy: [Float]) -> [Float], heads: () -> Void = {}) {
        let (logp, entropy) = forwardLogProbs(policy, ws: ws, temperature: temperature)
        let dlogp = gradient(logp, entropy)
        precondition(dlogp.count == rows.count)
        backwardLogProbs(policy, ws: ws, temperature: temperature, dlogp: dlogp[...], heads: heads)
    }

    /// The forward half of `policyGradient`: log-probs and exact entropies of the response tokens.
    func forwardLogProbs(_ policy: GPT, ws: GPTWorkspace, temperature: Float) -> (logp: [Float], entropy: [Float]) {
        var logp = [Float](repeating: 0, count: rows.count), entropy = logp
        forward(policy, ws: ws)
        policy.tokenLogProbs(ws: ws, rows: rows, targets: targets, temperature: temperature, logp: &logp, entropy: &entropy)
        return (logp, entropy)
    }

    /// The backward half of `policyGradient`, from d loss / d logp of each response token; the
    /// forward of `policy` over this microbatch must be the last one `ws` holds.
    func backwardLogProbs(_ policy: GPT, ws: GPTWorkspace, temperature: Float, dlogp: ArraySlice<Float>, heads: () -> Void = {}) {
        precondition(dlogp.count == rows.count)
        ws.zeroHiddenGrad()
        policy.tokenLogProbs(ws: ws, rows: rows, targets: targets, temperature: temperature, logp: nil, dlogp: Array(dlogp))
        heads()
        tokens.withUnsafeBufferPointer { policy.backward(tokens: $0.baseAddress!, ws: ws) }
    }

    /// The microbatch's rows cut in two, the first ⌈n/2⌉ rows and the rest, each with its response
    /// tokens (their entries of `rows`, `targets` and `slots`, in order, rows renumbered from its
    /// first row): the forward passes of a microbatch in two parts (`RolloutPasses`). Every
    /// sequence sits in one row, so the first part's entries followed by the second's are the
    /// microbatch's. The parts carry no `sequences`: the loss is computed on the whole microbatch.
    func halves() -> [RolloutMicroBatch] {
        precondition(n >= 2, "a microbatch of one row has no halves")
        let h = (n + 1) / 2, cutRow = Int32(h * T)
        let cut = rows.firstIndex { $0 >= cutRow } ?? rows.count
        func part(_ r: Range<Int>, _ entries: Range<Int>) -> RolloutMicroBatch {
            var mb = RolloutMicroBatch(n: r.count, T: T, tokens: Array(tokens[(r.lowerBound * T)..<(r.upperBound * T)]))
            let shift = Int32(r.lowerBound * T)
            mb.rows = rows[entries].map { $0 - shift }
            mb.targets = Array(targets[entries])
            mb.slots = Array(slots[entries])
            mb.branches = branches.map { Array($0[r]) }
            mb.seqStart = []
            return mb
        }
        return [part(0..<h, 0..<cut), part(h..<n, cut..<rows.count)]
    }
}
