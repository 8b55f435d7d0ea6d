import Engine
import Foundation
import GPT

/// A stage whose training went non-finite, stopped before its next checkpoint.
public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Stops a stage whose loss or gradient has become non-finite instead of letting it run to its
/// end: AdamW skips a step whose gradient is not finite, so a diverged run would otherwise keep
/// its last finite weights, stop learning, and finish "successfully". A few non-finite steps in a
/// row (a single one can be a rare overflow that the skipped step absorbs), or weights that are
/// no longer finite, end the stage with one line before anything is checkpointed: the last
/// checkpoint stays the newest one, and `rlhf resume` continues from it once the cause is fixed.
public struct DivergenceGuard {
    /// Non-finite steps in a row that end the stage.
    public var limit = 3
    /// The metrics watched (the trainer's loss terms and gradient norm).
    public let keys: [String]
    /// How messages name the stage's step settings, e.g. "sft".
    public let stage: String
    var streak = 0

    public init(stage: String, keys: [String]) {
        self.stage = stage
        self.keys = keys
    }

    /// Call after step `step` with its metrics and the models it trained; throws when the stage
    /// must stop.
    public mutating func check(step: Int, metrics: [String: Double], models: [GPT]) throws {
        let bad = keys.filter { metrics[$0].map { !$0.isFinite } ?? false }
        guard !bad.isEmpty else { streak = 0; return }
        streak += 1
        let values = bad.map { k -> String in
            let v = metrics[k]!
            return "\(k) " + (v.isNaN ? "nan" : v > 0 ? "inf" : "-inf")
        }.joined(separator: ", ")
        for model in models {
            let p = model.params.pointer
            if let i = (0..<model.parameterCount).first(where: { !p[$0].isFinite }) {
                let t = model.layout.tensors.last { $0.offset <= i }!
                throw TrainingError("\(stage): training diverged at step \(step): \(values), and the weights are no longer finite (\(t.name) element \(i - t.offset) is \(p[i].isNaN ? "nan" : "\(p[i])")); the last checkpoint is kept: lower \(stage).lr (or raise \(stage).eps, \(stage).max_grad_norm) in the run's config.json, then rlhf resume")
            }
        }
        if streak >= limit {
            throw TrainingError("\(stage): training diverged: \(values) for \(streak) steps in a row up to step \(step) (AdamW skipped them, the weights stopped changing); the last checkpoint is kept: lower \(stage).lr (or raise \(stage).eps, \(stage).max_grad_norm) in the run's config.json, then rlhf resume")
        }
    }
}
