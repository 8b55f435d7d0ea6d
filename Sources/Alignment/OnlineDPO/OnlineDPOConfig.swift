import Foundation

/// Hyperparameters of online DPO (Guo et al. 2024, "Direct Language Model Alignment from Online AI
/// Feedback"; TRL's OnlineDPOTrainer). Each step samples two completions of each of `batchSize`
/// prompts from the current policy, a judge picks the preferred one, and the pair trains the
/// policy with the DPO loss of `lossType` against the frozen reference. JSON keys are snake_case;
/// the optimisation settings are shaped as the other trainers'.
public struct OnlineDPOConfig: Equatable, Sendable {
    /// Number of optimizer steps (one generation batch each).
    public var steps = 100
    /// Prompts (= preference pairs) per step.
    public var batchSize = 8
    /// Microbatches per step; must divide batchSize.
    public var gradAccum = 1
    /// β of the DPO loss (TRL `beta`, 0.1).
    public var beta = 0.1
    /// The DPO-family loss (TRL `loss_type`: `sigmoid` or `ipo`; `robust` and `hinge` as DPO's).
    public var lossType = DPOLossType.sigmoid
    /// Maximum completion tokens (TRL `max_new_tokens`).
    public var maxCompletionLength = 48
    /// Sampling temperature (TRL `temperature`, 0.9). The DPO loss uses log-probs at temperature 1.
    public var temperature: Float = 0.9
    /// EOS id: a completion ends after it (kept). Set by the runner from the tokenizer.
    public var stopToken: Int32?
    /// The pair as one row per prompt, [prompt | a | b] (DPO's `shared_prompt`); false: two rows.
    public var sharedPrompt = true
    /// Peak learning rate (TRL `learning_rate`; its 5e-7 suits billion-parameter models).
    public var lr = 5e-5
    /// Linear decay to 0, no warm-up.
    public var schedule = LRSchedule(kind: .linear, warmupSteps: 0, minLRRatio: 0)
    /// AdamW as DPO's: β = (0.9, 0.95), eps 1e-8, no weight decay, clip at 1.0.
    public var adam = AdamWConfig()
    public var checkpointEvery = 50
    public var samplesEvery = 10
    public var samplesCount = 4

    public init() {}

    /// The DPO settings the loss reads (β, loss type, the layout; no label smoothing, no RPO term).
    public var dpo: DPOConfig {
        var d = DPOConfig()
        d.beta = beta
        d.lossType = lossType
        d.sharedPrompt = sharedPrompt
        d.precomputeRefLogProbs = false
        d.steps = steps
        d.batchSize = max(1, batchSize / max(gradAccum, 1))
        d.gradAccum = gradAccum
        d.lr = lr
        return d
    }
}

extension OnlineDPOConfig: TrainerSettings {
    public mutating func read(_ r: SettingsReader) throws {
        try r.training(steps: &steps, batchSize: &batchSize, gradAccum: &gradAccum, lr: &lr, schedule: &schedule, adam: &adam,
                       checkpointEvery: &checkpointEvery)
        beta = try r.positive("beta", beta)
        lossType = try r.choice("loss_type", lossType)
        try r.sampling(maxCompletionLength: &maxCompletionLength, temperature: &temperature, samplesEvery: &samplesEvery, samplesCount: &samplesCount)
        sharedPrompt = try r.bool("shared_prompt", sharedPrompt)
        if batchSize % gradAccum != 0 {
            throw r.refuse("grad_accum", "batch_size (\(batchSize) prompts) must be divisible by grad_accum (\(gradAccum))")
        }
    }
}
