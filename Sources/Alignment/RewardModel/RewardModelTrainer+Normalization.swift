import Engine
import Foundation
import GPT

// MARK: - Reward normalization

extension RewardModelTrainer {
    /// The (prompt, completion) pairs named by `config.normalizeOn`: every training pair's
    /// (prompt, chosen) for `.references`, or `policySamples` for `.policySamples`.
    public func normalizationSet() throws -> [SequenceExample] {
        switch config.normalizeOn {
        case .references:
            return train.map { SequenceExample(prompt: $0.prompt, completion: $0.chosen) }
        case .policySamples:
            guard !policySamples.isEmpty else {
                throw RewardModelError("reward model: normalize_on is \"policy_samples\" but no policy samples were given; set RewardModelTrainer.policySamples to completions of the SFT model for training prompts")
            }
            return policySamples
        }
    }

    /// Sets `bias` = −mean r_raw(prompt_i, completion_i), so that `scorer()` gives the set a mean
    /// reward of 0 (Stiennon et al. 2020). The raw rewards are computed exactly as the scorer
    /// computes them (same truncation, same batching). Returns the bias.
    @discardableResult
    public func normalize(prompts: [[Int32]], completions: [[Int32]]) -> Float {
        precondition(prompts.count == completions.count && !prompts.isEmpty, "normalization needs one completion per prompt, and at least one")
        // The processes of a data-parallel job each score their share of the set.
        let mine = reducer.share(prompts.count)
        let raw = RewardModelScorer(model: model, bias: 0, pad: pad).scores(prompts: Array(prompts[mine]), responses: Array(completions[mine]))
        var sums = [raw.reduce(0.0) { $0 + Double($1) }, Double(raw.count)]
        reducer.sum(&sums)
        let mean = sums[0] / sums[1]
        bias = Float(-mean)
        normalized = true
        return bias
    }

    /// Normalizes on the set `config.normalizeOn` names; returns the bias.
    @discardableResult
    public func normalize() throws -> Float {
        let set = try normalizationSet()
        return normalize(prompts: set.map(\.prompt), completions: set.map(\.completion))
    }

    /// A frozen copy of the reward model with the current bias, for PPO.
    public func scorer() -> RewardModelScorer {
        RewardModelScorer(model: GPT(copying: model), bias: bias, pad: pad)
    }
}

// MARK: - Checkpoints

extension RewardModelTrainer {
    struct State: Codable {
        var step: Int
        var bias: Float
        var normalized: Bool
        var pairsSeen: Double
        var timeSpent: Double
        enum CodingKeys: String, CodingKey {
            case step, bias, normalized, pairsSeen = "pairs_seen", timeSpent = "time_spent"
        }
    }

    /// Writes `model.safetensors` (the bias also in its metadata, as `reward_bias`),
    /// `optimizer.safetensors` and `state.json` (step, bias, counters) into `dir`.
    public func save(to dir: URL) throws {
        try model.save(to: dir.appendingPathComponent("model.safetensors"), extraMetadata: ["reward_bias": "\(bias)"])
        try optimizer.save(to: dir.appendingPathComponent("optimizer.safetensors"))
        let s = State(step: step, bias: bias, normalized: normalized, pairsSeen: pairsSeen, timeSpent: timeSpent)
        try CheckpointStore.writeJSON(s, to: dir.appendingPathComponent("state.json"))
    }

    /// Restores weights, optimizer moments, step and bias written by `save`, for an exact resume.
    public func restore(from dir: URL) throws {
        try GPT.loadBuffer(model.params, layout: model.layout, from: dir.appendingPathComponent("model.safetensors"))
        try optimizer.load(from: dir.appendingPathComponent("optimizer.safetensors"))
        let stateURL = dir.appendingPathComponent("state.json")
        let s = try CheckpointStore.readJSON(State.self, from: stateURL)
        try CheckpointStore.checkStep(s.step, key: "step", total: config.steps, totalName: "reward_model.steps", in: stateURL)
        step = s.step
        bias = s.bias
        normalized = s.normalized
        pairsSeen = s.pairsSeen
        timeSpent = s.timeSpent
    }

    /// The scorer of a reward-model checkpoint written by `save` (for the PPO stage of a run, or
    /// of another run via "init_from"): its model and its bias.
    public static func loadScorer(from dir: URL, pad: Int32) throws -> RewardModelScorer {
        let url = dir.appendingPathComponent("model.safetensors")
        let model = try GPT.load(from: url)
        guard model.config.scalarHead else {
            throw RewardModelError("checkpoint \(url.path): the model has no scalar head; point to a reward_model checkpoint, not an SFT one")
        }
        let s = try CheckpointStore.readJSON(State.self, from: dir.appendingPathComponent("state.json"))
        return RewardModelScorer(model: model, bias: s.bias, pad: pad)
    }
}
