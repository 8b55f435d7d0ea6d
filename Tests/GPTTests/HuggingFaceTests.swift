import Engine
import Foundation
import XCTest
@testable import GPT

/// Hugging Face GPT-2 directories made by transformers (scripts/make_hf_model_fixtures.py): the
/// imported model reproduces transformers' logits, greedy continuations and classifier scores;
/// export then import gives the same bits; what the engine does not compute is refused in one line.
final class HuggingFaceTests: XCTestCase {
    struct Golden: Decodable {
        struct Model: Decodable { let greedy: [[Int32]] }
        let eos: Int32
        let sequences: [[Int32]]
        let models: [String: Model]
        let classifier_scores: [Double]
    }

    static var root: URL {
        Bundle.module.url(forResource: "hf", withExtension: nil, subdirectory: "Fixtures")
            ?? Bundle.module.resourceURL!.appendingPathComponent("Fixtures/hf")
    }

    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("hf-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: Self.root.appendingPathComponent("golden.json")))
    }

    func fixture(_ name: String) -> URL { Self.root.appendingPathComponent(name) }

    /// Logits of every position of `tokens` (one sequence).
    func logits(_ model: GPT, _ tokens: [Int32]) -> [Float] {
        let ws = GPTWorkspace(config: model.config, maxB: 1, maxT: tokens.count)
        tokens.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: 1, T: tokens.count, ws: ws) }
        return model.logits(ws: ws, rows: Array(0..<tokens.count))
    }

    // MARK: - Import

    func testImportedModelsGiveTransformersLogitsAndGreedyContinuations() throws {
        let g = try golden()
        let reference = try SafeTensors.open(Self.root.appendingPathComponent("golden.safetensors"))
        for (name, goldenName) in [("tiny-gpt2", "tiny-gpt2"), ("tiny-gpt2-bare", "tiny-gpt2"), ("tiny-gpt2-sharded", "tiny-gpt2"),
                                   ("tiny-gpt2-f16", "tiny-gpt2-f16"), ("tiny-gpt2-bf16", "tiny-gpt2-bf16")] {
            let ck = try HFCheckpoint(directory: fixture(name))
            XCTAssertEqual(ck.config.nInner, 40, name)
            XCTAssertEqual(ck.config.layerNormEpsilon, 1e-4, name)
            XCTAssertEqual(ck.eosTokenId, Int(g.eos), name)
            XCTAssertEqual(ck.prefix, name == "tiny-gpt2-bare" ? "" : "transformer.", name)
            let model = try ck.load()
            for (i, seq) in g.sequences.enumerated() {
                let want = try XCTUnwrap(reference.values("\(goldenName)/\(i)"), "\(goldenName)/\(i)")
                let got = logits(model, seq)
                XCTAssertEqual(got.count, want.count, name)
                let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(worst, 1e-4, "\(name) sequence \(i): largest logit difference \(worst)")
            }
            let gen = Generator(model: model, maxBatch: 2)
            var rngs = [RNG(seed: 1), RNG(seed: 2)]
            let out = gen.generate(prompts: Array(g.sequences.prefix(2)), options: SamplingOptions(temperature: 0, maxNewTokens: 12), rngs: &rngs)
            XCTAssertEqual(out.map(\.tokens), g.models[goldenName]!.greedy, name)
        }
    }

    func testClassifierImportsAsAScalarHeadWithTransformersScores() throws {
        let g = try golden()
        let ck = try HFCheckpoint(directory: fixture("tiny-gpt2-classifier"))
        XCTAssertEqual(ck.scoreLabels, 1)
        XCTAssertEqual(ck.padTokenId, Int(g.eos))
        let model = try ck.load(scalarHead: true)
        for (i, seq) in g.sequences.enumerated() {
            let ws = GPTWorkspace(config: model.config, maxB: 1, maxT: seq.count)
            seq.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: 1, T: seq.count, ws: ws) }
            var values = [Float](repeating: 0, count: seq.count)
            model.scalarHead(ws: ws, out: &values)
            XCTAssertEqual(Double(values.last!), g.classifier_scores[i], accuracy: 1e-4, "sequence \(i)")
        }
        // As a language model the classifier's body is the LM's (same trunk, tied head).
        let lm = try HFCheckpoint(directory: fixture("tiny-gpt2")).load()
        let body = try ck.load()
        XCTAssertEqual(body.params.array, lm.params.array)
    }

    // MARK: - Export

    func testExportThenImportGivesTheSameBitsAndTheSourceTensors() throws {
        for name in ["tiny-gpt2", "tiny-gpt2-bare", "tiny-gpt2-bf16"] {
            let ck = try HFCheckpoint(directory: fixture(name))
            let model = try ck.load()
            let out = dir.appendingPathComponent(name)
            var e = HFExport(head: .causalLM)
            e.prefix = ck.prefix
            e.eosTokenId = ck.eosTokenId
            e.bosTokenId = ck.bosTokenId
            try e.write(model, to: out)
            let back = try HFCheckpoint(directory: out)
            XCTAssertEqual(back.config, ck.config, name)
            XCTAssertEqual(try back.load().params.array, model.params.array, name)
            // Hugging Face's names, shapes and values (widened to F32), without the mask buffers
            // and the tied lm_head that save_pretrained leaves out.
            let source = try HFCheckpoint.weightFiles(fixture(name)).map(\.0)
            let written = try SafeTensors.open(out.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(written.metadata, ["format": "pt"])
            var compared = 0
            for file in source {
                for t in file.tensors where !t.name.hasSuffix(".attn.bias") && !t.name.hasSuffix(".attn.masked_bias") && t.name != "lm_head.weight" {
                    let w = try XCTUnwrap(written[t.name], "\(name): \(t.name) not written")
                    XCTAssertEqual(w.shape, t.shape, t.name)
                    XCTAssertEqual(w.dtype, .f32)
                    XCTAssertEqual(written.values(t.name), file.values(t.name), "\(name): \(t.name)")
                    compared += 1
                }
            }
            XCTAssertEqual(compared, written.tensors.count, name)
        }
    }

    func testRewardModelExportsAsAClassifierWithTheSameScores() throws {
        let ck = try HFCheckpoint(directory: fixture("tiny-gpt2"))
        let rm = try ck.load(scalarHead: true, seed: 4)
        let b = rm.layout["score.bias"]!.offset
        rm.params[b] = 0.75                 // a head bias, plus a normalization bias below
        var e = HFExport(head: .sequenceClassifier(extraBias: -0.25))
        e.padTokenId = 384
        e.extraTokens = 1
        let out = dir.appendingPathComponent("rm")
        try e.write(rm, to: out)
        let back = try HFCheckpoint(directory: out)
        XCTAssertEqual(back.config.vocabSize, 385)
        XCTAssertEqual(back.padTokenId, 384)
        XCTAssertEqual(back.scoreLabels, 1)
        let clf = try back.load(scalarHead: true)
        XCTAssertEqual(clf.params[clf.layout["score.bias"]!.offset], 0)
        let seq: [Int32] = [5, 9, 33, 100, 7]
        func score(_ m: GPT) -> Float {
            let ws = GPTWorkspace(config: m.config, maxB: 1, maxT: seq.count)
            seq.withUnsafeBufferPointer { m.forward(tokens: $0.baseAddress!, B: 1, T: seq.count, ws: ws) }
            var v = [Float](repeating: 0, count: seq.count)
            m.scalarHead(ws: ws, out: &v)
            return v.last!
        }
        XCTAssertEqual(score(clf), score(rm) - 0.25, accuracy: 1e-5)
    }

    // MARK: - Refusals

    /// Writes `tensors` as an F32 safetensors file (metadata {"format": "pt"}).
    static func rewrite(_ url: URL, _ tensors: [(String, [Int], [Float])]) throws {
        let buffers = tensors.map { t -> FloatBuffer in
            let b = FloatBuffer(count: max(1, t.2.count))
            for (i, x) in t.2.enumerated() { b[i] = x }
            return b
        }
        let entries = zip(tensors, buffers).map { SafeTensors.Entry(name: $0.0, shape: $0.1, data: $1.pointer) }
        try SafeTensors.write(entries, metadata: ["format": "pt"], to: url)
        withExtendedLifetime(buffers) {}
    }

    /// A copy of `name` with its config.json edited.
    func edited(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> URL {
        let out = dir.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.copyItem(at: fixture(name), to: out)
        let url = out.appendingPathComponent("config.json")
        var c = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&c)
        try JSONSerialization.data(withJSONObject: c).write(to: url)
        return out
    }

    func expectRefusal(_ dir: URL, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try HFCheckpoint(directory: dir).load(), file: file, line: line) { e in
            XCTAssertTrue(e is CheckpointError, "\(type(of: e))", file: file, line: line)
            XCTAssertEqual("\(e)", message, file: file, line: line)
        }
    }

    func testArchitecturesTheEngineDoesNotComputeAreRefused() throws {
        let cases: [(String, Any, String)] = [
            ("activation_function", "relu", "activation_function: is \"relu\"; the engine computes the tanh GELU only (gelu_new, gelu_pytorch_tanh, gelu_fast), use a checkpoint with one of those"),
            ("activation_function", "gelu", "activation_function: is \"gelu\"; the engine computes the tanh GELU only (gelu_new, gelu_pytorch_tanh, gelu_fast), use a checkpoint with one of those"),
            ("scale_attn_weights", false, "scale_attn_weights: is false; the engine always scales attention scores by 1/√head_size, use a checkpoint with scale_attn_weights true"),
            ("scale_attn_by_inverse_layer_idx", true, "scale_attn_by_inverse_layer_idx: is true; the engine does not scale attention by 1/(layer index + 1), use a checkpoint without it"),
            ("reorder_and_upcast_attn", true, "reorder_and_upcast_attn: is true; the engine does not compute that attention variant, use a checkpoint without it"),
            ("add_cross_attention", true, "add_cross_attention: is true; cross-attention (an encoder-decoder GPT-2) is not computed, use a decoder-only GPT-2 checkpoint"),
            ("model_type", "llama", "model_type: expected \"gpt2\" (the GPT-2 architecture: gpt2, gpt2-medium, distilgpt2, ...), found \"llama\"; this engine computes GPT-2 only"),
            ("n_ctx", 32, "n_ctx: is 32 but n_positions is 64; the two must agree in a GPT-2 config"),
            ("layer_norm_epsilon", 0, "layer_norm_epsilon: expected a number in (0, 1] that is a normal Float32, found 0"),
            ("layer_norm_epsilon", 1e-50, "layer_norm_epsilon: expected a number in (0, 1] that is a normal Float32, found 1e-50"),
            ("vocab_size", 1e30, "vocab_size: expected an integer in 2...16777216, found 1e+30"),
            ("n_head", 5, "n_embd: n_embd (24) must be divisible by n_head (5)"),
            ("tie_word_embeddings", "yes", "tie_word_embeddings: expected true or false, found \"yes\""),
        ]
        for (key, value, message) in cases {
            let d = try edited("tiny-gpt2") { $0[key] = value }
            expectRefusal(d, "\(d.path)/config.json: \(message)")
        }
        let missing = try edited("tiny-gpt2") { $0["n_layer"] = nil }
        expectRefusal(missing, "\(missing.path)/config.json: n_layer: missing; a GPT2Config names vocab_size, n_positions, n_embd, n_layer and n_head")
        // n_inner null means 4·n_embd: the tensors then disagree with the config.
        let inner = try edited("tiny-gpt2") { $0["n_inner"] = NSNull() }
        expectRefusal(inner, "\(inner.path)/model.safetensors: tensor transformer.h.0.mlp.c_fc.weight has shape [24, 40], config.json implies [24, 96]; the checkpoint does not match its config")
    }

    func testUntiedHeadThatDiffersAndForeignTensorsAreRefused() throws {
        let d = dir.appendingPathComponent("untied")
        try FileManager.default.copyItem(at: fixture("tiny-gpt2-bare"), to: d)
        let url = d.appendingPathComponent("model.safetensors")
        let f = try SafeTensors.open(url)
        try Self.rewrite(url, f.tensors.map { t in
            var v = f.values(t.name)!
            if t.name == "lm_head.weight" { v[5] += 1 }
            return (t.name, t.shape, v)
        })
        let lm = f.values("lm_head.weight")![5]
        expectRefusal(d, "\(url.path): lm_head.weight differs from wte.weight (element 5: \(lm + 1) vs \(lm)); the engine ties the LM head to the token embedding, so an untied GPT-2 cannot be computed exactly")
    }

    func testMissingWeightsAndOtherFormatsAreRefused() throws {
        let d = dir.appendingPathComponent("nofile")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixture("tiny-gpt2").appendingPathComponent("config.json"), to: d.appendingPathComponent("config.json"))
        try Data([1, 2, 3]).write(to: d.appendingPathComponent("pytorch_model.bin"))
        expectRefusal(d, "Hugging Face model \(d.path): no model.safetensors or model.safetensors.index.json; only safetensors weights are read; it has pytorch_model.bin: convert it once with transformers (AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True))")
        let notDir = dir.appendingPathComponent("nothing-here")
        expectRefusal(notDir, "Hugging Face model \(notDir.path): not a directory; give the directory that save_pretrained wrote (config.json, model.safetensors), e.g. a local copy of the hub's gpt2")
        // A shard that lacks a tensor its index names.
        let s = dir.appendingPathComponent("sharded")
        try FileManager.default.copyItem(at: fixture("tiny-gpt2-sharded"), to: s)
        let index = s.appendingPathComponent("model.safetensors.index.json")
        var j = try JSONSerialization.jsonObject(with: Data(contentsOf: index)) as! [String: Any]
        var map = j["weight_map"] as! [String: String]
        let moved = map.keys.sorted().first!
        let other = map.values.first { $0 != map[moved]! }!
        map[moved] = other
        j["weight_map"] = map
        try JSONSerialization.data(withJSONObject: j).write(to: index)
        expectRefusal(s, "Hugging Face model \(s.path): model.safetensors.index.json maps \(moved) to \(other), which has no such tensor; the download is incomplete or the index is of another checkpoint")
    }

    /// Tensor names come from the files: one with a line break is quoted (escaped) in the message,
    /// which stays one line (found by Fuzz/hfconfig: "weight_map.tr\nsformetion" printed raw).
    func testTensorNamesFromTheFilesAreQuotedInMessages() throws {
        let s = dir.appendingPathComponent("odd")
        try FileManager.default.copyItem(at: fixture("tiny-gpt2-sharded"), to: s)
        let index = s.appendingPathComponent("model.safetensors.index.json")
        try Data(#"{"weight_map": {"tr\nsformer.wte.weight": false}}"#.utf8).write(to: index)
        expectRefusal(s, "\(index.path): weight_map.\"tr\\nsformer.wte.weight\": expected the name of a shard file in this directory, found false")
        let shard = try FileManager.default.contentsOfDirectory(atPath: s.path).sorted().first { $0.hasSuffix(".safetensors") }!
        try Data(#"{"weight_map": {"h.0.x\ny": "\#(shard)"}}"#.utf8).write(to: index)
        expectRefusal(s, "Hugging Face model \(s.path): model.safetensors.index.json maps \"h.0.x\\ny\" to \(shard), which has no such tensor; the download is incomplete or the index is of another checkpoint")
    }

    func testAClassifierWithSeveralLabelsIsNotARewardModel() throws {
        let rm = try HFCheckpoint(directory: fixture("tiny-gpt2")).load(scalarHead: true, seed: 1)
        let out = dir.appendingPathComponent("two")
        try HFExport(head: .sequenceClassifier(extraBias: 0)).write(rm, to: out)
        // Rewrite score.weight with two rows.
        let url = out.appendingPathComponent("model.safetensors")
        let f = try SafeTensors.open(url)
        try Self.rewrite(url, f.tensors.map { t in
            let v = f.values(t.name)!
            return t.name == "score.weight" ? (t.name, [2, 24], v + v) : (t.name, t.shape, v)
        })
        XCTAssertThrowsError(try HFCheckpoint(directory: out).load(scalarHead: true)) { e in
            XCTAssertEqual("\(e)", "Hugging Face model \(out.path): score.weight has 2 labels; a reward model has one score, use a checkpoint with num_labels 1 or its language model alone")
        }
        XCTAssertNoThrow(try HFCheckpoint(directory: out).load())
    }
}
