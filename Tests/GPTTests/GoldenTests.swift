import XCTest
import Foundation
@testable import GPT
import Engine

/// Golden test against an independent float64 NumPy GPT-2 (scripts/make_golden.py): with the
/// fixture's parameters loaded, the Swift model must reproduce the logits, target log-probs,
/// scalar-head values, loss  = mean CE + 0.5·mean v  and the full gradient of that loss.
/// Regenerate the fixture with `python3 scripts/make_golden.py`.
final class GoldenTests: XCTestCase {
    struct Golden: Decodable {
        let config: [String: Int]
        let tokens: [Int32]
        let targets: [Int32]
        let params: [String: [Double]]
        let logits: [Double]
        let logp: [Double]
        let values: [Double]
        let loss: Double
        let grads: [String: [Double]]
    }

    static let valueCoef: Float = 0.5

    func loadGolden() throws -> Golden {
        let url = Bundle.module.url(forResource: "golden", withExtension: "json", subdirectory: "Fixtures")
            ?? Bundle.module.url(forResource: "golden", withExtension: "json")
        let found = try XCTUnwrap(url, "golden.json not found in the test bundle (run scripts/make_golden.py)")
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: found))
    }

    /// Compares element-wise with |a − e| ≤ abs + rel·|e|; reports the first few failures by name and index.
    func assertClose(_ actual: [Float], _ expected: [Double], rel: Double, abs: Double, _ name: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "\(name): count", file: file, line: line)
        var failures = 0
        for i in 0..<min(actual.count, expected.count) {
            let a = Double(actual[i]), e = expected[i]
            let err = Swift.abs(a - e), tol = abs + rel * Swift.abs(e)
            if !(err <= tol) {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(name)[\(i)]: Swift \(a) vs NumPy \(e) (|diff| \(err) > tol \(tol))", file: file, line: line)
                }
            }
        }
        if failures > 5 { XCTFail("\(name): \(failures) mismatches in total", file: file, line: line) }
    }

    func testMatchesNumPyReference() throws {
        let g = try loadGolden()
        let config = GPTConfig(vocabSize: 11, context: 8, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, scalarHead: true)
        XCTAssertEqual(g.config["vocab_size"], config.vocabSize)
        XCTAssertEqual(g.config["n_positions"], config.context)
        XCTAssertEqual(g.config["n_layer"], config.nLayer)
        XCTAssertEqual(g.config["n_head"], config.nHead)
        XCTAssertEqual(g.config["n_embd"], config.nEmbd)
        let B = 2, T = 7, N = B * T
        XCTAssertEqual(g.tokens.count, N)
        XCTAssertEqual(g.targets.count, N)

        let model = GPT(config: config, seed: 0)
        XCTAssertEqual(Set(g.params.keys), Set(model.layout.tensors.map(\.name)), "fixture tensor names")
        XCTAssertEqual(Set(g.grads.keys), Set(model.layout.tensors.map(\.name)), "fixture gradient names")
        for t in model.layout.tensors {
            let src = try XCTUnwrap(g.params[t.name], "fixture lacks \(t.name)")
            XCTAssertEqual(src.count, t.count, "\(t.name): element count")
            let off = model.layout[t.name]!.offset
            for i in 0..<min(src.count, t.count) { model.params[off + i] = Float(src[i]) }
        }

        let ws = GPTWorkspace(config: config, maxB: B, maxT: T)
        model.enableGrads()
        model.zeroGrad()
        let rows = (0..<N).map { Int32($0) }
        var logp = [Float](repeating: 0, count: N)
        var values = [Float](repeating: 0, count: N)
        var logits: [Float] = []
        g.tokens.withUnsafeBufferPointer { tk in
            model.forward(tokens: tk.baseAddress!, B: B, T: T, ws: ws)
            logits = model.logits(ws: ws, rows: Array(0..<N))
            model.tokenLogProbs(ws: ws, rows: rows, targets: g.targets, temperature: 1, logp: &logp, entropy: nil)
            model.scalarHead(ws: ws, out: &values)

            // loss = −mean logp + 0.5·mean v
            ws.zeroHiddenGrad()
            let dl = [Float](repeating: -1 / Float(N), count: N)
            let dv = [Float](repeating: Self.valueCoef / Float(N), count: N)
            var logp2 = [Float](repeating: 0, count: N)
            model.tokenLogProbs(ws: ws, rows: rows, targets: g.targets, temperature: 1, logp: &logp2, entropy: nil,
                                dlogp: dl, dentropy: nil)
            XCTAssertEqual(logp2, logp, "log-probs recomputed in the backward pass differ from the forward's")
            model.scalarHeadBackward(ws: ws, dout: dv)
            model.backward(tokens: tk.baseAddress!, ws: ws)
        }
        var loss = 0.0
        for i in 0..<N { loss += -Double(logp[i]) / Double(N) + Double(Self.valueCoef) * Double(values[i]) / Double(N) }

        assertClose(logits, g.logits, rel: 1e-4, abs: 1e-5, "logits")
        assertClose(logp, g.logp, rel: 1e-4, abs: 1e-5, "logp")
        assertClose(values, g.values, rel: 1e-4, abs: 1e-5, "values")
        XCTAssertEqual(loss, g.loss, accuracy: 1e-5 + 1e-4 * abs(g.loss), "loss: Swift \(loss) vs NumPy \(g.loss)")

        let grads = model.grads!.array
        for t in model.layout.tensors {
            guard let expected = g.grads[t.name] else { continue }
            let off = model.layout[t.name]!.offset
            assertClose(Array(grads[off..<(off + t.count)]), expected, rel: 1e-3, abs: 1e-5, "grad \(t.name)")
        }
    }
}
