import XCTest
@testable import Experiments
import Foundation
import GPT
import Tokenizer

/// Models of another run (init_from) that cannot take this run's inputs — a shorter context than
/// model.n_positions, another tokenizer's vocabulary, a "reward model" without a scalar head — are
/// reported in one line naming the file, before anything indexes with them.
final class CheckpointInputTests: XCTestCase {
    var dir: URL!
    var parent: URL { dir.appendingPathComponent("parent") }
    var tok: BPETokenizer!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-input-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: parent.appendingPathComponent("models"), withIntermediateDirectories: true)
        tok = BPETokenizer.train(corpus: ["the cat sat on the mat", "a dog ran to the park", "the cat and the dog"], vocabSize: 280)
        try! tok.save(to: parent.appendingPathComponent("tokenizer.json"))
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// A runner for a run whose init_from is `parent`, with model.n_positions 64.
    func runner() throws -> ExperimentRunner {
        let text = """
        {"name": "child", "init_from": "\(parent.path)",
         "data": {"max_prompt_tokens": 40, "max_completion_tokens": 16},
         "model": {"n_layer": 1, "n_head": 2, "n_embd": 8, "n_positions": 64},
         "sft": {"steps": 1}}
        """
        let file = dir.appendingPathComponent("child.json")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return try ExperimentRunner(config: try ExperimentConfig.load(path: file.path), runDir: dir.appendingPathComponent("runs/child"))
    }

    /// Writes parent/models/NAME.safetensors.
    @discardableResult
    func model(_ name: String, vocab: Int? = nil, context: Int = 64, scalarHead: Bool = false) throws -> URL {
        let url = parent.appendingPathComponent("models/\(name).safetensors")
        let c = GPTConfig(vocabSize: vocab ?? tok.vocabSize, context: context, nLayer: 1, nHead: 2, nEmbd: 8, scalarHead: scalarHead)
        try GPT(config: c, seed: 1).save(to: url)
        return url
    }

    func expectUserError(_ body: () throws -> Void, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue(e is UserError, "\(type(of: e)): \(e)", file: file, line: line)
            XCTAssertEqual("\(e)", message, file: file, line: line)
        }
    }

    func testModelWithFewerPositionsThanTheRunNeeds() throws {
        let url = try model("sft", context: 32)
        let r = try runner()
        expectUserError({ _ = try r.requireModel("sft", for: .ppo) },
                        "\(url.path): the model has n_positions 32, this run needs 64 (model.n_positions; data.max_prompt_tokens 40 + data.max_completion_tokens 16); set model.n_positions to 32 and lower data.max_prompt_tokens and data.max_completion_tokens to fit, or init_from a run whose model has n_positions ≥ 64")
    }

    func testModelOfAnotherTokenizer() throws {
        let n = tok.vocabSize
        for vocab in [n - 5, n + 3] {
            let url = try model("sft", vocab: vocab)
            let r = try runner()
            expectUserError({ _ = try r.requireModel("sft", for: .dpo) },
                            "\(url.path): the model has vocab_size \(vocab), this run's tokenizer has \(n) tokens; it was trained with another tokenizer: use the tokenizer of the run that trained it (drop the tokenizer stage or tokenizer.path, or init_from that run) or train the model again")
        }
    }

    func testAFittingModelLoads() throws {
        try model("sft", context: 80)
        let m = try runner().requireModel("sft", for: .ppo)
        XCTAssertEqual(m.config.context, 80)
        XCTAssertEqual(m.config.vocabSize, tok.vocabSize)
    }

    func testRewardModelWithoutScalarHead() throws {
        let url = try model("reward_model")
        let r = try runner()
        expectUserError({ _ = try r.loadRewardScorer() },
                        "\(url.path): the model has no scalar head (scalar_head false), so it is not a reward model; replace it with the reward_model stage's output (run the reward_model stage again) or init_from a run that trained one")
        try model("reward_model", scalarHead: true)
        XCTAssertNotNil(try runner().loadRewardScorer())
    }

    func testRewardModelOfAnotherTokenizer() throws {
        let url = try model("reward_model", vocab: tok.vocabSize - 1, scalarHead: true)
        let r = try runner()
        expectUserError({ _ = try r.loadRewardScorer() },
                        "\(url.path): the model has vocab_size \(tok.vocabSize - 1), this run's tokenizer has \(tok.vocabSize) tokens; it was trained with another tokenizer: use the tokenizer of the run that trained it (drop the tokenizer stage or tokenizer.path, or init_from that run) or train the model again")
    }

    // MARK: - Through the command line

    func testCorruptModelConfigIsAUsageError() throws {
        // A checkpoint whose metadata says n_head 0 (a division by zero once used).
        let good = try model("sft")
        var bytes = try Data(contentsOf: good)
        let len = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        var header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + len))) as! [String: Any]
        var meta = header["__metadata__"] as! [String: String]
        meta["config"] = meta["config"]!.replacingOccurrences(of: "\"n_head\":2", with: "\"n_head\":0")
        XCTAssertTrue(meta["config"]!.contains("\"n_head\":0"))
        header["__metadata__"] = meta
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var newLen = UInt64(json.count).littleEndian
        var out = Data()
        withUnsafeBytes(of: &newLen) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(bytes.subdata(in: (8 + len)..<bytes.count))
        bytes = out
        let bad = dir.appendingPathComponent("bad.safetensors")
        try bytes.write(to: bad)

        let r = try runRLHF(["sample", bad.path, "--tokenizer", parent.appendingPathComponent("tokenizer.json").path, "--prompt", "the cat"])
        let e = r.stderr
        XCTAssertEqual(r.code, 2, e)
        XCTAssertEqual(e, "error: checkpoint \(bad.path): the model config in its metadata is invalid (n_head: expected an integer ≥ 1, found 0); the file is corrupted or was not written by rlhf, use a model.safetensors written by a run\n")
    }
}
