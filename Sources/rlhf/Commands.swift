import Alignment
import ArgumentParser
import Experiments
import Foundation

struct RLHF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rlhf",
        abstract: "RLHF (PPO) and DPO for small GPT models, on a CPU.",
        discussion: """
        Quickstart: rlhf run configs/quickstart.json   (then: rlhf compare runs/quickstart)
        """,
        subcommands: [Run.self, Resume.self, Eval.self, VerifyCommand.self, Compare.self, Sample.self, ExportCommand.self, DataCommand.self, Bench.self]
    )
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run an experiment from a JSON config file.")

    @Argument(help: "The experiment file, e.g. configs/quickstart.json.")
    var config: String

    @Option(name: .customLong("set"), help: "Override a config value: --set ppo.kl_coef=0.1 (repeatable).")
    var overrides: [String] = []

    @Option(help: "Run directory (default: runs/NAME).")
    var out: String?

    @Flag(help: "Validate the config, print the resolved config, and stop.")
    var dryRun = false

    func run() throws {
        let cfg = try ExperimentConfig.load(path: config, overrides: overrides)
        try cfg.checkMemory()
        if dryRun {
            print(cfg.resolved.serialized())
            return
        }
        if let out, out.isEmpty { throw UserError("--out: expected a directory path, found an empty string; e.g. --out runs/\(cfg.name)") }
        let dir = URL(fileURLWithPath: out ?? "runs/\(cfg.name)")
        // Rank 0 of a data-parallel job alone creates the directory (the others write nothing there).
        if DataParallel.reducer.rank == 0 { try Lab.checkNewRunDirectory(dir) }
        try Lab.runExperiment(cfg, dir: dir)
    }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a stopped run from its last checkpoint.")

    @Argument(help: "The run directory, e.g. runs/quickstart.")
    var runDirectory: String

    func run() throws {
        try Lab.resumeExperiment(URL(fileURLWithPath: runDirectory))
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(Re-)evaluate the policies of a run; writes eval.json.")

    @Argument(help: "The run directory.")
    var runDirectory: String

    @Option(name: .customLong("set"), help: "Override an eval setting: --set eval.prompts=100 (repeatable).")
    var overrides: [String] = []

    func run() throws {
        try Lab.evaluateRun(URL(fileURLWithPath: runDirectory), overrides: overrides)
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify",
        abstract: "Run a run's trained stages again from their oldest checkpoints and compare weights and metrics bit for bit.",
        discussion: "Prints one line per stage; exit code 0 when every stage is identical, 1 when a difference was found, 2 on bad input.")

    @Argument(help: "The run directory, e.g. runs/quickstart.")
    var runDirectory: String

    @Option(help: "Verify only this stage (default: every trained stage the run finished).")
    var stage: String?

    @Option(parsing: .unconditional, help: "Re-run with this many threads instead of the run's (the bits must not change).")
    var threads: Int?

    func run() throws {
        if let threads { try ExperimentConfig.checkThreadsFlag(threads) }
        let outcomes = try Verify.run(URL(fileURLWithPath: runDirectory), stage: stage, threads: threads) { print($0); fflush(stdout) }
        if outcomes.contains(where: { !$0.identical }) { Foundation.exit(1) }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Compare runs: a table on stdout, report.md and SVG plots.")

    @Argument(help: "Run directories.")
    var runs: [String]

    @Option(help: "Report directory (default: the first run's report/).")
    var out: String?

    func run() throws {
        guard !runs.isEmpty else { throw UserError("compare: name at least one run directory, e.g. rlhf compare runs/quickstart") }
        if let out, out.isEmpty { throw UserError("--out: expected a directory path, found an empty string; e.g. --out reports/ppo-vs-dpo") }
        let table = try Report.compare(runs: runs.map { URL(fileURLWithPath: $0) }, out: out.map { URL(fileURLWithPath: $0) })
        print(table)
    }
}

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sample from a run's policy or a checkpoint file.")

    @Argument(help: "A run directory (without --policy: the first it has of ppo, grpo, rloo, online_dpo, dpo, sft, pretrain) or a .safetensors checkpoint.")
    var source: String

    @Option(help: "The prompt text (for TL;DR models, a formatted query ending in 'TL;DR:').")
    var prompt: String

    @Option(help: "Which policy of a run: any models/NAME.safetensors it has (sft, ppo, grpo, rloo, online_dpo, dpo, pretrain).")
    var policy: String?

    @Option(help: "Tokenizer file (default: the run's tokenizer.json).")
    var tokenizer: String?

    // Numeric options take the next argument even when it starts with '-', so that a negative
    // value meets the range check below instead of "missing value".
    @Option(parsing: .unconditional, help: "Sampling temperature (0 = greedy).") var temperature: Float = 0.7
    @Option(parsing: .unconditional, help: "Top-k filter (0 = off).") var topK: Int = 0
    @Option(parsing: .unconditional, help: "Top-p (nucleus) filter (1 = off).") var topP: Float = 1
    @Option(parsing: .unconditional, help: "Maximum new tokens.") var maxNewTokens: Int = 64
    @Option(parsing: .unconditional, help: "Random seed.") var seed: Int = 0
    @Option(name: [.customShort("n"), .customLong("num-samples")], parsing: .unconditional, help: "Number of samples.") var n: Int = 1

    func validate() throws {
        guard temperature.isFinite else { throw ValidationError("--temperature must be a finite number ≥ 0, found \(temperature)") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0, found \(temperature)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0, found \(topK)") }
        guard topP.isFinite && topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], found \(topP)") }
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be ≥ 1, found \(maxNewTokens)") }
        guard n >= 1 && n <= 1024 else { throw ValidationError("-n/--num-samples must be in 1...1024, found \(n)") }
        guard seed >= 0 else { throw ValidationError("--seed must be ≥ 0, found \(seed)") }
    }

    func run() throws {
        let outs = try Sampling.sample(source: source, policy: policy, tokenizerPath: tokenizer, prompt: prompt,
                                       temperature: temperature, topK: topK, topP: topP, maxNewTokens: maxNewTokens, seed: UInt64(seed), n: n)
        for o in outs { print(o) }
    }
}

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data", abstract: "Write data sets as files.", subcommands: [TLDRSynthData.self])
}

struct TLDRSynthData: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tldr-synth",
        abstract: "Write the built-in summarization task in the real data formats (TL;DR filtered + comparisons JSONL).")
    @Option(help: "Output directory (created if missing). Writes \(Lab.tldrSynthFiles.joined(separator: ", ")); refuses to replace existing ones without --force.")
    var out: String
    @Option(parsing: .unconditional, help: "Posts per train split (valid and test get a tenth).") var posts: Int = 2000
    @Option(parsing: .unconditional, help: "Task seed.") var seed: Int = 1
    @Flag(help: "Overwrite the data set's files when --out already has them (other files are left alone).") var force = false

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out: expected a directory path, found an empty string; e.g. --out data/tldr") }
        guard posts >= 1 else { throw ValidationError("--posts must be ≥ 1, found \(posts)") }
        guard seed >= 0 else { throw ValidationError("--seed must be ≥ 0, found \(seed)") }
    }

    func run() throws {
        try Lab.writeTLDRSynth(to: URL(fileURLWithPath: out), posts: posts, seed: UInt64(seed), force: force)
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure training, generation, DPO, PPO, GRPO and RLOO throughput (build with -c release).")
    @Option(help: "Comma-separated shapes: tiny, small, gpt2 (GPT-2 124M: several GB of memory and minutes).") var shapes: String = "tiny,small"
    @Option(parsing: .unconditional, help: "Timed training steps per shape.") var steps: Int = 6
    @Option(parsing: .unconditional, help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "What to measure: all, or a comma-separated list of train, generate, dpo, ppo, grpo, rloo, tokenizer.") var parts: String = "all"
    @Option(help: "With --parts tokenizer: the tokenizer to measure (tokenizer.json, model directory or rlhf file) instead of a trained one; needs --text.")
    var tokenizer: String?
    @Option(help: "With --tokenizer: the UTF-8 text file to encode.") var text: String?

    func validate() throws {
        guard tokenizer != nil || text != nil else { return }
        guard tokenizer != nil && text != nil else {
            throw ValidationError("--tokenizer and --text go together: pass both, e.g. --parts tokenizer --tokenizer gpt2/tokenizer.json --text data.txt")
        }
        guard parts == "tokenizer" else {
            throw ValidationError("--tokenizer and --text measure the tokenizer only: pass --parts tokenizer, found --parts \(parts)")
        }
    }

    func run() throws {
        if let tokenizer, let text {
            print(try Experiments.Bench.tokenizerFile(tokenizer: tokenizer, text: text))
            return
        }
        try Lab.bench(shapes: shapes, steps: steps, threads: threads, parts: parts)
    }
}
