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

        // A second export into the same directory needs --force.
        XCTAssertThrowsError(try Export.export(run: run, policy: "dpo", out: out, force: false)) { e in
            XCTAssertEqual("\(e)", "--out \(out.path): not empty; pass --force to replace an earlier export there, or choose another --out")
        }
        XCTAssertNoThrow(try Export.export(run: run, policy: "dpo", out: out, force: true))
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
        expectConfigError(base + #""init_from": "runs/base", "model": {"hf": "FIXTURE"}}"#) {
            "\($0): init_from: is \"runs/base\" and model.hf is \"\(Self.fixture.path)\": a run takes its models from one of them; remove one"
        }
        expectConfigError(#"{"sft": {}, "model": {"hf": "FIXTURE"}}"#) {
            "\($0): data.max_prompt_tokens + data.max_completion_tokens (192 + 48) exceeds model.n_positions (64); lower one of them or raise n_positions"
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
