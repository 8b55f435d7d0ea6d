import Engine
import XCTest
@testable import GPT

/// The counted FLOPs of a training step are the 6·N·tokens of the matmuls (N: the blocks' and the
/// tied LM head's parameters) plus attention; sampling counts its prefill and decode steps.
final class FlopCounterTests: XCTestCase {
    func testATrainingStepCountsSixNPerTokenPlusAttention() {
        let c = GPTConfig(vocabSize: 50, context: 16, nLayer: 2, nHead: 2, nEmbd: 16)
        let B = 2, T = 8
        let model = GPT(config: c, seed: 1)
        model.enableGrads()
        let ws = GPTWorkspace(config: c, maxB: B, maxT: T)
        let tokens = (0..<(B * T)).map { Int32($0 % 50) }
        let rows = (0..<(B * T)).map { Int32($0) }, targets = rows.map { ($0 + 1) % 50 }
        var logp = [Float](repeating: 0, count: rows.count)
        let dl = [Float](repeating: -0.1, count: rows.count)
        let before = FlopCounter.snapshot
        tokens.withUnsafeBufferPointer { tk in
            model.forward(tokens: tk.baseAddress!, B: B, T: T, ws: ws)
            ws.zeroHiddenGrad()
            model.tokenLogProbs(ws: ws, rows: rows, targets: targets, logp: &logp, dlogp: dl)
            model.backward(tokens: tk.baseAddress!, ws: ws)
        }
        let d = FlopCounter.snapshot - before
        let N = Double(ParameterLayout(c).matmulParameters), n = Double(B * T)
        // Attention: 2·T(T+1)·C a layer and sequence forward, 2.5 times that backward.
        let attention = 2.0 * Double(B * T * (T + 1) * c.nEmbd * c.nLayer)
        XCTAssertEqual(d.forward + d.backward, 6 * N * n + 3.5 * attention, accuracy: 1e-6)
        XCTAssertEqual(d.backward, 4 * N * n + 2.5 * attention, accuracy: 1e-6)
        XCTAssertEqual(d.generate, 0)
    }

    func testSamplingCountsItsTokens() {
        let c = GPTConfig(vocabSize: 40, context: 32, nLayer: 1, nHead: 2, nEmbd: 16)
        let gen = Generator(model: GPT(config: c, seed: 2), maxBatch: 3)
        var rngs = (0..<3).map { RNG(seed: 4).split("s", $0) }
        let before = FlopCounter.snapshot
        let out = gen.generate(prompts: [[1, 2, 3], [4, 5], [6]], options: SamplingOptions(temperature: 1, maxNewTokens: 5), rngs: &rngs)
        let d = FlopCounter.snapshot - before
        XCTAssertEqual(d.generatedTokens, Double(out.reduce(0) { $0 + $1.tokens.count }))
        XCTAssertEqual(d.generatedTokens, 15)
        XCTAssertGreaterThan(d.generate, 2 * Double(ParameterLayout(c).matmulParameters) * 15)
        XCTAssertEqual(d.forward + d.backward, 0)
    }
}
