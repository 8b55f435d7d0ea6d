import Alignment
import Data
import Engine
import Foundation
import GPT
import Tokenizer

/// What every online method (PPO, GRPO, RLOO, online DPO) starts from: the SFT policy, run without
/// dropout (TRL's `disable_dropout`: the samples' log-probs must be the ones the update
/// differentiates), the train split's prompts, and the posts behind them for the gold judge.
struct OnlineStart {
    let tok: BPETokenizer
    /// The SFT model as saved (its config is the one the trained policy is saved with).
    let trained: GPT
    /// The same weights with dropout off: the reference, and what the policy is copied from.
    let sft: GPT
    let prompts: [[Int32]]
    /// Prompt → post, on the built-in task (the gold judge and the simulated labelers need the post).
    let posts: [[Int32]: Post]

    /// A completion's text for judges: EOS and padding dropped.
    func text(_ ids: [Int32]) -> String { tok.decode(ids.filter { $0 != tok.eosId && $0 != tok.padId }) }
}

/// GRPO and RLOO as the runner drives them (the same life cycle, different advantages).
protocol GroupPolicyTrainer: AnyObject {
    var policy: GPT { get }
    var step: Int { get }
    var hooks: TrainingHooks { get set }
    var decode: ([Int32]) -> String { get set }
    var memoryBytes: Int { get }
    var rollout: RolloutBuffer { get }
    func run() throws -> [String: Double]
    func save(to dir: URL) throws
    func restore(from dir: URL) throws
}

extension GRPOTrainer: GroupPolicyTrainer {}
extension RLOOTrainer: GroupPolicyTrainer {}

extension ExperimentRunner {
    func onlineStart(for stage: Stage) throws -> OnlineStart {
        let tok = try tokenizer
        let trained = try requireModel("sft", for: stage)
        let sft = trained.config.dropout == 0 ? trained : GPT(copying: trained, dropout: 0)
        let d = try data
        let texts = d.trainPosts.isEmpty ? d.sftTrain.map(\.prompt) : d.trainPosts.map(\.query)
        let prompts = try texts.map(tokenizePrompt)
        var posts: [[Int32]: Post] = [:]
        if d.hasGoldJudge { for (p, post) in zip(prompts, d.trainPosts) { posts[p] = post } }
        return OnlineStart(tok: tok, trained: trained, sft: sft, prompts: prompts, posts: posts)
    }

    /// The reward an online method optimises: "reward_model" (the trained one, with its
    /// normalization bias) or "gold" (the built-in task's judge: PPO-GT).
    func onlineReward(_ choice: String, stage: Stage, start: OnlineStart) throws -> RewardFunction {
        if choice == "gold" {
            guard !start.posts.isEmpty else {
                throw UserError("\(config.file): \(stage.rawValue).reward: \"gold\" needs the built-in task's judge (data.task \"tldr-synth\"); use \"reward_model\"")
            }
            return GoldReward(posts: start.posts, decode: start.text)
        }
        guard let scorer = try loadRewardScorer() else {
            throw UserError("\(config.file): \(stage.rawValue) scores with \"reward_model\" but no models/reward_model.safetensors exists; add the reward_model stage or init_from a run that has it")
        }
        return scorer
    }

    /// The gold judge's mean score of a rollout's samples, for the reward-hacking watch (nil
    /// without the built-in task's posts).
    func goldWatch(_ start: OnlineStart, rollout: @escaping () -> RolloutBuffer) -> (() -> Double?)? {
        guard !start.posts.isEmpty else { return nil }
        let judge = GoldJudge()
        return {
            let r = rollout()
            var sum = 0.0, n = 0
            for b in 0..<r.count {
                guard let post = start.posts[r.prompts[b]] else { continue }
                sum += judge.score(post: post, summary: start.text(r.responses[b]))
                n += 1
            }
            return n > 0 ? sum / Double(n) : nil
        }
    }

    /// Writes a trained policy as an LM of the SFT model's config (a value head, if any, dropped).
    func savePolicy(_ policy: GPT, as stage: Stage, trained: GPT) throws {
        let out = GPT(config: trained.config, seed: 0)
        out.copyMatchingTensors(from: policy)
        try out.save(to: run.model(stage.rawValue))
    }

    // MARK: - GRPO, RLOO

    func runGRPO() throws -> [String: Double] {
        guard let stage = config.grpo else { return [:] }
        let start = try onlineStart(for: .grpo)
        var cfg = stage.trainer
        cfg.stopToken = start.tok.eosId
        cfg.maxCompletionLength = min(cfg.maxCompletionLength, config.model.context - config.data.maxPromptTokens)
        let reward = try onlineReward(stage.reward, stage: .grpo, start: start)
        let trainer = GRPOTrainer(policy: GPT(copying: start.sft), reference: cfg.beta > 0 ? start.sft : nil, reward: reward,
                                  prompts: start.prompts, config: cfg, pad: start.tok.padId, seed: config.seed)
        var s = try runGroupMethod(trainer, stage: .grpo, total: cfg.steps, snapshotEvery: stage.snapshotEvery, start: start,
                                   describe: String(format: "reward %@, %d prompts × %d completions a step, loss %@, beta %g, memory %.0f MB",
                                                    reward.name, cfg.batchSize, cfg.numGenerations, cfg.lossType.rawValue, cfg.beta,
                                                    Double(trainer.memoryBytes) / 1e6))
        s["cost/judge_calls"] = Double(trainer.step * cfg.completionsPerStep)
        return s
    }

    func runRLOO() throws -> [String: Double] {
        guard let stage = config.rloo else { return [:] }
        let start = try onlineStart(for: .rloo)
        var cfg = stage.trainer
        cfg.stopToken = start.tok.eosId
        cfg.maxCompletionLength = min(cfg.maxCompletionLength, config.model.context - config.data.maxPromptTokens)
        let reward = try onlineReward(stage.reward, stage: .rloo, start: start)
        let trainer = RLOOTrainer(policy: GPT(copying: start.sft), reference: cfg.beta > 0 ? start.sft : nil, reward: reward,
                                  prompts: start.prompts, config: cfg, pad: start.tok.padId, seed: config.seed)
        var s = try runGroupMethod(trainer, stage: .rloo, total: cfg.steps, snapshotEvery: stage.snapshotEvery, start: start,
                                   describe: String(format: "reward %@, %d prompts × %d completions a step, beta %g, memory %.0f MB",
                                                    reward.name, cfg.batchSize, cfg.numGenerations, cfg.beta, Double(trainer.memoryBytes) / 1e6))
        s["cost/judge_calls"] = Double(trainer.step * cfg.completionsPerStep)
        return s
    }

    /// Resume, hooks (metrics, checkpoints, the reward-hacking watch, snapshots), the run, the policy saved.
    func runGroupMethod(_ trainer: GroupPolicyTrainer, stage: Stage, total: Int, snapshotEvery: Int, start: OnlineStart,
                        describe: String) throws -> [String: Double] {
        trainer.decode = { [tok = start.tok] ids in tok.decode(ids.filter { $0 != tok.padId }) }
        let ckRoot = run.checkpoints(stage.rawValue)
        _ = try resumeFromCheckpoint(stage, restore: trainer.restore(from:)) { trainer.step }
        progress.message("[\(stage.rawValue)] \(describe)")
        let h = hooks(stage: stage, total: total, keys: ["reward", "kl", "completions/mean_length"]) { step in
            try CheckpointStore.save(root: ckRoot, step: step) { try trainer.save(to: $0) }
        }
        let watched = watching(h, stage: stage, keys: ("kl", "entropy", "completions/mean_length", "reward"),
                               judge: goldWatch(start) { trainer.rollout })
        trainer.hooks = snapshotting(watched, every: snapshotEvery, name: stage.rawValue) { trainer.policy }
        let t0 = Clock.now()
        let last = try trainer.run()
        try checkStopped(stage, step: trainer.step)
        try savePolicy(trainer.policy, as: stage, trained: start.trained)
        var s: [String: Double] = ["steps": Double(trainer.step), "train_seconds": Clock.now() - t0, "memory_bytes": Double(trainer.memoryBytes)]
        for k in ["reward", "kl", "completions/mean_length", "tokens_per_s"] { if let v = last[k] { s[k] = v } }
        s.merge(watchSummary) { _, new in new }
        return s
    }

    // MARK: - Online DPO

    /// Online DPO: two samples of the current policy per prompt, judged by the reward model, the
    /// gold judge or the simulated labelers (`online_dpo.judge`), then a DPO update.
    func runOnlineDPO() throws -> [String: Double] {
        guard let stage = config.onlineDPO else { return [:] }
        let start = try onlineStart(for: .onlineDPO)
        var cfg = stage.trainer
        cfg.stopToken = start.tok.eosId
        cfg.maxCompletionLength = min(cfg.maxCompletionLength, config.model.context - config.data.maxPromptTokens)
        let judge: PreferenceJudge
        switch stage.reward {
        case "labelers":
            guard !start.posts.isEmpty else {
                throw UserError("\(config.file): online_dpo.judge: \"labelers\" needs the built-in task's posts (data.task \"tldr-synth\"); use \"reward_model\"")
            }
            let labeler = SimulatedLabeler(temperature: config.preferences?.labelerTemperature ?? SimulatedLabeler.defaultTemperature)
            judge = { prompts, first, second, stream in
                prompts.indices.map { i in
                    guard let post = start.posts[prompts[i]] else { return 0 }
                    var rng = stream(i)
                    return labeler.prefersFirst(post: post, " " + start.text(first[i]), " " + start.text(second[i]), rng: &rng) ? 0 : 1
                }
            }
        default:
            judge = OnlineDPOTrainer.judge(reward: try onlineReward(stage.reward, stage: .onlineDPO, start: start), stopToken: cfg.stopToken)
        }
        let trainer = OnlineDPOTrainer(policy: GPT(copying: start.sft), reference: start.sft, judge: judge, prompts: start.prompts,
                                       config: cfg, pad: start.tok.padId, seed: config.seed)
        trainer.decode = { [tok = start.tok] ids in tok.decode(ids.filter { $0 != tok.padId }) }
        let ckRoot = run.checkpoints("online_dpo")
        _ = try resumeFromCheckpoint(.onlineDPO, restore: trainer.restore(from:)) { trainer.step }
        progress.message(String(format: "[online_dpo] judge %@, %d prompts × 2 completions a step, beta %g, memory %.0f MB",
                                stage.reward, cfg.batchSize, cfg.beta, Double(trainer.memoryBytes) / 1e6))
        let h = hooks(stage: .onlineDPO, total: cfg.steps, keys: ["loss", "rewards/accuracies", "objective/kl"]) { step in
            try CheckpointStore.save(root: ckRoot, step: step) { try trainer.save(to: $0) }
        }
        trainer.hooks = snapshotting(h, every: stage.snapshotEvery, name: "online_dpo") { trainer.policy }
        let t0 = Clock.now()
        let last = try trainer.run()
        try checkStopped(.onlineDPO, step: trainer.step)
        try savePolicy(trainer.policy, as: .onlineDPO, trained: start.trained)
        var s: [String: Double] = ["steps": Double(trainer.step), "train_seconds": Clock.now() - t0,
                                   "memory_bytes": Double(trainer.memoryBytes),
                                   "cost/judge_calls": Double(trainer.step * cfg.batchSize)]
        if stage.reward == "labelers" { s["cost/labels"] = Double(trainer.step * cfg.batchSize) }
        for k in ["loss", "objective/kl", "rewards/accuracies", "completions/mean_length", "tokens_per_s"] { if let v = last[k] { s[k] = v } }
        return s
    }
}
