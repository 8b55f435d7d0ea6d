import Engine
import Foundation
import GPT

/// REINFORCE Leave-One-Out (Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style
/// Optimization for Learning from Human Feedback in LLMs"; TRL's RLOOTrainer). Each completion is
/// one action. One step, in the order it runs:
///   1. sample k completions of each of `batchSize` prompts (own streams), cut at EOS;
///   2. score them; with β > 0, log π_ref and log π_old of every completion token (batched
///      forwards), the completion's KL Σ_t KL_t (k1 or k3) and its reward R_i = score_i − β·KL_i;
///   3. advantages A_i = R_i − (1/(k−1)) Σ_{j≠i} R_j over the prompt's completions (optionally
///      normalised over the batch);
///   4. `numIterations` optimizer updates of the clipped surrogate of the sequence ratio
///      ρ_i = π(o_i)/π_old(o_i) = exp Σ_t (log π − log π_old):
///        ℓ_i = −min(ρ_i·A_i, clip(ρ_i, 1 − ε, 1 + ε_high)·A_i),  the loss the mean over completions,
///      dℓ_i/d log π(y_t) = −A_i·ρ_i for every token of o_i unless the clip is active;
///   5. metrics.
/// On the first update π = π_old: ρ = 1 exactly (the old log-probs come from a forward over the
/// very microbatches it trains on, or are its own when nothing needs them earlier).
///
/// Metrics (TRL's names): reward, reward_std, frac_reward_zero_std (groups of R with std 0), kl
/// (mean per-token KL, with β > 0), objective/rlhf_reward (mean R), entropy, clip_ratio/low_mean,
/// clip_ratio/high_mean, clip_ratio/region_mean (shares of completions), completions/…, loss,
/// grad_norm, lr, time/…, tokens_per_s, completions_per_s.
public final class RLOOTrainer {
    public let config: RLOOConfig
    public var policy: GPT { core.policy }
    /// The frozen reference (nil when β = 0).
    public var reference: GPT? { core.reference }
    public var reward: RewardFunction { core.reward }
    public let optimizer: AdamW
    public internal(set) var step = 0
    public var hooks = TrainingHooks()
    public var reducer: GradientReducer = DataParallel.reducer
    public var decode: ([Int32]) -> String = { $0.map(String.init).joined(separator: " ") }
    public var rollout: RolloutBuffer { core.buffer }
    /// Metrics of each optimisation pass of the last step, with `ratio/max_deviation`.
    public internal(set) var passStats: [[String: Double]] = []
    /// Per completion of the last rollout: Σ_t KL_t and the reward R = score − β·KL.
    public internal(set) var sequenceKL: [Double] = []
    public internal(set) var sequenceRewards: [Double] = []

    let core: GroupRollout
    var tokensSeen = 0.0
    var timeSpent = 0.0

    /// As `GRPOTrainer.init`: the reference is required when β > 0 and not kept when β = 0.
    public init(policy: GPT, reference: GPT?, reward: RewardFunction, prompts: [[Int32]], config: RLOOConfig, pad: Int32, seed: UInt64) {
        let problems = config.problems()
        precondition(problems.isEmpty, "RLOOConfig: " + problems.map { "\($0.key): \($0.message)" }.joined(separator: "; "))
        precondition(config.beta == 0 || reference != nil, "RLOO with beta > 0 needs a reference model")
        self.config = config
        core = GroupRollout(policy: policy, reference: config.beta > 0 ? reference : nil, reward: reward, prompts: prompts,
                            batchSize: config.batchSize, generations: config.numGenerations, gradAccum: config.gradAccum,
                            completionLength: config.maxCompletionLength, temperature: config.temperature, stopToken: config.stopToken,
                            missingEOSPenalty: config.missingEOSPenalty, sharedPrompt: config.sharedPrompt, pad: pad,
                            streams: OnlineStreams(seed: seed, method: "rloo"))
        optimizer = AdamW(layout: policy.layout, config: config.adam)
    }

    // MARK: - One step

    @discardableResult
    public func trainStep() -> [String: Double] { groupTrainStep() }

    /// Steps 2–3 on given completions (sampled, or hand-made in tests); returns the rollout's metrics.
    @discardableResult
    public func prepare(prompts: [[Int32]], responses: [[Int32]]) -> [String: Double] {
        core.load(prompts: prompts, responses: responses, reducer: reducer)
        return prepareLoaded()
    }

    /// Whether the old log-probs come from a forward before the updates (the KL penalty needs them;
    /// so do passes after the first).
    var needsOldForward: Bool { reference != nil || config.numIterations > 1 }

    func prepareLoaded() -> [String: Double] {
        let n = rollout.count, L = rollout.L
        var klTokens = 0.0, klSum = 0.0
        sequenceKL = [Double](repeating: 0, count: n)
        if let _ = reference {
            core.referenceLogProbs(reducer: reducer)
            core.oldLogProbs(reducer: reducer)
            for b in 0..<n {
                var s = 0.0
                for t in 0..<rollout.length(b) {
                    s += Double(OnlineMath.kl(logp: rollout.logprobs[b * L + t], refLogp: rollout.refLogprobs[b * L + t], estimator: config.klEstimator))
                }
                sequenceKL[b] = s
                klSum += s
                klTokens += Double(rollout.length(b))
            }
        } else if config.numIterations > 1 {
            core.oldLogProbs(reducer: reducer)
        }
        let beta = reference != nil ? config.beta : 0
        sequenceRewards = (0..<n).map { Double(rollout.scores[$0]) - beta * sequenceKL[$0] }
        var adv = GroupAdvantages.leaveOneOut(sequenceRewards, groupSize: config.numGenerations)
        if config.normalizeAdvantages { adv = GroupAdvantages.normalized(adv) }
        for (i, a) in adv.enumerated() { rollout.sequenceAdvantages[i] = Float(a) }
        let G = config.numGenerations
        let stds = (0..<n).map { b in GroupAdvantages.moments(sequenceRewards[(b / G * G)..<(b / G * G + G)]).std }
        var m = core.rolloutMetrics(stds: stds)
        m["objective/rlhf_reward"] = sequenceRewards.reduce(0, +) / Double(n)
        if reference != nil { m["kl"] = klSum / max(klTokens, 1) }
        return m
    }

    func active(_ b: Int) -> Bool { !config.maskTruncatedCompletions || rollout.endedWithEOS[b] }

    /// The loss is a mean over completions: a microbatch weighs its number of completions.
    func count(_ batch: RolloutMicroBatch) -> Double { Double(batch.sequences.count) }

    /// d(scale · Σ_i ℓ_i)/d logπ of each token: dℓ_i/d log ρ_i for every token of completion i.
    func gradient(_ batch: RolloutMicroBatch, logp: [Float], entropy: [Float], scale: Double, sums s: inout GroupPassSums) -> [Float] {
        let onPolicy = !needsOldForward
        var dlogp = [Float](repeating: 0, count: logp.count)
        for (j, b) in batch.sequences.enumerated() where active(b) {
            let range = batch.seqStart[j]..<batch.seqStart[j + 1]
            var logRatio = 0.0
            if !onPolicy { for k in range { logRatio += Double(logp[k]) - Double(rollout.logprobs[batch.slots[k]]) } }
            let term = OnlineMath.clippedSurrogate(logRatio: logRatio, advantage: rollout.sequenceAdvantages[b],
                                                   epsilonLow: config.epsilon, epsilonHigh: config.upperEpsilon)
            let d = Float(Double(term.dLogp) * scale)
            for k in range {
                dlogp[k] = d
                s.tokens += 1
                s.entropy += Double(entropy[k])
            }
            s.loss += Double(term.loss) * scale
            s.units += 1
            s.clipLow += term.clippedLow ? 1 : 0
            s.clipHigh += term.clippedHigh ? 1 : 0
            s.maxRatioDeviation = max(s.maxRatioDeviation, Double(abs(term.ratio - 1)))
        }
        return dlogp
    }

    // MARK: - Loop

    @discardableResult
    public func run() throws -> [String: Double] {
        try runOnlineLoop(stage: "rloo", total: config.steps, step: { step }, checkpointEvery: config.checkpointEvery,
                          samplesEvery: config.samplesEvery, hooks: hooks, models: [policy], watch: ["loss", "grad_norm"],
                          train: { trainStep() }, samples: { sampleItems() })
    }

    public func sampleItems() -> [[String: String]] { core.sampleItems(count: config.samplesCount, decode: decode) }

    // MARK: - Memory and checkpoints

    /// Bytes held by the trainer, by part (no value model; no reference when β = 0).
    public var memoryBreakdown: [String: Int] { core.memoryBreakdown }
    public var memoryBytes: Int { memoryBreakdown.values.reduce(0, +) }

    /// Writes `policy.safetensors`, `policy_optimizer.safetensors` and `state.json` into `dir`.
    public func save(to dir: URL) throws { try OnlineCheckpoint.save(policy: policy, optimizer: optimizer, state: groupState, to: dir) }

    public func restore(from dir: URL) throws { try restoreGroup(from: dir, totalName: "rloo.steps") }
}

extension RLOOTrainer: GroupMethod {
    var passes: Int { config.numIterations }
    var totalSteps: Int { config.steps }
    var peakLR: Double { config.lr }
    var lrSchedule: LRSchedule { config.schedule }
    var klInLoss: Bool { false }
}
