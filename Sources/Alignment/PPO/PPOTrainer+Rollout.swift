import Engine
import Foundation
import GPT

/// Sequences of the rollout laid out for one forward pass: (n, T) right-padded tokens, and for
/// every real response token its LM-head row, its id and its slot b·L + t in the rollout arrays.
/// Response token t of sequence j sits at position P_j + t; it is predicted at row j·T + P_j + t − 1,
/// which is also where V(s_t) is read (the last token of the context before it).
struct PPOMicroBatch {
    let n: Int
    let T: Int
    var tokens: [Int32]
    var rows: [Int32] = []
    var targets: [Int32] = []
    var slots: [Int] = []
}

extension PPOTrainer {
    func microBatch(_ indices: [Int]) -> PPOMicroBatch {
        let T = rollout.T, L = rollout.L
        var mb = PPOMicroBatch(n: indices.count, T: T, tokens: [Int32](repeating: pad, count: indices.count * T))
        for (j, b) in indices.enumerated() {
            let p = rollout.prompts[b], r = rollout.responses[b]
            for (t, tok) in p.enumerated() { mb.tokens[j * T + t] = tok }
            for (t, tok) in r.enumerated() {
                mb.tokens[j * T + p.count + t] = tok
                mb.rows.append(Int32(j * T + p.count + t - 1))
                mb.targets.append(tok)
                mb.slots.append(b * L + t)
            }
        }
        return mb
    }

    // MARK: - 1. Rollout

    /// Samples up to `responseLength` tokens per prompt at `temperature`, each sequence from its
    /// own stream (seed, iteration, index); generation of a sequence stops after `stopToken`.
    func sample(_ prompts: [[Int32]], iteration: Int) -> [[Int32]] {
        var rngs = (0..<prompts.count).map { samplingRNG(iteration: iteration, index: $0) }
        let options = SamplingOptions(temperature: config.temperature, maxNewTokens: config.responseLength, eosId: config.stopToken)
        return generator.generate(prompts: prompts, options: options, rngs: &rngs).map(\.tokens)
    }

    /// Steps 2–5 on given responses (the sampled ones, or hand-made ones in tests): truncation at
    /// EOS, scores, log-probs and values, rewards, advantages. Fills `rollout` and returns the
    /// rollout's `objective/…` and `val/…` metrics.
    @discardableResult
    public func makeRollout(prompts: [[Int32]], responses: [[Int32]]) -> [String: Double] {
        precondition(prompts.count == responses.count && !prompts.isEmpty && prompts.count <= rollout.capacity,
                     "a rollout holds 1...\(rollout.capacity) (prompt, response) pairs")
        let n = prompts.count, L = rollout.L
        let room = policy.config.context - L
        rollout.count = n
        rollout.prompts = prompts.map { $0.count > room ? Array($0.suffix(room)) : $0 }
        let cut = responses.map { PPORollout.truncate($0, stopToken: config.stopToken, maxLength: L) }
        precondition(cut.allSatisfy { !$0.tokens.isEmpty }, "every response needs at least one token")
        rollout.responses = cut.map(\.tokens)
        rollout.endedWithEOS = cut.map(\.endedWithEOS)
        rollout.T = (0..<n).map { rollout.prompts[$0].count + rollout.responses[$0].count }.max()!
        precondition(rollout.T <= maxT, "prompt + response of \(rollout.T) tokens exceeds the workspace length \(maxT)")
        for b in 0..<rollout.capacity {
            for t in 0..<L { rollout.mask[b * L + t] = b < n && t < rollout.responses[b].count }
        }

        // 2. Score prompt + postprocessed response; missing-EOS penalty; clip.
        rollout.rawScores = reward.scores(prompts: rollout.prompts, responses: rollout.responses)
        precondition(rollout.rawScores.count == n, "reward function \(reward.name) returned \(rollout.rawScores.count) scores for \(n) responses")
        let penalty = config.stopToken == nil ? nil : config.missingEOSPenalty
        rollout.scores = (0..<n).map {
            PPORollout.finalScore(rollout.rawScores[$0], endedWithEOS: rollout.endedWithEOS[$0], penalty: penalty,
                                  mode: config.missingEOSMode, clip: config.scoreClip)
        }

        // 3. Log-probs of π_old and π_ref, values.
        forwardRollout()

        // 4. Rewards: −β·KL_t on every real token, the score added at the last one.
        let beta = Float(kl.value)
        for i in 0..<rollout.mask.count {
            if rollout.mask[i] {
                let k = PPOMath.kl(logp: rollout.logprobs[i], refLogp: rollout.refLogprobs[i], estimator: config.klEstimator)
                rollout.kl[i] = k
                rollout.rewards[i] = -beta * k
            } else {
                rollout.logprobs[i] = 0; rollout.refLogprobs[i] = 0; rollout.values[i] = 0
                rollout.kl[i] = 0; rollout.rewards[i] = 0
            }
        }
        for b in 0..<n { rollout.rewards[b * L + rollout.responses[b].count - 1] += rollout.scores[b] }
        if config.whitenRewards { rollout.rewards = PPOMath.whiten(rollout.rewards, mask: rollout.mask, shiftMean: false) }

        // 5. Advantages (GAE, then whitened over the real tokens) and returns.
        let (adv, ret) = PPOMath.gae(rewards: rollout.rewards, values: rollout.values, mask: rollout.mask, L: L,
                                     gamma: config.gamma, lam: config.lam)
        rollout.returns = ret
        rollout.advantages = PPOMath.whiten(adv, mask: rollout.mask, shiftMean: true)
        return rolloutMetrics(beta: Double(beta))
    }

    /// Batched forwards over the rollout: log π_old and log π_ref of every response token
    /// (logits / temperature) and V(s_t) from the value model or the policy's head. The
    /// microbatches are those of the first PPO epoch (same sequences, order and T), so the first
    /// minibatch's training forward repeats these computations bit for bit: its ratio is exactly 1.
    func forwardRollout() {
        for group in microBatches(iteration: iteration, epoch: 0).joined() {
            let batch = microBatch(group)
            var lp = [Float](repeating: 0, count: batch.rows.count)
            var head = [Float](repeating: 0, count: batch.n * batch.T)
            batch.tokens.withUnsafeBufferPointer { tk in
                let tokens = tk.baseAddress!
                policy.forward(tokens: tokens, B: batch.n, T: batch.T, ws: ws)
                policy.tokenLogProbs(ws: ws, rows: batch.rows, targets: batch.targets, temperature: config.temperature, logp: &lp)
                for (k, i) in batch.slots.enumerated() { rollout.logprobs[i] = lp[k] }
                if value == nil {
                    policy.scalarHead(ws: ws, out: &head)
                    for (k, i) in batch.slots.enumerated() { rollout.values[i] = head[Int(batch.rows[k])] }
                }
                reference.forward(tokens: tokens, B: batch.n, T: batch.T, ws: ws)
                reference.tokenLogProbs(ws: ws, rows: batch.rows, targets: batch.targets, temperature: config.temperature, logp: &lp)
                for (k, i) in batch.slots.enumerated() { rollout.refLogprobs[i] = lp[k] }
                if let value, let valueWS {
                    value.forward(tokens: tokens, B: batch.n, T: batch.T, ws: valueWS)
                    value.scalarHead(ws: valueWS, out: &head)
                    for (k, i) in batch.slots.enumerated() { rollout.values[i] = head[Int(batch.rows[k])] }
                }
            }
        }
    }

    /// TRL's rollout statistics: per-sequence sums over response tokens, averaged over sequences.
    func rolloutMetrics(beta: Double) -> [String: Double] {
        let n = rollout.count, N = Double(n)
        var klSum = 0.0, entropySum = 0.0, scoreSum = 0.0, lengthSum = 0.0, eos = 0.0
        for b in 0..<n {
            klSum += rollout.rowSum(rollout.kl, b)
            entropySum -= rollout.rowSum(rollout.logprobs, b)
            scoreSum += Double(rollout.scores[b])
            lengthSum += Double(rollout.responses[b].count)
            if rollout.endedWithEOS[b] { eos += 1 }
        }
        let nonScore = -beta * klSum / N
        return [
            "objective/kl": klSum / N,
            "objective/entropy": entropySum / N,
            "objective/non_score_reward": nonScore,
            "objective/scores": scoreSum / N,
            "objective/rlhf_reward": scoreSum / N + nonScore,
            "objective/kl_coef": kl.value,
            "val/num_eos_tokens": eos,
            "val/explained_variance": PPOMath.explainedVariance(values: rollout.values, returns: rollout.returns, mask: rollout.mask),
            "response_length": lengthSum / N,
        ]
    }
}
