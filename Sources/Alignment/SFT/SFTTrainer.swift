import Engine
import Foundation
import GPT

/// Hyperparameters of supervised fine-tuning and causal-LM pretraining.
public struct SFTConfig: Equatable, Sendable {
    public var steps = 300
    public var batchSize = 16
    /// Microbatches per optimizer step (gradient accumulation).
    public var gradAccum = 1
    public var lr = 1e-3
    public var schedule = LRSchedule(kind: .cosine, warmupSteps: 20, minLRRatio: 0.1)
    public var adam = AdamWConfig()
    public var evalEvery = 50
    public var checkpointEvery = 100
    /// Loss on every token (pretraining) instead of completion tokens only (SFT default).
    public var allTokens = false
    public init() {}
}

extension SFTConfig: TrainerSettings {
    public mutating func read(_ r: SettingsReader) throws {
        try r.training(steps: &steps, batchSize: &batchSize, gradAccum: &gradAccum, lr: &lr, schedule: &schedule, adam: &adam,
                       checkpointEvery: &checkpointEvery)
        evalEvery = try r.int("eval_every", evalEvery, min: 0)
    }
}

/// Next-token cross-entropy training: loss = −(1/N) Σ log π(y_t | y_<t) over the N predicted
/// tokens of a step (completion tokens for SFT, all tokens for pretraining), summed over its
/// microbatches before one AdamW update.
public final class SFTTrainer {
    public let model: GPT
    public let config: SFTConfig
    public let optimizer: AdamW
    public private(set) var step = 0
    let source: BatchSource
    let valid: [SequenceExample]
    let pad: Int32
    let ws: GPTWorkspace
    let seed: UInt64
    public var hooks = TrainingHooks()
    /// Sums counts and gradients over the processes of a data-parallel job.
    public var reducer: GradientReducer = DataParallel.reducer
    var tokensSeen = 0.0
    var timeSpent = 0.0

    public init(model: GPT, config: SFTConfig, source: BatchSource, valid: [SequenceExample], pad: Int32, maxLength: Int, seed: UInt64) {
        self.model = model
        self.config = config
        self.source = source
        self.valid = valid
        self.pad = pad
        self.seed = seed
        model.enableGrads()
        optimizer = AdamW(layout: model.layout, config: config.adam)
        ws = GPTWorkspace(config: model.config, maxB: config.batchSize, maxT: maxLength)
    }

    /// One optimizer step; returns its metrics.
    @discardableResult
    public func trainStep() -> [String: Double] {
        let t0 = Clock.now()
        // Each process of a data-parallel job takes its share of every microbatch (and dropout
        // masks of its own).
        let micro = (0..<config.gradAccum).map { TokenBatch(reducer.share(source.examples(step: step, micro: $0)), pad: pad, allTokens: config.allTokens) }
        var lossSum = 0.0
        var dropout = RNG(seed: seed).split("dropout", step)
        if reducer.size > 1 { dropout = dropout.split("rank", reducer.rank) }
        let lr = config.schedule.lr(peak: config.lr, step: step, total: config.steps)
        // loss = −(1/N) Σ log π(y_t) over the N predicted tokens of the whole step.
        let result = OptimizerStep(model: model, optimizer: optimizer, lr: lr, reducer: reducer)
            .run(micro, count: { Double($0.rows.count) }) { batch, scale in
                guard !batch.rows.isEmpty else { return }
                batch.tokens.withUnsafeBufferPointer { tk in
                    model.forward(tokens: tk.baseAddress!, B: batch.B, T: batch.T, ws: ws, dropout: &dropout)
                    var logp = [Float](repeating: 0, count: batch.rows.count)
                    let dl = [Float](repeating: Float(-scale), count: batch.rows.count)
                    ws.zeroHiddenGrad()
                    model.tokenLogProbs(ws: ws, rows: batch.rows, targets: batch.targets, logp: &logp, dlogp: dl)
                    model.backward(tokens: tk.baseAddress!, ws: ws)
                    for v in logp { lossSum -= Double(v) }
                }
            }
        let total = max(1, result.total)
        let norm = result.gradNorm
        step += 1
        let dt = Clock.now() - t0
        var sums = [lossSum, Double(micro.reduce(0) { $0 + $1.lengths.reduce(0, +) })]
        reducer.sum(&sums)
        lossSum = sums[0]
        let tokens = sums[1]
        tokensSeen += tokens
        timeSpent += dt
        return ["loss": lossSum / total, "lr": lr, "grad_norm": norm, "tokens_per_s": tokens / dt]
    }

    /// Mean next-token loss over the validation examples (same token selection as training); the
    /// processes of a data-parallel job each take their share of the examples.
    public func evaluate() -> Double {
        guard !valid.isEmpty else { return .nan }
        var sum = 0.0, n = 0
        var i = 0
        let valid = reducer.share(self.valid)
        while i < valid.count {
            let chunk = Array(valid[i..<min(valid.count, i + config.batchSize)])
            let batch = TokenBatch(chunk, pad: pad, allTokens: config.allTokens)
            if !batch.rows.isEmpty {
                let lp = model.batchLogProbs(batch, ws: ws)
                for v in lp { sum -= Double(v) }
                n += lp.count
            }
            i += config.batchSize
        }
        var sums = [sum, Double(n)]
        reducer.sum(&sums)
        return sums[1] > 0 ? sums[0] / sums[1] : .nan
    }

    /// Trains until `config.steps`, logging, evaluating and checkpointing through `hooks`.
    /// Returns the last metrics.
    @discardableResult
    public func run() throws -> [String: Double] {
        var last: [String: Double] = [:]
        var diverged = DivergenceGuard(stage: config.allTokens ? "pretrain" : "sft", keys: ["loss", "grad_norm"])
        while step < config.steps {
            var m = trainStep()
            if config.evalEvery > 0 && (step % config.evalEvery == 0 || step == config.steps) {
                m["eval/loss"] = evaluate()
            }
            hooks.log(step, m)
            last = m
            try diverged.check(step: step, metrics: m, models: [model])
            if step == config.steps || (config.checkpointEvery > 0 && step % config.checkpointEvery == 0) {
                try hooks.checkpoint(step)
            }
            if hooks.shouldStop() { break }
        }
        return last
    }

    // MARK: - Checkpoints

    struct State: Codable { var step: Int; var tokensSeen: Double; var timeSpent: Double }

    public func save(to dir: URL) throws {
        try model.save(to: dir.appendingPathComponent("model.safetensors"))
        try optimizer.save(to: dir.appendingPathComponent("optimizer.safetensors"))
        try CheckpointStore.writeJSON(State(step: step, tokensSeen: tokensSeen, timeSpent: timeSpent), to: dir.appendingPathComponent("state.json"))
    }

    public func restore(from dir: URL) throws {
        try GPT.loadBuffer(model.params, layout: model.layout, from: dir.appendingPathComponent("model.safetensors"))
        try optimizer.load(from: dir.appendingPathComponent("optimizer.safetensors"))
        let stateURL = dir.appendingPathComponent("state.json")
        let s = try CheckpointStore.readJSON(State.self, from: stateURL)
        try CheckpointStore.checkStep(s.step, key: "step", total: config.steps, totalName: config.allTokens ? "pretrain.steps" : "sft.steps", in: stateURL)
        step = s.step
        tokensSeen = s.tokensSeen
        timeSpent = s.timeSpent
    }
}
