import Alignment
import Data
import Engine
import Files
import Foundation
import GPT
import JSON
import Tokenizer

/// Runs the stages of one experiment in order, each reading the artifacts of earlier stages
/// (from this run, or from the run named by `init_from`), writing its own into the run directory.
public final class ExperimentRunner {
    /// The experiment; `model.vocab_size` follows the trained tokenizer (at most tokenizer.vocab_size).
    public internal(set) var config: ExperimentConfig
    public let run: RunDirectory
    public let progress = Progress()
    var state: RunDirectory.State
    let configDir: URL
    let initFrom: URL?
    var _data: TaskData?
    var _tokenizer: BPETokenizer?
    let runStart = Clock.now()
    /// The command that continues this run after a stop or a full disk.
    public var continueCommand = "rlhf resume"
    /// The FLOP counter when the current stage started in this process, and the FLOPs its earlier
    /// attempts spent up to the checkpoint this one resumed from (the last kept metrics row's
    /// `cost/flops`): a stage's cost is the same whether it ran at once or was resumed.
    var stageStartFlops = FlopCounter.Totals()
    var resumedFlops = 0.0
    /// The reward-hacking watch's findings for the current stage's summary (`watching`).
    var watchSummary: [String: Double] = [:]
    /// A policy snapshot that could not be written; like `run.writeFailure`, it stops the stage
    /// (a run that went on without it would never write it again).
    var snapshotFailure: Error?
    var writeFailure: Error? { run.writeFailure ?? snapshotFailure }

    public init(config: ExperimentConfig, runDir: URL) throws {
        self.config = config
        configDir = URL(fileURLWithPath: config.file).deletingLastPathComponent()
        run = try RunDirectory(url: runDir)
        state = run.loadState()
        if let i = config.initFrom {
            let u = URL(fileURLWithPath: i, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
            guard FileManager.default.fileExists(atPath: u.appendingPathComponent("models").path) ||
                  FileManager.default.fileExists(atPath: u.appendingPathComponent("tokenizer.json").path) else {
                throw UserError("\(config.file): init_from: \(u.path) is not a run directory (no models/ or tokenizer.json); run that experiment first")
            }
            initFrom = u
            try checkInitFromAgrees(u)
        } else {
            initFrom = nil
        }
        Parallel.threads = config.threads
        BLAS.setThreads(config.threads)
    }

    /// The models of `init_from` are the ones its run trained: an architecture value this config
    /// gives, or a Hugging Face directory, must be the one that run used (one source, no silent
    /// disagreement recorded in config.resolved.json as if it applied).
    func checkInitFromAgrees(_ u: URL) throws {
        let resolvedURL = u.appendingPathComponent("config.resolved.json")
        guard let text = try? String(contentsOf: resolvedURL, encoding: .utf8), let theirs = try? JSONParser.parse(text) else { return }
        for (key, mine) in config.modelKeysGiven.sorted(by: { $0.key < $1.key }) {
            if let v = theirs["model"]?[key]?.intValue, v != mine {
                throw UserError("\(config.file): model.\(key): is \(mine) but the init_from run \(u.path) trained its models with \(key) \(v); the models come from init_from: remove model.\(key) or set it to \(v)")
            }
        }
        let theirHF = theirs["model"]?["hf"]?.stringValue.map { path -> String in
            let base = Export.runConfigDirectory(u) ?? u
            return URL(fileURLWithPath: path, relativeTo: base).standardizedFileURL.path
        }
        if let mine = config.hf?.directory.standardizedFileURL.path, mine != theirHF {
            throw UserError("\(config.file): model.hf: is \(mine) but the init_from run \(u.path) \(theirHF.map { "started from \($0)" } ?? "was not started from a Hugging Face model"); the models come from init_from: remove model.hf or give the directory that run used")
        }
    }

    // MARK: - Artifacts

    /// A file of this run, or else of the `init_from` run, or of the run that one was
    /// initialized from (a chain of at most 8 runs).
    func artifact(_ relative: String) -> URL? {
        let mine = run.path(relative)
        if FileManager.default.fileExists(atPath: mine.path) { return mine }
        var next = initFrom
        var depth = 0
        while let dir = next, depth < 8 {
            let theirs = dir.appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: theirs.path) { return theirs }
            // The run's own init_from, as written in its config.json (relative to the working directory it ran in).
            guard let text = try? String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8),
                  let parent = (try? JSONParser.parse(text))?["init_from"]?.stringValue else { break }
            next = URL(fileURLWithPath: parent, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
            depth += 1
        }
        return nil
    }

    func requireModel(_ stage: String, for user: Stage) throws -> GPT {
        guard let u = artifact("models/\(stage).safetensors") else {
            if stage == "sft", let hf = config.hf { return try importHF(hf, for: user) }
            throw UserError(missing("models/\(stage).safetensors", madeBy: stage, for: user.rawValue))
        }
        return try loadModel(u)
    }

    /// Why a file that an earlier stage makes is not there, naming the run directory (and
    /// init_from) and what is missing: a finished stage whose file is gone, or no stage that makes it.
    func missing(_ relative: String, madeBy producer: String, for user: String?) -> String {
        let what = user.map { "stage \"\($0)\" needs \(relative), which" } ?? "\(relative)"
        if state.finished.contains(producer) {
            return "\(run.url.path): \(what) is missing, though this run's \(producer) stage finished; put the file back, or start the run again in a new directory"
        }
        let place = initFrom.map { "is neither in the run directory nor in init_from \($0.path)" } ?? "is not in the run directory"
        return "\(run.url.path): \(what) \(place); add \"\(producer)\" to the stages of \(config.file), or init_from a run that has it"
    }

    /// The model of `model.hf` with this run's dropout (the SFT policy of a run without an sft
    /// stage, and the start of pretrain or SFT).
    func importHF(_ hf: HFCheckpoint, for user: Stage) throws -> GPT {
        progress.message("[\(user.rawValue)] Hugging Face model \(hf.summary); dropout: model.dropout \(config.model.dropout) (the checkpoint's \(hf.dropouts.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) are not used)")
        let model = try hf.load(dropout: config.model.dropout)
        try checkFits(model, hf.directory)
        return model
    }

    /// A model file of this run or of init_from, checked against what this run will feed it:
    /// token ids of this run's tokenizer and sequences up to model.n_positions tokens.
    func loadModel(_ u: URL) throws -> GPT {
        let model = try GPT.load(from: u)
        try checkFits(model, u)
        return model
    }

    /// Throws when `model` (read from `url`) cannot take this run's inputs: a vocabulary other
    /// than the tokenizer's (ids out of range, or another tokenizer's ids), or fewer positions
    /// than model.n_positions (which bounds every prompt + completion this run builds).
    func checkFits(_ model: GPT, _ url: URL) throws {
        let tok = try tokenizer
        let c = model.config
        // A Hugging Face model may have more rows than its tokenizer has tokens (a padded vocabulary).
        guard c.vocabSize == tok.vocabSize || (config.hf != nil && c.vocabSize > tok.vocabSize) else {
            throw UserError("\(url.path): the model has vocab_size \(c.vocabSize), this run's tokenizer has \(tok.vocabSize) tokens; it was trained with another tokenizer: use the tokenizer of the run that trained it (drop the tokenizer stage or tokenizer.path, or init_from that run) or train the model again")
        }
        guard c.context >= config.model.context else {
            throw UserError("\(url.path): the model has n_positions \(c.context), this run needs \(config.model.context) (model.n_positions; data.max_prompt_tokens \(config.data.maxPromptTokens) + data.max_completion_tokens \(config.data.maxCompletionTokens)); set model.n_positions to \(c.context) and lower data.max_prompt_tokens and data.max_completion_tokens to fit, or init_from a run whose model has n_positions ≥ \(config.model.context)")
        }
    }

    var data: TaskData {
        get throws {
            if let d = _data { return d }
            let d = try TaskData(config.data, configDir: configDir, tokenizerPosts: config.tokenizer.corpusPosts)
            _data = d
            return d
        }
    }

    var tokenizer: BPETokenizer {
        get throws {
            if let t = _tokenizer { return t }
            guard let u = artifact("tokenizer.json") else {
                if let hf = config.hf {
                    let t = try hfTokenizer(hf)
                    _tokenizer = t
                    return t
                }
                throw UserError(missing("tokenizer.json", madeBy: "tokenizer", for: nil))
            }
            let t = try BPETokenizer.load(from: u)
            if config.hf == nil {
                guard t.vocabSize <= config.tokenizer.vocabSize || config.tokenizer.path != nil || initFrom != nil else {
                    throw UserError("\(u.path): tokenizer has \(t.vocabSize) tokens, more than tokenizer.vocab_size (\(config.tokenizer.vocabSize)); set tokenizer.vocab_size to \(t.vocabSize) or retrain it")
                }
                config.model.vocabSize = t.vocabSize
            }
            _tokenizer = t
            return t
        }
    }

    /// The tokenizer of a Hugging Face directory, checked against its model: every id fits the
    /// embedding, and EOS is the config's eos_token_id (generation stops there and the reward model
    /// reads the sequence's end by it).
    func hfTokenizer(_ hf: HFCheckpoint) throws -> BPETokenizer {
        let t = try BPETokenizer.load(directory: hf.directory)
        let dir = hf.directory.path
        guard t.vocabSize <= hf.config.vocabSize else {
            throw UserError("\(dir): the tokenizer has \(t.vocabSize) tokens but the model's vocab_size is \(hf.config.vocabSize); the tokenizer files are of another model")
        }
        if let eos = hf.eosTokenId, eos != Int(t.eosId) {
            throw UserError("\(dir)/config.json: eos_token_id is \(eos) but the tokenizer's end-of-text token \(t.tokenString(t.eosId)) has id \(t.eosId); make the two agree (set eos_token_id or the tokenizer's eos_token)")
        }
        return t
    }

    // MARK: - Running

    /// Runs the stages that are not finished, in order. A full disk ends it with one line naming
    /// the file (`translate`); what was written before stays valid for `rlhf resume`.
    public func execute() throws {
        do { try executeStages() } catch { throw translate(error) }
    }

    /// Stages without checkpoints: a stop ends them at once, and they start over.
    static let stagesWithoutCheckpoints: Set<Stage> = [.tokenizer, .preferences, .eval]

    func executeStages() throws {
        SignalStop.secondSignal("stopped at once by a second signal (the work since the last checkpoint is lost); continue with: \(continueCommand) \(run.url.path)")
        let job = DataParallel.reducer
        if job.size > 1 {
            SignalStop.endJobAtOnce(job.rank > 0 ? nil : "rank 0 of \(job.size): stopped by a signal from the launcher, which ends every process of the job when one of them ends (killed, out of memory) or the job is interrupted; continue from the last checkpoint with: mpirun ... \(continueCommand) \(run.url.path)")
        }
        try run.writeJSON(config.input, "config.json")
        try run.writeJSON(config.resolved, "config.resolved.json")
        for stage in config.stages {
            if state.finished.contains(stage.rawValue) {
                progress.message("[\(stage.rawValue)] already finished, skipping")
                continue
            }
            let t0 = Clock.now()
            let atOnce = Self.stagesWithoutCheckpoints.contains(stage)
            // Log rows of an interrupted attempt of a stage that starts over (trainers cut theirs
            // back to their checkpoint in `resumeFromCheckpoint`).
            if atOnce { try run.cutLogs(stage: stage.rawValue, checkpoint: nil, step: 0) }
            progress.message("[\(stage.rawValue)] starting")
            SignalStop.stopAtOnce(atOnce ? "stopped during \(stage.rawValue) (a stage without checkpoints: it starts over); continue with: \(continueCommand) \(run.url.path)" : nil)
            defer { SignalStop.stopAtOnce(nil) }
            stageStartFlops = FlopCounter.snapshot
            resumedFlops = 0
            watchSummary = [:]
            ProcessMemory.resetPeak()
            let summary = try runStage(stage)
            if let e = writeFailure { throw e }
            let dt = Clock.now() - t0 + (state.stageSeconds[stage.rawValue] ?? 0)
            state.stageSeconds[stage.rawValue] = dt
            var s = summary
            s["seconds"] = dt
            // What the stage cost: counted FLOPs (6·N a trained token, 2·N a scored or generated
            // one, plus attention), generated tokens, and this attempt's peak memory.
            let spent = FlopCounter.snapshot - stageStartFlops
            s["cost/flops"] = resumedFlops + spent.total
            s["cost/generated_tokens"] = spent.generatedTokens
            s["cost/peak_rss_mb"] = Double(ProcessMemory.peakBytes) / 1e6
            state.summaries[stage.rawValue] = s
            // In the pipeline's order, whatever order the stages ran in.
            let order = Stage.allCases.map(\.rawValue)
            state.finished = order.filter { $0 == stage.rawValue || state.finished.contains($0) }
            try run.saveState(state)
            try writeSummary()
            progress.message("[\(stage.rawValue)] done in \(Progress.duration(dt))")
        }
        try writeSummary()
    }

    /// Before this process writes into an existing run (resume, eval): the logs open, what killed
    /// writes left behind is removed, and log lines that are not JSON are dropped (said in one line each).
    public func prepareToWrite() throws {
        do {
            _ = run.removeTemporaryFiles()
            for note in try run.repairLogs() { progress.message(note) }
            try run.openLogs()
        } catch { throw translate(error) }
    }

    /// A full disk, from whichever layer, as one line naming the file that could not be written
    /// (the leftovers of the failed write name it when the error does not), after removing those
    /// leftovers; other errors unchanged.
    func translate(_ error: Error) -> Error {
        guard FileSystem.isNoSpace(error) else { return error }
        let leftovers = run.removeTemporaryFiles()
        let path = (error as? FileWriteError)?.path ?? leftovers.first ?? quotedPath(in: "\(error)") ?? run.url.path
        return UserError("\(path): No space left on device; free some space, then continue with: \(continueCommand) \(run.url.path)")
    }

    func runStage(_ stage: Stage) throws -> [String: Double] {
        switch stage {
        case .tokenizer: return try runTokenizer()
        case .pretrain: return try runPretrain()
        case .sft: return try runSFT()
        case .preferences: return try runPreferences()
        case .rewardModel: return try runRewardModel()
        case .ppo: return try runPPO()
        case .grpo: return try runGRPO()
        case .rloo: return try runRLOO()
        case .onlineDPO: return try runOnlineDPO()
        case .dpo: return try runDPO()
        case .eval: return try runEval()
        }
    }

    func writeSummary() throws {
        var stages: [(String, JSONValue)] = []
        // Every stage this run directory has finished, not only this invocation's (`rlhf eval`
        // runs the eval stage alone and must keep the training stages' figures).
        for s in Stage.allCases {
            if let m = state.summaries[s.rawValue] {
                stages.append((s.rawValue, .object(m.keys.sorted().map { ($0, .number(m[$0]!, isInteger: false)) })))
            }
        }
        let obj: JSONValue = .object([
            ("name", .string(config.name)),
            ("seed", .number(Double(config.seed), isInteger: true)),
            ("threads", .number(Double(config.threads), isInteger: true)),
            ("model", .object([("n_layer", .number(Double(config.model.nLayer), isInteger: true)),
                               ("n_head", .number(Double(config.model.nHead), isInteger: true)),
                               ("n_embd", .number(Double(config.model.nEmbd), isInteger: true)),
                               ("n_positions", .number(Double(config.model.context), isInteger: true)),
                               ("vocab_size", .number(Double(config.model.vocabSize), isInteger: true))])),
            ("finished", .array(state.finished.map { .string($0) })),
            ("stages", .object(stages)),
            ("notes", .object(state.notes.keys.sorted().map { ($0, .string(state.notes[$0]!)) })),
        ])
        try run.writeJSON(obj, "summary.json")
    }

    /// Hooks that log to metrics.jsonl and the progress line, checkpoint through `save` (with how
    /// far the logs got, for an exact resume), and stop (after a checkpoint) when a signal arrived,
    /// or at once when a log or snapshot could not be written.
    func hooks(stage: Stage, total: Int, keys: [String], save: @escaping (Int) throws -> Void) -> TrainingHooks {
        var h = TrainingHooks()
        let t0 = Clock.now()
        let name = stage.rawValue
        // The last logged and the last checkpointed step, so that a stop checkpoints exactly once.
        final class Steps { var logged = -1, saved = -1 }
        let steps = Steps()
        // FLOPs of this stage's attempts up to the checkpoint it resumed from (0 on a fresh start).
        resumedFlops = run.lastMetrics(stage: name)["cost/flops"] ?? 0
        let flopsBase = resumedFlops, flopsStart = stageStartFlops.total
        let checkpoint = { [unowned self] (step: Int) throws in
            // A checkpoint past a lost log line or snapshot would make the loss permanent.
            if let e = writeFailure { throw e }
            try CheckpointStore.$companionFiles.withValue([RunDirectory.logPositionsFile: run.logPositions(stage: name)]) {
                try save(step)
            }
            steps.saved = step
        }
        h.log = { [run, progress] step, m in
            steps.logged = step
            run.logMetrics(stage: name, step: step, m, extra: ["elapsed": Clock.now() - t0,
                                                              "cost/flops": flopsBase + FlopCounter.snapshot.total - flopsStart])
            progress.update(stage: name, step: step, total: total, metrics: m, keys: keys)
        }
        h.checkpoint = checkpoint
        h.samples = { [run] step, items in
            for it in items {
                var d: [String: Any] = ["stage": name, "step": step]
                for (k, v) in it { d[k] = v }
                run.logSample(d)
            }
        }
        h.shouldStop = { [unowned self, progress] in
            // The processes of a data-parallel job stop together, after the same step.
            if DataParallel.reducer.any(writeFailure != nil || stopRequested != 0) && stopRequested == 0 { stopRequested = 1 }
            if writeFailure != nil { return true }
            guard stopRequested != 0 else { return false }
            if steps.logged >= 0 && steps.saved != steps.logged {
                do {
                    try checkpoint(steps.logged)
                } catch {
                    progress.message("[\(name)] could not save a checkpoint at step \(steps.logged): \(error)")
                }
            }
            return true
        }
        progress.begin(step: 0)
        return h
    }

    /// Restores `stage`'s newest intact checkpoint, if there is one (newer ones that do not load
    /// are set aside, one line each), and cuts metrics.jsonl and samples.jsonl back to what that
    /// checkpoint recorded: the steps after it run again and log again, once. Without a
    /// checkpoint the stage's rows are dropped. Returns whether it resumed.
    func resumeFromCheckpoint(_ stage: Stage, restore: (URL) throws -> Void, step: () -> Int) throws -> Bool {
        let name = stage.rawValue
        guard let (restored, skipped) = try CheckpointStore.restoreNewest(root: run.checkpoints(name), restore: restore) else {
            let dropped = try run.cutLogs(stage: name, checkpoint: nil, step: 0)
            if dropped > 0 { progress.message("[\(name)] no checkpoint: starting over (dropped \(dropped) log rows of the interrupted attempt)") }
            return false
        }
        for s in skipped {
            let moved = s.movedTo.map { "moved to \($0.lastPathComponent)" } ?? "left in place"
            progress.message("[\(name)] checkpoint \(s.directory.path) is damaged (\(s.reason)); \(moved), resuming from \(restored.lastPathComponent)")
        }
        let dropped = try run.cutLogs(stage: name, checkpoint: restored, step: step())
        progress.message("[\(name)] resumed from \(restored.lastPathComponent)\(dropped > 0 ? " (dropped \(dropped) log rows written after it)" : "")")
        return true
    }

    /// `hooks` that also watch the stage for reward hacking (`HackingWatch`): each logged row gets
    /// the independent judge's mean score of the iteration's samples as `objective/gold` (when
    /// `judge` gives one) before it is written, warnings go to the progress line as they fire, and
    /// `watchSummary` collects the steps for the stage's summary. A resumed stage replays its kept
    /// rows first. `keys`: the trainer's names for (KL, entropy, length, reward).
    func watching(_ h: TrainingHooks, stage: Stage, keys: (kl: String, entropy: String, length: String, reward: String),
                  judge: (() -> Double?)?) -> TrainingHooks {
        var watch = HackingWatch()
        func observe(_ step: Int, _ m: [String: Double]) -> [String] {
            watch.observe(step: step, kl: m[keys.kl], entropy: m[keys.entropy], length: m[keys.length], reward: m[keys.reward],
                          judge: m["objective/gold"])
        }
        for row in run.metricsRows(stage: stage.rawValue) { _ = observe(Int(row["step"] ?? 0), row) }
        watchSummary = watch.summary
        var out = h
        let log = h.log
        out.log = { [unowned self, progress] step, metrics in
            var m = metrics
            if let g = judge?() { m["objective/gold"] = g }
            log(step, m)
            for line in observe(step, m) { progress.message("[\(stage.rawValue)] warning: \(line)") }
            self.watchSummary = watch.summary
        }
        return out
    }

    /// `hooks` that also save the policy every `every` steps to models/snapshots/NAME-STEP.safetensors
    /// (the eval stage places each snapshot on the reward–KL frontier).
    func snapshotting(_ h: TrainingHooks, every: Int, name: String, policy: @escaping () -> GPT) -> TrainingHooks {
        guard every > 0 else { return h }
        var out = h
        let log = h.log
        let dir = run.path("models/snapshots")
        out.log = { [unowned self] step, m in
            log(step, m)
            if step % every == 0 {
                let file = dir.appendingPathComponent("\(name)-\(String(format: "%06d", step)).safetensors")
                do { try policy().save(to: file) } catch {
                    // Stops the stage before its next checkpoint (see `hooks`).
                    if self.snapshotFailure == nil { self.snapshotFailure = error }
                }
            }
        }
        return out
    }

    /// After a trainer returns: if a stop was requested, the last checkpoint is in place; tell the user.
    func checkStopped(_ stage: Stage, step: Int) throws {
        if let e = writeFailure { throw e }
        if stopRequested != 0 {
            throw RunStopped(description: "stopped during \(stage.rawValue) at step \(step) after saving a checkpoint; continue with: \(continueCommand) \(run.url.path)")
        }
    }

    /// A path inside the run directory that another module's one-line error quotes
    /// ("RUN/metrics.jsonl: cannot open for writing (No space left on device); ...").
    func quotedPath(in text: String) -> String? {
        guard let start = text.range(of: run.url.path + "/") else { return nil }
        let rest = text[start.lowerBound...]
        let end = rest.range(of: ": ")?.lowerBound ?? rest.firstIndex(where: { $0 == " " }) ?? rest.endIndex
        return String(rest[..<end])
    }

    // MARK: - Tokenization helpers

    func tokenize(_ e: SFTExample) throws -> SequenceExample {
        let tok = try tokenizer
        let prompt = Datasets.truncateQuery(e.prompt, maxTokens: config.data.maxPromptTokens) { tok.encode($0).count }
        let ex = SequenceExample(prompt: tok.encode(prompt), completion: tok.encode(e.completion) + [tok.eosId])
        return truncate(ex, maxLength: config.sequenceLength, maxCompletion: config.data.maxCompletionTokens)
    }

    func tokenizePrompt(_ p: String) throws -> [Int32] {
        let tok = try tokenizer
        let prompt = Datasets.truncateQuery(p, maxTokens: config.data.maxPromptTokens) { tok.encode($0).count }
        return Array(tok.encode(prompt).suffix(config.data.maxPromptTokens))
    }

    /// Text of a response: EOS and padding dropped.
    func text(_ ids: [Int32]) throws -> String {
        let tok = try tokenizer
        return tok.decode(ids.filter { $0 != tok.eosId && $0 != tok.padId })
    }
}
