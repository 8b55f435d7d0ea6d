import Engine
import Foundation
import GPT

/// PPO's microbatches are the shared plain layout (one sequence per row, rows of the rollout's T).
typealias PPOMicroBatch = RolloutMicroBatch

extension PPOTrainer {
    func microBatch(_ indices: [Int]) -> PPOMicroBatch {
        .plain(rollout, indices, T: rollout.T, pad: pad)
    }

    // MARK: - 1. Rollout

    /// Samples up to `responseLength` tokens per prompt at `temperature`, each sequence from its
    /// own stream (seed, iteration, index); generation of a sequence stops after `stopToken`.
    /// The processes of a data-parallel job each sample their share of the prompts (on the same
    /// streams, so the same tokens as one process) and then all get every response.
    func sample(_ prompts: [[Int32]], iteration: Int) -> [[Int32]] {
        let mine = reducer.share(prompts.count)
        let local = generator.sampleResponses(Array(prompts[mine]), temperature: config.temperature, maxNewTokens: config.responseLength, stopToken: config.stopToken) {
            samplingRNG(iteration: iteration, index: mine.lowerBound + $0)
        }.map(\.tokens)
        return reducer.gather(local, total: prompts.count)
    }

    /// Steps 2–5 on given responses (the sampled ones, or hand-made ones in tests): truncation at
    /// EOS, scores, log-probs and values, rewards, advantages. Fills `rollout` and returns the
    /// rollout's `objective/…` and `val/…` metrics.
    @discardableResult
    public func makeRollout(prompts: [[Int32]], responses: [[Int32]]) -> [String: Double] {
        let n = prompts.count, L = rollout.L
        rollout.load(prompts: prompts, responses: responses, stopToken: config.stopToken, promptRoom: policy.config.context - L)
        precondition(rollout.T <= maxT, "prompt + response of \(rollout.T) tokens exceeds the workspace length \(maxT)")

        // 2. Score prompt + postprocessed response; missing-EOS penalty; clip.
        rollout.score(with: reward, stopToken: config.stopToken, missingEOSPenalty: config.missingEOSPenalty,
                      mode: config.missingEOSMode, clip: config.scoreClip, reducer: reducer)

        // 3. Log-probs of π_old and π_ref, values.
        forwardRollout()

        // 4. Rewards: −β·KL_t on every real token, the score added at the last one. Every process
        // of a data-parallel job holds the whole rollout from here on, so the whitening, the
        // advantages, the statistics and the KL controller are those of the global batch.
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
    /// The processes of a data-parallel job each take their share of every microbatch (as in
    /// training, so the ratio stays exactly 1) and then all get every value.
    func forwardRollout() {
        var written: [Int] = []
        for group in microBatches(iteration: iteration, epoch: 0).joined() {
            let mine = reducer.share(group)
            if mine.isEmpty { continue }
            let batch = microBatch(mine)
            if reducer.size > 1 { written += batch.slots }
            // On small models a separate value model runs side by side with the policy, one core
            // each (`valueBeside`, as in `trainMicrobatch`); the reference follows on both cores.
            Parallel.both(sideBySide: valueBeside, {
                let lp = batch.logProbs(policy, ws: ws, temperature: config.temperature)
                for (k, i) in batch.slots.enumerated() { rollout.logprobs[i] = lp[k] }
                if value == nil { readValues(policy, ws: ws, batch: batch) }
            }, {
                guard let value, let valueWS else { return }
                batch.forward(value, ws: valueWS)
                readValues(value, ws: valueWS, batch: batch)
            })
            let ref = batch.logProbs(reference, ws: ws, temperature: config.temperature)
            for (k, i) in batch.slots.enumerated() { rollout.refLogprobs[i] = ref[k] }
        }
        if reducer.size > 1 {
            var arrays = [rollout.logprobs, rollout.refLogprobs, rollout.values]
            reducer.gather(&arrays, slots: written, count: rollout.count * rollout.L)
            rollout.logprobs = arrays[0]; rollout.refLogprobs = arrays[1]; rollout.values = arrays[2]
        }
    }

    /// V(s_t) of every response token of `batch` from the scalar head of `model`'s last forward.
    func readValues(_ model: GPT, ws: GPTWorkspace, batch: PPOMicroBatch) {
        var head = [Float](repeating: 0, count: batch.n * batch.T)
        model.scalarHead(ws: ws, out: &head)
        for (k, i) in batch.slots.enumerated() { rollout.values[i] = head[Int(batch.rows[k])] }
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
