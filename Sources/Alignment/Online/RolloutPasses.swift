import Engine
import GPT

/// Where a group method runs its forward and backward passes over a microbatch. With weights of at
/// most `Generator.rowGroupWeightBytes` (the tiny and small shapes), a microbatch of two or more
/// rows runs as two halves side by side, one worker each with every kernel inside on its thread
/// (`Parallel.independentTasks`), in a workspace of its own; the second half's backward adds into
/// a second gradient buffer over the policy's weights (`GPT(sharingParametersOf:)`), which is added
/// into the policy's after each microbatch. At these shapes a pass's products and element-wise
/// kernels are too small to be shared well by two cores inside each call: a training step at one
/// thread does about 0.7 of the machine's one-thread sgemm, at two threads about 0.65 of its
/// two-thread sgemm, with the element-wise work barely faster (`rlhf bench --parts train --threads
/// 1` against `--threads 2`). Larger models keep one workspace and split each product between the
/// cores, as their decode steps do: two halves would stream the weights twice, and the second
/// gradient buffer would cost as much as the weights.
///
/// Whether a microbatch is halved depends on the model and the microbatch only, never on the
/// thread count: on one thread the halves run one after the other and give the same bits.
final class RolloutPasses {
    let policy: GPT
    /// One workspace, or one per half.
    let workspaces: [GPTWorkspace]
    /// The second half's gradients (nil: microbatches are not halved).
    let sibling: GPT?

    /// For microbatches of up to `rows` rows of up to `maxT` tokens.
    init(policy: GPT, rows: Int, maxT: Int) {
        self.policy = policy
        if Self.halves(policy.config, rows: rows) {
            workspaces = [GPTWorkspace(config: policy.config, maxB: (rows + 1) / 2, maxT: maxT),
                          GPTWorkspace(config: policy.config, maxB: rows / 2, maxT: maxT)]
            let s = GPT(sharingParametersOf: policy)
            s.enableGrads()
            sibling = s
        } else {
            workspaces = [GPTWorkspace(config: policy.config, maxB: rows, maxT: maxT)]
            sibling = nil
        }
    }

    /// Whether microbatches of up to `rows` rows of a model of `config` run as two halves.
    static func halves(_ config: GPTConfig, rows: Int) -> Bool { rows >= 2 && sideBySide(config) }

    /// Whether passes of a model of `config` are small enough to gain from running two of them side
    /// by side, one core each, rather than one after the other with every product split between the
    /// cores: the two halves of a microbatch here, PPO's policy and value passes.
    static func sideBySide(_ config: GPTConfig) -> Bool { ParameterLayout(config).count * 4 <= Generator.rowGroupWeightBytes }

    /// Bytes of the workspaces, their LM heads' scratch and the second gradient buffer.
    var bytes: Int {
        let c = policy.config
        return workspaces.reduce(0) { $0 + $1.bytes + TokenLogProbs.scratchCount(V: c.vocabSize, C: c.nEmbd) * 4 }
            + (sibling?.parameterCount ?? 0) * 4
    }

    /// The batch's parts: its halves when it has two or more rows and halves are kept.
    private func parts(_ batch: RolloutMicroBatch) -> [RolloutMicroBatch] {
        sibling != nil && batch.n >= 2 ? batch.halves() : [batch]
    }

    /// Log-probs of the response tokens under `model` (the reference, or the policy before an
    /// update), in the batch's order.
    func logProbs(_ batch: RolloutMicroBatch, _ model: GPT, temperature: Float) -> [Float] {
        let parts = parts(batch)
        if parts.count == 1 { return batch.logProbs(model, ws: workspaces[0], temperature: temperature) }
        var out = [[Float]](repeating: [], count: 2)
        out.withUnsafeMutableBufferPointer { out in
            Parallel.independentTasks(2) { h in out[h] = parts[h].logProbs(model, ws: workspaces[h], temperature: temperature) }
        }
        return out[0] + out[1]
    }

    /// `RolloutMicroBatch.policyGradient` over the batch's parts: both forwards, then
    /// `gradient(logp, entropy)` on the whole batch's tokens, then both backwards; the policy's
    /// gradients hold the sum of the parts' after it (the first part's added first).
    func policyGradient(_ batch: RolloutMicroBatch, temperature: Float, gradient: (_ logp: [Float], _ entropy: [Float]) -> [Float]) {
        let parts = parts(batch)
        guard parts.count == 2, let sibling, let g = policy.grads, let sg = sibling.grads else {
            batch.policyGradient(policy, ws: workspaces[0], temperature: temperature, gradient: gradient)
            return
        }
        let models = [policy, sibling]
        var forward = [(logp: [Float], entropy: [Float])](repeating: ([], []), count: 2)
        forward.withUnsafeMutableBufferPointer { out in
            Parallel.independentTasks(2) { h in out[h] = parts[h].forwardLogProbs(models[h], ws: workspaces[h], temperature: temperature) }
        }
        let dlogp = gradient(forward[0].logp + forward[1].logp, forward[0].entropy + forward[1].entropy)
        precondition(dlogp.count == batch.rows.count)
        let cut = parts[0].rows.count
        Parallel.independentTasks(2) { h in
            parts[h].backwardLogProbs(models[h], ws: workspaces[h], temperature: temperature,
                                      dlogp: h == 0 ? dlogp[..<cut] : dlogp[cut...])
        }
        Residual.forward(out: g.pointer, a: g.pointer, b: sg.pointer, n: g.count)
        sibling.zeroGrad()
    }
}
