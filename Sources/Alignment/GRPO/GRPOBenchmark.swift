import Engine
import GPT

extension GRPOTrainer {
    // MARK: - Benchmark

    /// One GRPO step as TRL's peer benchmark runs it (`GroupBenchmark`): `prompts` random prompts of
    /// `promptLength` tokens, G = `generations` completions of `completionLength` tokens, β = 0.04,
    /// μ = 1, one microbatch. The median of `steps` steps after one untimed warm-up step. Used by
    /// `rlhf bench --parts grpo`.
    public static func benchmarkStep(config: GPTConfig, prompts: Int = 8, promptLength: Int = 96, generations: Int = 8,
                                     completionLength: Int = 32, steps: Int = 3) -> GroupBenchmarkResult {
        let shape = GroupBenchmark.Shape(prompts: prompts, promptLength: promptLength, generations: generations, completionLength: completionLength)
        return GroupBenchmark.measure(config: config, shape: shape, steps: steps) { policy, reference, reward, data in
            let c = GroupBenchmark.config(GRPOConfig.self, shape: shape, steps: steps)
            let trainer = GRPOTrainer(policy: policy, reference: reference, reward: reward, prompts: data, config: c, pad: 0, seed: 1)
            return { trainer.trainStep() }
        }
    }
}
