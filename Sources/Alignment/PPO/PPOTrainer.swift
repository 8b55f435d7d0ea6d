import Engine
import Foundation
import GPT

/// The PPO stage of RLHF (Stiennon et al. 2020; Huang et al. 2024's reproduction; TRL's
/// PPOTrainer). One iteration, in the order it runs (see the extensions):
///   1. rollout: sample responses to a batch of prompts at `temperature` (KV cache), cut at EOS;
///   2. score them with the reward function (missing-EOS penalty, optional clip);
///   3. log-probs of the policy (= π_old) and the reference, values V(s_t), by batched forwards;
///   4. rewards r_t = −β·KL_t, plus the score at the last response token;
///   5. GAE advantages (whitened) and returns;
///   6. `numPPOEpochs` × minibatches of the clipped policy and value losses, AdamW steps;
///   7. metrics, and the adaptive KL controller's update.
/// Every random draw comes from a stream derived from (seed, iteration, ...), so a run restored
/// from a checkpoint continues bit-exactly as the uninterrupted one.
///
/// Metrics of `trainIteration()` (TRL's names; sums over the response tokens of a sequence,
/// averaged over the rollout's sequences, unless said otherwise):
///   objective/kl               Σ_t KL_t (the configured estimator)
///   objective/entropy          Σ_t −log π(y_t) (sampled tokens: a Monte Carlo entropy)
///   objective/non_score_reward Σ_t −β·KL_t
///   objective/scores           mean score (after the missing-EOS penalty and clip)
///   objective/rlhf_reward      scores + non_score_reward
///   objective/kl_coef          β of this iteration (before the controller's update)
///   policy/approxkl            ½·mean (log ρ)² over tokens, averaged over minibatches (as all below)
///   policy/clipfrac            fraction of tokens whose clipped policy term is strictly larger
///   policy/entropy             mean exact entropy of π(·|context) at the response tokens
///   loss/policy, loss/value    the clipped losses (value loss without vf_coef, as TRL)
///   val/clipfrac               fraction of tokens whose clipped value term is strictly larger
///   val/ratio                  mean ρ
///   val/explained_variance     1 − Var(R − V_old)/Var(R) over the rollout's tokens
///   val/num_eos_tokens         responses that ended with EOS
///   response_length            mean response length (EOS included)
///   tokens_per_s               prompt + response tokens of the rollout / wall time of the iteration
///   time/generate_s, time/score_s, time/optimize_s  wall time of sampling; of scoring, log-probs,
///                              values and advantages; of the PPO epochs (with the KL update)
///   lr                         the policy's learning rate of this iteration
public final class PPOTrainer {
    public let config: PPOConfig
    public let policy: GPT
    public let reference: GPT
    /// The separate value model (nil when the value head sits on the policy).
    public let value: GPT?
    public let reward: RewardFunction
    public let policyOptimizer: AdamW
    public let valueOptimizer: AdamW?
    public internal(set) var iteration = 0
    public internal(set) var kl: KLController
    public var hooks = TrainingHooks()
    /// Sums counts and gradients over the processes of a data-parallel job.
    public var reducer: GradientReducer = DataParallel.reducer
    /// Turns token ids into text for `hooks.samples` (default: ids joined by spaces).
    public var decode: ([Int32]) -> String = { $0.map(String.init).joined(separator: " ") }
    /// The buffer of the last rollout.
    public let rollout: PPORollout
    /// Metrics of each minibatch of the last iteration, in order (for inspection and tests).
    public internal(set) var minibatchStats: [[String: Double]] = []

    /// The prompt schedule and random streams (shared with GRPO and RLOO), named "ppo".
    let schedule: PromptEpochs
    let streams: OnlineStreams
    let pad: Int32
    let seed: UInt64
    let maxT: Int
    let ws: GPTWorkspace
    let valueWS: GPTWorkspace?
    /// Whether a separate value model runs side by side with the policy, one core each, in a
    /// workspace of its own (`RolloutPasses.sideBySide`: both models small).
    let valueBeside: Bool
    let generator: Generator
    var tokensSeen = 0.0
    var timeSpent = 0.0

    /// - policy: the model to train (a copy of the SFT model; for `.shared` it needs a scalar head).
    /// - reference: the frozen SFT model (never gets gradients).
    /// - value: the value model with a scalar head (`.separate`, e.g. a copy of the reward
    ///   model), or nil (`.shared`).
    /// - prompts: token ids; each keeps its last `context − responseLength` tokens.
    public init(policy: GPT, reference: GPT, value: GPT?, reward: RewardFunction, prompts: [[Int32]],
                config: PPOConfig, pad: Int32, seed: UInt64) {
        let problems = config.problems()
        precondition(problems.isEmpty, "PPOConfig: " + problems.map { "\($0.key): \($0.message)" }.joined(separator: "; "))
        var trunk = policy.config; trunk.scalarHead = false
        var refTrunk = reference.config; refTrunk.scalarHead = false
        precondition(trunk == refTrunk, "the reference model must have the policy's architecture")
        precondition(policy.config.dropout == 0 && reference.config.dropout == 0, "PPO runs with dropout off: build the models with dropout 0")
        switch config.valueModel {
        case .separate:
            precondition(value != nil && value!.config.scalarHead, "valueModel .separate needs a value model with a scalar head")
            precondition(value!.config.dropout == 0, "PPO runs with dropout off: build the value model with dropout 0")
            precondition(value! !== policy, "the separate value model must be another GPT than the policy")
        case .shared:
            precondition(value == nil, "valueModel .shared takes the value from the policy's head: pass value nil")
            precondition(policy.config.scalarHead, "valueModel .shared needs a policy with a scalar head (GPTConfig scalarHead: true)")
        }
        precondition(config.responseLength < policy.config.context, "response_length \(config.responseLength) must be below the context \(policy.config.context)")
        self.config = config
        self.policy = policy
        self.reference = reference
        self.value = value
        self.reward = reward
        self.pad = pad
        self.seed = seed
        streams = OnlineStreams(seed: seed, method: "ppo")
        schedule = PromptEpochs(prompts, batchSize: config.rolloutBatchSize, room: policy.config.context - config.responseLength, streams: streams)
        maxT = min(policy.config.context, schedule.longest + config.responseLength)
        policy.enableGrads()
        policyOptimizer = AdamW(layout: policy.layout, config: config.adam)
        ws = GPTWorkspace(config: policy.config, maxB: config.microBatchSize, maxT: maxT)
        if let value {
            precondition(value.config.context >= maxT, "the value model's context \(value.config.context) is shorter than prompt + response (\(maxT))")
            value.enableGrads()
            valueOptimizer = AdamW(layout: value.layout, config: config.adam)
            // Small models train the policy and the value model side by side (`trainMicrobatch`),
            // each in its own workspace. Otherwise the value model runs after the policy's forward
            // and backward are done with the workspace, and one of the policy's shape shares it.
            var valueTrunk = value.config; valueTrunk.scalarHead = false
            valueBeside = RolloutPasses.sideBySide(policy.config) && RolloutPasses.sideBySide(value.config)
            valueWS = valueTrunk == trunk && !valueBeside ? ws : GPTWorkspace(config: value.config, maxB: config.microBatchSize, maxT: maxT)
        } else {
            valueOptimizer = nil
            valueWS = nil
            valueBeside = false
        }
        generator = Generator(model: policy, maxBatch: min(config.rolloutBatchSize, 64))
        rollout = RolloutBuffer(capacity: config.rolloutBatchSize, responseLength: config.responseLength, tokenRewards: true, reference: true)
        kl = KLController(value: config.klCoef, adaptive: config.adaptiveKL, target: config.targetKL, horizon: config.horizon)
    }

    // MARK: - One iteration

    /// Rollout, scoring, advantages, PPO epochs and the KL update; returns the iteration's metrics.
    @discardableResult
    public func trainIteration() -> [String: Double] {
        let t0 = Clock.now()
        // 1. Rollout.
        let batch = promptBatch(iteration: iteration)
        let responses = sample(batch, iteration: iteration)
        let tSampled = Clock.now()
        // 2–5. Score, log-probs and values, rewards, advantages.
        var m = makeRollout(prompts: batch, responses: responses)
        let tScored = Clock.now()
        m["time/generate_s"] = tSampled - t0
        m["time/score_s"] = tScored - tSampled
        // 6. PPO epochs over minibatches.
        let lr = config.schedule.lr(peak: config.lr, step: iteration, total: config.iterations)
        let valueLR = config.schedule.lr(peak: config.valueLR ?? config.lr, step: iteration, total: config.iterations)
        m.merge(optimize(iteration: iteration, lr: lr, valueLR: valueLR)) { _, new in new }
        // 7. Log and adapt the KL coefficient.
        m["lr"] = lr
        kl.update(currentKL: m["objective/kl"] ?? .nan, samples: rollout.count)
        iteration += 1
        let dt = Clock.now() - t0
        var tokens = 0
        for b in 0..<rollout.count { tokens += rollout.prompts[b].count + rollout.responses[b].count }
        tokensSeen += Double(tokens)
        timeSpent += dt
        m["tokens_per_s"] = Double(tokens) / max(dt, 1e-9)
        m["time/optimize_s"] = dt - (tScored - t0)
        return m
    }

    /// Trains until `config.iterations`, logging, reporting samples and checkpointing through
    /// `hooks`. Returns the last metrics.
    @discardableResult
    public func run() throws -> [String: Double] {
        var last: [String: Double] = [:]
        var diverged = DivergenceGuard(stage: "ppo", keys: ["loss/policy", "loss/value"])
        while iteration < config.iterations {
            let m = trainIteration()
            hooks.log(iteration, m)
            last = m
            try diverged.check(step: iteration, metrics: m, models: [policy] + (value.map { [$0] } ?? []))
            if config.samplesEvery > 0 && (iteration % config.samplesEvery == 0 || iteration == 1) {
                hooks.samples(iteration, sampleItems())
            }
            if iteration == config.iterations || (config.checkpointEvery > 0 && iteration % config.checkpointEvery == 0) {
                try hooks.checkpoint(iteration)
            }
            if hooks.shouldStop() { break }
        }
        return last
    }

    /// The first `samplesCount` completions of the last rollout with their scores.
    public func sampleItems() -> [[String: String]] {
        (0..<min(config.samplesCount, rollout.count)).map { b in
            ["prompt": decode(rollout.prompts[b]), "completion": decode(rollout.responses[b]),
             "score": String(rollout.scores[b]), "ended_with_eos": String(rollout.endedWithEOS[b])]
        }
    }

    // MARK: - Prompts and random streams

    /// The prompts of an iteration: epochs over the prompt list, each in a fresh order drawn
    /// from (seed, epoch), so the batch is a pure function of the iteration (`PromptEpochs`).
    func promptBatch(iteration: Int) -> [[Int32]] { schedule.batch(iteration: iteration) }

    /// Sampling stream of sequence `index` of rollout `iteration`.
    func samplingRNG(iteration: Int, index: Int) -> RNG { streams.sampling(iteration: iteration, index: index) }

    /// Order of the rollout's sequences in PPO epoch `epoch` of `iteration`.
    func permutation(iteration: Int, epoch: Int) -> [Int] {
        var perm = Array(0..<rollout.count)
        var r = streams.minibatchOrder(iteration: iteration, epoch: epoch)
        r.shuffle(&perm)
        return perm
    }
}
