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

    /// Problems with the values, as (JSON key, message) pairs; empty when the config is usable.
    public func problems() -> [(key: String, message: String)] {
        var p: [(String, String)] = []
        func positive(_ v: Int, _ k: String) { if v < 1 { p.append((k, "expected an integer ≥ 1, found \(v)")) } }
        positive(iterations, "iterations"); positive(rolloutBatchSize, "rollout_batch_size")
        positive(numMiniBatches, "num_mini_batches"); positive(gradAccum, "gradient_accumulation_steps")
        positive(numPPOEpochs, "num_ppo_epochs"); positive(responseLength, "response_length")
        if rolloutBatchSize >= 1 && numMiniBatches >= 1 && gradAccum >= 1 && rolloutBatchSize % (numMiniBatches * gradAccum) != 0 {
            p.append(("rollout_batch_size", "rollout_batch_size (\(rolloutBatchSize)) must be a multiple of num_mini_batches × gradient_accumulation_steps (\(numMiniBatches * gradAccum))"))
        }
        if !(temperature > 0) { p.append(("temperature", "expected a number > 0, found \(temperature)")) }
        if !(klCoef >= 0) { p.append(("kl_coef", "expected a number ≥ 0, found \(klCoef)")) }
        if !(targetKL > 0) { p.append(("target_kl", "expected a number > 0, found \(targetKL)")) }
        if !(horizon > 0) { p.append(("horizon", "expected a number > 0, found \(horizon)")) }
        if let c = scoreClip, !(c > 0) { p.append(("score_clip", "expected a number > 0 or null, found \(c)")) }
        if let m = missingEOSPenalty, !m.isFinite { p.append(("missing_eos_penalty", "expected a finite number or null, found \(m)")) }
        if !(gamma >= 0 && gamma <= 1) { p.append(("gamma", "expected a number in [0, 1], found \(gamma)")) }
        if !(lam >= 0 && lam <= 1) { p.append(("lam", "expected a number in [0, 1], found \(lam)")) }
        if !(cliprange > 0) { p.append(("cliprange", "expected a number > 0, found \(cliprange)")) }
        if !(cliprangeValue > 0) { p.append(("cliprange_value", "expected a number > 0, found \(cliprangeValue)")) }
        if !(vfCoef >= 0) { p.append(("vf_coef", "expected a number ≥ 0, found \(vfCoef)")) }
        if !(lr > 0) { p.append(("lr", "expected a number > 0, found \(lr)")) }
        if let v = valueLR, !(v > 0) { p.append(("value_lr", "expected a number > 0 or null, found \(v)")) }
        if checkpointEvery < 0 { p.append(("checkpoint_every", "expected an integer ≥ 0, found \(checkpointEvery)")) }
        if samplesEvery < 0 { p.append(("samples_every", "expected an integer ≥ 0, found \(samplesEvery)")) }
        return p
    }
}

// MARK: - JSON (snake_case keys; every key optional, missing keys keep their defaults)

extension PPOConfig: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case iterations, rolloutBatchSize = "rollout_batch_size", numMiniBatches = "num_mini_batches"
        case gradAccum = "gradient_accumulation_steps", numPPOEpochs = "num_ppo_epochs", responseLength = "response_length"
        case temperature, stopToken = "stop_token_id", missingEOSPenalty = "missing_eos_penalty", missingEOSMode = "missing_eos_mode"
        case klCoef = "kl_coef", klEstimator = "kl_estimator", adaptiveKL = "adaptive_kl", targetKL = "target_kl", horizon
        case whitenRewards = "whiten_rewards", scoreClip = "score_clip", gamma, lam, cliprange, cliprangeValue = "cliprange_value"
        case vfCoef = "vf_coef", lr, valueLR = "value_lr", schedule, adam, valueModel = "value_model"
        case checkpointEvery = "checkpoint_every", samplesEvery = "samples_every", samplesCount = "samples_count"
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ v: inout T, _ k: CodingKeys) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
        func opt<T: Decodable>(_ v: inout T?, _ k: CodingKeys) throws { if c.contains(k) { v = try c.decodeIfPresent(T.self, forKey: k) } }
        try get(&iterations, .iterations); try get(&rolloutBatchSize, .rolloutBatchSize); try get(&numMiniBatches, .numMiniBatches)
        try get(&gradAccum, .gradAccum); try get(&numPPOEpochs, .numPPOEpochs); try get(&responseLength, .responseLength)
        try get(&temperature, .temperature); try opt(&stopToken, .stopToken); try opt(&missingEOSPenalty, .missingEOSPenalty)
        try get(&missingEOSMode, .missingEOSMode); try get(&klCoef, .klCoef); try get(&klEstimator, .klEstimator)
        try get(&adaptiveKL, .adaptiveKL); try get(&targetKL, .targetKL); try get(&horizon, .horizon)
        try get(&whitenRewards, .whitenRewards); try opt(&scoreClip, .scoreClip); try get(&gamma, .gamma); try get(&lam, .lam)
        try get(&cliprange, .cliprange); try get(&cliprangeValue, .cliprangeValue); try get(&vfCoef, .vfCoef)
        try get(&lr, .lr); try opt(&valueLR, .valueLR); try get(&schedule, .schedule); try get(&adam, .adam)
        try get(&valueModel, .valueModel); try get(&checkpointEvery, .checkpointEvery); try get(&samplesEvery, .samplesEvery)
        try get(&samplesCount, .samplesCount)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(iterations, forKey: .iterations); try c.encode(rolloutBatchSize, forKey: .rolloutBatchSize)
        try c.encode(numMiniBatches, forKey: .numMiniBatches); try c.encode(gradAccum, forKey: .gradAccum)
        try c.encode(numPPOEpochs, forKey: .numPPOEpochs); try c.encode(responseLength, forKey: .responseLength)
        try c.encode(temperature, forKey: .temperature); try c.encode(stopToken, forKey: .stopToken)
        try c.encode(missingEOSPenalty, forKey: .missingEOSPenalty); try c.encode(missingEOSMode, forKey: .missingEOSMode)
        try c.encode(klCoef, forKey: .klCoef); try c.encode(klEstimator, forKey: .klEstimator)
        try c.encode(adaptiveKL, forKey: .adaptiveKL); try c.encode(targetKL, forKey: .targetKL); try c.encode(horizon, forKey: .horizon)
        try c.encode(whitenRewards, forKey: .whitenRewards); try c.encode(scoreClip, forKey: .scoreClip)
        try c.encode(gamma, forKey: .gamma); try c.encode(lam, forKey: .lam); try c.encode(cliprange, forKey: .cliprange)
        try c.encode(cliprangeValue, forKey: .cliprangeValue); try c.encode(vfCoef, forKey: .vfCoef)
        try c.encode(lr, forKey: .lr); try c.encode(valueLR, forKey: .valueLR); try c.encode(schedule, forKey: .schedule)
        try c.encode(adam, forKey: .adam); try c.encode(valueModel, forKey: .valueModel)
        try c.encode(checkpointEvery, forKey: .checkpointEvery); try c.encode(samplesEvery, forKey: .samplesEvery)
        try c.encode(samplesCount, forKey: .samplesCount)
    }
}
