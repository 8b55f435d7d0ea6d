import Engine
import Foundation
import GPT

/// Settings of best-of-N sampling (an evaluation policy, not a trainer): N completions per prompt
/// at `temperature`, the best under a reward function kept.
public struct BestOfNConfig: Equatable, Sendable {
    /// N, completions sampled per prompt.
    public var n = 4
    public var temperature: Float = 1.0
    public var maxCompletionLength = 48
    /// EOS id: a completion ends after it (kept).
    public var stopToken: Int32?

    public init() {}
}

extension BestOfNConfig: TrainerSettings {
    public mutating func read(_ r: SettingsReader) throws {
        n = try r.int("n", n, min: 1, max: 4096)
        temperature = try r.float("temperature", temperature, min: 0, max: 5, openMin: true)
        maxCompletionLength = try r.int("max_completion_length", maxCompletionLength, min: 1)
    }
}

/// What best-of-N chose for one prompt.
public struct BestOfNResult: Equatable, Sendable {
    public var prompt: [Int32]
    /// The N completions (cut after EOS), in sampling order, and their scores.
    public var completions: [[Int32]]
    public var endedWithEOS: [Bool]
    public var scores: [Float]
    /// Index of the kept completion: the highest score, the first of equal ones.
    public var best: Int
    /// KL(π_bon ‖ π) by the analytic bound log N − (N−1)/N (Beirami et al. 2024: exact for
    /// distinct rewards, an upper bound otherwise).
    public var klBound: Double
    /// KL(π_bon ‖ π) estimated from the N samples' scores (`BestOfN.klPlugIn`).
    public var klEstimate: Double
    public var chosen: [Int32] { completions[best] }
    public var bestScore: Float { scores[best] }
}

/// Best-of-N sampling (Stiennon et al. 2020's and Gao et al. 2023's "BoN" baseline; Beirami et al.
/// 2024, "Theoretical guarantees on the best-of-n alignment policy", for its KL).
public enum BestOfN {
    /// log N − (N − 1)/N: Beirami et al.'s formula, KL(π_bon ‖ π) when all outcomes have distinct
    /// rewards and an upper bound in general.
    public static func klBound(n: Int) -> Double {
        precondition(n >= 1)
        return Foundation.log(Double(n)) - Double(n - 1) / Double(n)
    }

    /// The plug-in estimate of KL(π_bon ‖ π) from one prompt's N samples: π replaced by the
    /// empirical distribution π̂ of the samples, the KL of best-of-N under π̂ computed exactly.
    /// With the distinct scores s_1 < … < s_m holding c_1 … c_m of the N samples and
    /// F_k = (c_1 + … + c_k)/N, best-of-N under π̂ lands on level k with probability
    /// P_k = F_k^N − F_{k−1}^N, spread over the level as π̂ is (equal scores are picked at random),
    /// so KL = Σ_k P_k · log(P_k / (c_k/N)).
    /// Why this estimator: it sees what the bound ignores, ties and repeated completions (a policy
    /// whose N samples all score alike gives 0, where the bound still says log N − (N−1)/N), and
    /// it needs nothing but the scores best-of-N computes anyway. Its bias: with N distinct scores
    /// it equals Σ_i p_i log(N p_i), p_i = (i/N)^N − ((i−1)/N)^N, below the bound (N = 2: 0.1308
    /// against 0.1931), the usual downward bias of a plug-in KL on a support seen N times.
    public static func klPlugIn(scores: [Float]) -> Double {
        let N = scores.count
        precondition(N >= 1)
        var levels: [(score: Float, count: Int)] = []
        for s in scores.sorted() {
            if let last = levels.last, last.score == s { levels[levels.count - 1].count += 1 } else { levels.append((s, 1)) }
        }
        var kl = 0.0, below = 0
        for level in levels {
            let f0 = Double(below) / Double(N), f1 = Double(below + level.count) / Double(N)
            let p = Foundation.pow(f1, Double(N)) - Foundation.pow(f0, Double(N))
            if p > 0 { kl += p * Foundation.log(p / (Double(level.count) / Double(N))) }
            below += level.count
        }
        return max(kl, 0)
    }

    /// Best-of-n for each n in `ns` (each ≤ the N sampled) from one run of N samples: the best of
    /// the first n samples of each prompt (nested subsets of one draw, as over-optimisation curves
    /// are usually drawn, so that the curve over n is not perturbed by fresh samples at each n).
    /// Returns, per n, the index of each prompt's kept sample and the plug-in KL estimate of its prompt.
    public static func prefixes(_ results: [BestOfNResult], ns: [Int]) -> [(n: Int, best: [Int], klEstimate: [Double])] {
        ns.map { n in
            precondition(results.allSatisfy { n >= 1 && n <= $0.scores.count }, "best-of-\(n) from fewer samples")
            let picks = results.map { select(Array($0.scores.prefix(n))) }
            let kls = results.map { klPlugIn(scores: Array($0.scores.prefix(n))) }
            return (n, picks, kls)
        }
    }

    /// Index of the best score (the first of equal ones; NaN scores never win unless all are NaN).
    public static func select(_ scores: [Float]) -> Int {
        precondition(!scores.isEmpty)
        var best = 0
        for i in 1..<scores.count where scores[i] > scores[best] || scores[best].isNaN { best = i }
        return best
    }

    /// Sample stream of completion `sample` of prompt `prompt`: a pure function of (seed, prompt
    /// index, sample index), so a completion does not depend on the batch it was sampled in.
    public static func stream(seed: UInt64, prompt: Int, sample: Int) -> RNG {
        RNG(seed: seed).split("best-of-n", prompt).split("sample", sample)
    }

    /// Samples `config.n` completions of each prompt from `policy` (KV cache, `batch` sequences at
    /// a time), scores them with `reward` and keeps the best. Prompts keep their last
    /// `context − maxCompletionLength` tokens.
    /// `stream` gives the sampling stream of (prompt index, sample index); by default
    /// `stream(seed:prompt:sample:)`. Eval passes its own so that sample 0 of a prompt is the
    /// sample every other policy's stream gives (best-of-1 is then the policy itself, sample for sample).
    public static func run(policy: GPT, prompts: [[Int32]], reward: RewardFunction, config: BestOfNConfig, seed: UInt64,
                           batch: Int = 64, stream: ((_ prompt: Int, _ sample: Int) -> RNG)? = nil) -> [BestOfNResult] {
        let problems = config.problems()
        precondition(problems.isEmpty, "BestOfNConfig: " + problems.map { "\($0.key): \($0.message)" }.joined(separator: "; "))
        precondition(config.maxCompletionLength < policy.config.context, "max_completion_length must be below the context")
        let N = config.n, L = config.maxCompletionLength, room = policy.config.context - L
        let cut = prompts.map { $0.count > room ? Array($0.suffix(room)) : $0 }
        let flat = cut.flatMap { Array(repeating: $0, count: N) }
        let generator = Generator(model: policy, maxBatch: max(1, min(batch, flat.count)))
        let samples = generator.sampleResponses(flat, temperature: config.temperature, maxNewTokens: L, stopToken: config.stopToken) {
            stream?($0 / N, $0 % N) ?? Self.stream(seed: seed, prompt: $0 / N, sample: $0 % N)
        }.map { RolloutBuffer.truncate($0.tokens, stopToken: config.stopToken, maxLength: L) }
        let scores = flat.isEmpty ? [] : reward.scores(prompts: flat, responses: samples.map(\.tokens))
        precondition(scores.count == flat.count, "reward function \(reward.name) returned \(scores.count) scores for \(flat.count) completions")
        return cut.indices.map { i in
            let r = (i * N)..<((i + 1) * N)
            let s = Array(scores[r])
            return BestOfNResult(prompt: cut[i], completions: samples[r].map(\.tokens), endedWithEOS: samples[r].map(\.endedWithEOS),
                                 scores: s, best: select(s), klBound: klBound(n: N), klEstimate: klPlugIn(scores: s))
        }
    }
}
