import Experiments
import Foundation
import JSON
import XCTest

/// Experiment configs and `--set` values read through the shared reader: a byte-order mark is
/// accepted, numbers past every range are refused as written (never converted, never infinite),
/// and a huge key or value is quoted shortened.
final class ConfigInputTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("json-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ bytes: [UInt8]) -> String {
        let u = dir.appendingPathComponent("c.json")
        try! Data(bytes).write(to: u)
        return u.path
    }

    func message(_ text: String, overrides: [String] = [], file: StaticString = #filePath, line: UInt = #line) -> String {
        message(bytes: Array(text.utf8), overrides: overrides, file: file, line: line)
    }

    func message(bytes: [UInt8], overrides: [String] = [], file: StaticString = #filePath, line: UInt = #line) -> String {
        let p = write(bytes)
        do {
            _ = try ExperimentConfig.load(path: p, overrides: overrides)
            XCTFail("no error", file: file, line: line)
            return ""
        } catch let e as UserError {
            return e.description.replacingOccurrences(of: p, with: "c.json")
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
            return ""
        }
    }

    func testByteOrderMarkIsAccepted() throws {
        let p = write([0xEF, 0xBB, 0xBF] + Array(#"{"seed": 7, "sft": {}}"#.utf8))
        XCTAssertEqual(try ExperimentConfig.load(path: p).seed, 7)
        // Positions after the mark count as without it; a mark elsewhere is named.
        XCTAssertEqual(message(bytes: [0xEF, 0xBB, 0xBF] + Array("{\"seed\": 7,}".utf8)), "c.json:1:12: invalid JSON: expected a key in double quotes")
        XCTAssertEqual(message("{\"seed\": \u{FEFF}7}"), "c.json:1:10: invalid JSON: unexpected character U+FEFF, expected a value")
        // Bytes that are not UTF-8 are named where they are.
        XCTAssertEqual(message(bytes: Array(#"{"name": "a"#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)),
                       "c.json:1:12: invalid JSON: invalid UTF-8 (byte 0xC3) inside a string; save the file as UTF-8")
    }

    func testNumbersPastEveryRange() {
        let huge = String(repeating: "9", count: 400)
        let cut = String(repeating: "9", count: 60) + "…"
        // (Integers of 16 digits or more are shown by their Double, as config messages always showed them.)
        XCTAssertEqual(message(#"{"seed": 99999999999999999999999}"#), "c.json: seed: expected an integer ≥ 0, found 1e+23")
        XCTAssertEqual(message(#"{"seed": 1e400}"#), "c.json: seed: expected an integer ≥ 0, found 1e400")
        XCTAssertEqual(message(#"{"seed": -9223372036854775809}"#), "c.json: seed: expected an integer ≥ 0, found -9.223372036854776e+18")
        XCTAssertEqual(message(#"{"threads": 9007199254740993}"#), "c.json: threads: expected an integer in 1...256, found 9007199254740992.0")
        XCTAssertEqual(message("{\"seed\": \(huge)}"), "c.json: seed: expected an integer ≥ 0, found \(cut)")
        XCTAssertEqual(message(#"{"sft": {"lr": 1e400}}"#), "c.json: sft.lr: expected a number in (0, 1], found 1e400")
        XCTAssertEqual(message("{\"sft\": {\"lr\": 2.\(huge)}}"), "c.json: sft.lr: expected a number in (0, 1], found 2.\(String(repeating: "9", count: 58))…")
        XCTAssertEqual(message(#"{"eval": {"tie_margin": 1e39}}"#),
                       "c.json: eval.tie_margin: expected a number ≥ 0 of magnitude at most 3.4e38 (a 32-bit float), found 1e39")
        XCTAssertEqual(message(#"{"sft": {}, "ppo": {"missing_eos_penalty": -1e300}}"#),
                       "c.json: ppo.missing_eos_penalty: expected a number of magnitude at most 3.4e38 (a 32-bit float), found -1e300")
        XCTAssertEqual(message(#"{"eval": {"temperatures": [0.5, 1e400]}}"#),
                       "c.json: eval.temperatures: element 1: expected a number in [0, 5], found 1e400")
        // --set values: parsed as JSON with their text, read by the key's reader.
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: ["seed=1e400"]), "c.json: seed: expected an integer ≥ 0, found 1e400")
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: ["sft.steps=\(huge)"]), "c.json: sft.steps: expected an integer ≥ 1, found \(cut)")
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: ["sft.lr=-1e400"]),
                       "c.json: sft.lr: expected a number in (0, 1], found -1e400")
        // Integral decimals still count where an integer is expected.
        XCTAssertEqual(try ExperimentConfig.load(path: write(Array(#"{"seed": 1e3, "sft": {"steps": 20.0}}"#.utf8))).seed, 1000)
    }

    func testLongKeysAndValuesAreQuotedShortened() {
        let long = String(repeating: "k", count: 100_000)
        let cut = "\"" + String(repeating: "k", count: 60) + "…\""
        XCTAssertTrue(message("{\"\(long)\": 1}").hasPrefix("c.json: \(cut): unknown key; known keys here: "))
        XCTAssertTrue(message("{\"sft\": {\"\(long)\": 1}}").hasPrefix("c.json: sft.\(cut): unknown key; known keys here: "))
        XCTAssertEqual(message("{\"\(long)\" 1}"), "c.json:1:100005: invalid JSON: expected ':' after key \(cut)")
        XCTAssertEqual(message("{\"\(long)\": 1, \"\(long)\": 2}"), "c.json:1:100009: invalid JSON: duplicate key \(cut)")
        // A value longer than any path or name is refused before any reader sees it, quoted shortened.
        XCTAssertEqual(message("{\"sft\": {}, \"model\": {\"hf\": \"\(long)\"}}"),
                       "c.json: model.hf: expected at most 4096 bytes (no path or name in a config is longer), found a string of 100000 bytes, \(cut); shorten it")
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: ["init_from=\(long)"]),
                       "c.json: init_from: expected at most 4096 bytes (no path or name in a config is longer), found a string of 100000 bytes, \(cut); shorten it")
        XCTAssertEqual(message("{\"eval\": {\"policies\": [\"sft\", \"\(long)\"]}}"),
                       "c.json: eval.policies[1]: expected at most 4096 bytes (no path or name in a config is longer), found a string of 100000 bytes, \(cut); shorten it")
        // Shorter values are quoted shortened by their readers.
        let value = String(repeating: "k", count: 4000)
        XCTAssertEqual(message("{\"sft\": {}, \"dpo\": {\"loss_type\": \"\(value)\"}}"),
                       "c.json: dpo.loss_type: expected one of \"sigmoid\", \"robust\", \"ipo\", \"hinge\", found \(cut)")
        XCTAssertEqual(message("{\"sft\": {\"lr\": \"\(value)\"}}"), "c.json: sft.lr: expected a number in (0, 1], found \(cut)")
        XCTAssertEqual(message("{\"stages\": [\"\(value)\"]}"),
                       "c.json: stages: element 0: unknown stage \(cut); expected one of tokenizer, pretrain, sft, preferences, reward_model, ppo, grpo, rloo, online_dpo, dpo, eval")
        XCTAssertEqual(message("{\"name\": \"a/\(value)\"}"),
                       "c.json: name: expected a run name usable as a directory name (not empty, \".\" or \"..\", without '/', '\\' or control characters), found \"a/\(String(repeating: "k", count: 58))…\"; e.g. \"my-run\"")
        // Control characters in a key stay escaped: the message is one line.
        XCTAssertEqual(message(#"{"a\nb": 1}"#).components(separatedBy: "\n").count, 1)
        // --set: the assignment and its keys are cut as well.
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: [long]), "--set \(cut): expected KEY.PATH=VALUE, e.g. --set ppo.kl_coef=0.1")
        XCTAssertEqual(message(#"{"sft": {}}"#, overrides: ["\(long)..x=1"]),
                       "--set \(cut): empty key in \(cut); expected KEY.PATH=VALUE, e.g. --set ppo.kl_coef=0.1")
        XCTAssertEqual(message(#"{"seed": 1}"#, overrides: ["seed.\(long)=1"]),
                       "--set \"seed.\(String(repeating: "k", count: 55))…\": \(cut) is inside a value that is not an object (1)")
        XCTAssertEqual(message("{\"extends\": \"\(long)\"}").count < 1200, true)
    }
}
