import Engine
import GPT

/// A group method's benchmark figures (`GRPOTrainer.benchmarkStep`, `RLOOTrainer.benchmarkStep`):
/// median wall-clock seconds of one step and the completions it samples and trains on per second.
public struct GroupBenchmarkResult: Sendable {
    public var stepSeconds: Double
    public var completionsPerSecond: Double
    /// The median step's parts: sampling; scoring and the reference (and old-policy) forwards; the update.
    public var generateSeconds: Double, scoreSeconds: Double, optimizeSeconds: Double
}

/// The work of TRL's peer benchmark (`trl_grpo_bench.py`) for any group method: random prompts,
/// G completions each run to full length (no stop token), a programmatic reward (distinct tokens
/// / 10), temperature 1, one optimisation pass of one microbatch (the peer's
/// per_device_train_batch_size 64), the shared-prompt layout, β = 0.04 so that the reference runs.
/// The method's trainer is built by `make` from these; the figures are the median of `steps` steps
/// after one untimed warm-up step.
enum GroupBenchmark {
    struct Shape {
        var prompts: Int, promptLength: Int, generations: Int, completionLength: Int
    }

    static let beta = 0.04

    /// A group method's config at the peer's work: `s.prompts` prompts a step, G completions of
    /// `s.completionLength` tokens to full length, β = 0.04, one microbatch (the peer's
    /// per_device_train_batch_size 64), temperature 1, `steps` + 1 steps, no samples or checkpoints.
    static func config<C: GroupBenchmarkSettings>(_: C.Type, shape s: Shape, steps: Int) -> C {
        var c = C()
        c.steps = steps + 1
        c.batchSize = s.prompts
        c.numGenerations = s.generations
        c.gradAccum = 1
        c.maxCompletionLength = s.completionLength
        c.beta = beta
        c.temperature = 1
        c.stopToken = nil
        c.samplesEvery = 0
        c.checkpointEvery = 0
        return c
    }

    static func measure(config: GPTConfig, shape s: Shape, steps: Int,
                        make: (_ policy: GPT, _ reference: GPT, _ reward: RewardFunction, _ prompts: [[Int32]]) -> () -> [String: Double])
        -> GroupBenchmarkResult {
        precondition(s.promptLength + s.completionLength <= config.context && s.promptLength >= 1 && s.completionLength >= 1,
                     "benchmark shape: need prompt + completion ≤ context")
        precondition(steps >= 1, "benchmark: need at least one timed step")
        var rng = RNG(seed: 1234).split("grpo-bench")
        let data = (0..<s.prompts).map { _ in (0..<s.promptLength).map { _ in Int32(rng.int(config.vocabSize)) } }
        var model = config
        model.dropout = 0
        model.scalarHead = false
        let policy = GPT(config: model, seed: 1)
        let trainStep = make(policy, GPT(copying: policy), DistinctTokensReward(), data)
        _ = trainStep()
        var runs: [(Double, [String: Double])] = []
        for _ in 0..<steps {
            let t0 = Clock.now()
            let m = trainStep()
            runs.append((Clock.now() - t0, m))
        }
        let (median, m) = runs.sorted { $0.0 < $1.0 }[runs.count / 2]
        return GroupBenchmarkResult(stepSeconds: median, completionsPerSecond: Double(s.prompts * s.generations) / median,
                                    generateSeconds: m["time/generate_s"] ?? .nan, scoreSeconds: m["time/score_s"] ?? .nan,
                                    optimizeSeconds: m["time/optimize_s"] ?? .nan)
    }
}

/// The keys of GRPO's and RLOO's configs that the benchmark sets (`GroupBenchmark.config`).
protocol GroupBenchmarkSettings {
    init()
    var steps: Int { get set }
    var batchSize: Int { get set }
    var numGenerations: Int { get set }
    var gradAccum: Int { get set }
    var maxCompletionLength: Int { get set }
    var beta: Double { get set }
    var temperature: Float { get set }
    var stopToken: Int32? { get set }
    var samplesEvery: Int { get set }
    var checkpointEvery: Int { get set }
}

extension GRPOConfig: GroupBenchmarkSettings {}
extension RLOOConfig: GroupBenchmarkSettings {}

/// The peer benchmark's reward: distinct tokens of the completion / 10.
final class DistinctTokensReward: RewardFunction {
    var name: String { "distinct_tokens" }
    func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float] { responses.map { Float(Set($0).count) / 10 } }
}
