import Engine
import Foundation
import GPT

extension PPOTrainer {
    // MARK: - Models

    /// The models of a PPO run from an SFT model and (for `.separate`) a reward model with a
    /// scalar head: the policy (a copy of the SFT model; with a fresh scalar head for `.shared`),
    /// the frozen reference (a copy of the SFT model), and the value model (a copy of the reward
    /// model, head included, as Huang et al. 2024 and TRL; nil for `.shared`).
    public static func makeModels(sft: GPT, rewardModel: GPT?, valueModel kind: ValueModelKind, seed: UInt64)
        -> (policy: GPT, reference: GPT, value: GPT?) {
        // Dropout off in all three, whatever the SFT model was trained with (TRL's `disable_dropout`):
        // the rollout's log-probs and values must be the ones the update differentiates.
        let reference = GPT(copying: sft, dropout: 0)
        switch kind {
        case .separate:
            guard let rm = rewardModel, rm.config.scalarHead else { preconditionFailure("a separate value model is initialized from a reward model with a scalar head") }
            return (GPT(copying: sft, dropout: 0), reference, GPT(copying: rm, dropout: 0))
        case .shared:
            var c = sft.config
            c.scalarHead = true
            c.dropout = 0
            let policy = GPT(config: c, seed: seed)
            policy.copyMatchingTensors(from: sft)
            return (policy, reference, nil)
        }
    }

    // MARK: - Memory

    /// Bytes held by the trainer, by part: the models' parameters (+ gradients and Adam moments
    /// for the trained ones), the forward workspaces (one microbatch each, plus the LM head's
    /// chunk scratch), the generator's KV cache, the rollout buffer, and the reward model when it
    /// is a `RewardModelScorer`.
    public var memoryBreakdown: [String: Int] {
        func lmScratch(_ c: GPTConfig) -> Int { TokenLogProbs.scratchCount(V: c.vocabSize, C: c.nEmbd) * 4 }
        var m: [String: Int] = [:]
        m["policy"] = policy.parameterCount * 4 * 4
        m["reference"] = reference.parameterCount * 4
        if let value { m["value"] = value.parameterCount * 4 * 4 }
        m["workspaces"] = ws.bytes + lmScratch(policy.config) + (valueWS.map { $0 === ws ? 0 : $0.bytes } ?? 0)
        m["generator"] = generator.bytes
        m["rollout"] = rollout.capacity * rollout.L * (7 * 4 + 1) + rollout.capacity * maxT * 4 * 2
        if let rm = reward as? RewardModelScorer { m["reward_model"] = rm.model.parameterCount * 4 + (rm.ws?.bytes ?? 0) + lmScratch(rm.model.config) }
        return m
    }

    /// Total of `memoryBreakdown`, in bytes.
    public var memoryBytes: Int { memoryBreakdown.values.reduce(0, +) }

    // MARK: - Checkpoints

    struct State: Codable {
        var iteration: Int
        var kl: KLController
        var tokensSeen: Double
        var timeSpent: Double
        enum CodingKeys: String, CodingKey { case iteration, kl = "kl_controller", tokensSeen = "tokens_seen", timeSpent = "time_spent" }
    }

    /// Writes the policy, the value model, both optimizers and the controller state into `dir`.
    /// Random streams derive from (seed, iteration), so nothing else is needed to resume exactly.
    public func save(to dir: URL) throws {
        try policy.save(to: dir.appendingPathComponent("policy.safetensors"))
        try policyOptimizer.save(to: dir.appendingPathComponent("policy_optimizer.safetensors"))
        if let value, let valueOptimizer {
            try value.save(to: dir.appendingPathComponent("value.safetensors"))
            try valueOptimizer.save(to: dir.appendingPathComponent("value_optimizer.safetensors"))
        }
        try CheckpointStore.writeJSON(State(iteration: iteration, kl: kl, tokensSeen: tokensSeen, timeSpent: timeSpent),
                                      to: dir.appendingPathComponent("state.json"))
    }

    /// Restores what `save(to:)` wrote; the trainer must have been built with the same config and models' shapes.
    public func restore(from dir: URL) throws {
        try GPT.loadBuffer(policy.params, layout: policy.layout, from: dir.appendingPathComponent("policy.safetensors"))
        try policyOptimizer.load(from: dir.appendingPathComponent("policy_optimizer.safetensors"))
        let valueURL = dir.appendingPathComponent("value.safetensors")
        let hasValue = FileManager.default.fileExists(atPath: valueURL.path)
        if let value, let valueOptimizer {
            guard hasValue else {
                throw CheckpointError("checkpoint \(dir.path): no value.safetensors; it was written by a run with a shared value head (value_model \"shared\"), this one uses a separate value model")
            }
            try GPT.loadBuffer(value.params, layout: value.layout, from: valueURL)
            try valueOptimizer.load(from: dir.appendingPathComponent("value_optimizer.safetensors"))
        } else if hasValue {
            throw CheckpointError("checkpoint \(dir.path): it holds a separate value model (value_model \"separate\"), this run uses the policy's value head (\"shared\"); resume with the config it was written with")
        }
        let stateURL = dir.appendingPathComponent("state.json")
        let s = try CheckpointStore.readJSON(State.self, from: stateURL)
        try CheckpointStore.checkStep(s.iteration, key: "iteration", total: config.iterations, totalName: "ppo.steps", in: stateURL)
        iteration = s.iteration
        kl = s.kl
        tokensSeen = s.tokensSeen
        timeSpent = s.timeSpent
    }
}
