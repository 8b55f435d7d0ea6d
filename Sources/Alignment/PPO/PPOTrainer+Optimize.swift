import Engine
import Foundation
import GPT

/// Running sums over the real tokens of one minibatch.
struct PPOSums {
    var tokens = 0.0
    var policyLoss = 0.0, valueLoss = 0.0
    var policyClipped = 0.0, valueClipped = 0.0
    var approxKL = 0.0, entropy = 0.0, ratio = 0.0

    /// The sums of every process of a data-parallel job.
    mutating func sum(_ reducer: GradientReducer) {
        guard reducer.size > 1 else { return }
        var v = [tokens, policyLoss, valueLoss, policyClipped, valueClipped, approxKL, entropy, ratio]
        reducer.sum(&v)
        (tokens, policyLoss, valueLoss, policyClipped, valueClipped) = (v[0], v[1], v[2], v[3], v[4])
        (approxKL, entropy, ratio) = (v[5], v[6], v[7])
    }
}

extension PPOTrainer {
    // MARK: - 6. PPO epochs

    /// `numPPOEpochs` passes over the rollout, each in a fresh order from (seed, iteration, epoch),
    /// one optimizer step per minibatch. Returns the minibatch metrics averaged.
    func optimize(iteration: Int, lr: Double, valueLR: Double) -> [String: Double] {
        var acc = MetricAccumulator()
        minibatchStats = []
        for epoch in 0..<config.numPPOEpochs {
            for minibatch in microBatches(iteration: iteration, epoch: epoch) {
                let stats = trainMinibatch(minibatch, lr: lr, valueLR: valueLR)
                minibatchStats.append(stats)
                for (k, v) in stats { acc.add(k, v) }
            }
        }
        return acc.means
    }

    /// The minibatches of PPO epoch `epoch`, each as its microbatches of sequence indices: the
    /// rollout in the order of `permutation(iteration:epoch:)`, cut into `miniBatchSize` pieces,
    /// each cut into `microBatchSize` pieces.
    func microBatches(iteration: Int, epoch: Int) -> [[[Int]]] {
        Minibatches.split(permutation(iteration: iteration, epoch: epoch), miniBatchSize: config.miniBatchSize,
                          microBatchSize: config.microBatchSize)
    }

    /// One optimizer step on the sequences of `micro` (its microbatches): the losses are means
    /// over all their real tokens (whatever the split), gradients accumulate over the microbatches.
    ///   loss = mean_t max(−A_t·ρ_t, −A_t·clip(ρ_t, 1±ε))  +  vfCoef · ½·mean_t max((V−R)², (V_c−R)²)
    func trainMinibatch(_ micro: [[Int]], lr: Double, valueLR: Double) -> [String: Double] {
        var s = PPOSums()
        var parts = [OptimizerStep.Part(model: policy, optimizer: policyOptimizer, lr: lr)]
        if let value, let valueOptimizer { parts.append(OptimizerStep.Part(model: value, optimizer: valueOptimizer, lr: valueLR)) }
        // Both losses are means over the minibatch's real response tokens. Each process of a
        // data-parallel job takes its share of every microbatch.
        OptimizerStep(parts: parts, reducer: reducer)
            .run(micro.map { reducer.share($0) }, count: { $0.reduce(0.0) { $0 + Double(rollout.length($1)) } }) { indices, scale in
                if !indices.isEmpty { trainMicrobatch(microBatch(indices), scale: Float(scale), sums: &s) }
            }
        s.sum(reducer)
        let N = max(s.tokens, 1)
        return [
            "loss/policy": s.policyLoss / N,
            "loss/value": s.valueLoss / N,
            "policy/clipfrac": s.policyClipped / N,
            "policy/approxkl": 0.5 * s.approxKL / N,
            "policy/entropy": s.entropy / N,
            "val/clipfrac": s.valueClipped / N,
            "val/ratio": s.ratio / N,
        ]
    }

    /// Forward, losses and backward of one microbatch; `scale` = 1 / (real tokens of the minibatch).
    /// A separate value model trains after the policy, or on small models (`valueBeside`) side by
    /// side with it, one core each, in a workspace of its own; its loss sums are the minibatch's
    /// running sums carried on apart, so the additions and their order are the same either way.
    func trainMicrobatch(_ batch: PPOMicroBatch, scale: Float, sums s: inout PPOSums) {
        guard let value, let valueWS else { return policyPass(batch, scale: scale, sums: &s) }
        var v = PPOSums()
        (v.valueLoss, v.valueClipped) = (s.valueLoss, s.valueClipped)
        Parallel.both(sideBySide: valueBeside, { policyPass(batch, scale: scale, sums: &s) },
                      { valuePass(value, ws: valueWS, batch: batch, scale: scale, sums: &v) })
        (s.valueLoss, s.valueClipped) = (v.valueLoss, v.valueClipped)
    }

    /// The policy's forward, loss and backward over a microbatch (with the shared trunk's value
    /// head when there is no separate value model).
    private func policyPass(_ batch: PPOMicroBatch, scale: Float, sums s: inout PPOSums) {
        // Policy: new log-probs, clipped surrogate, d loss / d log π (the shared policy-gradient pass).
        batch.policyGradient(policy, ws: ws, temperature: config.temperature, gradient: { newLogp, entropy in
            var dlogp = [Float](repeating: 0, count: newLogp.count)
            for k in 0..<newLogp.count {
                let i = batch.slots[k]
                let old = rollout.logprobs[i]
                let term = PPOMath.policyLoss(newLogp: newLogp[k], oldLogp: old, advantage: rollout.advantages[i], cliprange: config.cliprange)
                dlogp[k] = term.dLogp * scale
                let d = Double(newLogp[k]) - Double(old)
                s.tokens += 1
                s.policyLoss += Double(term.loss)
                s.policyClipped += term.clipped ? 1 : 0
                s.approxKL += d * d
                s.ratio += Double(term.ratio)
                s.entropy += Double(entropy[k])
            }
            return dlogp
        }, heads: {
            if value == nil {
                // Shared trunk: the value head's gradient joins the LM head's before one backward.
                let dv = valueLossGradient(model: policy, ws: ws, batch: batch, scale: scale, sums: &s)
                policy.scalarHeadBackward(ws: ws, dout: dv)
            }
        })
    }

    /// A separate value model's forward, clipped value loss and backward over a microbatch.
    private func valuePass(_ value: GPT, ws valueWS: GPTWorkspace, batch: PPOMicroBatch, scale: Float, sums s: inout PPOSums) {
        batch.forward(value, ws: valueWS)
        let dv = valueLossGradient(model: value, ws: valueWS, batch: batch, scale: scale, sums: &s)
        valueWS.zeroHiddenGrad()
        value.scalarHeadBackward(ws: valueWS, dout: dv)
        batch.tokens.withUnsafeBufferPointer { value.backward(tokens: $0.baseAddress!, ws: valueWS) }
    }

    /// Value predictions of the last forward of `model` at the response rows, the clipped value
    /// loss, and d(vfCoef · loss)/dV as a (n·T) array (zero off the response rows).
    func valueLossGradient(model: GPT, ws: GPTWorkspace, batch: PPOMicroBatch, scale: Float, sums s: inout PPOSums) -> [Float] {
        var v = [Float](repeating: 0, count: batch.n * batch.T)
        var dv = v
        model.scalarHead(ws: ws, out: &v)
        let coef = Float(config.vfCoef) * scale
        for k in 0..<batch.rows.count {
            let row = Int(batch.rows[k]), i = batch.slots[k]
            let term = PPOMath.valueLoss(value: v[row], oldValue: rollout.values[i], ret: rollout.returns[i], cliprange: config.cliprangeValue)
            dv[row] = coef * term.dValue
            s.valueLoss += Double(term.loss)
            s.valueClipped += term.clipped ? 1 : 0
        }
        return dv
    }
}
