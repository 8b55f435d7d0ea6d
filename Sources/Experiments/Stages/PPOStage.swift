import Alignment
import Data
import Engine
import Foundation
import GPT

extension ExperimentRunner {
    /// RLHF with PPO from the SFT policy against the trained reward model (or the gold judge).
    func runPPO() throws -> [String: Double] {
        guard let stage = config.ppo else { return [:] }
        let tok = try tokenizer
        let trained = try requireModel("sft", for: .ppo)
        // PPO runs policy, reference and value model with dropout off, whatever model.dropout the
        // earlier stages trained with (TRL's `disable_dropout`): the rollout's log-probs and values
        // must be the ones the update differentiates.
        let sft = trained.config.dropout == 0 ? trained : GPT(copying: trained, dropout: 0)
        let d = try data
        var cfg = stage.trainer
        cfg.stopToken = tok.eosId
        cfg.responseLength = min(cfg.responseLength, config.model.context - config.data.maxPromptTokens)
        // Prompts: the train split's queries.
        let texts = d.trainPosts.isEmpty ? d.sftTrain.map(\.prompt) : d.trainPosts.map(\.query)
        let prompts = try texts.map(tokenizePrompt)
        let reward: RewardFunction
        var value: GPT? = nil
        switch stage.reward {
        case "gold":
            guard d.hasGoldJudge else {
                throw UserError("\(config.file): ppo.reward: \"gold\" needs the built-in task's judge (data.task \"tldr-synth\"); use \"reward_model\"")
            }
            var map: [[Int32]: Post] = [:]
            for (p, post) in zip(prompts, d.trainPosts) { map[p] = post }
            reward = GoldReward(posts: map) { [tok] ids in tok.decode(ids.filter { $0 != tok.eosId && $0 != tok.padId }) }
            if cfg.valueModel == .separate {
                // No reward model to start the value function from: start it from the SFT trunk.
                value = RewardModelTrainer.initialize(from: sft, seed: config.seed ^ 0x5EED)
            }
        default:
            guard let scorer = try loadRewardScorer() else {
                throw UserError("\(config.file): ppo.reward is \"reward_model\" but no models/reward_model.safetensors exists; add the reward_model stage or init_from a run that has it")
            }
            reward = scorer
            if cfg.valueModel == .separate { value = GPT(copying: scorer.model, dropout: 0) }
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
        let trainer = PPOTrainer(policy: policy, reference: sft, value: value, reward: reward, prompts: prompts, config: cfg, pad: tok.padId, seed: config.seed)
        trainer.decode = { [tok] ids in tok.decode(ids.filter { $0 != tok.padId }) }
        let ckRoot = run.checkpoints("ppo")
        _ = try resumeFromCheckpoint(.ppo, restore: trainer.restore(from:)) { trainer.iteration }
        progress.message(String(format: "[ppo] reward %@, value model %@, memory %.0f MB", reward.name, cfg.valueModel.rawValue, Double(trainer.memoryBytes) / 1e6))
        let h = hooks(stage: .ppo, total: cfg.iterations, keys: ["objective/scores", "objective/kl", "policy/clipfrac"]) { step in
            try CheckpointStore.save(root: ckRoot, step: step) { try trainer.save(to: $0) }
        }
        // The gold judge of the built-in task watches the samples the reward model scores.
        var posts: [[Int32]: Post] = [:]
        if d.hasGoldJudge { for (p, post) in zip(prompts, d.trainPosts) { posts[p] = post } }
        let judge: (() -> Double?)? = posts.isEmpty ? nil : { [tok] in
            let r = trainer.rollout, judge = GoldJudge()
            var sum = 0.0, n = 0
            for b in 0..<r.count {
                guard let post = posts[r.prompts[b]] else { continue }
                sum += judge.score(post: post, summary: tok.decode(r.responses[b].filter { $0 != tok.eosId && $0 != tok.padId }))
                n += 1
            }
            return n > 0 ? sum / Double(n) : nil
        }
        let watched = watching(h, stage: .ppo, keys: ("objective/kl", "objective/entropy", "response_length", "objective/scores"), judge: judge)
        trainer.hooks = snapshotting(watched, every: stage.snapshotEvery, name: "ppo") { trainer.policy }
        let t0 = Clock.now()
        let last = try trainer.run()
        try checkStopped(.ppo, step: trainer.iteration)
        // The saved policy is an LM without the value head (the head, when shared, is dropped).
        let out = GPT(config: trained.config, seed: 0)
        out.copyMatchingTensors(from: trainer.policy)
        try out.save(to: run.model("ppo"))
        var s: [String: Double] = ["iterations": Double(trainer.iteration), "train_seconds": Clock.now() - t0,
                                   "memory_bytes": Double(trainer.memoryBytes),
                                   "cost/judge_calls": Double(trainer.iteration * cfg.rolloutBatchSize)]
        for k in ["objective/scores", "objective/kl", "objective/rlhf_reward", "tokens_per_s", "response_length"] { if let v = last[k] { s[k] = v } }
        s.merge(watchSummary) { _, new in new }
        return s
    }
}
