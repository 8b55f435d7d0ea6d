import JSON
import XCTest
@testable import Experiments

/// Bad configs end with one line naming the file and JSON path, what was expected and how to fix it.
final class ConfigTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ text: String) -> String {
        let u = dir.appendingPathComponent(name)
        try! text.write(to: u, atomically: true, encoding: .utf8)
        return u.path
    }

    func message(_ text: String, overrides: [String] = [], file: StaticString = #filePath, line: UInt = #line) -> String {
        let p = write("c.json", text)
        do {
            _ = try ExperimentConfig.load(path: p, overrides: overrides)
            XCTFail("no error for \(text)", file: file, line: line)
            return ""
        } catch let e as UserError {
            return e.description.replacingOccurrences(of: p, with: "c.json")
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
            return ""
        }
    }

    func testUnknownKeySuggestsTheNearestOne() {
        XCTAssertEqual(message(#"{"sft": {}, "ppo": {"kl_cof": 0.1}}"#), #"c.json: ppo.kl_cof: unknown key; did you mean "kl_coef"?"#)
        XCTAssertEqual(message(#"{"modle": {}}"#), #"c.json: modle: unknown key; did you mean "model"?"#)
    }

    func testWrongTypeAndRange() {
        XCTAssertEqual(message(#"{"sft": {"lr": "fast"}}"#), #"c.json: sft.lr: expected a number in (0, 1], found "fast""#)
        XCTAssertEqual(message(#"{"sft": {}, "dpo": {"beta": -1}}"#), "c.json: dpo.beta: expected a number > 0, found -1")
        XCTAssertEqual(message(#"{"sft": {"steps": 2.5}}"#), "c.json: sft.steps: expected an integer ≥ 1, found 2.5")
        XCTAssertEqual(message(#"{"sft": {}, "dpo": {"loss_type": "sigmod"}}"#),
                       #"c.json: dpo.loss_type: expected one of "sigmoid", "robust", "ipo", "hinge", found "sigmod"; did you mean "sigmoid"?"#)
        XCTAssertEqual(message(#"{"model": {"dropout": true}}"#), "c.json: model.dropout: expected a number in [0, 0.9], found true")
        XCTAssertEqual(message(#"{"data": {"corpus_posts": 0}}"#), "c.json: data.corpus_posts: expected an integer ≥ 1, found 0")
        XCTAssertEqual(message(#"{"preferences": {"reference_fraction": 1.5}}"#),
                       "c.json: preferences.reference_fraction: expected a number in [0, 1], found 1.5")
        XCTAssertEqual(message(#"{"eval": {"tie_margin": -0.1}}"#), "c.json: eval.tie_margin: expected a number ≥ 0, found -0.1")
        XCTAssertEqual(message(#"{"sft": {}, "dpo": {"shared_prompt": "yes"}}"#), #"c.json: dpo.shared_prompt: expected true or false, found "yes""#)
    }

    func testInconsistentValues() {
        XCTAssertEqual(message(#"{"model": {"n_embd": 100, "n_head": 3}}"#),
                       "c.json: model.n_embd: n_embd (100) must be divisible by n_head (3); e.g. n_embd 99 or n_head 4")
        XCTAssertEqual(message(#"{"sft": {}, "ppo": {"batch_size": 30, "num_mini_batches": 4}}"#),
                       "c.json: ppo.num_mini_batches: batch_size (30) must be divisible by num_mini_batches (4)")
        XCTAssertEqual(message(#"{"model": {"n_positions": 64}}"#),
                       "c.json: data.max_prompt_tokens + data.max_completion_tokens (192 + 48) exceeds model.n_positions (64); lower one of them or raise n_positions")
    }

    func testStagesAreCheckedAgainstThePipeline() {
        XCTAssertEqual(message(#"{"stages": ["tokenizer", "sft", "dpo", "evall"]}"#),
                       #"c.json: stages: element 3: unknown stage "evall"; expected one of tokenizer, pretrain, sft, preferences, reward_model, ppo, grpo, rloo, online_dpo, dpo, eval; did you mean "eval"?"#)
        XCTAssertEqual(message(#"{"stages": ["tokenizer", "ppo"]}"#),
                       #"c.json: stages: "ppo" needs the SFT policy but "sft" is not in this run; add it to "stages" or set "init_from" to a run that has it"#)
        XCTAssertEqual(message(#"{"stages": ["sft", "tokenizer"]}"#),
                       "c.json: stages: stages must follow the pipeline order tokenizer -> pretrain -> sft -> preferences -> reward_model -> ppo -> grpo -> rloo -> online_dpo -> dpo -> eval")
    }

    func testFileAndJSONErrors() {
        do {
            _ = try ExperimentConfig.load(path: dir.appendingPathComponent("nope.json").path)
            XCTFail("no error")
        } catch {
            XCTAssertEqual("\(error)".replacingOccurrences(of: dir.path + "/", with: ""),
                           "nope.json: config file not found; check the path (configs/quickstart.json is a ready one)")
        }
        XCTAssertEqual(message("{\n  \"sft\": {\"steps\": 10,}\n}"), "c.json:2:23: invalid JSON: expected a key in double quotes")
        XCTAssertEqual(message("[1, 2]"), "c.json: top level: expected a JSON object, found an array of 2")
    }

    func testJSONSyntaxIsStrict() {
        // Numbers follow JSON's grammar, not Double's parser.
        XCTAssertEqual(message(#"{"seed": 01}"#), #"c.json:1:10: invalid JSON: invalid number "01": leading zeros are not allowed in JSON"#)
        XCTAssertEqual(message(#"{"sft": {"lr": .5}}"#), "c.json:1:16: invalid JSON: unexpected character '.', expected a value")
        XCTAssertEqual(message(#"{"sft": {"lr": 5.}}"#), #"c.json:1:16: invalid JSON: invalid number "5.": expected a digit after '.'"#)
        XCTAssertEqual(message(#"{"sft": {"lr": 1e}}"#), #"c.json:1:16: invalid JSON: invalid number "1e": expected a digit in the exponent"#)
        XCTAssertEqual(message(#"{"sft": {"lr": +1}}"#), "c.json:1:16: invalid JSON: unexpected character '+', expected a value")
        XCTAssertEqual(message(#"{"sft": {"lr": -}}"#), #"c.json:1:16: invalid JSON: invalid number "-": expected a digit after '-'"#)
        XCTAssertEqual(try JSONParser.parse("[0, -0.5, 1e-05, 2E+3, 10]"),
                       .array([.number(0, isInteger: true), .number(-0.5, isInteger: false), .number(1e-5, isInteger: false),
                               .number(2000, isInteger: false), .number(10, isInteger: true)]))
        // Nesting is bounded (the parser recurses once per level): an error, not a stack overflow.
        let deep = String(repeating: "[", count: 100_000)
        XCTAssertEqual(message(#"{"a": "# + deep), "c.json:1:262: invalid JSON: arrays and objects nested deeper than 256 levels")
        XCTAssertNoThrow(try JSONParser.parse(String(repeating: "[", count: 256) + String(repeating: "]", count: 256)))
        // A value with a line break is quoted, so the message stays on one line.
        XCTAssertEqual(message(#"{"sft": {"lr": "a\nb"}}"#), #"c.json: sft.lr: expected a number in (0, 1], found "a\nb""#)
    }

    func testModelTooLargeForTheMachine() throws {
        func check(_ text: String, memory: UInt64 = 24_000_000_000) throws -> String? {
            let cfg = try ExperimentConfig.load(path: write("m.json", text))
            do { try cfg.checkMemory(physicalBytes: memory) } catch let e as UserError {
                return e.description.replacingOccurrences(of: dir.appendingPathComponent("m.json").path, with: "m.json")
            }
            return nil
        }
        // 12.9 billion parameters at 16 bytes (weights, gradients, AdamW moments) and a workspace.
        XCTAssertEqual(try check(#"{"model": {"n_layer": 64, "n_head": 64, "n_embd": 4096}, "pretrain": {"batch_size": 2}}"#),
                       "m.json: model: the pretrain stage needs at least 216.2 GB of memory (12897755136 parameters at 16 bytes each and 9.8 GB of activations for pretrain.batch_size at n_positions 256) but this machine has 24.0 GB; lower model.n_layer, model.n_embd, pretrain.batch_size or model.n_positions")
        // The activations alone: 4096 sequences of 4096 positions.
        let b = try check(#"{"model": {"n_positions": 4096}, "pretrain": {"batch_size": 4096}}"#) ?? ""
        XCTAssertTrue(b.hasPrefix("m.json: model: the pretrain stage needs at least "), b)
        XCTAssertTrue(b.hasSuffix(" of activations for pretrain.batch_size at n_positions 4096) but this machine has 24.0 GB; lower model.n_layer, model.n_embd, pretrain.batch_size or model.n_positions"), b)
        // GPT-2 small at 1024 positions and batch 8 needs ~7.5 GB: it fits 24 GB, not 6 GB.
        let gpt2 = #"{"model": {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024}, "pretrain": {"batch_size": 8}}"#
        XCTAssertNil(try check(gpt2))
        XCTAssertNotNil(try check(gpt2, memory: 6_000_000_000))
        // Only the stages the run trains count: PPO's models (policy, value, reference, reward
        // model: 40 bytes a parameter) weigh only when "ppo" is among them.
        let big = #"{"model": {"n_layer": 24, "n_head": 16, "n_embd": 1024}, "sft": {"batch_size": 1}, "reward_model": {"batch_size": 1}, "ppo": {"batch_size": 8, "num_mini_batches": 8}"#
        XCTAssertNil(try check(big + #", "stages": ["tokenizer", "sft"]}"#, memory: 8_000_000_000))
        let ppo = try check(big + "}", memory: 8_000_000_000) ?? ""
        XCTAssertTrue(ppo.hasPrefix("m.json: model: the ppo stage needs at least "), ppo)
        XCTAssertTrue(ppo.contains("parameters at 40 bytes each"), ppo)
    }

    func testDPODisableDropout() throws {
        XCTAssertEqual(try ExperimentConfig.load(path: write("d.json", #"{"sft": {}, "dpo": {}}"#)).dpo?.trainer.disableDropout, true)
        XCTAssertEqual(try ExperimentConfig.load(path: write("d.json", #"{"sft": {}, "dpo": {"disable_dropout": false}}"#)).dpo?.trainer.disableDropout, false)
        XCTAssertEqual(message(#"{"sft": {}, "dpo": {"disable_dropout": 0}}"#), "c.json: dpo.disable_dropout: expected true or false, found 0")
    }

    func testDataFilesNeedTheFilesTask() {
        XCTAssertEqual(message(#"{"data": {"preferences_train": "prefs.jsonl"}}"#),
                       #"c.json: data.preferences_train: a data file is read only when data.task is "files" (data.task is "tldr-synth", the built-in task); set data.task to "files" or remove data.preferences_train"#)
        XCTAssertEqual(message(#"{"data": {"task": "tldr-synth", "corpus": "c.txt"}}"#),
                       #"c.json: data.corpus: a data file is read only when data.task is "files" (data.task is "tldr-synth", the built-in task); set data.task to "files" or remove data.corpus"#)
    }

    func testSetPathsAndEmptyStages() {
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: ["ppo..kl_coef=1"]),
                       #"--set ppo..kl_coef=1: empty key in "ppo..kl_coef"; expected KEY.PATH=VALUE, e.g. --set ppo.kl_coef=0.1"#)
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: [".seed=1"]),
                       #"--set .seed=1: empty key in ".seed"; expected KEY.PATH=VALUE, e.g. --set ppo.kl_coef=0.1"#)
        XCTAssertEqual(message(#"{"stages": []}"#),
                       #"c.json: stages: expected at least one stage, found an empty list; list the stages to run, e.g. ["tokenizer", "sft"], or leave "stages" out to run every configured section"#)
    }

    func testExtendsMergesKeyByKeyAndSetOverrides() throws {
        _ = write("base.json", #"{"seed": 3, "sft": {"steps": 10, "lr": 0.001}, "model": {"n_layer": 2}}"#)
        let p = write("child.json", #"{"extends": "base.json", "name": "child", "sft": {"steps": 20}}"#)
        let c = try ExperimentConfig.load(path: p, overrides: ["sft.batch_size=4", "model.n_embd=64"])
        XCTAssertEqual(c.name, "child")
        XCTAssertEqual(c.seed, 3)
        XCTAssertEqual(c.sft?.steps, 20)
        XCTAssertEqual(c.sft?.lr, 0.001)
        XCTAssertEqual(c.sft?.batchSize, 4)
        XCTAssertEqual(c.model.nLayer, 2)
        XCTAssertEqual(c.model.nEmbd, 64)
        // The resolved config spells out defaults.
        XCTAssertEqual(c.resolved["sft"]?["warmup_steps"]?.doubleValue, 20)
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: ["sft.steps"]),
                       "--set sft.steps: expected KEY.PATH=VALUE, e.g. --set ppo.kl_coef=0.1")
        XCTAssertEqual(message(#"{"seed": 1}"#, overrides: ["seed.x=1"]), "--set seed.x: x is inside a value that is not an object (1)")
    }

    func testExtendsCycleAndMissingBase() {
        let a = write("a.json", #"{"extends": "b.json"}"#)
        _ = write("b.json", #"{"extends": "a.json"}"#)
        do { _ = try ExperimentConfig.load(path: a); XCTFail("no error") } catch {
            XCTAssertTrue("\(error)".contains("\"extends\" forms a cycle"), "\(error)")
        }
        XCTAssertEqual(message(#"{"extends": "missing.json"}"#).replacingOccurrences(of: dir.path + "/", with: ""),
                       "c.json: extends: file missing.json not found; the path is relative to the file that extends it")
    }

    /// A completion budget as long as the context would leave no room for a prompt; the trainers
    /// assume room, so it is refused when the config is read (it trapped when the stage started).
    func testOnlineCompletionBudgetsLeaveRoomForThePrompt() {
        let stages = #""stages": ["tokenizer", "pretrain", "sft", "preferences", "reward_model", "#
        XCTAssertEqual(message("{" + stages + #""ppo"], "ppo": {"response_length": 256}}"#),
                       "c.json: ppo.response_length: expected an integer below model.n_positions (256), which must leave room for the prompt, found 256; lower it or raise model.n_positions")
        XCTAssertEqual(message("{" + stages + #""grpo"], "model": {"n_positions": 128}, "data": {"max_prompt_tokens": 64, "max_completion_tokens": 32}, "grpo": {"max_completion_length": 1000000000}}"#),
                       "c.json: grpo.max_completion_length: expected an integer below model.n_positions (128), which must leave room for the prompt, found 1000000000; lower it or raise model.n_positions")
        XCTAssertEqual(message("{" + stages + #""rloo"], "rloo": {"max_completion_length": 300}}"#),
                       "c.json: rloo.max_completion_length: expected an integer below model.n_positions (256), which must leave room for the prompt, found 300; lower it or raise model.n_positions")
        XCTAssertEqual(message("{" + stages + #""online_dpo"], "online_dpo": {"max_completion_length": 256}}"#),
                       "c.json: online_dpo.max_completion_length: expected an integer below model.n_positions (256), which must leave room for the prompt, found 256; lower it or raise model.n_positions")
    }

    /// A base or a config that is a directory or a named pipe is called what it is, not "not found"
    /// (and a pipe is never opened: reading it would wait for a writer).
    func testExtendsOrConfigThatIsNotARegularFileSaysWhatItIs() throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("base"), withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(dir.appendingPathComponent("pipe.json").path, 0o644), 0)
        let fix = "not a config file; name a JSON experiment file (the path is relative to the file that extends it)"
        XCTAssertEqual(message(#"{"extends": "base"}"#).replacingOccurrences(of: dir.path + "/", with: ""),
                       "c.json: extends: base is a directory, \(fix)")
        XCTAssertEqual(message(#"{"extends": "pipe.json"}"#).replacingOccurrences(of: dir.path + "/", with: ""),
                       "c.json: extends: pipe.json is not a regular file (a named pipe), \(fix)")
        let given = "not a config file; give the path of a JSON experiment file (configs/quickstart.json is a ready one)"
        for (path, what) in [(dir.appendingPathComponent("base").path, "is a directory"), (dir.appendingPathComponent("pipe.json").path, "is not a regular file (a named pipe)")] {
            XCTAssertThrowsError(try ExperimentConfig.load(path: path)) { XCTAssertEqual("\($0)", "\(path): \(what), \(given)") }
        }
    }

    func testShippedConfigsAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let configs = root.appendingPathComponent("configs")
        let files = try FileManager.default.subpathsOfDirectory(atPath: configs.path).filter { $0.hasSuffix(".json") }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            // configs/tldr/ needs a Hugging Face GPT-2 and the released data, which cannot be part of
            // the tests: the fixture model stands in (with sequence budgets it can hold), and the
            // data files are read only when a run starts.
            let overrides = f.hasPrefix("tldr/") ? ["model.hf=\(HuggingFaceRunTests.fixture.path)", "data.max_prompt_tokens=40",
                                                   "data.max_completion_tokens=16", "ppo.response_length=16", "eval.judge=reward_model"] : []
            XCTAssertNoThrow(try ExperimentConfig.load(path: configs.appendingPathComponent(f).path, overrides: overrides).checkMemory(), f)
        }
        XCTAssertGreaterThanOrEqual(files.filter { $0.hasPrefix("tldr/") }.count, 6)
    }
}
