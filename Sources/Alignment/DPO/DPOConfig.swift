import Foundation

// MARK: - Loss types

/// The preference loss applied to the log-ratio margin
///   z = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)).
/// Raw values are TRL's `loss_type` names.
public enum DPOLossType: String, Codable, Sendable, CaseIterable {
    /// Rafailov et al. 2023 (Bradley–Terry): −log σ(βz), with cDPO label smoothing ε:
    /// −(1−ε) log σ(βz) − ε log σ(−βz).
    case sigmoid
    /// Chowdhury et al. 2024, "Provably Robust DPO": the unbiased loss under label noise ε,
    /// (−(1−ε) log σ(βz) + ε log σ(−βz)) / (1 − 2ε).
    case robust
    /// Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human
    /// Preferences" (IPO): (z − 1/(2β))², with log-probs AVERAGED over completion tokens.
    case ipo
    /// SLiC (Zhao et al. 2023): max(0, 1 − βz).
    case hinge
}

// MARK: - Hyperparameters

/// Hyperparameters of Direct Preference Optimization (Rafailov et al. 2023). JSON keys are
/// snake_case; where TRL's `DPOConfig` has a different name it is given in the comment.
/// Missing keys take the defaults below.
public struct DPOConfig: Equatable, Sendable {
    /// β, the strength of the implicit KL constraint to the reference (TRL `beta`, 0.1).
    public var beta: Double = 0.1
    /// TRL `loss_type` (default `sigmoid`).
    public var lossType: DPOLossType = .sigmoid
    /// ε: assumed probability that a preference label is flipped (TRL `label_smoothing`, 0).
    /// Used by `sigmoid` (cDPO) and `robust`; must be < 0.5. Ignored by `ipo` and `hinge`.
    public var labelSmoothing: Double = 0
    /// α of RPO (Pang et al. 2024, TRL `rpo_alpha`): adds α · (−log π(y_w) / |y_w|), the
    /// length-normalized NLL of the chosen completion, to each pair's loss. nil or 0: off.
    public var rpoAlpha: Double? = nil
    /// π_ref ≡ 1, i.e. log π_ref = 0 (TRL `reference_free`, false).
    public var referenceFree: Bool = false
    /// Compute the reference log-probs of every train and eval pair once before training,
    /// keep them in memory and in each checkpoint (TRL `precompute_ref_log_probs`; TRL's
    /// default is false, ours is true: the reference forward would otherwise cost a third of
    /// every step). false: a reference forward every step.
    public var precomputeRefLogProbs: Bool = true
    /// Score chosen and rejected in one sequence per pair, [prompt | chosen | rejected], the
    /// rejected completion masked from the chosen one (`PreferenceBatch`): each prompt goes through
    /// the model once instead of twice. Same log-probs up to float rounding; false: two sequences
    /// per pair, as TRL's concatenated forward. `tokens_per_s` counts the tokens that go through
    /// the model, so it is lower with the shared layout for the same pairs per second.
    public var sharedPrompt: Bool = true
    /// Number of optimizer updates (TRL `max_steps`).
    public var steps: Int = 200
    /// Preference pairs per microbatch, scored in one forward (batchSize sequences with the shared
    /// prompt layout, 2·batchSize without)
    /// (TRL `per_device_train_batch_size`). Also the eval batch size.
    public var batchSize: Int = 8
    /// Microbatches per optimizer update (TRL `gradient_accumulation_steps`).
    public var gradAccum: Int = 1
    /// Peak learning rate (TRL `learning_rate`). TRL's 5e-7…5e-6 suit billion-parameter models;
    /// models of a few million parameters need a larger step, 1e-4 by default here.
    public var lr: Double = 1e-4
    /// Linear warm-up then linear decay to 0, as TRL's default `lr_scheduler_type="linear"`.
    public var schedule = LRSchedule(kind: .linear, warmupSteps: 10, minLRRatio: 0)
    /// AdamW moments, weight decay (0, as TRL) and gradient clipping (`max_grad_norm` 1.0).
    public var adam = AdamWConfig()
    /// Evaluate on the held-out pairs every this many steps and at the end (TRL `eval_steps`; 0: never).
    public var evalEvery: Int = 50
    /// Checkpoint every this many steps and at the end (TRL `save_steps`; 0: only at the end).
    public var checkpointEvery: Int = 100
    /// Maximum tokens of prompt + completion (TRL `max_length`, 1024); clamped to the model
    /// context. Prompts are cut from the front (TRL "keep_end"), see `truncate(_:maxLength:maxCompletion:)`.
    public var maxLength: Int = 1024
    /// Maximum completion tokens (TRL `max_completion_length`; nil: only `maxLength` limits them).
    public var maxCompletionLength: Int? = nil
    /// Run the policy without dropout (TRL `disable_dropout`, true). The reference never uses dropout.
    public var disableDropout: Bool = true

    public init() {}

}

extension DPOConfig: TrainerSettings {
    public mutating func read(_ r: SettingsReader) throws {
        try r.training(steps: &steps, batchSize: &batchSize, gradAccum: &gradAccum, lr: &lr, schedule: &schedule, adam: &adam,
                       checkpointEvery: &checkpointEvery)
        evalEvery = try r.int("eval_every", evalEvery, min: 0)
        beta = try r.positive("beta", beta)
        lossType = try r.choice("loss_type", lossType)
        labelSmoothing = try r.double("label_smoothing", labelSmoothing, min: 0)
        if labelSmoothing >= 0.5 {
            throw r.refuse("label_smoothing", "expected a number in [0, 0.5) (the share of flipped labels: at 0.5 the labels say nothing), found \(Ranges.format(labelSmoothing))")
        }
        rpoAlpha = try r.optionalDouble("rpo_alpha", rpoAlpha, min: 0, max: nil, openMin: false)
        referenceFree = try r.bool("reference_free", referenceFree)
        precomputeRefLogProbs = try r.bool("precompute_ref_log_probs", precomputeRefLogProbs)
        sharedPrompt = try r.bool("shared_prompt", sharedPrompt)
        disableDropout = try r.bool("disable_dropout", disableDropout)
        // Set by the runner from the data's budgets, not keys of the experiment file.
        if maxLength < 2 { throw r.refuse("max_length", "expected an integer ≥ 2, found \(maxLength)") }
        if let m = maxCompletionLength, m < 1 { throw r.refuse("max_completion_length", "expected an integer ≥ 1 or null, found \(m)") }
    }
}

// MARK: - Data

/// One preference pair as token ids: a prompt and two completions, `chosen` (y_w) preferred to
/// `rejected` (y_l). Completions carry their EOS when the text ended.
public struct PreferenceExample: Codable, Equatable, Sendable {
    public var prompt: [Int32]
    public var chosen: [Int32]
    public var rejected: [Int32]
    public init(prompt: [Int32], chosen: [Int32], rejected: [Int32]) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
    }
}

/// The truncation rule of `truncate(_ e: SequenceExample, …)` applied to a pair so that both
/// sequences share ONE prompt: each completion keeps at most `maxCompletion` tokens, the prompt
/// keeps its last tokens so that it fits beside the longer completion (never fewer than one),
/// then a completion that still does not fit is cut at the end.
public func truncate(_ e: PreferenceExample, maxLength: Int, maxCompletion: Int) -> PreferenceExample {
    var w = e.chosen, l = e.rejected
    if w.count > maxCompletion { w.removeLast(w.count - maxCompletion) }
    if l.count > maxCompletion { l.removeLast(l.count - maxCompletion) }
    let room = max(1, maxLength - max(w.count, l.count))
    var p = e.prompt
    if p.count > room { p.removeFirst(p.count - room) }
    if p.count + w.count > maxLength { w.removeLast(p.count + w.count - maxLength) }
    if p.count + l.count > maxLength { l.removeLast(p.count + l.count - maxLength) }
    return PreferenceExample(prompt: p, chosen: w, rejected: l)
}
