import Engine
import Foundation
import GPT

/// Direct Preference Optimization (Rafailov et al. 2023): the policy is trained as a classifier of
/// preference pairs under the Bradley–Terry model whose reward is implicit,
///   r(x, y) = β log(π(y|x) / π_ref(y|x)),   loss = −log σ(r(x, y_w) − r(x, y_l))
/// (or one of the variants of `DPOLossType`), averaged over the pairs of a step. No reward model,
/// no sampling: one forward of the policy over chosen and rejected completions together, one
/// backward. The reference log-probs are computed once before training (`precomputeReference`)
/// or by a frozen reference forward every step.
public final class DPOTrainer {
    public let policy: GPT
    /// The frozen reference π_ref (nil when `referenceFree`).
    public let reference: GPT?
    public let config: DPOConfig
    public let optimizer: AdamW
    public internal(set) var step = 0
    public var hooks = TrainingHooks()
    /// Sums counts and gradients over the processes of a data-parallel job.
    public var reducer: GradientReducer = DataParallel.reducer
    /// Training and held-out pairs after truncation to `maxLength` / `maxCompletionLength`.
    public let train: [PreferenceExample]
    public let valid: [PreferenceExample]
    let pad: Int32
    let seed: UInt64
    let source: PairEpochs
    /// The batch loss machinery (forwards, sequence log-probs, loss, backward), shared with online DPO.
    let pairLoss: DPOPairLoss
    var ws: GPTWorkspace { pairLoss.ws }
    var logpScratch: Scratch { pairLoss.logpScratch }
    /// Cached reference sequence log-probs (sums over completion tokens), by pair index.
    var refTrain: ReferenceLogProbs?
    var refValid: ReferenceLogProbs?
    var pairsSeen = 0.0, tokensSeen = 0.0, timeSpent = 0.0
    /// Number of reference precomputation passes run by this trainer (a restored run makes none).
    public internal(set) var referencePasses = 0

    /// `reference`: the frozen π_ref, usually `GPT(copying: sft)`, of the policy's config; when nil
    /// (and not reference-free) a frozen copy of `policy` is taken now, before any update. `pad`
    /// fills the right padding. Pairs are truncated with `truncate(_:maxLength:maxCompletion:)`.
    /// Preconditions (check them before, to report a user's mistake): `config.problems()` is
    /// empty and `train` is not.
    public init(policy: GPT, reference: GPT?, config: DPOConfig, train: [PreferenceExample], valid: [PreferenceExample],
                pad: Int32, seed: UInt64) {
        precondition(config.problems().isEmpty, "invalid DPO config: \(config.problems().map { "\($0.key): \($0.message)" })")
        self.policy = policy
        self.config = config
        if config.referenceFree {
            self.reference = nil
        } else {
            let ref = reference ?? GPT(copying: policy)
            precondition(ref.config == policy.config, "the reference model's config differs from the policy's")
            self.reference = ref
        }
        let maxLen = min(config.maxLength, policy.config.context)
        let maxCompletion = config.maxCompletionLength ?? maxLen
        self.train = train.map { truncate($0, maxLength: maxLen, maxCompletion: maxCompletion) }
        self.valid = valid.map { truncate($0, maxLength: maxLen, maxCompletion: maxCompletion) }
        self.pad = pad
        self.seed = seed
        source = PairEpochs(count: train.count, batchSize: config.batchSize, microPerStep: config.gradAccum, seed: seed)
        let shape = PreferenceBatch.workspaceShape(self.train + self.valid, batchSize: config.batchSize, sharedPrompt: config.sharedPrompt)
        pairLoss = DPOPairLoss(policy: policy, reference: self.reference, config: config, pad: pad, seed: seed,
                               ws: GPTWorkspace(config: policy.config, maxB: shape.maxB, maxT: shape.maxT))
        policy.enableGrads()
        optimizer = AdamW(layout: policy.layout, config: config.adam)
    }

    /// Whether the reference log-probs the steps need are available without a reference forward.
    var referenceReady: Bool { config.referenceFree || !config.precomputeRefLogProbs || (refTrain != nil && refValid != nil) }

    // MARK: - One batch of pairs

    /// Forward over the pairs, the loss of each pair and (with `gradScale`) its backward: `DPOPairLoss.process`.
    func process(_ pairs: [PreferenceExample], cached: [(Double, Double)]?, gradScale: Double?, dropoutStream: Int,
                 each: (DPOLossTerms) -> Void) -> Int {
        pairLoss.process(pairs, cached: cached, gradScale: gradScale, dropoutStream: dropoutStream, each: each)
    }

    // MARK: - Training step

    /// One optimizer update over `gradAccum` microbatches of `batchSize` pairs. Returns TRL's
    /// metrics, means over the step's pairs: `loss`, `rewards/chosen`, `rewards/rejected`,
    /// `rewards/margins`, `rewards/accuracies`, `logps/chosen`, `logps/rejected` (`nll_loss` with
    /// RPO), and `grad_norm` (before clipping), `lr`, `pairs_per_s`, `tokens_per_s`.
    @discardableResult
    public func trainStep() -> [String: Double] {
        if !referenceReady { precomputeReference() }
        let t0 = Clock.now()
        var stats = PairStats()
        var tokens = 0
        let lr = config.schedule.lr(peak: config.lr, step: step, total: config.steps)
        // loss = mean over the step's pairs of the pair loss. Each process of a data-parallel job
        // takes its share of every microbatch, with dropout streams of its own.
        let micro = (0..<config.gradAccum).map { (micro: $0, indices: reducer.share(source.indices(step: step, micro: $0))) }
        let norm = OptimizerStep(model: policy, optimizer: optimizer, lr: lr, reducer: reducer)
            .run(micro, count: { Double($0.indices.count) }) { m, scale in
                let cached = refTrain.map { r in m.indices.map { (r.chosen[$0], r.rejected[$0]) } }
                tokens += process(m.indices.map { train[$0] }, cached: cached, gradScale: scale,
                                  dropoutStream: (step * config.gradAccum + m.micro) * reducer.size + reducer.rank) { stats.add($0) }
            }.gradNorm
        stats.sum(reducer, tokens: &tokens)
        step += 1
        let dt = Clock.now() - t0
        pairsSeen += Double(stats.pairs)
        tokensSeen += Double(tokens)
        timeSpent += dt
        var m = stats.metrics(prefix: "", rpo: (config.rpoAlpha ?? 0) > 0)
        m["grad_norm"] = norm
        m["lr"] = lr
        m["pairs_per_s"] = Double(stats.pairs) / dt
        m["tokens_per_s"] = Double(tokens) / dt
        return m
    }

    // MARK: - Evaluation

    /// The loss terms (implicit rewards, margin, loss) of every held-out pair, in order, under the
    /// current policy; batches of `batchSize` pairs, no dropout, no gradient.
    public func evaluatePairs() -> [DPOLossTerms] {
        if !referenceReady { precomputeReference() }
        var out: [DPOLossTerms] = []
        out.reserveCapacity(valid.count)
        var i = 0
        while i < valid.count {
            let j = min(valid.count, i + config.batchSize)
            let cached = refValid.map { r in (i..<j).map { (r.chosen[$0], r.rejected[$0]) } }
            _ = process(Array(valid[i..<j]), cached: cached, gradScale: nil, dropoutStream: 0) { out.append($0) }
            i = j
        }
        return out
    }

    /// Held-out metrics under TRL's names with the `eval/` prefix (empty without held-out pairs).
    public func evaluate() -> [String: Double] {
        if !referenceReady { precomputeReference() }
        // Each process of a data-parallel job evaluates its share of the pairs.
        var stats = PairStats()
        let mine = reducer.share(valid.count)
        var i = mine.lowerBound
        while i < mine.upperBound {
            let j = min(mine.upperBound, i + config.batchSize)
            let cached = refValid.map { r in (i..<j).map { (r.chosen[$0], r.rejected[$0]) } }
            _ = process(Array(valid[i..<j]), cached: cached, gradScale: nil, dropoutStream: 0) { stats.add($0) }
            i = j
        }
        var tokens = 0
        stats.sum(reducer, tokens: &tokens)
        return stats.pairs == 0 ? [:] : stats.metrics(prefix: "eval/", rpo: (config.rpoAlpha ?? 0) > 0)
    }

    // MARK: - Loop

    /// Trains until `config.steps` (computing the reference log-probs first when they are to be
    /// precomputed and are not cached), logging, evaluating and checkpointing through `hooks`.
    /// Returns the last metrics.
    @discardableResult
    public func run() throws -> [String: Double] {
        var last: [String: Double] = [:]
        if step < config.steps && !referenceReady { precomputeReference() }
        var diverged = DivergenceGuard(stage: "dpo", keys: ["loss", "grad_norm"])
        while step < config.steps {
            var m = trainStep()
            if config.evalEvery > 0 && (step % config.evalEvery == 0 || step == config.steps) {
                m.merge(evaluate()) { a, _ in a }
            }
            hooks.log(step, m)
            last = m
            try diverged.check(step: step, metrics: m, models: [policy])
            if step == config.steps || (config.checkpointEvery > 0 && step % config.checkpointEvery == 0) {
                try hooks.checkpoint(step)
            }
            if hooks.shouldStop() { break }
        }
        return last
    }
}

// MARK: - Metrics

/// Sums over pairs of the quantities TRL logs; `metrics` turns them into batch means.
struct PairStats {
    var pairs = 0
    var loss = 0.0, chosen = 0.0, rejected = 0.0, correct = 0.0, logpChosen = 0.0, logpRejected = 0.0, nll = 0.0

    mutating func add(_ t: DPOLossTerms) {
        pairs += 1
        loss += t.loss
        chosen += t.chosenReward
        rejected += t.rejectedReward
        correct += t.chosenReward > t.rejectedReward ? 1 : 0
        logpChosen += t.chosenLogp
        logpRejected += t.rejectedLogp
        nll += t.chosenNLL
    }

    /// The sums of every process of a data-parallel job (and their token counts).
    mutating func sum(_ reducer: GradientReducer, tokens: inout Int) {
        guard reducer.size > 1 else { return }
        var v = [Double(pairs), loss, chosen, rejected, correct, logpChosen, logpRejected, nll, Double(tokens)]
        reducer.sum(&v)
        pairs = Int(v[0]); loss = v[1]; chosen = v[2]; rejected = v[3]; correct = v[4]
        logpChosen = v[5]; logpRejected = v[6]; nll = v[7]; tokens = Int(v[8])
    }

    func metrics(prefix: String, rpo: Bool) -> [String: Double] {
        let n = Double(max(pairs, 1))
        var m: [String: Double] = [
            "loss": loss / n,
            "rewards/chosen": chosen / n,
            "rewards/rejected": rejected / n,
            "rewards/margins": (chosen - rejected) / n,
            "rewards/accuracies": correct / n,
            "logps/chosen": logpChosen / n,
            "logps/rejected": logpRejected / n,
        ]
        if rpo { m["nll_loss"] = nll / n }
        return Dictionary(uniqueKeysWithValues: m.map { (prefix + $0.key, $0.value) })
    }
}
