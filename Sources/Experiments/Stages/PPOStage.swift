import Alignment
import Data
import Engine
import Foundation
import GPT

extension ExperimentRunner {
    /// RLHF with PPO from the SFT policy against the trained reward model (or the gold judge).
    func runPPO() throws -> [String: Double] {
        guard let stage = config.ppo else { return [:] }
        let start = try onlineStart(for: .ppo)
        let sft = start.sft
        var cfg = stage.trainer
        cfg.stopToken = start.tok.eosId
        cfg.responseLength = min(cfg.responseLength, config.model.context - config.data.maxPromptTokens)
        let reward = try onlineReward(stage.reward, stage: .ppo, start: start)
        var value: GPT? = nil
        if cfg.valueModel == .separate {
            // The value function starts from the reward model (the papers' choice), or, with the
            // gold judge as the reward, from the SFT trunk under a fresh head.
            if let scorer = reward as? RewardModelScorer {
                value = GPT(copying: scorer.model, dropout: 0)
            } else {
                value = RewardModelTrainer.initialize(from: sft, seed: config.seed ^ 0x5EED)
            }
        }
        let policy: GPT
        if cfg.valueModel == .shared {
            var c = sft.config
            c.scalarHead = true
            policy = GPT(config: c, seed: config.seed)
            policy.copyMatchingTensors(from: sft)
        } else {
            policy = GPT(copying: sft)
        }
        let trainer = PPOTrainer(policy: policy, reference: sft, value: value, reward: reward, prompts: start.prompts, config: cfg,
                                 pad: start.tok.padId, seed: config.seed)
        trainer.decode = { [tok = start.tok] ids in tok.decode(ids.filter { $0 != tok.padId }) }
        let ckRoot = run.checkpoints("ppo")
        _ = try resumeFromCheckpoint(.ppo, restore: trainer.restore(from:)) { trainer.iteration }
        progress.message(String(format: "[ppo] reward %@, value model %@, memory %.0f MB", reward.name, cfg.valueModel.rawValue, Double(trainer.memoryBytes) / 1e6))
        let h = hooks(stage: .ppo, total: cfg.iterations, keys: ["objective/scores", "objective/kl", "policy/clipfrac"]) { step in
            try CheckpointStore.save(root: ckRoot, step: step) { try trainer.save(to: $0) }
        }
        // The gold judge of the built-in task watches the samples the reward model scores.
        let watched = watching(h, stage: .ppo, keys: ("objective/kl", "objective/entropy", "response_length", "objective/scores"),
                               judge: goldWatch(start) { trainer.rollout })
        trainer.hooks = snapshotting(watched, every: stage.snapshotEvery, name: "ppo") { trainer.policy }
        let t0 = Clock.now()
        let last = try trainer.run()
        try checkStopped(.ppo, step: trainer.iteration)
        // The saved policy is an LM without the value head (the head, when shared, is dropped).
        try savePolicy(trainer.policy, as: .ppo, trained: start.trained)
        var s: [String: Double] = ["iterations": Double(trainer.iteration), "train_seconds": Clock.now() - t0,
                                   "memory_bytes": Double(trainer.memoryBytes),
                                   "cost/judge_calls": Double(trainer.iteration * cfg.rolloutBatchSize)]
        for k in ["objective/scores", "objective/kl", "objective/rlhf_reward", "tokens_per_s", "response_length"] { if let v = last[k] { s[k] = v } }
        s.merge(watchSummary) { _, new in new }
        return s
    }
}
