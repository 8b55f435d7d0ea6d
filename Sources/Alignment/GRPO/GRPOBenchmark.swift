import Engine
import GPT

extension GRPOTrainer {
    // MARK: - Benchmark

    /// A benchmark's figures: median wall-clock seconds of one GRPO step and the completions it
    /// samples and trains on per second.
    public struct BenchmarkResult: Sendable {
        public var stepSeconds: Double
        public var completionsPerSecond: Double
        /// The median step's parts: sampling; scoring and the reference forward; the update.
        public var generateSeconds: Double, scoreSeconds: Double, optimizeSeconds: Double
    }

    /// One GRPO step as TRL's peer benchmark runs it (`trl_grpo_bench.py`): `prompts` random prompts
    /// of `promptLength` tokens, G = `generations` completions of `completionLength` tokens each
    /// (no stop token: every completion runs to full length), a programmatic reward (distinct
    /// tokens / 10), β = 0.04 (the reference runs), one optimisation pass of one microbatch (as the
    /// peer's per_device_train_batch_size 64), temperature 1, the shared-prompt layout. The median of `steps` steps after one untimed warm-up step. Used by
    /// `rlhf bench --parts grpo`.
    public static func benchmarkStep(config: GPTConfig, prompts: Int = 8, promptLength: Int = 64, generations: Int = 8,
                                     completionLength: Int = 32, steps: Int = 3) -> BenchmarkResult {
        precondition(promptLength + completionLength <= config.context && promptLength >= 1 && completionLength >= 1,
                     "benchmark shape: need prompt + completion ≤ context")
        var rng = RNG(seed: 1234).split("grpo-bench")
        let data = (0..<prompts).map { _ in (0..<promptLength).map { _ in Int32(rng.int(config.vocabSize)) } }
        var c = GRPOConfig()
        c.steps = steps + 1
        c.batchSize = prompts
        c.numGenerations = generations
        c.gradAccum = 1                  // TRL's peer: per_device_train_batch_size 64, one microbatch
        c.maxCompletionLength = completionLength
        c.beta = 0.04
        c.temperature = 1
        c.stopToken = nil
        c.samplesEvery = 0
        c.checkpointEvery = 0
        var model = config
        model.dropout = 0
        model.scalarHead = false
        let policy = GPT(config: model, seed: 1)
        let trainer = GRPOTrainer(policy: policy, reference: GPT(copying: policy), reward: DistinctTokensReward(), prompts: data,
                                  config: c, pad: 0, seed: 1)
        trainer.trainStep()
        var runs: [(Double, [String: Double])] = []
        for _ in 0..<steps {
            let t0 = Clock.now()
            let m = trainer.trainStep()
            runs.append((Clock.now() - t0, m))
        }
        let (median, m) = runs.sorted { $0.0 < $1.0 }[runs.count / 2]
        return BenchmarkResult(stepSeconds: median, completionsPerSecond: Double(prompts * generations) / median,
                               generateSeconds: m["time/generate_s"] ?? .nan, scoreSeconds: m["time/score_s"] ?? .nan,
                               optimizeSeconds: m["time/optimize_s"] ?? .nan)
    }
}

/// The peer benchmark's reward: distinct tokens of the completion / 10.
final class DistinctTokensReward: RewardFunction {
    var name: String { "distinct_tokens" }
    func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float] { responses.map { Float(Set($0).count) / 10 } }
}
