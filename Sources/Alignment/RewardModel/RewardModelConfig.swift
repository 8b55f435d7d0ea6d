import Foundation

// MARK: - Data

/// One human (or programmatic) comparison: for `prompt`, `chosen` was preferred over `rejected`.
/// The same token-id pair DPO trains on (completions carry their EOS when the text ended).
public typealias PairExample = PreferenceExample

/// The set over which the trained reward is shifted to mean 0 (Stiennon et al. 2020:
/// "we normalize the reward model outputs such that the reference summaries from our dataset
/// achieve a mean score of 0"). `.policySamples` follows OpenAI's lm-human-preferences code
/// (Ziegler et al. 2019), which centres the reward on samples of the initial policy.
public enum RewardNormalization: String, Codable, Sendable, CaseIterable {
    /// (prompt, chosen) of every training pair: the dataset's reference completions.
    case references
    /// Completions sampled from the SFT policy for training prompts, passed in by the runner
    /// (`RewardModelTrainer.policySamples`).
    case policySamples = "policy_samples"
}

// MARK: - Hyperparameters

/// Hyperparameters of reward-model training. JSON keys are snake_case and follow TRL's
/// `RewardConfig` where one exists (`center_rewards_coefficient`, `max_length`); a key that is
/// absent keeps the default below.
public struct RewardModelConfig: Equatable, Sendable {
    /// Optimizer updates. Stiennon et al. and Huang et al. train for one epoch over the pairs:
    /// steps ≈ pairs / (batchSize · gradAccum).
    public var steps = 300
    /// Preference pairs per microbatch; chosen and rejected go through one forward, one row per pair.
    public var batchSize = 8
    /// Microbatches per optimizer step (gradient accumulation); the loss is the mean over all pairs of the step.
    public var gradAccum = 1
    /// Peak learning rate.
    public var lr = 3e-4
    public var schedule = LRSchedule(kind: .cosine, warmupSteps: 20, minLRRatio: 0.1)
    public var adam = AdamWConfig()
    /// m in −log σ(r_c − r_r − m) (TRL's `margin` column, one value for all pairs here). 0: off.
    public var margin = 0.0
    /// c in the auxiliary c · (r_c + r_r)² that keeps rewards centred (Eisenstein et al. 2023;
    /// TRL's `center_rewards_coefficient`). nil or 0: off.
    public var centerRewardsCoef: Double? = nil
    /// Held-out metrics every this many steps (0: only at the end).
    public var evalEvery = 50
    /// `hooks.checkpoint` every this many steps (0: only at the end).
    public var checkpointEvery = 100
    /// Prompt + completion tokens kept per sequence (Core's `truncate` rule); nil: the model's context.
    public var maxLength: Int? = nil
    /// Where the reward is centred after training.
    public var normalizeOn = RewardNormalization.references

    public init() {}

}

extension RewardModelConfig: TrainerSettings {
    public mutating func read(_ r: SettingsReader) throws {
        try r.training(steps: &steps, batchSize: &batchSize, gradAccum: &gradAccum, lr: &lr, schedule: &schedule, adam: &adam,
                       checkpointEvery: &checkpointEvery)
        evalEvery = try r.int("eval_every", evalEvery, min: 0)
        margin = try r.double("margin", margin, min: 0)
        centerRewardsCoef = try r.optionalDouble("center_rewards_coefficient", centerRewardsCoef, min: 0, max: nil, openMin: false)
        normalizeOn = try r.choice("normalize_on", normalizeOn)
        // Set by the runner from the data's budgets, not a key of the experiment file.
        if let m = maxLength, m < 2 { throw r.refuse("max_length", "expected an integer ≥ 2 or null, found \(m)") }
    }
}

public struct RewardModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
