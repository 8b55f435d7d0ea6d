import Engine
import Foundation
import GPT

/// Sums over the loss tokens (or sequences) of one optimisation pass of a group method, for its
/// metrics (TRL's names: `entropy`, `kl`, `clip_ratio/…`, `loss`).
struct GroupPassSums {
    /// Tokens that enter the loss (masked truncated completions excluded).
    var tokens = 0.0
    var entropy = 0.0, kl = 0.0
    /// Units (tokens for GRPO, sequences for RLOO) whose ratio was clipped below / above, and how many units.
    var clipLow = 0.0, clipHigh = 0.0, units = 0.0
    /// The pass's objective: Σ of each loss term times its weight in the step's mean.
    var loss = 0.0
    /// max |ρ − 1| over the units (exactly 0 when the pass is on-policy: μ = 1 or the first pass).
    var maxRatioDeviation = 0.0

    /// The sums of every process of a data-parallel job (the largest deviation of any).
    mutating func sum(_ reducer: GradientReducer) {
        guard reducer.size > 1 else { return }
        var v = [tokens, entropy, kl, clipLow, clipHigh, units, loss]
        reducer.sum(&v)
        (tokens, entropy, kl, clipLow, clipHigh, units, loss) = (v[0], v[1], v[2], v[3], v[4], v[5], v[6])
        maxRatioDeviation = reducer.maximum(maxRatioDeviation)
    }

    func metrics(klLogged: Bool) -> [String: Double] {
        let n = max(tokens, 1), u = max(units, 1)
        var m: [String: Double] = [
            "loss": loss,
            "entropy": entropy / n,
            "clip_ratio/low_mean": clipLow / u,
            "clip_ratio/high_mean": clipHigh / u,
            "clip_ratio/region_mean": (clipLow + clipHigh) / u,
        ]
        if klLogged { m["kl"] = kl / n }
        return m
    }
}

/// The settings GRPO and RLOO have in common, and what follows from them.
public protocol GroupSettings {
    /// Prompts a step.
    var batchSize: Int { get }
    /// Completions a prompt (G).
    var numGenerations: Int { get }
    var gradAccum: Int { get }
    var maxCompletionLength: Int { get }
    var epsilon: Double { get }
    var epsilonHigh: Double? { get }
    var sharedPrompt: Bool { get }
}

extension GroupSettings {
    /// ε_high as used: `epsilonHigh` or `epsilon`.
    public var upperEpsilon: Double { epsilonHigh ?? epsilon }
    /// Completions per step and per microbatch.
    public var completionsPerStep: Int { batchSize * numGenerations }
    public var microBatchSize: Int { completionsPerStep / max(gradAccum, 1) }
    /// Rows of one microbatch's forward passes (one a group with the shared prompt).
    public var forwardRows: Int {
        GroupRollout.forwardShape(completions: completionsPerStep, groupSize: numGenerations, microSize: max(1, microBatchSize),
                                  sharedPrompt: sharedPrompt, promptTokens: 0, completionLength: maxCompletionLength).rows
    }
    /// Length of those rows for prompts of up to `promptTokens` tokens.
    public func forwardLength(promptTokens: Int) -> Int {
        GroupRollout.forwardShape(completions: completionsPerStep, groupSize: numGenerations, microSize: max(1, microBatchSize),
                                  sharedPrompt: sharedPrompt, promptTokens: promptTokens, completionLength: maxCompletionLength).length
    }
}

/// What GRPO and RLOO share beyond the arithmetic (and what PPO shares with them: the rollout
/// buffer, its postprocessing and scoring, the generator, the microbatch layouts and forwards):
/// each step draws `batchSize` prompts and samples `G` completions of each, completion j of the
/// step on its own stream (seed, step, j) and belonging to group j / G; scores them; lays the
/// step out in `gradAccum` microbatches of consecutive completions (a group's completions in a
/// microbatch share one row behind one copy of their prompt, with `sharedPrompt`); runs the reference and, when the
/// method needs them, the pre-update policy over those microbatches; and runs the optimisation
/// passes through `OptimizerStep`. No value model: nothing here has one.
///
/// In a data-parallel job (`reducer` of several processes) each process samples the groups of its
/// share of the step's prompts (groups never span processes), on the completions' own streams, and
/// every process then holds the whole rollout: the completions and their scores are gathered, so
/// the advantages (a group's, or the batch's std for `scale_rewards: batch`) and the rollout's
/// metrics are computed from every completion, as one process computes them. The forwards and the
/// updates take each process's completions of every microbatch (`batches`: the microbatches cut to
/// this process's groups); the log-probs of the forwards are gathered, the counts of the loss's
/// normaliser, the gradients and the pass's sums are summed over processes.
final class GroupRollout {
    let policy: GPT
    /// The frozen reference (nil when the KL coefficient is 0: it is then neither kept nor run).
    let reference: GPT?
    let reward: RewardFunction
    let G: Int
    let batchSize: Int
    let L: Int
    let temperature: Float
    let stopToken: Int32?
    let missingEOSPenalty: Float?
    let sharedPrompt: Bool
    /// Completions per microbatch.
    let microSize: Int
    let pad: Int32
    let streams: OnlineStreams
    let schedule: PromptEpochs
    let generator: Generator
    let passes: RolloutPasses
    let buffer: RolloutBuffer
    let maxT: Int
    /// This process's parts of the microbatches of the current rollout, in order (indices into the
    /// buffer): the whole microbatches in a process that runs alone.
    var batches: [RolloutMicroBatch] = []

    init(policy: GPT, reference: GPT?, reward: RewardFunction, prompts: [[Int32]], batchSize: Int, generations G: Int,
         gradAccum: Int, completionLength L: Int, temperature: Float, stopToken: Int32?, missingEOSPenalty: Float?,
         sharedPrompt: Bool, pad: Int32, streams: OnlineStreams) {
        precondition(policy.config.dropout == 0, "online methods sample and train with dropout off: build the policy with dropout 0")
        precondition(L < policy.config.context, "max_completion_length \(L) must be below the context \(policy.config.context)")
        if let reference {
            var a = policy.config, b = reference.config
            a.scalarHead = false; b.scalarHead = false; a.dropout = 0; b.dropout = 0
            precondition(a == b, "the reference model must have the policy's architecture")
            precondition(reference !== policy, "the reference must be a frozen copy, not the policy itself")
        }
        self.policy = policy
        self.reference = reference
        self.reward = reward
        self.G = G
        self.batchSize = batchSize
        self.L = L
        self.temperature = temperature
        self.stopToken = stopToken
        self.missingEOSPenalty = missingEOSPenalty
        self.sharedPrompt = sharedPrompt
        self.pad = pad
        self.streams = streams
        let n = batchSize * G
        microSize = n / gradAccum
        schedule = PromptEpochs(prompts, batchSize: batchSize, room: policy.config.context - L, streams: streams)
        let shape = Self.forwardShape(completions: n, groupSize: G, microSize: microSize, sharedPrompt: sharedPrompt,
                                      promptTokens: schedule.longest, completionLength: L)
        maxT = shape.length
        generator = Generator(model: policy, maxBatch: min(n, 64))
        buffer = RolloutBuffer(capacity: n, responseLength: L, tokenRewards: false, reference: reference != nil)
        policy.enableGrads()
        passes = RolloutPasses(policy: policy, rows: shape.rows, maxT: maxT)
    }

    /// The rows of a microbatch's forward passes and their longest length, for prompts of up to
    /// `promptTokens` tokens: one row a completion, or with the shared prompt one a group.
    static func forwardShape(completions n: Int, groupSize G: Int, microSize: Int, sharedPrompt: Bool,
                             promptTokens: Int, completionLength L: Int) -> (rows: Int, length: Int) {
        guard sharedPrompt else { return (microSize, promptTokens + L) }
        return (maxRows(completions: n, groupSize: G, microSize: microSize), promptTokens + perRow(groupSize: G, microSize: microSize) * L)
    }

    /// The most rows a microbatch of the shared-prompt layout can need: one for each group that
    /// has completions in it.
    static func maxRows(completions n: Int, groupSize G: Int, microSize: Int) -> Int {
        stride(from: 0, to: n, by: microSize).map { start in
            let end = min(n, start + microSize)
            return (end - 1) / G - start / G + 1
        }.max() ?? 1
    }

    /// The most completions a row of the shared-prompt layout holds: a group's, or a
    /// microbatch's when that is smaller.
    static func perRow(groupSize G: Int, microSize: Int) -> Int { min(G, microSize) }

    // MARK: - Rollout

    /// The step's prompts, each repeated G times (completion j answers prompt j / G).
    func groupPrompts(step: Int) -> [[Int32]] { schedule.batch(iteration: step).flatMap { Array(repeating: $0, count: G) } }

    /// The step's completions this process samples and trains on: the groups of its share of the
    /// step's prompts (all of them in a process that runs alone).
    func ownCompletions(_ reducer: GradientReducer) -> Range<Int> {
        let p = reducer.share(batchSize)
        return (p.lowerBound * G)..<(p.upperBound * G)
    }

    /// Samples the step's completions: this process's own, each on the stream of its index in the
    /// step, then every process's gathered (in a process that runs alone, all of them).
    func sample(step: Int, reducer: GradientReducer) -> (prompts: [[Int32]], responses: [[Int32]]) {
        let prompts = groupPrompts(step: step)
        let mine = ownCompletions(reducer)
        let responses = generator.sampleResponses(Array(prompts[mine]), temperature: temperature, maxNewTokens: L, stopToken: stopToken) {
            streams.sampling(iteration: step, index: mine.lowerBound + $0)
        }.map(\.tokens)
        return (prompts, reducer.allGather(responses))
    }

    /// Loads (prompt, response) pairs (sampled, or hand-made in tests): truncation at EOS, scores
    /// (with the missing-EOS penalty when set; each process scores its share and gets every score),
    /// and the microbatch layout of this process's completions.
    func load(prompts: [[Int32]], responses: [[Int32]], reducer: GradientReducer) {
        precondition(prompts.count == buffer.capacity, "a step holds batch_size × num_generations = \(buffer.capacity) completions")
        buffer.load(prompts: prompts, responses: responses, stopToken: stopToken, promptRoom: policy.config.context - L)
        buffer.score(with: reward, stopToken: stopToken, missingEOSPenalty: missingEOSPenalty, mode: .subtract, clip: nil, reducer: reducer)
        let mine = ownCompletions(reducer)
        batches = stride(from: 0, to: buffer.count, by: microSize).compactMap { s in
            let part = (s..<min(buffer.count, s + microSize)).clamped(to: mine)
            if part.isEmpty { return nil }
            let idx = Array(part)
            if sharedPrompt { return .sharedPrompt(buffer, idx, groupSize: G, pad: pad) }
            let T = idx.map { buffer.prompts[$0].count + buffer.responses[$0].count }.max()!
            return .plain(buffer, idx, T: T, pad: pad)
        }
    }

    /// The completions of the whole microbatch (of every process) that `batch` is a part of.
    func microbatch(of batch: RolloutMicroBatch) -> Range<Int> {
        let s = batch.sequences[0] / microSize * microSize
        return s..<min(buffer.count, s + microSize)
    }

    /// log π_ref of every response token (logits / temperature), by batched forwards of the reference.
    func referenceLogProbs(reducer: GradientReducer) {
        guard let reference else { preconditionFailure("no reference model") }
        forEachBatch(reducer, into: &buffer.refLogprobs) { passes.logProbs($0, reference, temperature: temperature) }
    }

    /// log π_old of every response token: the policy before this step's updates, over the very
    /// microbatches the first pass trains on, so that pass's ratio is exactly 1.
    func oldLogProbs(reducer: GradientReducer) {
        forEachBatch(reducer, into: &buffer.logprobs) { passes.logProbs($0, policy, temperature: temperature) }
    }

    /// Writes `values(batch)` of each of this process's batches at its slots of `array`, then
    /// gathers every process's (each process then holds the values of every completion).
    func forEachBatch(_ reducer: GradientReducer, into array: inout [Float], values: (RolloutMicroBatch) -> [Float]) {
        var written: [Int] = []
        for batch in batches {
            let v = values(batch)
            for (k, i) in batch.slots.enumerated() { array[i] = v[k] }
            if reducer.size > 1 { written += batch.slots }
        }
        if reducer.size > 1 {
            var arrays = [array]
            reducer.gather(&arrays, slots: written, count: buffer.count * buffer.L)
            array = arrays[0]
        }
    }

    // MARK: - Optimisation

    /// One optimizer step over the step's microbatches: `count(batch)` is what the batch weighs in
    /// the loss's mean (summed over processes by the reducer), `gradient(batch, logp, entropy, scale,
    /// &sums)` returns d(scale · Σ its loss terms)/d logp for each response token.
    func pass(optimizer: AdamW, lr: Double, reducer: GradientReducer, count: (RolloutMicroBatch) -> Double,
              gradient: (RolloutMicroBatch, [Float], [Float], Double, inout GroupPassSums) -> [Float]) -> (sums: GroupPassSums, gradNorm: Double) {
        var sums = GroupPassSums()
        let r = OptimizerStep(model: policy, optimizer: optimizer, lr: lr, reducer: reducer).run(batches, count: count) { batch, scale in
            passes.policyGradient(batch, temperature: temperature) { logp, entropy in
                gradient(batch, logp, entropy, scale, &sums)
            }
        }
        sums.sum(reducer)
        return (sums, r.gradNorm)
    }

    // MARK: - Metrics

    /// TRL's reward and completion statistics of the rollout: `reward` (mean score), `reward_std`
    /// (its unbiased std over the batch), `frac_reward_zero_std` (share of completions whose std —
    /// `zeroStd` — is 0), `completions/{mean,min,max}_length`, `completions/clipped_ratio` (share that
    /// ran out of length without EOS) and `completions/mean_terminated_length`.
    func rolloutMetrics(stds: [Double]) -> [String: Double] {
        let n = buffer.count
        let scores = buffer.scores.map(Double.init)
        let lengths = buffer.responses.map { Double($0.count) }
        let terminated = (0..<n).filter { buffer.endedWithEOS[$0] }.map { lengths[$0] }
        return [
            "reward": GroupAdvantages.moments(scores).mean,
            "reward_std": GroupAdvantages.moments(scores).std,
            "frac_reward_zero_std": Double(stds.filter(GroupAdvantages.isZeroStd).count) / Double(max(stds.count, 1)),
            "completions/mean_length": lengths.reduce(0, +) / Double(n),
            "completions/min_length": lengths.min() ?? 0,
            "completions/max_length": lengths.max() ?? 0,
            "completions/clipped_ratio": Double(n - terminated.count) / Double(n),
            "completions/mean_terminated_length": terminated.isEmpty ? 0 : terminated.reduce(0, +) / Double(terminated.count),
        ]
    }

    /// Prompt and completion tokens of the rollout.
    var rolloutTokens: Int { (0..<buffer.count).reduce(0) { $0 + buffer.prompts[$1].count + buffer.responses[$1].count } }

    /// The first `count` completions of the last rollout with their scores and advantages.
    func sampleItems(count: Int, decode: ([Int32]) -> String) -> [[String: String]] {
        (0..<min(count, buffer.count)).map { b in
            ["prompt": decode(buffer.prompts[b]), "completion": decode(buffer.responses[b]), "score": String(buffer.scores[b]),
             "advantage": String(buffer.sequenceAdvantages[b]), "ended_with_eos": String(buffer.endedWithEOS[b])]
        }
    }

    // MARK: - Memory

    /// Bytes held, by part: the policy (parameters, gradients, two Adam moments), the reference
    /// (parameters; absent when β = 0), the forward workspaces, their LM heads' scratch and a second
    /// gradient buffer where microbatches run as two halves (`RolloutPasses`), the
    /// generator's KV cache, the rollout buffer, and the reward model when it is a `RewardModelScorer`.
    /// There is no value model.
    var memoryBreakdown: [String: Int] {
        func lmScratch(_ c: GPTConfig) -> Int { TokenLogProbs.scratchCount(V: c.vocabSize, C: c.nEmbd) * 4 }
        var m: [String: Int] = [:]
        m["policy"] = policy.parameterCount * 4 * 4
        if let reference { m["reference"] = reference.parameterCount * 4 }
        m["workspaces"] = passes.bytes
        m["generator"] = generator.bytes
        m["rollout"] = buffer.bytes + buffer.capacity * maxT * 4
        if let rm = reward as? RewardModelScorer { m["reward_model"] = rm.model.parameterCount * 4 + (rm.ws?.bytes ?? 0) + lmScratch(rm.model.config) }
        return m
    }
}

// MARK: - The loop and checkpoints of a group method

/// The counters a group method's checkpoint holds beside the policy and its optimizer.
struct OnlineTrainerState: Codable {
    var step: Int
    var tokensSeen: Double
    var timeSpent: Double
    enum CodingKeys: String, CodingKey { case step, tokensSeen = "tokens_seen", timeSpent = "time_spent" }
}

enum OnlineCheckpoint {
    /// Writes `policy.safetensors`, `policy_optimizer.safetensors` and `state.json` into `dir`.
    static func save(policy: GPT, optimizer: AdamW, state: OnlineTrainerState, to dir: URL) throws {
        try policy.save(to: dir.appendingPathComponent("policy.safetensors"))
        try optimizer.save(to: dir.appendingPathComponent("policy_optimizer.safetensors"))
        try CheckpointStore.writeJSON(state, to: dir.appendingPathComponent("state.json"))
    }

    /// Reads what `save` wrote, checking the step against `total` (`totalName` names it in messages).
    static func restore(policy: GPT, optimizer: AdamW, from dir: URL, total: Int, totalName: String) throws -> OnlineTrainerState {
        try GPT.loadBuffer(policy.params, layout: policy.layout, from: dir.appendingPathComponent("policy.safetensors"))
        try optimizer.load(from: dir.appendingPathComponent("policy_optimizer.safetensors"))
        let url = dir.appendingPathComponent("state.json")
        let s = try CheckpointStore.readJSON(OnlineTrainerState.self, from: url)
        try CheckpointStore.checkStep(s.step, key: "step", total: total, totalName: totalName, in: url)
        return s
    }
}

/// The loop every online trainer but PPO runs (PPO's is the same, with its own names): a step,
/// its log, the divergence guard, samples every `samplesEvery` steps (and after the first), a
/// checkpoint every `checkpointEvery` steps and at the end, and a stop when asked.
func runOnlineLoop(stage: String, total: Int, step: () -> Int, checkpointEvery: Int, samplesEvery: Int, hooks: TrainingHooks,
                   models: [GPT], watch: [String], train: () -> [String: Double], samples: () -> [[String: String]]) throws -> [String: Double] {
    var last: [String: Double] = [:]
    var guardian = DivergenceGuard(stage: stage, keys: watch)
    while step() < total {
        let m = train()
        let s = step()
        hooks.log(s, m)
        last = m
        try guardian.check(step: s, metrics: m, models: models)
        if samplesEvery > 0 && (s % samplesEvery == 0 || s == 1) { hooks.samples(s, samples()) }
        if s == total || (checkpointEvery > 0 && s % checkpointEvery == 0) { try hooks.checkpoint(s) }
        if hooks.shouldStop() { break }
    }
    return last
}
