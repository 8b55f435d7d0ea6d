import Foundation

/// Hyperparameters of RLOO, REINFORCE with the leave-one-out baseline (Ahmadian et al. 2024, "Back
/// to Basics"; Kool et al. 2019). Names of the method's own settings are TRL's current `RLOOConfig`
/// (JSON keys snake_case); the optimisation settings are shaped as the other trainers'.
///
/// One step = `batchSize` prompts × k = `numGenerations` completions, each completion one action:
/// its reward is the score minus β·(its summed KL to the reference), its advantage that reward
/// minus the mean reward of the other k − 1 completions of the prompt, and the loss the clipped
/// surrogate of its sequence-level ratio, averaged over completions; `numIterations` optimizer
/// updates per step, each over `gradAccum` microbatches.
public struct RLOOConfig: Equatable, Sendable {
    /// Number of steps (generation batches). Optimizer updates = steps × numIterations.
    public var steps = 100
    /// Prompts per step; the step samples batchSize × numGenerations completions.
    public var batchSize = 8
    /// k, completions per prompt (TRL `num_generations`, 2). At least 2.
    public var numGenerations = 2
    /// Microbatches per optimizer update; must divide batchSize × k.
    public var gradAccum = 1
    /// Optimizer updates per generation batch (TRL `num_iterations`, 1).
    public var numIterations = 1
    /// Maximum completion tokens (TRL `max_completion_length`).
    public var maxCompletionLength = 48
    /// Sampling temperature; log-probs from logits / temperature (TRL `temperature`, 1).
    public var temperature: Float = 1.0
    /// EOS id: a completion ends after it (kept). Set by the runner from the tokenizer.
    public var stopToken: Int32?
    /// Subtracted from the score of a completion without EOS (nil: none; TRL's former RLOO's `missing_eos_penalty`).
    public var missingEOSPenalty: Float?
    /// β of the KL penalty −β·Σ_t KL_t summed into each completion's reward (TRL `beta`, 0.05).
    /// 0: no reference model is kept or run.
    public var beta = 0.05
    /// The per-token KL estimator of the penalty (k1 as TRL and the paper; k3 always ≥ 0).
    public var klEstimator = KLEstimator.k1
    /// ε of the clipped sequence ratio, lower side (TRL `epsilon`, 0.2).
    public var epsilon = 0.2
    /// ε of the upper side (TRL `epsilon_high`); nil: `epsilon`.
    public var epsilonHigh: Double?
    /// Divide the advantages by their batch std after centring them (TRL `normalize_advantages`, false).
    public var normalizeAdvantages = false
    /// Completions without EOS contribute no loss (TRL `mask_truncated_completions`, false).
    public var maskTruncatedCompletions = false
    /// A group's completions in a microbatch share one row of the forward passes (as GRPO's).
    public var sharedPrompt = true
    /// Peak learning rate (TRL `learning_rate`).
    public var lr = 1e-5
    /// Over optimizer updates: linear decay to 0, no warm-up.
    public var schedule = LRSchedule(kind: .linear, warmupSteps: 0, minLRRatio: 0)
    /// AdamW: β = (0.9, 0.999), eps 1e-8, no weight decay, clip at 1.0.
    public var adam: AdamWConfig = {
        var a = AdamWConfig()
        a.beta2 = 0.999
        return a
    }()
    public var checkpointEvery = 50
    public var samplesEvery = 10
    public var samplesCount = 4

    public init() {}
}

extension RLOOConfig: GroupSettings {}

extension RLOOConfig: TrainerSettings {
    public mutating func read(_ r: SettingsReader) throws {
        try r.training(steps: &steps, batchSize: &batchSize, gradAccum: &gradAccum, lr: &lr, schedule: &schedule, adam: &adam,
                       checkpointEvery: &checkpointEvery)
        numGenerations = try r.int("num_generations", numGenerations, min: 2, max: 1024)
        numIterations = try r.int("num_iterations", numIterations, min: 1)
        try r.sampling(maxCompletionLength: &maxCompletionLength, temperature: &temperature, samplesEvery: &samplesEvery, samplesCount: &samplesCount)
        missingEOSPenalty = try r.optionalFloat("missing_eos_penalty", missingEOSPenalty)
        beta = try r.double("beta", beta, min: 0)
        try r.clip(epsilon: &epsilon, epsilonHigh: &epsilonHigh)
        klEstimator = try r.choice("kl_estimator", klEstimator)
        normalizeAdvantages = try r.bool("normalize_advantages", normalizeAdvantages)
        maskTruncatedCompletions = try r.bool("mask_truncated_completions", maskTruncatedCompletions)
        sharedPrompt = try r.bool("shared_prompt", sharedPrompt)
        if completionsPerStep % gradAccum != 0 {
            throw r.refuse("grad_accum", "batch_size × num_generations (\(batchSize) × \(numGenerations) = \(completionsPerStep) completions) must be divisible by grad_accum (\(gradAccum))")
        }
    }
}
