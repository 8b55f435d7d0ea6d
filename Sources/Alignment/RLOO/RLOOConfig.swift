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
    /// Two completions of a prompt in one row of the forward passes (as GRPO's).
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

    public var upperEpsilon: Double { epsilonHigh ?? epsilon }
    public var completionsPerStep: Int { batchSize * numGenerations }

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

extension RLOOConfig: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, batchSize = "batch_size", numGenerations = "num_generations", gradAccum = "grad_accum"
        case numIterations = "num_iterations", maxCompletionLength = "max_completion_length", temperature
        case stopToken = "stop_token_id", missingEOSPenalty = "missing_eos_penalty", beta, klEstimator = "kl_estimator"
        case epsilon, epsilonHigh = "epsilon_high", normalizeAdvantages = "normalize_advantages"
        case maskTruncatedCompletions = "mask_truncated_completions", sharedPrompt = "shared_prompt", lr, schedule, adam
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
        try get(&beta, .beta); try get(&klEstimator, .klEstimator); try get(&epsilon, .epsilon); try opt(&epsilonHigh, .epsilonHigh)
        try get(&normalizeAdvantages, .normalizeAdvantages); try get(&maskTruncatedCompletions, .maskTruncatedCompletions)
        try get(&sharedPrompt, .sharedPrompt); try get(&lr, .lr); try get(&schedule, .schedule); try get(&adam, .adam)
        try get(&checkpointEvery, .checkpointEvery); try get(&samplesEvery, .samplesEvery); try get(&samplesCount, .samplesCount)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(steps, forKey: .steps); try c.encode(batchSize, forKey: .batchSize); try c.encode(numGenerations, forKey: .numGenerations)
        try c.encode(gradAccum, forKey: .gradAccum); try c.encode(numIterations, forKey: .numIterations)
        try c.encode(maxCompletionLength, forKey: .maxCompletionLength); try c.encode(temperature, forKey: .temperature)
        try c.encode(stopToken, forKey: .stopToken); try c.encode(missingEOSPenalty, forKey: .missingEOSPenalty)
        try c.encode(beta, forKey: .beta); try c.encode(klEstimator, forKey: .klEstimator); try c.encode(epsilon, forKey: .epsilon)
        try c.encode(epsilonHigh, forKey: .epsilonHigh); try c.encode(normalizeAdvantages, forKey: .normalizeAdvantages)
        try c.encode(maskTruncatedCompletions, forKey: .maskTruncatedCompletions); try c.encode(sharedPrompt, forKey: .sharedPrompt)
        try c.encode(lr, forKey: .lr); try c.encode(schedule, forKey: .schedule); try c.encode(adam, forKey: .adam)
        try c.encode(checkpointEvery, forKey: .checkpointEvery); try c.encode(samplesEvery, forKey: .samplesEvery)
        try c.encode(samplesCount, forKey: .samplesCount)
    }
}
