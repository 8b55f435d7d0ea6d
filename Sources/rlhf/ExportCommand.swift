import ArgumentParser
import Experiments
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a run's model as a Hugging Face directory (transformers' from_pretrained loads it).",
        discussion: """
        Writes config.json, model.safetensors, generation_config.json, the tokenizer files (tokenizer.json, \
        vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json) and a README.md model card. \
        A policy loads with AutoModelForCausalLM, the reward model with AutoModelForSequenceClassification.
        """
    )

    @Argument(help: "The run directory, e.g. runs/quickstart.")
    var runDirectory: String

    @Option(help: "Which model of the run: any models/NAME.safetensors (sft, ppo, dpo, reward_model, pretrain, ...); default the first of ppo, dpo, sft, pretrain.")
    var policy: String?

    @Option(help: "The directory to write (created if missing).")
    var out: String

    @Flag(help: "Replace an earlier export in --out.")
    var force = false

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out: expected a directory path, found an empty string; e.g. --out exports/ppo") }
    }

    func run() throws {
        print(try Export.export(run: URL(fileURLWithPath: runDirectory), policy: policy, out: URL(fileURLWithPath: out), force: force))
    }
}
