import Alignment
import Data
import Foundation
import GPT
import JSON

/// The stages an experiment can run, in pipeline order.
public enum Stage: String, CaseIterable, Codable, Sendable {
    case tokenizer, pretrain, sft, preferences
    case rewardModel = "reward_model"
    case ppo, grpo, rloo
    case onlineDPO = "online_dpo"
    case dpo, eval

    /// The stages whose output is a policy (models/NAME.safetensors): what eval, rlhf sample,
    /// rlhf export and compare take, in pipeline order.
    public static let policies: [Stage] = [.pretrain, .sft, .ppo, .grpo, .rloo, .onlineDPO, .dpo]
    /// The methods that start from the SFT policy.
    public static let fromSFT: [Stage] = [.ppo, .grpo, .rloo, .onlineDPO, .dpo]
    /// The policy `rlhf sample` and `rlhf export` take from a run when none is named: the first of
    /// these the run has (a method's policy before the SFT model it started from).
    public static let defaultPolicyOrder: [String] = (fromSFT + [.sft, .pretrain]).map(\.rawValue)
}

/// Where the text comes from.
public struct DataConfig: Equatable, Sendable {
    public enum Task: String, Sendable { case tldrSynth = "tldr-synth", files }
    public var task: Task = .tldrSynth
    /// tldr-synth: number of posts per split and the task's own seed.
    public var trainPosts = 4000, validPosts = 200, testPosts = 200
    public var taskSeed: UInt64 = 1
    /// tldr-synth: posts in the pretraining corpus (a stream disjoint from the splits). Enough that
    /// pretraining sees each post about once: repeated posts get memorized instead of read.
    public var corpusPosts = 10_000
    /// files: paths (relative to the config file) of real data in the supported formats.
    public var sftTrain: String?, sftValid: String?, preferencesTrain: String?, preferencesValid: String?, test: String?, corpus: String?
    /// Prompt (query) budget in tokens; posts are cut at a line boundary to fit.
    public var maxPromptTokens = 192
    /// Completion budget in tokens (EOS included).
    public var maxCompletionTokens = 48
}

public struct TokenizerStageConfig: Equatable, Sendable {
    public var vocabSize = 2048
    /// tldr-synth: number of corpus posts (the first ones of the pretraining corpus) that train the tokenizer.
    public var corpusPosts = 2000
    /// An existing tokenizer file to use instead of training one.
    public var path: String?
}

public struct PreferencesConfig: Equatable, Sendable {
    public enum Source: String, Sendable { case policySamples = "policy_samples", references }
    public var source: Source = .policySamples
    public var prompts = 2000
    public var validPrompts = 200
    public var temperature: Float = 1.0
    /// policy_samples: fraction of train prompts whose pair is (reference summary, one SFT sample)
    /// instead of two SFT samples, as the TL;DR comparisons include the references among the
    /// compared "policies" (Stiennon et al. 2020). Validation pairs are always two SFT samples.
    public var referenceFraction = 0.0
    /// Bradley–Terry temperature of the simulated labelers (nil: the task's calibrated default).
    public var labelerTemperature: Double?
}

public struct EvalConfig: Equatable, Sendable {
    public var temperatures: [Double] = [0, 0.25, 0.5, 0.75, 1.0]
    public var prompts = 200
    /// Which policies to evaluate (those the run, or init_from, has): default every trained one
    /// but the pretrained model.
    public var policies: [String] = Stage.policies.filter { $0 != .pretrain }.map(\.rawValue)
    /// Best-of-N from the SFT policy, the reward model's best of N kept, for each N listed
    /// (none by default): the baseline of over-optimisation studies, with no training.
    public var bestOfN: [Int] = []
    public var batchSize = 64
    /// What decides the win rate: "gold" (the built-in task's judge), "reward_model" (this run's
    /// own), or the path of another reward model (a run directory, a Hugging Face sequence
    /// classifier, a model file; relative to the working directory, as init_from). nil: gold on
    /// the built-in task, else this run's reward model.
    public var judge: String?
    /// Judge-score differences up to this size count as ties (half a win). The gold judge's
    /// −0.02 per word decides between two summaries with the same content by a word or two;
    /// 0.1 (five words) keeps such wording coin flips out of the win rate.
    public var tieMargin = 0.1
}

/// Seeds of replicated stages (see `ExperimentConfig.replicates`).
public struct Replicates: Equatable, Sendable {
    public var seeds: [UInt64]
    public var fromStage: Stage
}

/// A validated experiment. Stage hyperparameters are the trainers' own config structs.
public struct ExperimentConfig {
    public var file: String
    public var name: String
    public var seed: UInt64
    public var threads: Int
    /// The range of `threads` and of every `--threads` flag (run's, bench's, verify's): one range,
    /// checked wherever a thread count comes in.
    public static let maxThreads = 256

    /// `--threads N` of a command, in the range of the config's `threads`.
    public static func checkThreadsFlag(_ threads: Int) throws {
        guard (1...maxThreads).contains(threads) else {
            throw UserError("--threads: expected an integer in 1...\(maxThreads), found \(threads)")
        }
    }
    public var stages: [Stage]
    public var initFrom: String?
    public var model: GPTConfig
    /// `model.hf`: a Hugging Face GPT-2 directory that supplies the architecture, the weights the
    /// first trained stage starts from (the SFT policy when the run has no sft stage) and the tokenizer.
    public var hf: HFCheckpoint?
    /// The architecture keys of "model" the config gives explicitly (with init_from they must
    /// agree with the models that run supplies).
    public var modelKeysGiven: [String: Int] = [:]
    public var data = DataConfig()
    public var tokenizer = TokenizerStageConfig()
    public var pretrain: SFTConfig?
    public var sft: SFTConfig?
    public var preferences: PreferencesConfig?
    public var rewardModel: RewardModelStage?
    public var ppo: PPOStage?
    public var grpo: GRPOStage?
    public var rloo: RLOOStage?
    public var onlineDPO: OnlineDPOStage?
    public var dpo: DPOStage?
    public var eval: EvalConfig?
    /// `replicates`: the stages from `fromStage` on run once per seed in RUN/seed-S/ (each
    /// initialized from RUN, which runs the stages before it once), for comparisons across seeds.
    public var replicates: Replicates?
    /// The longest sequence a stage after pretraining builds: a prompt and its completion. Their
    /// workspaces are sized by it rather than by n_positions (1,024 for GPT-2, mostly unused).
    public var sequenceLength: Int { min(model.context, data.maxPromptTokens + data.maxCompletionTokens) }
    /// The whole config as read, defaults included (written to the run directory).
    public var resolved: JSONValue = .null
    /// The merged input (after "extends" and --set), used by `rlhf resume`.
    public var input: JSONValue = .null

    /// Loads, merges and validates a config file; every problem is a `UserError` naming the file and JSON path.
    public static func load(path: String, overrides: [String] = []) throws -> ExperimentConfig {
        let merged = try ConfigLoader.load(path: path, overrides: overrides)
        return try ExperimentConfig(json: merged, file: path)
    }

    public init(json: JSONValue, file: String) throws {
        self.file = file
        input = json
        let root = try ConfigSection(file: file, path: "", value: json)
        name = try root.string("name", URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent)
        // The name is the default run directory (runs/NAME): one plain path component.
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\\"),
              !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw root.fail("name", "expected a run name usable as a directory name (not empty, \".\" or \"..\", without '/', '\\' or control characters), found \(JSONValue.excerpt(name)); e.g. \"my-run\"")
        }
        seed = UInt64(try root.int("seed", 1, min: 0))
        threads = try root.int("threads", max(1, ProcessInfo.processInfo.activeProcessorCount), min: 1, max: Self.maxThreads)
        initFrom = try root.optionalString("init_from")

        // Stages: explicit list, or every section present in pipeline order.
        let names = Stage.allCases.map(\.rawValue)
        if root.has("stages") {
            let list = try root.strings("stages", [])
            if list.isEmpty {
                throw root.fail("stages", "expected at least one stage, found an empty list; list the stages to run, e.g. [\"tokenizer\", \"sft\"], or leave \"stages\" out to run every configured section")
            }
            stages = try list.enumerated().map { i, s in
                guard let st = Stage(rawValue: s) else {
                    let hint = suggestion(s, in: names).map { "; did you mean \"\($0)\"?" } ?? ""
                    throw root.fail("stages", "element \(i): unknown stage \(JSONValue.excerpt(s)); expected one of \(names.joined(separator: ", "))\(hint)")
                }
                return st
            }
            for (i, s) in stages.enumerated() where stages[..<i].contains(s) {
                throw root.fail("stages", "stage \"\(s.rawValue)\" is listed twice")
            }
            let order = stages.map { Stage.allCases.firstIndex(of: $0)! }
            if order != order.sorted() {
                throw root.fail("stages", "stages must follow the pipeline order \(names.joined(separator: " -> "))")
            }
        } else {
            stages = Stage.allCases.filter { $0 == .tokenizer || root.has($0.rawValue) }
            _ = try root.strings("stages", stages.map(\.rawValue))
        }

        data = try Self.readData(try root.sectionOrEmpty("data"))
        let tok = try root.sectionOrEmpty("tokenizer")
        let m = try root.sectionOrEmpty("model")
        if !m.has("hf") {
            tokenizer.vocabSize = try tok.int("vocab_size", 2048, min: 260, max: 65536)
            tokenizer.corpusPosts = try Self.postCount(tok, "corpus_posts", 2000)
            tokenizer.path = try tok.optionalString("path")
        }

        let dropout = try m.float("dropout", 0, min: 0, max: 0.9)
        for key in ["n_positions", "n_layer", "n_head", "n_embd"] + (m.has("hf") ? ["n_inner", "vocab_size"] : []) where m.has(key) {
            if let v = try m.optionalInt(key) { modelKeysGiven[key] = v }
        }
        if let hfPath = try m.optionalString("hf") {
            // A Hugging Face directory is the one source of the architecture, the first weights and
            // the tokenizer: any other source given beside it must say the same or is refused.
            let dir = URL(fileURLWithPath: hfPath, relativeTo: URL(fileURLWithPath: file).deletingLastPathComponent()).standardizedFileURL
            let ck: HFCheckpoint
            do { ck = try HFCheckpoint(directory: dir) } catch let e as CheckpointError {
                throw m.fail("hf", e.description)
            }
            for key in ["path", "vocab_size", "corpus_posts"] where tok.has(key) {
                throw tok.fail(key, "the tokenizer comes from model.hf (\(dir.path)); remove tokenizer.\(key)")
            }
            for (key, value) in [("n_positions", ck.config.context), ("n_layer", ck.config.nLayer), ("n_head", ck.config.nHead),
                                 ("n_embd", ck.config.nEmbd), ("n_inner", ck.config.nInner), ("vocab_size", ck.config.vocabSize)] {
                if let v = try m.optionalInt(key), v != value {
                    throw m.fail(key, "is \(v) but model.hf (\(dir.path)) has \(key) \(value); the architecture comes from the Hugging Face config.json: remove model.\(key)")
                }
                m.record(key, .number(Double(value), isInteger: true))
            }
            model = ck.config
            model.dropout = dropout
            hf = ck
        } else {
            model = GPTConfig(vocabSize: tokenizer.vocabSize, context: try m.int("n_positions", 256, min: 8, max: 4096),
                              nLayer: try m.int("n_layer", 4, min: 1, max: 64), nHead: try m.int("n_head", 4, min: 1, max: 64),
                              nEmbd: try m.int("n_embd", 128, min: 8, max: 4096), dropout: dropout)
            if model.nEmbd % model.nHead != 0 {
                throw m.fail("n_embd", "n_embd (\(model.nEmbd)) must be divisible by n_head (\(model.nHead)); e.g. n_embd \(model.nEmbd / model.nHead * model.nHead) or n_head \(Self.divisor(model.nEmbd, near: model.nHead))")
            }
        }
        if data.maxPromptTokens + data.maxCompletionTokens > model.context {
            throw UserError("\(file): data.max_prompt_tokens + data.max_completion_tokens (\(data.maxPromptTokens) + \(data.maxCompletionTokens)) exceeds model.n_positions (\(model.context)); lower one of them or raise n_positions")
        }

        if let s = stages.contains(.pretrain) ? try root.sectionOrEmpty("pretrain") : try root.section("pretrain") {
            var c = Self.pretrainDefaults
            try c.read(s)
            pretrain = c
        }
        if let s = stages.contains(.sft) ? try root.sectionOrEmpty("sft") : try root.section("sft") {
            var c = SFTConfig()
            try c.read(s)
            sft = c
        }
        if let s = stages.contains(.preferences) ? try root.sectionOrEmpty("preferences") : try root.section("preferences") {
            var p = PreferencesConfig()
            p.source = PreferencesConfig.Source(rawValue: try s.choice("source", "policy_samples", ["policy_samples", "references"]))!
            p.prompts = try s.int("prompts", 2000, min: 1)
            p.validPrompts = try s.int("valid_prompts", 200, min: 1)
            p.temperature = try s.float("temperature", 1.0, min: 0, max: 5, openMin: true)
            p.labelerTemperature = try s.optionalDouble("labeler_temperature", min: 0, openMin: true)
            p.referenceFraction = try s.double("reference_fraction", 0, min: 0, max: 1)
            preferences = p
        }
        if let s = stages.contains(.rewardModel) ? try root.sectionOrEmpty("reward_model") : try root.section("reward_model") {
            rewardModel = try RewardModelStage(s)
        }
        // The online methods sample completions of the data's completion budget by default.
        if let s = stages.contains(.ppo) ? try root.sectionOrEmpty("ppo") : try root.section("ppo") {
            var t = PPOConfig()
            t.responseLength = data.maxCompletionTokens
            ppo = try PPOStage(s, trainer: t)
        }
        if let s = stages.contains(.grpo) ? try root.sectionOrEmpty("grpo") : try root.section("grpo") {
            var t = GRPOConfig()
            t.maxCompletionLength = data.maxCompletionTokens
            grpo = try GRPOStage(s, trainer: t)
        }
        if let s = stages.contains(.rloo) ? try root.sectionOrEmpty("rloo") : try root.section("rloo") {
            var t = RLOOConfig()
            t.maxCompletionLength = data.maxCompletionTokens
            rloo = try RLOOStage(s, trainer: t)
        }
        if let s = stages.contains(.onlineDPO) ? try root.sectionOrEmpty("online_dpo") : try root.section("online_dpo") {
            var t = OnlineDPOConfig()
            t.maxCompletionLength = data.maxCompletionTokens
            onlineDPO = try OnlineDPOStage(s, trainer: t, rewardKey: "judge", rewards: ["reward_model", "gold", "labelers"])
        }
        // An online stage keeps each prompt's last n_positions − L tokens, L its completion budget:
        // L must leave room for a prompt (the trainers assume it), checked here, before any work.
        let budgets: [(key: String, length: Int?)] = [
            ("ppo.response_length", stages.contains(.ppo) ? ppo?.trainer.responseLength : nil),
            ("grpo.max_completion_length", stages.contains(.grpo) ? grpo?.trainer.maxCompletionLength : nil),
            ("rloo.max_completion_length", stages.contains(.rloo) ? rloo?.trainer.maxCompletionLength : nil),
            ("online_dpo.max_completion_length", stages.contains(.onlineDPO) ? onlineDPO?.trainer.maxCompletionLength : nil),
        ]
        for case let (key, length?) in budgets where length >= model.context {
            throw UserError("\(file): \(key): expected an integer below model.n_positions (\(model.context)), which must leave room for the prompt, found \(length); lower it or raise model.n_positions")
        }
        if let s = stages.contains(.dpo) ? try root.sectionOrEmpty("dpo") : try root.section("dpo") {
            dpo = try DPOStage(s)
        }
        if let s = stages.contains(.eval) ? try root.sectionOrEmpty("eval") : try root.section("eval") {
            var e = EvalConfig()
            e.temperatures = try s.doubles("temperatures", e.temperatures, min: 0, max: 5)
            e.prompts = try s.int("prompts", 200, min: 1)
            e.policies = try s.strings("policies", e.policies)
            let names = Stage.policies.map(\.rawValue)
            for (i, p) in e.policies.enumerated() where !names.contains(p) {
                throw s.fail("policies", "element \(i): expected one of \(names.map { "\"\($0)\"" }.joined(separator: ", ")), found \(JSONValue.excerpt(p))")
            }
            e.bestOfN = try s.integers("best_of_n", [], min: 1, max: 4096, nonEmpty: false)
            e.batchSize = try s.int("batch_size", 64, min: 1, max: 1024)
            e.tieMargin = try s.double("tie_margin", e.tieMargin, min: 0)
            e.judge = try s.optionalString("judge")
            switch e.judge {
            case nil, "reward_model": break
            case "gold":
                if data.task != .tldrSynth {
                    throw s.fail("judge", "\"gold\" is the built-in task's judge (data.task \"tldr-synth\"); with real data give \"reward_model\" or the path of an independent reward model")
                }
            case let path?:
                // Relative to the working directory, as init_from: a judge is usually another run (runs/NAME).
                let u = URL(fileURLWithPath: path).standardizedFileURL
                if !FileManager.default.fileExists(atPath: u.path) {
                    throw s.fail("judge", "\(JSONValue.plainExcerpt(u.path, limit: pathExcerptLength)) not found; expected \"gold\", \"reward_model\" or the path of a reward model: a run directory, a Hugging Face sequence classifier directory or a reward_model.safetensors")
                }
            }
            eval = e
        }
        if let s = try root.section("replicates") {
            let seeds = try s.integers("seeds", [], min: 0)
            if seeds.isEmpty { throw s.fail("seeds", "required: the seeds of the replicates, e.g. [1, 2, 3]") }
            if let dup = seeds.enumerated().first(where: { seeds[..<$0.offset].contains($0.element) }) {
                throw s.fail("seeds", "element \(dup.offset): seed \(dup.element) is listed twice")
            }
            let names = stages.map(\.rawValue)
            let from = try s.choice("from_stage", names.first(where: { $0 != "tokenizer" }) ?? names[0], names)
            replicates = Replicates(seeds: seeds.map { UInt64($0) }, fromStage: Stage(rawValue: from)!)
        }
        try root.finish()
        resolved = root.resolvedJSON
        try checkDependencies(root)
    }

    /// Rejects, before a new run starts, a model or batch that cannot fit in this machine's memory
    /// (`rlhf run` calls it; a run resumed or re-evaluated passed it when it started). The
    /// estimate is a lower bound, taken over the stages this run trains: the parameters of every
    /// model a stage holds (16 bytes a parameter for a trained model: weights, gradients and AdamW
    /// moments; 4 for a frozen one: DPO's reference, PPO's reference and reward model), plus one
    /// workspace of activations for the stage's largest batch at the full context.
    public func checkMemory(physicalBytes: UInt64 = ProcessInfo.processInfo.physicalMemory) throws {
        guard initFrom == nil else { return }  // the models come from that run, whatever "model" says
        let parameters = ParameterLayout(model).count
        var noDropout = model
        noDropout.dropout = 0
        // (stage's batch key, rows of its workspace, their length, bytes a parameter, model config it runs).
        var needs: [(key: String, rows: Int, length: Int, perParameter: Int, config: GPTConfig)] = []
        let seq = sequenceLength, pair = data.maxPromptTokens + 2 * data.maxCompletionTokens
        if stages.contains(.pretrain), let pretrain { needs.append(("pretrain.batch_size", pretrain.batchSize, model.context, 16, model)) }
        if stages.contains(.sft), let sft { needs.append(("sft.batch_size", sft.batchSize, seq, 16, model)) }
        if stages.contains(.rewardModel), let rewardModel {
            needs.append(("reward_model.batch_size", 2 * rewardModel.trainer.batchSize, seq, 16, noDropout))
        }
        if stages.contains(.dpo), let dpo {
            let t = dpo.trainer
            needs.append(("dpo.batch_size", 2 * t.batchSize, seq, t.referenceFree ? 16 : 20, t.disableDropout ? noDropout : model))
        }
        // Online methods: the policy trained (16 bytes a parameter), the reference (4) when it is
        // kept, the reward model (4) when it scores, PPO's value model (16).
        if stages.contains(.ppo), let ppo {
            let value = ppo.trainer.valueModel == .separate ? 16 : 0, reward = ppo.reward == "reward_model" ? 4 : 0
            needs.append(("ppo.batch_size", ppo.trainer.microBatchSize, seq, 16 + 4 + value + reward, noDropout))
        }
        if stages.contains(.grpo), let g = grpo {
            let t = g.trainer
            needs.append(("grpo.batch_size", t.forwardRows, t.forwardLength(promptTokens: min(data.maxPromptTokens, model.context - t.maxCompletionLength)), 16 + (t.beta > 0 ? 4 : 0) + (g.reward == "reward_model" ? 4 : 0), noDropout))
        }
        if stages.contains(.rloo), let r = rloo {
            let t = r.trainer
            needs.append(("rloo.batch_size", t.forwardRows, t.forwardLength(promptTokens: min(data.maxPromptTokens, model.context - t.maxCompletionLength)), 16 + (t.beta > 0 ? 4 : 0) + (r.reward == "reward_model" ? 4 : 0), noDropout))
        }
        if stages.contains(.onlineDPO), let o = onlineDPO {
            let t = o.trainer
            needs.append(("online_dpo.batch_size", t.sharedPrompt ? t.batchSize / t.gradAccum : 2 * t.batchSize / t.gradAccum,
                          t.sharedPrompt ? pair : seq, 20 + (o.reward == "reward_model" ? 4 : 0), noDropout))
        }
        func gb(_ b: Double) -> String { String(format: "%.1f GB", b / 1e9) }
        for n in needs {
            let activations = Double(GPTWorkspace.floatCount(config: n.config, maxB: n.rows, maxT: n.length)) * 4
            // Every process of a data-parallel job on this host holds its own models and workspace.
            let ranks = DataParallel.ranksOnHost
            let need = (Double(parameters) * Double(n.perParameter) + activations) * Double(ranks)
            guard need > Double(physicalBytes) else { continue }
            let stage = String(n.key.prefix { $0 != "." })
            let length = n.length == model.context ? "at n_positions \(model.context)" : "at \(n.length) tokens (data.max_prompt_tokens and data.max_completion_tokens)"
            let lower = n.length == model.context ? "model.n_positions" : "data.max_prompt_tokens"
            throw UserError("\(file): model: the \(stage) stage needs at least \(gb(need)) of memory (\(parameters) parameters at \(n.perParameter) bytes each and \(gb(activations)) of activations for \(n.key) \(length)\(ranks > 1 ? ", times \(ranks) processes on this host" : "")) but this machine has \(gb(Double(physicalBytes))); lower model.n_layer, model.n_embd, \(n.key) or \(lower)")
        }
    }

    static func divisor(_ n: Int, near h: Int) -> Int {
        (1...n).filter { n % $0 == 0 }.min { abs($0 - h) < abs($1 - h) || (abs($0 - h) == abs($1 - h) && $0 > $1) } ?? 1
    }

    /// Stages need artifacts of earlier stages, from this run or from `init_from`.
    func checkDependencies(_ root: ConfigSection) throws {
        guard initFrom == nil else { return }
        func need(_ s: Stage, _ dep: Stage, _ why: String) throws {
            // Without an sft stage the model of model.hf is the SFT policy (a checkpoint already fine-tuned).
            if dep == .sft && hf != nil { return }
            if stages.contains(s) && !stages.contains(dep) {
                throw UserError("\(file): stages: \"\(s.rawValue)\" needs \(why) but \"\(dep.rawValue)\" is not in this run; add it to \"stages\" or set \"init_from\" to a run that has it")
            }
        }
        try need(.preferences, .sft, "the SFT policy")
        try need(.rewardModel, .sft, "the SFT model")
        for stage in Stage.fromSFT { try need(stage, .sft, "the SFT policy") }
        for (stage, reward, key) in [(Stage.ppo, ppo?.reward, "reward"), (.grpo, grpo?.reward, "reward"), (.rloo, rloo?.reward, "reward"),
                                     (.onlineDPO, onlineDPO?.reward, "judge")] {
            guard stages.contains(stage), let reward else { continue }
            if reward == "reward_model" { try need(stage, .rewardModel, "a reward model (\(stage.rawValue).\(key) is \"reward_model\")") }
            if reward != "reward_model" && data.task != .tldrSynth {
                throw UserError("\(file): \(stage.rawValue).\(key): \"\(reward)\" needs the built-in task's judge (data.task \"tldr-synth\"); use \"reward_model\"")
            }
        }
        if data.task == .files, stages.contains(.dpo) || stages.contains(.rewardModel), data.preferencesTrain == nil, !stages.contains(.preferences) {
            throw UserError("\(file): data.preferences_train: the reward_model/dpo stages need preference pairs; set data.preferences_train or add the \"preferences\" stage")
        }
    }

    static var pretrainDefaults: SFTConfig {
        var c = SFTConfig()
        c.steps = 1000
        c.batchSize = 16
        c.lr = 1e-3
        c.schedule = LRSchedule(kind: .cosine, warmupSteps: 50, minLRRatio: 0.1)
        c.allTokens = true
        return c
    }

    /// A count of posts (a split's size, a corpus), at least 1 and no more than memory can hold
    /// (`TLDRSynth.tooManyPosts`): checked when the config is read, so `--dry-run` refuses it too.
    static func postCount(_ s: ConfigSection, _ key: String, _ def: Int) throws -> Int {
        let n = try s.int(key, def, min: 1)
        if let why = TLDRSynth.tooManyPosts(n) { throw s.fail(key, why) }
        return n
    }

    static func readData(_ s: ConfigSection) throws -> DataConfig {
        var d = DataConfig()
        d.task = DataConfig.Task(rawValue: try s.choice("task", "tldr-synth", ["tldr-synth", "files"]))!
        d.trainPosts = try postCount(s, "train_posts", d.trainPosts)
        d.validPosts = try postCount(s, "valid_posts", d.validPosts)
        d.testPosts = try postCount(s, "test_posts", d.testPosts)
        d.taskSeed = UInt64(try s.int("task_seed", 1, min: 0))
        d.corpusPosts = try postCount(s, "corpus_posts", d.corpusPosts)
        d.sftTrain = try s.optionalString("sft_train")
        d.sftValid = try s.optionalString("sft_valid")
        d.preferencesTrain = try s.optionalString("preferences_train")
        d.preferencesValid = try s.optionalString("preferences_valid")
        d.test = try s.optionalString("test")
        d.corpus = try s.optionalString("corpus")
        d.maxPromptTokens = try s.int("max_prompt_tokens", d.maxPromptTokens, min: 4)
        d.maxCompletionTokens = try s.int("max_completion_tokens", d.maxCompletionTokens, min: 2)
        if d.task == .files && d.sftTrain == nil {
            throw s.fail("sft_train", "required when data.task is \"files\": a TL;DR JSONL or {\"prompt\",\"completion\"} JSONL file")
        }
        if d.task == .tldrSynth {
            // Data files are read only with data.task "files"; silently ignoring one would train on
            // the built-in task while the user believes it trains on their file.
            for key in ["sft_train", "sft_valid", "preferences_train", "preferences_valid", "test", "corpus"] where s.has(key) {
                throw s.fail(key, "a data file is read only when data.task is \"files\" (data.task is \"tldr-synth\", the built-in task); set data.task to \"files\" or remove data.\(key)")
            }
        }
        return d
    }

}
