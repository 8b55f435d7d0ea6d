import XCTest
@testable import Experiments
import GPT
import JSON

/// `rlhf bench`'s online parts run a real trainer step; their figures are printed, not asserted
/// (this is no timed test): here only that they run at a micro shape and give positive finite numbers.
final class BenchTests: XCTestCase {
    func testGroupPartsRunAtAMicroShape() throws {
        var micro = Bench.Shape(name: "micro", config: GPTConfig(vocabSize: 64, context: 32, nLayer: 1, nHead: 2, nEmbd: 16),
                                batch: 2, genBatch: 2, genPrompt: 8, genNew: 4, dpoPairs: 2, dpoCompletion: 4, online: true)
        micro.groupPrompts = 2
        micro.groupPromptLength = 8
        micro.groupGenerations = 4
        micro.groupCompletion = 6
        var lines: [String] = []
        Bench.run(shapes: [micro], steps: 1, parts: [.grpo, .rloo], sgemm: false) { lines.append($0) }
        XCTAssertEqual(lines.count, 1)
        let values = try JSONParser.parse(lines[0])
        XCTAssertEqual(values["shape"], .string("micro"))
        for method in ["grpo", "rloo"] {
            for key in ["step_s", "completions_per_s", "generate_s", "score_s", "optimize_s"] {
                let v = values["\(method)_\(key)"]?.doubleValue
                XCTAssertNotNil(v, "\(method)_\(key) missing from \(lines[0])")
                if let v { XCTAssertTrue(v.isFinite && v > 0, "\(method)_\(key) = \(v)") }
            }
            let step = values["\(method)_step_s"]?.doubleValue ?? .nan, rate = values["\(method)_completions_per_s"]?.doubleValue ?? .nan
            XCTAssertEqual(rate, 8 / step, accuracy: 1e-6 * rate, "\(method): 2 prompts × 4 completions per step")
        }
        XCTAssertNil(values["train_step_s"], "only the selected parts run")
        XCTAssertNil(values["sgemm_gflops"], "no sgemm probe when sgemm: false")
    }
}
