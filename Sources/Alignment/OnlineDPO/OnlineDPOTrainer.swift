import Engine
import Foundation
import GPT

/// Decides, for each prompt, which of two completions is preferred: returns 0 (the first) or 1
/// (the second) per pair. `stream(i)` is the random stream of pair i of the call, a function of
/// (seed, step, the pair's index in the step), for judges that draw (the simulated labelers): a
/// resumed run sees the same judgements, and so does a data-parallel job, whose processes judge
/// their own pairs.
public typealias PreferenceJudge = (_ prompts: [[Int32]], _ first: [[Int32]], _ second: [[Int32]], _ stream: (Int) -> RNG) -> [Int]

/// Online DPO (Guo et al. 2024, "Direct Language Model Alignment from Online AI Feedback"; TRL's
/// OnlineDPOTrainer). One step, in the order it runs:
///   1. sample two completions of each of `batchSize` prompts from the current policy (KV cache),
///      each on its own stream (seed, step, index), cut at EOS;
///   2. the judge picks the preferred completion of each pair (a reward model's or the gold judge's
///      scores through `OnlineDPOTrainer.judge(reward:…)`, or the simulated labelers);
///   3. the DPO loss of the existing family (`dpoLoss`, β and `lossType`) of each (chosen, rejected)
///      pair against the frozen reference, computed by DPO's own batch machinery (`DPOPairLoss`:
///      shared-prompt rows, one reference and one policy forward, one backward), averaged over the
///      step's pairs; one optimizer update.
/// In a data-parallel job each process samples, judges and trains on the pairs of its share of the
/// step's prompts (each completion and each judgement on the stream of its index in the step, so
/// the same as one process's); the pairs are gathered for the metrics and samples, the counts and
/// gradients summed through `OptimizerStep`.
///
/// Metrics (TRL's names): loss, rewards/chosen, rewards/rejected, rewards/margins,
/// rewards/accuracies, logps/chosen, logps/rejected (as DPO's, means over pairs), objective/kl
/// (Σ_t log π − log π_ref of a completion, averaged over both completions of every pair),
/// objective/entropy (−Σ_t log π, likewise), objective/non_score_reward (−β·objective/kl),
/// val/contain_eos_token (share of completions that ended with EOS), completions/mean_length,
/// beta, grad_norm, lr, time/generate_s, time/judge_s, time/optimize_s, tokens_per_s.
public final class OnlineDPOTrainer {
    public let config: OnlineDPOConfig
    public let policy: GPT
    public let reference: GPT
    public let judge: PreferenceJudge
    public let optimizer: AdamW
    public internal(set) var step = 0
    public var hooks = TrainingHooks()
    public var reducer: GradientReducer = DataParallel.reducer
    public var decode: ([Int32]) -> String = { $0.map(String.init).joined(separator: " ") }
    /// The (chosen, rejected) pairs of the last step, in prompt order, and which of the two samples won.
    public internal(set) var lastPairs: [PreferenceExample] = []
    public internal(set) var lastChoices: [Int] = []

    let pairLoss: DPOPairLoss
    let schedule: PromptEpochs
    let streams: OnlineStreams
    let generator: Generator
    let pad: Int32
    var lastEOS: [Bool] = []
    var tokensSeen = 0.0
    var timeSpent = 0.0

    /// - policy: the model to train (a copy of the SFT model, dropout 0); reference: the frozen SFT model.
    /// - prompts: token ids; each keeps its last `context − maxCompletionLength` tokens.
    public init(policy: GPT, reference: GPT, judge: @escaping PreferenceJudge, prompts: [[Int32]], config: OnlineDPOConfig,
                pad: Int32, seed: UInt64) {
        let problems = config.problems()
        precondition(problems.isEmpty, "OnlineDPOConfig: " + problems.map { "\($0.key): \($0.message)" }.joined(separator: "; "))
        precondition(policy.config.dropout == 0, "online DPO samples and trains with dropout off: build the policy with dropout 0")
        var a = policy.config, b = reference.config
        a.dropout = 0; b.dropout = 0
        precondition(a == b && reference !== policy, "the reference must be a frozen copy of the policy's architecture")
        precondition(config.maxCompletionLength < policy.config.context, "max_completion_length must be below the context")
        self.config = config
        self.policy = policy
        self.reference = reference
        self.judge = judge
        self.pad = pad
        streams = OnlineStreams(seed: seed, method: "online-dpo")
        let L = config.maxCompletionLength
        schedule = PromptEpochs(prompts, batchSize: config.batchSize, room: policy.config.context - L, streams: streams)
        let micro = config.batchSize / config.gradAccum
        let ws = GPTWorkspace(config: policy.config, maxB: config.sharedPrompt ? micro : 2 * micro,
                              maxT: schedule.longest + (config.sharedPrompt ? 2 * L : L))
        pairLoss = DPOPairLoss(policy: policy, reference: reference, config: config.dpo, pad: pad, seed: seed, ws: ws)
        generator = Generator(model: policy, maxBatch: min(2 * config.batchSize, 64))
        policy.enableGrads()
        optimizer = AdamW(layout: policy.layout, config: config.adam)
    }

    /// A judge from scores: the completion with the higher score wins (the first on a tie), after
    /// subtracting `missingEOSPenalty` from a completion that has no `stopToken` (TRL's
    /// `missing_eos_penalty`). `reward` is the reward model or the gold judge.
    public static func judge(reward: RewardFunction, stopToken: Int32? = nil, missingEOSPenalty: Float? = nil) -> PreferenceJudge {
        { prompts, first, second, _ in
            let n = prompts.count
            // A pair's two completions side by side: a reward model scores them in one row behind
            // one copy of their prompt.
            let both = (0..<n).flatMap { [first[$0], second[$0]] }
            var s = reward.scores(prompts: prompts.flatMap { [$0, $0] }, responses: both)
            precondition(s.count == 2 * n, "reward function \(reward.name) returned \(s.count) scores for \(2 * n) responses")
            if let p = missingEOSPenalty, let eos = stopToken {
                for (i, r) in both.enumerated() where r.last != eos { s[i] -= p }
            }
            return (0..<n).map { s[2 * $0 + 1] > s[2 * $0] ? 1 : 0 }
        }
    }

    // MARK: - One step

    /// Samples two completions per prompt, judges them, one DPO update; returns the step's metrics.
    @discardableResult
    public func trainStep() -> [String: Double] {
        let t0 = Clock.now()
        let prompts = schedule.batch(iteration: step)
        // Completions 2i and 2i + 1 answer prompt i; this process samples and judges those of its
        // share of the prompts (all of them in a process that runs alone).
        let mine = reducer.share(prompts.count)
        let doubled = prompts[mine].flatMap { [$0, $0] }
        let L = config.maxCompletionLength
        let cut = generator.sampleResponses(doubled, temperature: config.temperature, maxNewTokens: L, stopToken: config.stopToken) {
            streams.sampling(iteration: step, index: 2 * mine.lowerBound + $0)
        }.map { RolloutBuffer.truncate($0.tokens, stopToken: config.stopToken, maxLength: L) }
        let tSampled = Clock.now()
        let judgeStream = streams.stream("judge", iteration: step)
        let ownFirst = stride(from: 0, to: cut.count, by: 2).map { cut[$0].tokens }
        let ownSecond = stride(from: 1, to: cut.count, by: 2).map { cut[$0].tokens }
        let ownChoices = judge(Array(prompts[mine]), ownFirst, ownSecond) { judgeStream.split("pair", mine.lowerBound + $0) }
        precondition(ownChoices.count == mine.count && ownChoices.allSatisfy { $0 == 0 || $0 == 1 },
                     "the judge must return 0 or 1 for each of the \(mine.count) pairs")
        // Every process gets every pair: the update takes its own, the metrics and samples all.
        let first = reducer.allGather(ownFirst), second = reducer.allGather(ownSecond)
        let choices = reducer.allGather(ownChoices.map(Int32.init)).map(Int.init)
        let tJudged = Clock.now()
        var m = train(pairs: (0..<prompts.count).map { i in
            PreferenceExample(prompt: prompts[i], chosen: choices[i] == 0 ? first[i] : second[i], rejected: choices[i] == 0 ? second[i] : first[i])
        })
        lastChoices = choices
        lastEOS = reducer.allGather(cut.map(\.endedWithEOS))
        step += 1
        let dt = Clock.now() - t0
        let tokens = Double(lastPairs.reduce(0) { $0 + 2 * $1.prompt.count + $1.chosen.count + $1.rejected.count })
        tokensSeen += tokens
        timeSpent += dt
        m["val/contain_eos_token"] = Double(lastEOS.filter { $0 }.count) / Double(max(lastEOS.count, 1))
        m["completions/mean_length"] = Double(zip(first, second).reduce(0) { $0 + $1.0.count + $1.1.count }) / Double(max(2 * prompts.count, 1))
        m["time/generate_s"] = tSampled - t0
        m["time/judge_s"] = tJudged - tSampled
        m["time/optimize_s"] = dt - (tJudged - t0)
        m["tokens_per_s"] = tokens / max(dt, 1e-9)
        return m
    }

    /// One optimizer update of the DPO loss on given (chosen, rejected) pairs (the judged samples,
    /// or hand-made pairs in tests), in `gradAccum` microbatches; the loss is the mean over pairs.
    /// In a data-parallel job every process holds `pairs` and trains on its share (`reducer.share`)
    /// of them, cut by the microbatches.
    @discardableResult
    public func train(pairs: [PreferenceExample]) -> [String: Double] {
        precondition(!pairs.isEmpty && pairs.count % config.gradAccum == 0, "pairs must split into grad_accum microbatches")
        lastPairs = pairs
        let lr = config.schedule.lr(peak: config.lr, step: step, total: config.steps)
        let size = pairs.count / config.gradAccum, mine = reducer.share(pairs.count)
        let micro = stride(from: 0, to: pairs.count, by: size).compactMap { s -> [PreferenceExample]? in
            let part = (s..<(s + size)).clamped(to: mine)
            return part.isEmpty ? nil : Array(pairs[part])
        }
        var stats = PairStats()
        var kl = 0.0, entropy = 0.0
        let ipo = config.lossType == .ipo
        let norm = OptimizerStep(model: policy, optimizer: optimizer, lr: lr, reducer: reducer)
            .run(micro, count: { Double($0.count) }) { batch, scale in
                var i = 0
                _ = pairLoss.process(batch, cached: nil, gradScale: scale, dropoutStream: 0) { t in
                    stats.add(t)
                    // Sequence sums of log π and log π − log π_ref (the loss's values are averages for ipo).
                    let nw = ipo ? Double(max(batch[i].chosen.count, 1)) : 1, nl = ipo ? Double(max(batch[i].rejected.count, 1)) : 1
                    kl += (t.chosenReward * nw + t.rejectedReward * nl) / config.beta
                    entropy -= t.chosenLogp * nw + t.rejectedLogp * nl
                    i += 1
                }
            }.gradNorm
        var tokens = 0
        stats.sum(reducer, tokens: &tokens)
        if reducer.size > 1 {
            var v = [kl, entropy]
            reducer.sum(&v)
            (kl, entropy) = (v[0], v[1])
        }
        let n = Double(2 * pairs.count)
        var m = stats.metrics(prefix: "", rpo: false)
        m["objective/kl"] = kl / n
        m["objective/entropy"] = entropy / n
        m["objective/non_score_reward"] = -config.beta * kl / n
        m["beta"] = config.beta
        m["grad_norm"] = norm
        m["lr"] = lr
        return m
    }

    // MARK: - Loop

    @discardableResult
    public func run() throws -> [String: Double] {
        try runOnlineLoop(stage: "online_dpo", total: config.steps, step: { step }, checkpointEvery: config.checkpointEvery,
                          samplesEvery: config.samplesEvery, hooks: hooks, models: [policy], watch: ["loss", "grad_norm"],
                          train: { trainStep() }, samples: { sampleItems() })
    }

    /// The first `samplesCount` judged pairs of the last step.
    public func sampleItems() -> [[String: String]] {
        lastPairs.prefix(config.samplesCount).map { p in
            ["prompt": decode(p.prompt), "chosen": decode(p.chosen), "rejected": decode(p.rejected)]
        }
    }

    // MARK: - Memory and checkpoints

    /// Bytes held, by part: the policy (parameters, gradients, Adam moments), the reference, the
    /// forward workspace with the LM head's scratch, and the generator's KV cache.
    public var memoryBreakdown: [String: Int] {
        [
            "policy": policy.parameterCount * 16,
            "reference": reference.parameterCount * 4,
            "workspaces": pairLoss.ws.bytes + TokenLogProbs.scratchCount(V: policy.config.vocabSize, C: policy.config.nEmbd) * 4,
            "generator": generator.bytes,
        ]
    }
    public var memoryBytes: Int { memoryBreakdown.values.reduce(0, +) }

    /// Writes `policy.safetensors`, `policy_optimizer.safetensors` and `state.json` into `dir`.
    public func save(to dir: URL) throws {
        try OnlineCheckpoint.save(policy: policy, optimizer: optimizer,
                                  state: OnlineTrainerState(step: step, tokensSeen: tokensSeen, timeSpent: timeSpent), to: dir)
    }

    public func restore(from dir: URL) throws {
        let s = try OnlineCheckpoint.restore(policy: policy, optimizer: optimizer, from: dir, total: config.steps, totalName: "online_dpo.steps")
        step = s.step
        tokensSeen = s.tokensSeen
        timeSpent = s.timeSpent
    }
}
