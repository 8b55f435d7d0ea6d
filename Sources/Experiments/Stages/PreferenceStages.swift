import Alignment
import Data
import Engine
import Foundation
import GPT

extension ExperimentRunner {
    // MARK: - reward_model

    func runRewardModel() throws -> [String: Double] {
        guard let stage = config.rewardModel else { return [:] }
        let tok = try tokenizer
        let sft = try requireModel("sft", for: .rewardModel)
        let pairs = try tokenizedPreferencePairs(for: .rewardModel)
        let train = pairs.train.map { PairExample(prompt: $0.prompt, chosen: $0.chosen, rejected: $0.rejected) }
        let valid = pairs.valid.map { PairExample(prompt: $0.prompt, chosen: $0.chosen, rejected: $0.rejected) }
        let model = RewardModelTrainer.initialize(from: sft, seed: config.seed)
        var rmConfig = stage.trainer
        rmConfig.maxLength = min(rmConfig.maxLength ?? config.sequenceLength, config.sequenceLength)
        let trainer = RewardModelTrainer(model: model, config: rmConfig, train: train, valid: valid, pad: tok.padId, seed: config.seed)
        if stage.trainer.normalizeOn == .policySamples {
            let prompts = Array(train.prefix(256).map(\.prompt))
            let gen = Generator(model: sft, maxBatch: 64)
            var rngs = prompts.indices.map { RNG(seed: config.seed).split("rm-norm", $0) }
            let outs = gen.generate(prompts: prompts, options: SamplingOptions(temperature: 1, maxNewTokens: config.data.maxCompletionTokens, eosId: tok.eosId), rngs: &rngs)
            trainer.policySamples = zip(prompts, outs).map { SequenceExample(prompt: $0, completion: $1.tokens) }
        }
        let ckRoot = run.checkpoints("reward_model")
        _ = try resumeFromCheckpoint(.rewardModel, restore: trainer.restore(from:)) { trainer.step }
        trainer.hooks = hooks(stage: .rewardModel, total: stage.trainer.steps, keys: ["loss", "accuracy", "eval/accuracy"]) { step in
            try CheckpointStore.save(root: ckRoot, step: step) { try trainer.save(to: $0) }
        }
        let last = try trainer.run()
        try checkStopped(.rewardModel, step: trainer.step)
        let bias = trainer.normalized ? trainer.bias : try trainer.normalize()
        try trainer.model.save(to: run.model("reward_model"), extraMetadata: ["reward_bias": String(bias)])
        let ev = trainer.evaluate()
        var s: [String: Double] = ["bias": Double(bias), "steps": Double(trainer.step), "cost/labels": Double(train.count)]
        for (k, v) in ev { s[k] = v }
        if let a = last["accuracy"] { s["train_accuracy"] = a }
        if let p = last["pairs_per_s"] { s["pairs_per_s"] = p }
        progress.message(String(format: "[reward_model] held-out accuracy %.3f, normalization bias %.3f", ev["eval/accuracy"] ?? .nan, bias))
        return s
    }

    // MARK: - dpo

    func runDPO() throws -> [String: Double] {
        guard let stage = config.dpo else { return [:] }
        let tok = try tokenizer
        let sft = try requireModel("sft", for: .dpo)
        let pairs = try tokenizedPreferencePairs(for: .dpo)
        let train = pairs.train.map { PreferenceExample(prompt: $0.prompt, chosen: $0.chosen, rejected: $0.rejected) }
        let valid = pairs.valid.map { PreferenceExample(prompt: $0.prompt, chosen: $0.chosen, rejected: $0.rejected) }
        let policy = GPT(copying: sft)
        var cfg = stage.trainer
        cfg.maxLength = config.sequenceLength
        cfg.maxCompletionLength = config.data.maxCompletionTokens
        let trainer = DPOTrainer(policy: policy, reference: sft, config: cfg, train: train, valid: valid, pad: tok.padId, seed: config.seed)
        let ckRoot = run.checkpoints("dpo")
        if try resumeFromCheckpoint(.dpo, restore: trainer.restore(from:), step: { trainer.step }) {
            // The reference log-probs come back with the checkpoint.
        } else if cfg.precomputeRefLogProbs && !cfg.referenceFree {
            progress.message("[dpo] precomputing reference log-probs of \(train.count + valid.count) pairs")
            trainer.precomputeReference()
        }
        let h = hooks(stage: .dpo, total: cfg.steps, keys: ["loss", "rewards/accuracies", "rewards/margins"]) { step in
            try CheckpointStore.save(root: ckRoot, step: step) { try trainer.save(to: $0) }
        }
        trainer.hooks = snapshotting(h, every: stage.snapshotEvery, name: "dpo") { trainer.policy }
        let t0 = Clock.now()
        let last = try trainer.run()
        try checkStopped(.dpo, step: trainer.step)
        try trainer.policy.save(to: run.model("dpo"))
        var s: [String: Double] = ["steps": Double(trainer.step), "train_seconds": Clock.now() - t0, "cost/labels": Double(train.count)]
        for (k, v) in trainer.evaluate() { s[k] = v }
        for k in ["pairs_per_s", "tokens_per_s", "loss"] { if let v = last[k] { s[k] = v } }
        return s
    }
}
