import Engine
import GPT

extension DPOTrainer {
    // MARK: - Benchmark

    /// Mean wall-clock seconds of one DPO optimizer step (sigmoid loss, cached reference
    /// log-probs, one microbatch) on random tokens: `pairs` pairs whose two sequences have
    /// `length` tokens each, the last `completion` of them the completion. One warm-up step
    /// (workspace and scratch growth) is not timed. Used by `rlhf bench`.
    public static func benchmarkStep(config: GPTConfig, pairs: Int, length: Int, completion: Int, steps: Int) -> Double {
        precondition(length <= config.context && completion >= 1 && completion < length, "benchmark shape: need 1 ≤ completion < length ≤ context")
        var rng = RNG(seed: 1234).split("dpo-bench")
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.int(config.vocabSize)) } }
        let data = (0..<pairs).map { _ in
            PreferenceExample(prompt: tokens(length - completion), chosen: tokens(completion), rejected: tokens(completion))
        }
        var c = DPOConfig()
        c.batchSize = pairs
        c.gradAccum = 1
        c.steps = steps + 1
        c.schedule = LRSchedule(kind: .constant)
        c.lr = 1e-5
        c.evalEvery = 0
        c.checkpointEvery = 0
        let policy = GPT(config: config, seed: 1)
        let trainer = DPOTrainer(policy: policy, reference: GPT(copying: policy), config: c, train: data, valid: [], pad: 0, seed: 1)
        trainer.precomputeReference()
        trainer.trainStep()
        let t0 = Clock.now()
        for _ in 0..<steps { trainer.trainStep() }
        return (Clock.now() - t0) / Double(max(steps, 1))
    }
}
