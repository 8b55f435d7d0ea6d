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
public struct RewardModelConfig: Codable, Equatable, Sendable {
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

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", gradAccum = "grad_accum", lr, schedule, adam, margin
        case centerRewardsCoef = "center_rewards_coefficient", evalEvery = "eval_every"
        case checkpointEvery = "checkpoint_every", maxLength = "max_length", normalizeOn = "normalize_on"
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        gradAccum = try c.decodeIfPresent(Int.self, forKey: .gradAccum) ?? gradAccum
        lr = try c.decodeIfPresent(Double.self, forKey: .lr) ?? lr
        schedule = try c.decodeIfPresent(LRSchedule.self, forKey: .schedule) ?? schedule
        adam = try c.decodeIfPresent(AdamWConfig.self, forKey: .adam) ?? adam
        margin = try c.decodeIfPresent(Double.self, forKey: .margin) ?? margin
        centerRewardsCoef = try c.decodeIfPresent(Double.self, forKey: .centerRewardsCoef) ?? centerRewardsCoef
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? evalEvery
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? checkpointEvery
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? maxLength
        normalizeOn = try c.decodeIfPresent(RewardNormalization.self, forKey: .normalizeOn) ?? normalizeOn
    }

    /// Problems with the values, as (JSON key, message) pairs; empty when the config is usable.
    public func problems() -> [(key: String, message: String)] {
        var p: [(String, String)] = []
        if steps < 1 { p.append(("steps", "expected an integer ≥ 1, found \(steps)")) }
        if batchSize < 1 { p.append(("batch_size", "expected an integer ≥ 1, found \(batchSize)")) }
        if gradAccum < 1 { p.append(("grad_accum", "expected an integer ≥ 1, found \(gradAccum)")) }
        if !(lr > 0 && lr.isFinite) { p.append(("lr", "expected a positive number, found \(lr)")) }
        if !(margin >= 0 && margin.isFinite) { p.append(("margin", "expected a number ≥ 0, found \(margin)")) }
        if let c = centerRewardsCoef, !(c >= 0 && c.isFinite) {
            p.append(("center_rewards_coefficient", "expected a number ≥ 0 or null, found \(c)"))
        }
        if evalEvery < 0 { p.append(("eval_every", "expected an integer ≥ 0, found \(evalEvery)")) }
        if checkpointEvery < 0 { p.append(("checkpoint_every", "expected an integer ≥ 0, found \(checkpointEvery)")) }
        if let m = maxLength, m < 2 { p.append(("max_length", "expected an integer ≥ 2 or null, found \(m)")) }
        return p
    }
}

/// A reward-model problem a user can fix (missing normalization samples, unreadable checkpoint state).
public struct RewardModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
