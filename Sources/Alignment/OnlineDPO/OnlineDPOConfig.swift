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

    /// Problems with the values, as (JSON key, message) pairs; empty when the config is usable.
    public func problems() -> [(key: String, message: String)] {
        var p = OnlineConfigChecks()
        p.positive(steps, "steps"); p.positive(batchSize, "batch_size"); p.positive(gradAccum, "grad_accum")
        if batchSize >= 1 && gradAccum >= 1 && batchSize % gradAccum != 0 {
            p.add("grad_accum", "batch_size (\(batchSize) prompts) must be divisible by grad_accum (\(gradAccum))")
        }
        if !(beta > 0 && beta.isFinite) { p.add("beta", "expected a number > 0, found \(beta)") }
        p.positive(maxCompletionLength, "max_completion_length")
        p.temperature(temperature)
        p.optimisation(lr: lr, checkpointEvery: checkpointEvery, samplesEvery: samplesEvery, samplesCount: samplesCount)
        return p.list
    }
}

// MARK: - JSON (snake_case keys; every key optional, missing keys keep their defaults)

extension OnlineDPOConfig: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, batchSize = "batch_size", gradAccum = "grad_accum", beta, lossType = "loss_type"
        case maxCompletionLength = "max_completion_length", temperature, stopToken = "stop_token_id", sharedPrompt = "shared_prompt"
        case lr, schedule, adam, checkpointEvery = "checkpoint_every", samplesEvery = "samples_every", samplesCount = "samples_count"
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ v: inout T, _ k: CodingKeys) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
        try get(&steps, .steps); try get(&batchSize, .batchSize); try get(&gradAccum, .gradAccum); try get(&beta, .beta)
        try get(&lossType, .lossType); try get(&maxCompletionLength, .maxCompletionLength); try get(&temperature, .temperature)
        if c.contains(.stopToken) { stopToken = try c.decodeIfPresent(Int32.self, forKey: .stopToken) }
        try get(&sharedPrompt, .sharedPrompt); try get(&lr, .lr); try get(&schedule, .schedule); try get(&adam, .adam)
        try get(&checkpointEvery, .checkpointEvery); try get(&samplesEvery, .samplesEvery); try get(&samplesCount, .samplesCount)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(steps, forKey: .steps); try c.encode(batchSize, forKey: .batchSize); try c.encode(gradAccum, forKey: .gradAccum)
        try c.encode(beta, forKey: .beta); try c.encode(lossType, forKey: .lossType)
        try c.encode(maxCompletionLength, forKey: .maxCompletionLength); try c.encode(temperature, forKey: .temperature)
        try c.encode(stopToken, forKey: .stopToken); try c.encode(sharedPrompt, forKey: .sharedPrompt)
        try c.encode(lr, forKey: .lr); try c.encode(schedule, forKey: .schedule); try c.encode(adam, forKey: .adam)
        try c.encode(checkpointEvery, forKey: .checkpointEvery); try c.encode(samplesEvery, forKey: .samplesEvery)
        try c.encode(samplesCount, forKey: .samplesCount)
    }
}
