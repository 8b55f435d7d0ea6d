import Foundation

// MARK: - Options

/// Where V(s) comes from.
public enum ValueModelKind: String, Codable, Sendable, CaseIterable {
    /// A second GPT with a scalar head, initialized from the reward model, with its own
    /// optimizer (TRL, Huang et al. 2024; Stiennon et al. 2020).
    case separate
    /// A scalar head on the policy's own trunk (one forward and one backward per microbatch).
    case shared
}

// MARK: - Config

/// Hyperparameters of the PPO stage of RLHF (Stiennon et al. 2020, as reproduced by Huang et al.
/// 2024, "The N+ Implementation Details of RLHF with PPO"). Names in comments are TRL's
/// `PPOConfig`; JSON keys are snake_case.
///
/// One iteration = one rollout of `rolloutBatchSize` prompts, then `numPPOEpochs` passes over it
/// in `numMiniBatches` minibatches (one optimizer step each) of `gradAccum` microbatches.
public struct PPOConfig: Equatable, Sendable {
    /// Number of PPO iterations (rollout batches). TRL: total_episodes / batch_size.
    public var iterations = 100
    /// Prompts per rollout. TRL: batch_size (= per_device_train_batch_size · gradient_accumulation_steps · num_mini_batches).
    public var rolloutBatchSize = 64
    /// Optimizer steps per PPO epoch. TRL: num_mini_batches.
    public var numMiniBatches = 4
    /// Microbatches per minibatch (gradient accumulation). TRL: gradient_accumulation_steps.
    public var gradAccum = 1
    /// Passes over each rollout. TRL: num_ppo_epochs.
    public var numPPOEpochs = 4
    /// Maximum number of sampled response tokens. TRL: response_length.
    public var responseLength = 48
    /// Sampling temperature; log-probs are computed from logits / temperature. TRL: temperature.
    public var temperature: Float = 0.7
    /// EOS id: a response ends after it (kept); nil samples `responseLength` tokens. TRL: stop_token_id.
    public var stopToken: Int32?
    /// Penalty for a response without EOS (nil: none). TRL: missing_eos_penalty.
    public var missingEOSPenalty: Float?
    /// How the penalty applies: subtracted from the score (TRL) or replacing it (Huang et al.).
    public var missingEOSMode = MissingEOSMode.subtract
    /// β of the per-token penalty −β·KL_t (initial value when adaptive). TRL: kl_coef.
    public var klCoef = 0.05
    /// TRL: kl_estimator.
    public var klEstimator = KLEstimator.k1
    /// Ziegler et al. 2019's proportional controller of β towards `targetKL`. TRL (legacy): adap_kl_ctrl.
    public var adaptiveKL = false
    /// KL target of the adaptive controller (nats per sequence). TRL (legacy): target.
    public var targetKL = 6.0
    /// Horizon of the adaptive controller (samples). TRL (legacy): horizon.
    public var horizon = 10_000.0
    /// Divide the rewards by their std (mean kept). TRL: whiten_rewards.
    public var whitenRewards = false
    /// Clip scores to [−scoreClip, scoreClip] after the EOS penalty (nil: off).
    public var scoreClip: Float?
    /// Discount. TRL: gamma.
    public var gamma = 1.0
    /// GAE λ. TRL: lam.
    public var lam = 0.95
    /// ε of the clipped probability ratio. TRL: cliprange.
    public var cliprange = 0.2
    /// ε of the clipped value prediction. TRL: cliprange_value.
    public var cliprangeValue = 0.2
    /// Weight of the value loss. TRL: vf_coef.
    public var vfCoef = 0.1
    /// Peak learning rate of the policy. TRL: learning_rate.
    public var lr = 1e-5
    /// Peak learning rate of a separate value model (nil: `lr`).
    public var valueLR: Double?
    /// Learning-rate schedule over iterations (TRL's default: linear decay to 0, no warm-up).
    public var schedule = LRSchedule(kind: .linear, warmupSteps: 0, minLRRatio: 0)
    /// Adam as in Huang et al. 2024: eps 1e-5, β = (0.9, 0.999), no weight decay, clip at 1.0.
    public var adam: AdamWConfig = {
        var a = AdamWConfig()
        a.beta1 = 0.9
        a.beta2 = 0.999
        a.eps = 1e-5
        a.weightDecay = 0
        a.maxGradNorm = 1.0
        return a
    }()
    /// Separate value model (default) or a value head on the policy.
    public var valueModel = ValueModelKind.separate
    /// Checkpoint every N iterations (0: only at the end).
    public var checkpointEvery = 50
    /// Report sampled completions every N iterations (0: never).
    public var samplesEvery = 10
    /// Number of completions reported each time.
    public var samplesCount = 4

    public init() {}

    /// Sequences per minibatch (one optimizer step).
    public var miniBatchSize: Int { rolloutBatchSize / max(numMiniBatches, 1) }
    /// Sequences per microbatch (one forward/backward).
    public var microBatchSize: Int { miniBatchSize / max(gradAccum, 1) }
}

extension PPOConfig: TrainerSettings {
    /// The experiment file's keys: `steps` (iterations), `batch_size` (prompts per rollout) and
    /// `grad_accum` (microbatches per minibatch) as every trainer names them.
    public mutating func read(_ r: SettingsReader) throws {
        try r.training(steps: &iterations, batchSize: &rolloutBatchSize, gradAccum: &gradAccum, lr: &lr, schedule: &schedule, adam: &adam,
                       checkpointEvery: &checkpointEvery)
        samplesEvery = try r.int("samples_every", samplesEvery, min: 0)
        numMiniBatches = try r.int("num_mini_batches", numMiniBatches, min: 1)
        numPPOEpochs = try r.int("num_ppo_epochs", numPPOEpochs, min: 1, max: 100)
        responseLength = try r.int("response_length", responseLength, min: 1)
        temperature = try r.float("temperature", temperature, min: 0, max: 5, openMin: true)
        missingEOSPenalty = try r.optionalFloat("missing_eos_penalty", missingEOSPenalty)
        missingEOSMode = try r.choice("missing_eos_mode", missingEOSMode)
        klCoef = try r.double("kl_coef", klCoef, min: 0)
        klEstimator = try r.choice("kl_estimator", klEstimator)
        adaptiveKL = try r.bool("adaptive_kl", adaptiveKL)
        targetKL = try r.positive("target_kl", targetKL)
        horizon = try r.double("horizon", horizon, min: 1)
        whitenRewards = try r.bool("whiten_rewards", whitenRewards)
        scoreClip = try r.optionalFloat("score_clip", scoreClip, min: 0, openMin: true)
        gamma = try r.double("gamma", gamma, min: 0, max: 1)
        lam = try r.double("lam", lam, min: 0, max: 1)
        cliprange = try r.positive("cliprange", cliprange)
        cliprangeValue = try r.positive("cliprange_value", cliprangeValue)
        vfCoef = try r.double("vf_coef", vfCoef, min: 0)
        valueLR = try r.optionalDouble("value_lr", valueLR, min: 0, max: 1, openMin: true)
        valueModel = try r.choice("value_model", valueModel)
        if rolloutBatchSize % numMiniBatches != 0 {
            throw r.refuse("num_mini_batches", "batch_size (\(rolloutBatchSize)) must be divisible by num_mini_batches (\(numMiniBatches))")
        }
        if (rolloutBatchSize / numMiniBatches) % gradAccum != 0 {
            throw r.refuse("grad_accum", "the minibatch size batch_size / num_mini_batches (\(rolloutBatchSize / numMiniBatches)) must be divisible by grad_accum (\(gradAccum))")
        }
    }
}
