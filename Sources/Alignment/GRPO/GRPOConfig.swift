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
    /// A group's completions in a microbatch share one row of the forward passes, behind one copy
    /// of their prompt (as DPO's shared-prompt layout); false: one row per completion. Same
    /// log-probs up to rounding.
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
}

extension GRPOConfig: GroupSettings {}

extension GRPOConfig: TrainerSettings {
    public mutating func read(_ r: SettingsReader) throws {
        try r.training(steps: &steps, batchSize: &batchSize, gradAccum: &gradAccum, lr: &lr, schedule: &schedule, adam: &adam,
                       checkpointEvery: &checkpointEvery)
        numGenerations = try r.int("num_generations", numGenerations, min: 2, max: 1024)
        numIterations = try r.int("num_iterations", numIterations, min: 1)
        try r.sampling(maxCompletionLength: &maxCompletionLength, temperature: &temperature, samplesEvery: &samplesEvery, samplesCount: &samplesCount)
        missingEOSPenalty = try r.optionalFloat("missing_eos_penalty", missingEOSPenalty)
        beta = try r.double("beta", beta, min: 0)
        try r.clip(epsilon: &epsilon, epsilonHigh: &epsilonHigh)
        scaleRewards = try r.choice("scale_rewards", scaleRewards)
        lossType = try r.choice("loss_type", lossType)
        maskTruncatedCompletions = try r.bool("mask_truncated_completions", maskTruncatedCompletions)
        sharedPrompt = try r.bool("shared_prompt", sharedPrompt)
        if completionsPerStep % gradAccum != 0 {
            throw r.refuse("grad_accum", "batch_size × num_generations (\(batchSize) × \(numGenerations) = \(completionsPerStep) completions) must be divisible by grad_accum (\(gradAccum))")
        }
    }
}
