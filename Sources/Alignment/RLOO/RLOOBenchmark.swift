import Engine
import GPT

extension RLOOTrainer {
    // MARK: - Benchmark

    /// One RLOO step on the work of GRPO's benchmark (`GroupBenchmark`: the peer's prompts, k =
    /// `generations` completions each, β = 0.04 so that the reference and old-policy forwards run,
    /// one pass of one microbatch). The median of `steps` steps after one untimed warm-up step.
    /// Used by `rlhf bench --parts rloo`.
    public static func benchmarkStep(config: GPTConfig, prompts: Int = 8, promptLength: Int = 96, generations: Int = 8,
                                     completionLength: Int = 32, steps: Int = 3) -> GroupBenchmarkResult {
        let shape = GroupBenchmark.Shape(prompts: prompts, promptLength: promptLength, generations: generations, completionLength: completionLength)
        return GroupBenchmark.measure(config: config, shape: shape, steps: steps) { policy, reference, reward, data in
            let c = GroupBenchmark.config(RLOOConfig.self, shape: shape, steps: steps)
            let trainer = RLOOTrainer(policy: policy, reference: reference, reward: reward, prompts: data, config: c, pad: 0, seed: 1)
            return { trainer.trainStep() }
        }
    }
}
