import Engine
import Foundation
import GPT

extension DPOTrainer {
    // MARK: - Checkpoints

    struct State: Codable {
        var step: Int
        var pairsSeen: Double
        var tokensSeen: Double
        var timeSpent: Double
        enum CodingKeys: String, CodingKey {
            case step, pairsSeen = "pairs_seen", tokensSeen = "tokens_seen", timeSpent = "time_spent"
        }
    }

    /// Writes the policy weights, the optimizer moments, the step counters and — when the
    /// reference log-probs are precomputed — the reference cache, so that a resumed run neither
    /// recomputes them nor needs anything but the same data and reference model.
    public func save(to dir: URL) throws {
        try policy.save(to: dir.appendingPathComponent("model.safetensors"))
        try optimizer.save(to: dir.appendingPathComponent("optimizer.safetensors"))
        if hasReferenceCache {
            try saveReferenceCache(to: dir.appendingPathComponent(Self.referenceCacheFile))
        }
        try CheckpointStore.writeJSON(State(step: step, pairsSeen: pairsSeen, tokensSeen: tokensSeen, timeSpent: timeSpent),
                                      to: dir.appendingPathComponent("state.json"))
    }

    /// Restores a checkpoint written by `save`. Batches are a function of (seed, step), so the
    /// continued run equals the uninterrupted one bit for bit. A reference cache in the checkpoint
    /// is loaded (after checking it matches the pairs and the reference weights); without one, the
    /// reference log-probs are computed again before the next step.
    public func restore(from dir: URL) throws {
        try GPT.loadBuffer(policy.params, layout: policy.layout, from: dir.appendingPathComponent("model.safetensors"))
        try optimizer.load(from: dir.appendingPathComponent("optimizer.safetensors"))
        let stateURL = dir.appendingPathComponent("state.json")
        let s = try CheckpointStore.readJSON(State.self, from: stateURL)
        try CheckpointStore.checkStep(s.step, key: "step", total: config.steps, totalName: "dpo.steps", in: stateURL)
        let cache = dir.appendingPathComponent(Self.referenceCacheFile)
        if !config.referenceFree && config.precomputeRefLogProbs && FileManager.default.fileExists(atPath: cache.path) {
            try loadReferenceCache(from: cache)
        }
        step = s.step
        pairsSeen = s.pairsSeen
        tokensSeen = s.tokensSeen
        timeSpent = s.timeSpent
    }
}
