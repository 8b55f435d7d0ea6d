import Foundation

/// What a trainer tells the outside world, and asks of it. The experiment runner fills these in
/// (metrics.jsonl, progress line, checkpoints); tests leave them empty.
public struct TrainingHooks {
    /// Called after every optimizer step (or PPO iteration) with the metrics of that step.
    public var log: (_ step: Int, _ metrics: [String: Double]) -> Void = { _, _ in }
    /// Called when a step makes `step % checkpointEvery == 0`, and at the end.
    public var checkpoint: (_ step: Int) throws -> Void = { _ in }
    /// Polled between steps: true stops training early (e.g. on SIGINT) after a checkpoint.
    public var shouldStop: () -> Bool = { false }
    /// Sampled completions for samples.jsonl.
    public var samples: (_ step: Int, _ items: [[String: String]]) -> Void = { _, _ in }
    public init() {}
}

/// Running means of named metrics over the microbatches of one step.
public struct MetricAccumulator {
    var sums: [String: Double] = [:]
    var counts: [String: Double] = [:]
    public init() {}
    public mutating func add(_ name: String, _ value: Double, weight: Double = 1) {
        sums[name, default: 0] += value * weight
        counts[name, default: 0] += weight
    }
    public var means: [String: Double] {
        var out: [String: Double] = [:]
        for (k, s) in sums { out[k] = s / max(counts[k] ?? 1, 1e-12) }
        return out
    }
}
