import Foundation

/// How GRPO turns its per-token losses into the step's loss (TRL's `loss_type`).
public enum GRPOLossType: String, Codable, Sendable, CaseIterable {
    /// Shao et al. 2024: the mean over each completion's tokens, then the mean over completions
    /// (a long completion's tokens weigh less than a short one's).
    case grpo
    /// Σ over the tokens of the local batch (one microbatch) / its token count.
    case bnpo
    /// Yu et al. 2025 (DAPO), token-level: Σ over tokens / the token count of the whole step,
    /// across gradient accumulation and processes. TRL's default.
    case dapo
    /// Liu et al. 2025 (Dr. GRPO): Σ over tokens / (max_completion_length × completions), a
    /// constant normaliser, so no length bias.
    case drGRPO = "dr_grpo"
}

/// Hyperparameters of GRPO (Shao et al. 2024, "DeepSeekMath"; with DAPO's clip-higher and the
/// loss normalisations of DAPO and Dr. GRPO). Names of the method's own settings are TRL's
/// `GRPOConfig` (JSON keys snake_case); the optimisation settings are shaped as the other
/// trainers' (`steps`, `batch_size`, `grad_accum`, `lr`, `schedule`, `adam`).
///
/// One step = `batchSize` prompts × `numGenerations` completions sampled from the current policy,
/// scored, given group-relative advantages, then `numIterations` optimizer updates over them (each
/// over `gradAccum` microbatches of batchSize·G/gradAccum completions).
public struct GRPOConfig: Equatable, Sendable {
    /// Number of steps (generation batches). Optimizer updates = steps × numIterations.
    public var steps = 100
    /// Prompts per step (as PPO's batch_size); the step samples batchSize × numGenerations completions.
    public var batchSize = 8
    /// G, completions per prompt (TRL `num_generations`, 8). At least 2.
    public var numGenerations = 8
    /// Microbatches per optimizer update (TRL `gradient_accumulation_steps`); must divide batchSize × G.
    /// The default, 4, makes microbatches of 16 completions (8 × 8 / 4): the activations of one
    /// forward/backward scale with the completions of a microbatch.
    public var gradAccum = 4
    /// μ, optimizer updates per generation batch (TRL `num_iterations`, 1). With μ = 1 the ratio
    /// π/π_old is exactly 1 (π_old is the policy that sampled).
    public var numIterations = 1
    /// Maximum completion tokens (TRL `max_completion_length`); also Dr. GRPO's normaliser.
    public var maxCompletionLength = 48
    /// Sampling temperature; log-probs are computed from logits / temperature (TRL `temperature`, 1).
    public var temperature: Float = 1.0
    /// EOS id: a completion ends after it (kept). Set by the runner from the tokenizer.
    public var stopToken: Int32?
    /// Subtracted from the score of a completion without EOS (nil: none). Not in TRL's GRPO; as PPO's.
    public var missingEOSPenalty: Float?
    /// β of the k3 KL term in the loss (TRL `beta`). 0: no reference model is kept or run. The
    /// default is DeepSeekMath's (and TRL's until 0.19, which now defaults to 0).
    public var beta = 0.04
    /// ε of the clipped ratio, lower side (TRL `epsilon`, 0.2).
    public var epsilon = 0.2
    /// ε of the upper side (TRL `epsilon_high`; DAPO's clip-higher uses 0.28). nil: `epsilon`.
    public var epsilonHigh: Double?
    /// TRL `scale_rewards` (group).
    public var scaleRewards = ScaleRewards.group
    /// TRL `loss_type` (dapo).
    public var lossType = GRPOLossType.dapo
    /// Completions without EOS contribute no loss (TRL `mask_truncated_completions`, false).
    public var maskTruncatedCompletions = false
    /// Two completions of a prompt in one row of the forward passes (the prompt computed once, as
    /// DPO's shared-prompt layout); false: one row per completion. Same log-probs up to rounding.
    public var sharedPrompt = true
    /// Peak learning rate (TRL `learning_rate`; its 1e-6 suits billion-parameter models).
    public var lr = 1e-5
    /// Over optimizer updates: linear decay to 0, no warm-up (TRL's default).
    public var schedule = LRSchedule(kind: .linear, warmupSteps: 0, minLRRatio: 0)
    /// AdamW as TRL's default: β = (0.9, 0.999), eps 1e-8, no weight decay, clip at 1.0.
    public var adam: AdamWConfig = {
        var a = AdamWConfig()
        a.beta2 = 0.999
        return a
    }()
    /// Checkpoint every N steps (0: only at the end).
    public var checkpointEvery = 50
    /// Report sampled completions every N steps (0: never), `samplesCount` of them.
    public var samplesEvery = 10
    public var samplesCount = 4

    public init() {}

    /// ε_high as used: `epsilonHigh` or `epsilon`.
    public var upperEpsilon: Double { epsilonHigh ?? epsilon }
    /// Completions per step and per microbatch.
    public var completionsPerStep: Int { batchSize * numGenerations }
    public var microBatchSize: Int { completionsPerStep / max(gradAccum, 1) }

    /// Problems with the values, as (JSON key, message) pairs; empty when the config is usable.
    public func problems() -> [(key: String, message: String)] {
        var p = OnlineConfigChecks()
        p.positive(steps, "steps"); p.positive(batchSize, "batch_size"); p.positive(gradAccum, "grad_accum")
        p.generations(numGenerations)
        p.positive(numIterations, "num_iterations"); p.positive(maxCompletionLength, "max_completion_length")
        p.divisible(batchSize: batchSize, generations: numGenerations, gradAccum: gradAccum)
        p.temperature(temperature)
        p.penalty(missingEOSPenalty)
        if !(beta >= 0 && beta.isFinite) { p.add("beta", "expected a number ≥ 0, found \(beta)") }
        p.clip(epsilon: epsilon, epsilonHigh: epsilonHigh)
        p.optimisation(lr: lr, checkpointEvery: checkpointEvery, samplesEvery: samplesEvery, samplesCount: samplesCount)
        return p.list
    }
}

// MARK: - JSON (snake_case keys; every key optional, missing keys keep their defaults)

extension GRPOConfig: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, batchSize = "batch_size", numGenerations = "num_generations", gradAccum = "grad_accum"
        case numIterations = "num_iterations", maxCompletionLength = "max_completion_length", temperature
        case stopToken = "stop_token_id", missingEOSPenalty = "missing_eos_penalty", beta, epsilon, epsilonHigh = "epsilon_high"
        case scaleRewards = "scale_rewards", lossType = "loss_type", maskTruncatedCompletions = "mask_truncated_completions"
        case sharedPrompt = "shared_prompt", lr, schedule, adam
        case checkpointEvery = "checkpoint_every", samplesEvery = "samples_every", samplesCount = "samples_count"
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ v: inout T, _ k: CodingKeys) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
        func opt<T: Decodable>(_ v: inout T?, _ k: CodingKeys) throws { if c.contains(k) { v = try c.decodeIfPresent(T.self, forKey: k) } }
        try get(&steps, .steps); try get(&batchSize, .batchSize); try get(&numGenerations, .numGenerations)
        try get(&gradAccum, .gradAccum); try get(&numIterations, .numIterations); try get(&maxCompletionLength, .maxCompletionLength)
        try get(&temperature, .temperature); try opt(&stopToken, .stopToken); try opt(&missingEOSPenalty, .missingEOSPenalty)
        try get(&beta, .beta); try get(&epsilon, .epsilon); try opt(&epsilonHigh, .epsilonHigh)
        try get(&scaleRewards, .scaleRewards); try get(&lossType, .lossType); try get(&maskTruncatedCompletions, .maskTruncatedCompletions)
        try get(&sharedPrompt, .sharedPrompt); try get(&lr, .lr); try get(&schedule, .schedule); try get(&adam, .adam)
        try get(&checkpointEvery, .checkpointEvery); try get(&samplesEvery, .samplesEvery); try get(&samplesCount, .samplesCount)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(steps, forKey: .steps); try c.encode(batchSize, forKey: .batchSize); try c.encode(numGenerations, forKey: .numGenerations)
        try c.encode(gradAccum, forKey: .gradAccum); try c.encode(numIterations, forKey: .numIterations)
        try c.encode(maxCompletionLength, forKey: .maxCompletionLength); try c.encode(temperature, forKey: .temperature)
        try c.encode(stopToken, forKey: .stopToken); try c.encode(missingEOSPenalty, forKey: .missingEOSPenalty)
        try c.encode(beta, forKey: .beta); try c.encode(epsilon, forKey: .epsilon); try c.encode(epsilonHigh, forKey: .epsilonHigh)
        try c.encode(scaleRewards, forKey: .scaleRewards); try c.encode(lossType, forKey: .lossType)
        try c.encode(maskTruncatedCompletions, forKey: .maskTruncatedCompletions); try c.encode(sharedPrompt, forKey: .sharedPrompt)
        try c.encode(lr, forKey: .lr); try c.encode(schedule, forKey: .schedule); try c.encode(adam, forKey: .adam)
        try c.encode(checkpointEvery, forKey: .checkpointEvery); try c.encode(samplesEvery, forKey: .samplesEvery)
        try c.encode(samplesCount, forKey: .samplesCount)
    }
}
