import Alignment
import Foundation

/// `reward_model` section: the trainer's hyperparameters (JSON names as TRL's RewardTrainer).
public struct RewardModelStage {
    public var trainer = RewardModelConfig()

    init(_ s: ConfigSection) throws {
        let d = RewardModelConfig()
        let o = try ExperimentConfig.readOptim(s, lr: d.lr, steps: d.steps, batch: d.batchSize, schedule: d.schedule, adam: d.adam,
                                               evalEvery: d.evalEvery, checkpointEvery: d.checkpointEvery)
        trainer.steps = o.steps; trainer.batchSize = o.batch; trainer.gradAccum = o.accum; trainer.lr = o.lr
        trainer.schedule = o.schedule; trainer.adam = o.adam; trainer.evalEvery = o.evalEvery; trainer.checkpointEvery = o.checkpointEvery
        trainer.margin = try s.double("margin", 0, min: 0)
        trainer.centerRewardsCoef = try s.optionalDouble("center_rewards_coefficient", min: 0)
        trainer.normalizeOn = RewardNormalization(rawValue: try s.choice("normalize_on", "references", RewardNormalization.allCases.map(\.rawValue)))!
    }
}

/// `dpo` section (JSON names as TRL's DPOTrainer).
public struct DPOStage {
    public var trainer = DPOConfig()
    /// Save a policy snapshot every N steps for the reward–KL frontier (0: off).
    public var snapshotEvery = 0

    init(_ s: ConfigSection) throws {
        let d = DPOConfig()
        let o = try ExperimentConfig.readOptim(s, lr: d.lr, steps: d.steps, batch: d.batchSize, schedule: d.schedule, adam: d.adam,
                                               evalEvery: d.evalEvery, checkpointEvery: d.checkpointEvery)
        trainer.steps = o.steps; trainer.batchSize = o.batch; trainer.gradAccum = o.accum; trainer.lr = o.lr
        trainer.schedule = o.schedule; trainer.adam = o.adam; trainer.evalEvery = o.evalEvery; trainer.checkpointEvery = o.checkpointEvery
        trainer.beta = try s.double("beta", 0.1, min: 0, openMin: true)
        trainer.lossType = DPOLossType(rawValue: try s.choice("loss_type", "sigmoid", DPOLossType.allCases.map(\.rawValue)))!
        trainer.labelSmoothing = try s.double("label_smoothing", 0, min: 0, max: 0.49)
        trainer.rpoAlpha = try s.optionalDouble("rpo_alpha", min: 0)
        trainer.referenceFree = try s.bool("reference_free", false)
        trainer.precomputeRefLogProbs = try s.bool("precompute_ref_log_probs", true)
        trainer.sharedPrompt = try s.bool("shared_prompt", true)
        trainer.disableDropout = try s.bool("disable_dropout", true)
        snapshotEvery = try s.int("snapshot_every", 0, min: 0)
    }
}

/// `ppo` section (JSON names as TRL's PPOTrainer where one exists).
public struct PPOStage {
    public var trainer = PPOConfig()
    /// "reward_model" (the trained RM, the RLHF recipe) or "gold" (the task's judge: PPO-GT).
    public var reward = "reward_model"
    /// Save a policy snapshot every N iterations for the reward–KL frontier (0: off).
    public var snapshotEvery = 0

    init(_ s: ConfigSection, responseLengthDefault: Int) throws {
        var t = PPOConfig()
        let o = try ExperimentConfig.readOptim(s, lr: t.lr, steps: t.iterations, batch: t.rolloutBatchSize, schedule: t.schedule, adam: t.adam,
                                               evalEvery: nil, checkpointEvery: t.checkpointEvery)
        t.iterations = o.steps; t.rolloutBatchSize = o.batch; t.gradAccum = o.accum; t.lr = o.lr
        t.schedule = o.schedule; t.adam = o.adam; t.checkpointEvery = o.checkpointEvery
        t.samplesEvery = try s.int("samples_every", t.samplesEvery, min: 1)
        t.numMiniBatches = try s.int("num_mini_batches", t.numMiniBatches, min: 1)
        t.numPPOEpochs = try s.int("num_ppo_epochs", t.numPPOEpochs, min: 1, max: 100)
        t.responseLength = try s.int("response_length", responseLengthDefault, min: 1)
        t.temperature = try s.float("temperature", t.temperature, min: 0, max: 5, openMin: true)
        if let p = try s.optionalDouble("missing_eos_penalty") { t.missingEOSPenalty = Float(p) }
        t.missingEOSMode = MissingEOSMode(rawValue: try s.choice("missing_eos_mode", t.missingEOSMode.rawValue, MissingEOSMode.allCases.map(\.rawValue)))!
        t.klCoef = try s.double("kl_coef", t.klCoef, min: 0)
        t.klEstimator = KLEstimator(rawValue: try s.choice("kl_estimator", t.klEstimator.rawValue, KLEstimator.allCases.map(\.rawValue)))!
        t.adaptiveKL = try s.bool("adaptive_kl", t.adaptiveKL)
        t.targetKL = try s.double("target_kl", t.targetKL, min: 0, openMin: true)
        t.horizon = try s.double("horizon", t.horizon, min: 1)
        t.whitenRewards = try s.bool("whiten_rewards", t.whitenRewards)
        if let c = try s.optionalDouble("score_clip", min: 0, openMin: true) { t.scoreClip = Float(c) }
        t.gamma = try s.double("gamma", t.gamma, min: 0, max: 1)
        t.lam = try s.double("lam", t.lam, min: 0, max: 1)
        t.cliprange = try s.double("cliprange", t.cliprange, min: 0, openMin: true)
        t.cliprangeValue = try s.double("cliprange_value", t.cliprangeValue, min: 0, openMin: true)
        t.vfCoef = try s.double("vf_coef", t.vfCoef, min: 0)
        t.valueLR = try s.optionalDouble("value_lr", min: 0, max: 1, openMin: true) ?? t.lr
        t.valueModel = ValueModelKind(rawValue: try s.choice("value_model", t.valueModel.rawValue, ValueModelKind.allCases.map(\.rawValue)))!
        if t.rolloutBatchSize % t.numMiniBatches != 0 {
            throw s.fail("num_mini_batches", "batch_size (\(t.rolloutBatchSize)) must be divisible by num_mini_batches (\(t.numMiniBatches))")
        }
        if (t.rolloutBatchSize / t.numMiniBatches) % t.gradAccum != 0 {
            throw s.fail("grad_accum", "the minibatch size batch_size / num_mini_batches (\(t.rolloutBatchSize / t.numMiniBatches)) must be divisible by grad_accum (\(t.gradAccum))")
        }
        trainer = t
        reward = try s.choice("reward", "reward_model", ["reward_model", "gold"])
        snapshotEvery = try s.int("snapshot_every", 0, min: 0)
    }
}
