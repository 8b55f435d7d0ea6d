import Foundation
import GPT
import JSON
import Tokenizer
import XCTest
@testable import Experiments

/// Runs that start from a Hugging Face GPT-2 directory (the fixture transformers wrote, see
/// scripts/make_hf_model_fixtures.py), the sources they may not mix, and `rlhf export`.
final class HuggingFaceRunTests: XCTestCase {
    var dir: URL!

    /// Tests/GPTTests/Fixtures/hf/tiny-gpt2: 2 layers, n_embd 24, n_inner 40, 64 positions, a
    /// 384-token byte-level BPE whose <|endoftext|> is id 0.
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../GPTTests/Fixtures/hf/tiny-gpt2").standardizedFileURL

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("hfrun-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        stopRequested = 0
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func config(_ body: String, name: String = "hf.json") -> String {
        let p = dir.appendingPathComponent(name).path
        try! body.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    static let tiny = """
    {
      "name": "hf", "seed": 2, "threads": 2,
      "stages": ["tokenizer", "sft", "preferences", "reward_model", "dpo", "eval"],
      "data": {"task": "tldr-synth", "train_posts": 60, "valid_posts": 8, "test_posts": 6, "max_prompt_tokens": 44, "max_completion_tokens": 16},
      "model": {"hf": "FIXTURE", "dropout": 0.1},
      "sft": {"steps": 4, "batch_size": 4, "eval_every": 2, "checkpoint_every": 2},
      "preferences": {"prompts": 12, "valid_prompts": 4},
      "reward_model": {"steps": 3, "batch_size": 4, "eval_every": 3, "checkpoint_every": 3},
      "dpo": {"steps": 3, "batch_size": 4, "eval_every": 3, "checkpoint_every": 3},
      "eval": {"temperatures": [0], "prompts": 4}
    }
    """

    func testAFullRunFromAHuggingFaceModelAndItsExport() throws {
        let path = config(Self.tiny.replacingOccurrences(of: "FIXTURE", with: Self.fixture.path))
        let cfg = try ExperimentConfig.load(path: path)
        XCTAssertEqual(cfg.model.nInner, 40)
        XCTAssertEqual(cfg.model.vocabSize, 384)
        XCTAssertEqual(cfg.model.dropout, 0.1)
        XCTAssertEqual(cfg.resolved["model"]?["n_layer"]?.intValue, 2)
        let run = dir.appendingPathComponent("runs/hf")
        try Lab.runExperiment(cfg, dir: run)
        // The run's tokenizer is the model's: same ids as the directory's own files.
        let mine = try BPETokenizer.load(from: run.appendingPathComponent("tokenizer.json"))
        let theirs = try BPETokenizer.load(directory: Self.fixture)
        let text = "SUBREDDIT: r/relationships\n\nTITLE: help<|endoftext|> me\n\nTL;DR:"
        XCTAssertEqual(mine.encode(text), theirs.encode(text))
        XCTAssertEqual(mine.eosId, 0)
        // The SFT stage fine-tuned the imported weights: four steps moved them a little, nowhere
        // near the distance to a fresh initialization.
        let sft = try GPT.load(from: run.appendingPathComponent("models/sft.safetensors"))
        XCTAssertEqual(sft.config.nInner, 40)
        XCTAssertEqual(sft.config.layerNormEpsilon, 1e-4)
        let hf = try HFCheckpoint(directory: Self.fixture).load()
        let moved = zip(sft.params.array, hf.params.array).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(moved, 0)
        XCTAssertLessThan(moved, 0.05, "four SFT steps moved a weight by \(moved): not a fine-tune of the imported model")
        for f in ["models/reward_model.safetensors", "models/dpo.safetensors", "eval.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(f).path), f)
        }

        // Export of the DPO policy: the HF files, and back through the importer to the same bits.
        let out = dir.appendingPathComponent("export-dpo")
        let line = try Export.export(run: run, policy: "dpo", out: out, force: false)
        XCTAssertTrue(line.hasPrefix("wrote \(out.path): dpo of \(run.path) as GPT2LMHeadModel"), line)
        for f in ["config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "vocab.json", "merges.txt",
                  "tokenizer_config.json", "special_tokens_map.json", "README.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), f)
        }
        let dpo = try GPT.load(from: run.appendingPathComponent("models/dpo.safetensors"))
        let back = try HFCheckpoint(directory: out)
        XCTAssertEqual(back.prefix, "transformer.")
        XCTAssertEqual(back.eosTokenId, 0)
        XCTAssertEqual(try back.load().params.array, dpo.params.array)
        XCTAssertEqual(try BPETokenizer.load(directory: out).encode(text), mine.encode(text))
        let card = try String(contentsOf: out.appendingPathComponent("README.md"), encoding: .utf8)
        XCTAssertTrue(card.contains("base_model: tiny-gpt2"), card)
        XCTAssertTrue(card.contains("\"beta\": 0.1"), card)
        XCTAssertTrue(card.contains("| 0.0 |"), card)

        // The reward model exports as a classifier: GPT-2's tokenizer has no pad token, so one is
        // added after the vocabulary and its score equals the run's own (bias folded into ln_f).
        let rmOut = dir.appendingPathComponent("export-rm")
        try Export.export(run: run, policy: "reward_model", out: rmOut, force: false)
        let rmBack = try HFCheckpoint(directory: rmOut)
        XCTAssertEqual(rmBack.config.vocabSize, 385)
        XCTAssertEqual(rmBack.padTokenId, 384)
        let exportedTok = try BPETokenizer.load(directory: rmOut)
        XCTAssertEqual(exportedTok.padId, 384)
        XCTAssertTrue(exportedTok.hasPadToken)
        let rmURL = run.appendingPathComponent("models/reward_model.safetensors")
        let bias = Float(try SafeTensors.open(rmURL).metadata["reward_bias"] ?? "0") ?? 0
        let ours = try GPT.load(from: rmURL), theirsRM = try rmBack.load(scalarHead: true)
        let seq: [Int32] = [5, 77, 120, 3, 250, 0]
        func score(_ m: GPT) -> Float {
            let ws = GPTWorkspace(config: m.config, maxB: 1, maxT: seq.count)
            seq.withUnsafeBufferPointer { m.forward(tokens: $0.baseAddress!, B: 1, T: seq.count, ws: ws) }
            var v = [Float](repeating: 0, count: seq.count)
            m.scalarHead(ws: ws, out: &v)
            return v.last!
        }
        XCTAssertEqual(score(theirsRM), score(ours) + bias, accuracy: 1e-5)

        // The exported reward model as an independent judge of a re-evaluation (eval.judge): the
        // win rate is its verdict on texts it re-tokenizes, recorded in eval.json.
        try Lab.evaluateRun(run, overrides: ["eval.judge=\(rmOut.path)"])
        let ev = try JSONParser.parse(String(contentsOf: run.appendingPathComponent("eval.json"), encoding: .utf8))
        XCTAssertEqual(ev["judge"]?.stringValue, "reward_model:" + rmOut.path)
        for p in ev["policies"]?.arrayValue ?? [] {
            let row = p["by_temperature"]?.arrayValue?.first ?? .null
            XCTAssertNotNil(row["judge_score"]?.doubleValue, "\(p)")
            XCTAssertTrue((0...1).contains(row["win_rate"]?.doubleValue ?? -1), "\(p)")
            XCTAssertNotNil(row["rm_score"]?.doubleValue, "the run's own reward model is still reported")
        }

        // A second export into the same directory needs --force.
        XCTAssertThrowsError(try Export.export(run: run, policy: "dpo", out: out, force: false)) { e in
            XCTAssertEqual("\(e)", "--out \(out.path): not empty; pass --force to replace an earlier export there, or choose another --out")
        }
        XCTAssertNoThrow(try Export.export(run: run, policy: "dpo", out: out, force: true))

        // A run that continues this one (init_from) may name the same Hugging Face directory and the
        // same architecture, nothing else.
        func follower(_ model: String) throws -> ExperimentRunner {
            let body = """
            {"name": "next", "init_from": "\(run.path)", "stages": ["dpo"], "dpo": {"steps": 1},
             "data": {"task": "tldr-synth", "train_posts": 60, "max_prompt_tokens": 44, "max_completion_tokens": 16}, "model": \(model)}
            """
            let c = try ExperimentConfig.load(path: config(body, name: "next.json"))
            return try ExperimentRunner(config: c, runDir: dir.appendingPathComponent("runs/next"))
        }
        XCTAssertNoThrow(try follower(#"{"hf": "\#(Self.fixture.path)", "n_layer": 2}"#))
        let next = dir.appendingPathComponent("next.json").path
        XCTAssertThrowsError(try follower(#"{"hf": "\#(Self.fixture.path)", "n_embd": 24, "n_layer": 3}"#)) { e in
            XCTAssertEqual("\(e)", "\(next): model.n_layer: is 3 but model.hf (\(Self.fixture.path)) has n_layer 2; the architecture comes from the Hugging Face config.json: remove model.n_layer")
        }
        XCTAssertThrowsError(try follower(#"{"n_layer": 3}"#)) { e in
            XCTAssertEqual("\(e)", "\(next): model.n_layer: is 3 but the init_from run \(run.path) trained its models with n_layer 2; the models come from init_from: remove model.n_layer or set it to 2")
        }
        let other = dir.appendingPathComponent("other-gpt2")
        try FileManager.default.copyItem(at: Self.fixture, to: other)
        XCTAssertThrowsError(try follower(#"{"hf": "\#(other.path)"}"#)) { e in
            XCTAssertEqual("\(e)", "\(next): model.hf: is \(other.path) but the init_from run \(run.path) started from \(Self.fixture.path); the models come from init_from: remove model.hf or give the directory that run used")
        }
        XCTAssertThrowsError(try Export.export(run: run, policy: "ppo", out: dir.appendingPathComponent("x"), force: false)) { e in
            XCTAssertEqual("\(e)", "--policy ppo: \(run.path) has no models/ppo.safetensors; it has dpo, reward_model, sft")
        }
    }

    // MARK: - One source of models

    func expectConfigError(_ body: String, _ message: (String) -> String, file: StaticString = #filePath, line: UInt = #line) {
        let path = config(body.replacingOccurrences(of: "FIXTURE", with: Self.fixture.path))
        XCTAssertThrowsError(try ExperimentConfig.load(path: path), file: file, line: line) { e in
            XCTAssertEqual("\(e)", message(path), file: file, line: line)
        }
    }

    func testSourcesThatContradictTheHuggingFaceModelAreRefused() {
        let base = #"{"data": {"max_prompt_tokens": 40, "max_completion_tokens": 16}, "sft": {}, "#
        expectConfigError(base + #""model": {"hf": "FIXTURE", "n_layer": 4}}"#) {
            "\($0): model.n_layer: is 4 but model.hf (\(Self.fixture.path)) has n_layer 2; the architecture comes from the Hugging Face config.json: remove model.n_layer"
        }
        expectConfigError(base + #""model": {"hf": "FIXTURE", "n_positions": 64, "n_embd": 32}}"#) {
            "\($0): model.n_embd: is 32 but model.hf (\(Self.fixture.path)) has n_embd 24; the architecture comes from the Hugging Face config.json: remove model.n_embd"
        }
        expectConfigError(base + #""tokenizer": {"vocab_size": 1000}, "model": {"hf": "FIXTURE"}}"#) {
            "\($0): tokenizer.vocab_size: the tokenizer comes from model.hf (\(Self.fixture.path)); remove tokenizer.vocab_size"
        }
        expectConfigError(#"{"sft": {}, "model": {"hf": "FIXTURE"}}"#) {
            "\($0): data.max_prompt_tokens + data.max_completion_tokens (192 + 48) exceeds model.n_positions (64); lower one of them or raise n_positions"
        }
        expectConfigError(#"{"data": {"task": "files", "sft_train": "x.jsonl"}, "eval": {"judge": "gold"}}"#) {
            "\($0): eval.judge: \"gold\" is the built-in task's judge (data.task \"tldr-synth\"); with real data give \"reward_model\" or the path of an independent reward model"
        }
        let judge = dir.appendingPathComponent("judges/rm").path
        expectConfigError(#"{"eval": {"judge": "\#(judge)"}}"#) {
            "\($0): eval.judge: \(judge) not found; expected \"gold\", \"reward_model\" or the path of a reward model: a run directory, a Hugging Face sequence classifier directory or a reward_model.safetensors"
        }
        let missing = dir.appendingPathComponent("no-such-model").path
        expectConfigError(base + #""model": {"hf": "no-such-model"}}"#) {
            "\($0): model.hf: Hugging Face model \(missing): not a directory; give the directory that save_pretrained wrote (config.json, model.safetensors), e.g. a local copy of the hub's gpt2"
        }
        // The same values are not a contradiction.
        let ok = config((base + #""model": {"hf": "FIXTURE", "n_layer": 2, "n_positions": 64}}"#).replacingOccurrences(of: "FIXTURE", with: Self.fixture.path), name: "ok.json")
        XCTAssertNoThrow(try ExperimentConfig.load(path: ok))
    }
}
