import Engine
import Foundation
import GPT

/// Group Relative Policy Optimization (Shao et al. 2024, "DeepSeekMath"; TRL's GRPOTrainer): PPO's
/// clipped objective without a value model, the baseline being the other completions of the same
/// prompt. One step, in the order it runs:
///   1. sample G completions of each of `batchSize` prompts from the current policy (KV cache), each
///      on its own stream (seed, step, index), cut at EOS;
///   2. score them with the reward function (a reward model, the gold judge, a program);
///   3. advantages A_i = (r_i − mean of its group) / (std + 1e-4), the std per `scaleRewards`;
///   4. log π_ref of every completion token when β > 0, and log π_old when μ > 1 (batched
///      forwards over the microbatches the updates train on);
///   5. μ optimizer updates, each over the step's microbatches, of the loss of `GRPOLoss`
///      (clipped ratio with ε/ε_high, β·k3 to the reference, normalised per `lossType`);
///   6. metrics.
/// With μ = 1, π_old is the policy that sampled: the ratio is exactly 1 (its log-probs are the ones
/// of the training forward itself, as TRL detaches them), and no extra forward runs.
///
/// Metrics of `trainStep()` (TRL's names; optimisation metrics are means over the μ passes):
///   reward, reward_std         mean and unbiased std of the scores over the step's completions
///   frac_reward_zero_std       share of completions whose group (batch, for scale_rewards batch) has std 0
///   kl                         mean k3 over the loss tokens (only with β > 0)
///   entropy                    mean exact entropy of π(·|context) at the loss tokens
///   clip_ratio/low_mean        share of loss tokens with ρ < 1 − ε and A < 0; high: ρ > 1 + ε_high and A > 0;
///   clip_ratio/high_mean,      region: either
///   clip_ratio/region_mean
///   completions/mean_length, /min_length, /max_length, /clipped_ratio (no EOS), /mean_terminated_length
///   loss, grad_norm, lr        the step's loss, the gradient norm before clipping, the learning rate
///   time/generate_s, time/score_s, time/optimize_s, tokens_per_s, completions_per_s
public final class GRPOTrainer {
    public let config: GRPOConfig
    public var policy: GPT { core.policy }
    /// The frozen reference (nil when β = 0).
    public var reference: GPT? { core.reference }
    public var reward: RewardFunction { core.reward }
    public let optimizer: AdamW
    public internal(set) var step = 0
    public var hooks = TrainingHooks()
    /// Sums counts and gradients over the processes of a data-parallel job.
    public var reducer: GradientReducer = DataParallel.reducer
    /// Turns token ids into text for `hooks.samples` (default: ids joined by spaces).
    public var decode: ([Int32]) -> String = { $0.map(String.init).joined(separator: " ") }
    /// The buffer of the last rollout.
    public var rollout: RolloutBuffer { core.buffer }
    /// Metrics of each optimisation pass of the last step, in order, with `ratio/max_deviation`
    /// (max |ρ − 1| over its tokens) beside the logged ones.
    public internal(set) var passStats: [[String: Double]] = []

    let core: GroupRollout
    var tokensSeen = 0.0
    var timeSpent = 0.0

    /// - policy: the model to train (a copy of the SFT model, dropout 0).
    /// - reference: the frozen SFT model; required when β > 0, ignored (and not kept) when β = 0.
    /// - reward: scores (prompt, completion) pairs (`RewardModelScorer`, the gold judge, ...).
    /// - prompts: token ids; each keeps its last `context − maxCompletionLength` tokens.
    /// Preconditions (check `config.problems()` first to report a user's mistake).
    public init(policy: GPT, reference: GPT?, reward: RewardFunction, prompts: [[Int32]], config: GRPOConfig, pad: Int32, seed: UInt64) {
        let problems = config.problems()
        precondition(problems.isEmpty, "GRPOConfig: " + problems.map { "\($0.key): \($0.message)" }.joined(separator: "; "))
        precondition(config.beta == 0 || reference != nil, "GRPO with beta > 0 needs a reference model")
        self.config = config
        core = GroupRollout(policy: policy, reference: config.beta > 0 ? reference : nil, reward: reward, prompts: prompts,
                            batchSize: config.batchSize, generations: config.numGenerations, gradAccum: config.gradAccum,
                            completionLength: config.maxCompletionLength, temperature: config.temperature, stopToken: config.stopToken,
                            missingEOSPenalty: config.missingEOSPenalty, sharedPrompt: config.sharedPrompt, pad: pad,
                            streams: OnlineStreams(seed: seed, method: "grpo"))
        optimizer = AdamW(layout: policy.layout, config: config.adam)
    }

    // MARK: - One step

    /// Sampling, scoring, advantages and the μ optimizer updates of one step; returns its metrics.
    @discardableResult
    public func trainStep() -> [String: Double] { groupTrainStep() }

    /// Steps 2–4 on given completions (the sampled ones, or hand-made ones in tests): truncation at
    /// EOS, scores, group advantages, the reference's and (μ > 1) the old policy's log-probs.
    /// Returns the rollout's metrics.
    @discardableResult
    public func prepare(prompts: [[Int32]], responses: [[Int32]]) -> [String: Double] {
        core.load(prompts: prompts, responses: responses, reducer: reducer)
        return prepareLoaded()
    }

    func prepareLoaded() -> [String: Double] {
        // Every process holds every completion's score (`GroupRollout.load`): the group means and the
        // batch std of `scale_rewards: batch` are those of the whole step's completions.
        let rewards = rollout.scores.map(Double.init)
        let (adv, stds) = GroupAdvantages.groupNormalized(rewards, groupSize: config.numGenerations, scale: config.scaleRewards)
        for (i, a) in adv.enumerated() { rollout.sequenceAdvantages[i] = Float(a) }
        if reference != nil { core.referenceLogProbs(reducer: reducer) }
        if config.numIterations > 1 { core.oldLogProbs(reducer: reducer) }
        return core.rolloutMetrics(stds: stds)
    }

    /// Whether completion b enters the loss.
    func active(_ b: Int) -> Bool { !config.maskTruncatedCompletions || rollout.endedWithEOS[b] }

    func count(_ batch: RolloutMicroBatch) -> Double { normalization(batch).count }

    /// `batch` is this process's part of a microbatch: bnpo's per-microbatch token mean takes the
    /// tokens of the whole microbatch (every process holds the rollout), and the microbatch counts
    /// once, in the process that holds its first completion.
    func normalization(_ batch: RolloutMicroBatch) -> (count: Double, weights: [Double]) {
        let micro = core.microbatch(of: batch)
        return GRPOLoss.normalization(config.lossType, lengths: batch.sequences.indices.map(batch.tokenCount),
                                      active: batch.sequences.map(active), maxCompletionLength: config.maxCompletionLength,
                                      microbatch: (tokens: micro.reduce(0) { $0 + (active($1) ? rollout.length($1) : 0) },
                                                   counted: batch.sequences[0] == micro.lowerBound))
    }

    /// d(scale · Σ w_i ℓ_t)/d logπ of each response token of `batch` (see `GRPOLoss`).
    func gradient(_ batch: RolloutMicroBatch, logp: [Float], entropy: [Float], scale: Double, sums s: inout GroupPassSums) -> [Float] {
        let weights = normalization(batch).weights
        let onPolicy = config.numIterations == 1
        let beta = reference != nil ? config.beta : 0
        var dlogp = [Float](repeating: 0, count: logp.count)
        for (j, b) in batch.sequences.enumerated() where active(b) {
            let a = rollout.sequenceAdvantages[b], w = weights[j] * scale
            for k in batch.seqStart[j]..<batch.seqStart[j + 1] {
                let slot = batch.slots[k]
                let old = onPolicy ? logp[k] : rollout.logprobs[slot]
                let t = GRPOLoss.token(logp: logp[k], oldLogp: old, refLogp: beta > 0 ? rollout.refLogprobs[slot] : nil, advantage: a,
                                       epsilonLow: config.epsilon, epsilonHigh: config.upperEpsilon, beta: beta)
                dlogp[k] = Float(Double(t.dLogp) * w)
                s.loss += Double(t.loss) * w
                s.tokens += 1
                s.units += 1
                s.entropy += Double(entropy[k])
                s.kl += Double(t.kl)
                s.clipLow += t.term.clippedLow ? 1 : 0
                s.clipHigh += t.term.clippedHigh ? 1 : 0
                s.maxRatioDeviation = max(s.maxRatioDeviation, Double(abs(t.term.ratio - 1)))
            }
        }
        return dlogp
    }

    // MARK: - Loop

    /// Trains until `config.steps`, logging, reporting samples and checkpointing through `hooks`;
    /// stops with a `TrainingError` when the loss or gradient stays non-finite. Returns the last metrics.
    @discardableResult
    public func run() throws -> [String: Double] {
        try runOnlineLoop(stage: "grpo", total: config.steps, step: { step }, checkpointEvery: config.checkpointEvery,
                          samplesEvery: config.samplesEvery, hooks: hooks, models: [policy], watch: ["loss", "grad_norm"],
                          train: { trainStep() }, samples: { sampleItems() })
    }

    /// The first `samplesCount` completions of the last rollout with their scores and advantages.
    public func sampleItems() -> [[String: String]] { core.sampleItems(count: config.samplesCount, decode: decode) }

    // MARK: - Memory and checkpoints

    /// Bytes held by the trainer, by part (`GroupRollout.memoryBreakdown`: no value model; no
    /// reference when β = 0).
    public var memoryBreakdown: [String: Int] { core.memoryBreakdown }
    public var memoryBytes: Int { memoryBreakdown.values.reduce(0, +) }

    /// Writes the policy, its optimizer and the step counters into `dir` (`policy.safetensors`,
    /// `policy_optimizer.safetensors`, `state.json`). Every random draw derives from (seed, step), so
    /// nothing else is needed to continue exactly.
    public func save(to dir: URL) throws {
        try OnlineCheckpoint.save(policy: policy, optimizer: optimizer, state: groupState, to: dir)
    }

    /// Restores what `save(to:)` wrote; the trainer must have been built with the same config, models and prompts.
    public func restore(from dir: URL) throws { try restoreGroup(from: dir, totalName: "grpo.steps") }
}

extension GRPOTrainer: GroupMethod {
    var passes: Int { config.numIterations }
    var totalSteps: Int { config.steps }
    var peakLR: Double { config.lr }
    var lrSchedule: LRSchedule { config.schedule }
    var klInLoss: Bool { reference != nil }
}
