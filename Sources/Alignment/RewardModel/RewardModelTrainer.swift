import Engine
import Foundation
import GPT

/// The reward-model stage of RLHF (Stiennon et al. 2020; Huang et al. 2024, "The N+
/// Implementation Details of RLHF with PPO"). A GPT trunk initialized from the SFT model and a
/// scalar head read at the LAST REAL TOKEN of prompt + response is trained on preference pairs
/// with the Bradley–Terry loss −log σ(r_chosen − r_rejected) (`RewardModelLoss`). After training,
/// a bias shifts the reward to mean 0 over a normalization set (`normalize`), and `scorer()`
/// hands PPO a frozen `RewardModelScorer`.
///
/// Dropout is off throughout (Huang et al. 2024; TRL's `disable_dropout`). Training scores the two
/// sequences of a pair in one row (`RewardPairPack`: their common prefix once), which gives the
/// scores `RewardModelScorer.rawScores` gives PPO, up to float rounding (tested).
public final class RewardModelTrainer {
    public let model: GPT
    public let config: RewardModelConfig
    public let optimizer: AdamW
    public internal(set) var step = 0
    /// Additive reward bias set by `normalize` (0 before).
    public internal(set) var bias: Float = 0
    /// Whether `bias` has been set by a normalization.
    public internal(set) var normalized = false
    public var hooks = TrainingHooks()
    /// Sums counts and gradients over the processes of a data-parallel job.
    public var reducer: GradientReducer = DataParallel.reducer
    /// Completions sampled from the SFT policy for training prompts (prompt, completion), used
    /// when `config.normalizeOn == .policySamples`; the runner sets them before `run()`.
    public var policySamples: [SequenceExample] = []

    public let train: [PairExample]
    public let valid: [PairExample]
    let pad: Int32
    let seed: UInt64
    /// Tokens kept per sequence (config.maxLength capped by the model context).
    let maxLength: Int
    /// Batches of indices into `train` (an index rides in a one-token prompt), so resume is exact.
    let source: ShuffledEpochs
    /// PPO's scorer over this model (used for normalization).
    let reader: RewardModelScorer
    /// Workspace of the training and evaluation forward: one shared-prefix row per pair, sized for
    /// the longest pair of train + valid and grown for longer pairs given to `metrics(of:)`.
    var ws: GPTWorkspace
    var pairsSeen = 0.0
    var timeSpent = 0.0

    public init(model: GPT, config: RewardModelConfig, train: [PairExample], valid: [PairExample], pad: Int32, seed: UInt64) {
        precondition(model.config.scalarHead, "a reward model needs a scalar head: build it with RewardModelTrainer.initialize(from:seed:)")
        precondition(config.problems().isEmpty, "invalid reward model config: \(config.problems().map { "\($0.key): \($0.message)" })")
        for (i, p) in (train + valid).enumerated() {
            precondition(p.prompt.count + min(p.chosen.count, p.rejected.count) > 0, "preference pair \(i) has an empty sequence")
        }
        self.model = model
        self.config = config
        self.train = train
        self.valid = valid
        self.pad = pad
        self.seed = seed
        maxLength = min(config.maxLength ?? model.config.context, model.config.context)
        source = ShuffledEpochs(train.indices.map { SequenceExample(prompt: [Int32($0)], completion: []) },
                                batchSize: config.batchSize, microPerStep: config.gradAccum, seed: seed)
        model.enableGrads()
        optimizer = AdamW(layout: model.layout, config: config.adam)
        reader = RewardModelScorer(model: model, pad: pad, maxBatch: config.batchSize)
        let maxLen = maxLength
        let longest = (train + valid).map { p in
            RewardPairPack.packedLength(Self.cut(p.prompt, p.chosen, maxLen), Self.cut(p.prompt, p.rejected, maxLen))
        }.max() ?? 1
        ws = GPTWorkspace(config: model.config, maxB: config.batchSize, maxT: max(1, longest))
    }

    // MARK: - Model

    /// The reward model to train: the SFT trunk (every tensor of `sft` with a matching name and
    /// shape) under a fresh scalar head with weights N(0, 1/√(n_embd+1)) and bias 0 (Stiennon et al.).
    public static func initialize(from sft: GPT, seed: UInt64) -> GPT {
        var c = sft.config
        c.scalarHead = true
        let m = GPT(config: c, seed: seed)
        m.copyMatchingTensors(from: sft)
        m.resetScalarHead(seed: seed)
        return m
    }

    /// prompt + completion cut by Core's `truncate` rule to `maxLength` tokens.
    static func cut(_ prompt: [Int32], _ completion: [Int32], _ maxLength: Int) -> [Int32] {
        let e = truncate(SequenceExample(prompt: prompt, completion: completion), maxLength: maxLength, maxCompletion: maxLength - 1)
        return e.prompt + e.completion
    }

    /// Raw rewards (no bias) of chosen and rejected of up to `config.batchSize` pairs, in one forward.
    /// Leaves the activations in `ws` for `backward`.
    func forward(_ pairs: [PairExample]) -> (pack: RewardPairPack, chosen: [Float], rejected: [Float]) {
        let pack = RewardPairPack(chosen: pairs.map { Self.cut($0.prompt, $0.chosen, maxLength) },
                                  rejected: pairs.map { Self.cut($0.prompt, $0.rejected, maxLength) }, pad: pad)
        if pack.B > ws.maxB || pack.T > ws.maxT {
            ws = GPTWorkspace(config: model.config, maxB: max(pack.B, ws.maxB), maxT: max(pack.T, ws.maxT))
        }
        pack.tokens.withUnsafeBufferPointer {
            model.forward(tokens: $0.baseAddress!, B: pack.B, T: pack.T, ws: ws, branches: pack.branches)
        }
        var values = [Float](repeating: 0, count: pack.B * pack.T)
        model.scalarHead(ws: ws, out: &values)
        return (pack, pack.chosenRows.map { values[$0] }, pack.rejectedRows.map { values[$0] })
    }

    // MARK: - Training step

    /// Forward, loss and backward of one microbatch; ADDS `scale`·∂(Σ_pairs ℓ)/∂θ into the
    /// gradients. The gradient enters the scalar head only at the last real token of each sequence.
    func accumulate(_ pairs: [PairExample], scale: Double, stats: inout RewardPairStats) {
        let (pack, rc, rr) = forward(pairs)
        let l = RewardModelLoss.compute(chosen: rc, rejected: rr, margin: config.margin, centerCoef: config.centerRewardsCoef ?? 0)
        stats.add(chosen: rc, rejected: rr, losses: l.losses)
        var dout = [Float](repeating: 0, count: pack.B * pack.T)
        for i in pairs.indices {       // += : a rejected sequence that is a prefix of the chosen one may end on a shared row
            dout[pack.chosenRows[i]] += Float(l.dChosen[i] * scale)
            dout[pack.rejectedRows[i]] += Float(l.dRejected[i] * scale)
        }
        ws.zeroHiddenGrad()
        dout.withUnsafeBufferPointer { model.scalarHeadBackward(ws: ws, dout: $0.baseAddress!) }
        pack.tokens.withUnsafeBufferPointer { model.backward(tokens: $0.baseAddress!, ws: ws) }
    }

    /// The training pairs of microbatch `micro` of step `step`.
    func pairs(step: Int, micro: Int) -> [PairExample] {
        source.examples(step: step, micro: micro).map { train[Int($0.prompt[0])] }
    }

    /// One optimizer step over `gradAccum` microbatches; returns its metrics.
    @discardableResult
    public func trainStep() -> [String: Double] {
        let t0 = Clock.now()
        // Each process of a data-parallel job takes its share of every microbatch.
        let micro = (0..<config.gradAccum).map { reducer.share(pairs(step: step, micro: $0)) }
        var stats = RewardPairStats()
        let lr = config.schedule.lr(peak: config.lr, step: step, total: config.steps)
        // loss = mean over the step's pairs of ℓ(r_c − r_r).
        let norm = OptimizerStep(model: model, optimizer: optimizer, lr: lr, reducer: reducer)
            .run(micro, count: { Double($0.count) }) { m, scale in accumulate(m, scale: scale, stats: &stats) }.gradNorm
        stats.sum(reducer)
        let total = stats.pairs
        step += 1
        let dt = max(Clock.now() - t0, 1e-9)
        pairsSeen += Double(total)
        timeSpent += dt
        var out = stats.metrics()
        out["grad_norm"] = norm
        out["lr"] = lr
        out["pairs_per_s"] = Double(total) / dt
        return out
    }

    // MARK: - Evaluation

    /// Metrics of `pairs` under the current model (raw rewards, no bias), in chunks of `batchSize`;
    /// the processes of a data-parallel job each score their share.
    public func metrics(of all: [PairExample], prefix: String = "eval/") -> [String: Double] {
        var stats = RewardPairStats()
        let pairs = reducer.share(all)
        var i = 0
        while i < pairs.count {
            let chunk = Array(pairs[i..<min(pairs.count, i + config.batchSize)])
            let (_, rc, rr) = forward(chunk)
            let l = RewardModelLoss.compute(chosen: rc, rejected: rr, margin: config.margin, centerCoef: config.centerRewardsCoef ?? 0)
            stats.add(chosen: rc, rejected: rr, losses: l.losses)
            i += config.batchSize
        }
        stats.sum(reducer)
        return stats.metrics(prefix: prefix)
    }

    /// Held-out metrics (`eval/loss`, `eval/accuracy`, `eval/margin`, `eval/reward/mean` ...);
    /// empty without a validation split.
    public func evaluate() -> [String: Double] { metrics(of: valid) }

    // MARK: - Run

    /// Trains until `config.steps`, evaluating every `evalEvery` steps and at the end; at the end
    /// it normalizes the reward (`normalize()`, logged as `reward/bias`) before the last checkpoint.
    /// Stopped early by `hooks.shouldStop`, it checkpoints first. Returns the last metrics.
    @discardableResult
    public func run() throws -> [String: Double] {
        if config.normalizeOn == .policySamples && policySamples.isEmpty {
            throw RewardModelError("reward model: normalize_on is \"policy_samples\" but no policy samples were given; sample completions from the SFT model for training prompts first, or set normalize_on to \"references\"")
        }
        var last: [String: Double] = [:]
        var diverged = DivergenceGuard(stage: "reward_model", keys: ["loss", "grad_norm"])
        while step < config.steps {
            var m = trainStep()
            try diverged.check(step: step, metrics: m, models: [model])
            let final = step == config.steps
            if final || (config.evalEvery > 0 && step % config.evalEvery == 0) {
                m.merge(evaluate()) { a, _ in a }
            }
            if final { m["reward/bias"] = Double(try normalize()) }
            hooks.log(step, m)
            last = m
            var saved = false
            if final || (config.checkpointEvery > 0 && step % config.checkpointEvery == 0) {
                try hooks.checkpoint(step)
                saved = true
            }
            if hooks.shouldStop() {
                if !saved { try hooks.checkpoint(step) }
                break
            }
        }
        if step >= config.steps && !normalized {  // e.g. restored at `steps` (a checkpoint of the last step) without a bias
            last["reward/bias"] = Double(try normalize())
            try hooks.checkpoint(step)
        }
        return last
    }
}

// MARK: - Both sequences of a pair in one row

/// Chosen and rejected sequences (prompt + completion, already truncated) of B pairs as B rows
/// [common prefix | rest of chosen | rest of rejected], the rejected rest masked from the chosen
/// one and placed at the positions it has after the prefix (`PrefixBranch`). The common prefix —
/// the prompt, and any completion tokens the two share — goes through the model once; each
/// sequence's score is read at its last real token.
struct RewardPairPack {
    let rows: SharedPrefixRows
    /// Flat rows (b·T + t) of the last real token of each chosen and each rejected sequence.
    let chosenRows: [Int], rejectedRows: [Int]
    var B: Int { rows.B }
    var T: Int { rows.T }
    var tokens: [Int32] { rows.tokens }
    var branches: [PrefixBranch] { rows.branches }

    static func packedLength(_ a: [Int32], _ b: [Int32]) -> Int {
        SharedPrefixRows.packedLength(a, b, prefix: SharedPrefixRows.commonPrefix(a, b))
    }

    init(chosen: [[Int32]], rejected: [[Int32]], pad: Int32) {
        precondition(chosen.count == rejected.count && chosen.allSatisfy { !$0.isEmpty } && rejected.allSatisfy { !$0.isEmpty })
        let r = SharedPrefixRows(zip(chosen, rejected).map { (a: $0, b: $1, prefix: SharedPrefixRows.commonPrefix($0, $1)) }, pad: pad)
        rows = r
        chosenRows = chosen.indices.map { r.rowA($0, chosen[$0].count - 1) }
        rejectedRows = rejected.indices.map { r.rowB($0, rejected[$0].count - 1) }
    }
}
