import XCTest
@testable import GPT
import Engine

/// Finite-difference check of the whole model: loss = −Σ log p(y_r) + a·Σ H_r + Σ_t c_t·v_t
/// exercises the trunk, the tied LM head (log-probs and entropy, with temperature) and the scalar head.
final class GradientCheckTests: XCTestCase {
    var config = GPTConfig(vocabSize: 23, context: 8, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, scalarHead: true)

    func makeBatch() -> (tokens: [Int32], rows: [Int32], targets: [Int32], coef: [Float]) {
        var rng = RNG(seed: 7)
        let B = 2, T = 6
        let tokens = (0..<(B * T)).map { _ in Int32(rng.int(config.vocabSize)) }
        let rows: [Int32] = [0, 2, 3, 5, 6, 7, 11]
        let targets = rows.map { _ in Int32(rng.int(config.vocabSize)) }
        let coef = (0..<(B * T)).map { _ in rng.uniform() - 0.5 }
        return (tokens, rows, targets, coef)
    }

    func loss(_ model: GPT, _ ws: GPTWorkspace, temperature: Float, backward: Bool) -> Double {
        let (tokens, rows, targets, coef) = makeBatch()
        let n = rows.count
        var logp = [Float](repeating: 0, count: n), ent = [Float](repeating: 0, count: n)
        var values = [Float](repeating: 0, count: tokens.count)
        let entCoef: Float = 0.3
        tokens.withUnsafeBufferPointer { tk in
            model.forward(tokens: tk.baseAddress!, B: 2, T: 6, ws: ws)
            model.tokenLogProbs(ws: ws, rows: rows, targets: targets, temperature: temperature, logp: &logp, entropy: &ent)
            model.scalarHead(ws: ws, out: &values)
            if backward {
                ws.zeroHiddenGrad()
                let dl = [Float](repeating: -1, count: n), de = [Float](repeating: entCoef, count: n)
                var scratchLogp = [Float](repeating: 0, count: n)
                model.tokenLogProbs(ws: ws, rows: rows, targets: targets, temperature: temperature, logp: &scratchLogp,
                                    dlogp: dl, dentropy: de)
                XCTAssertEqual(scratchLogp, logp, "recomputed log-probs differ from the forward's")
                model.scalarHeadBackward(ws: ws, dout: coef)
                model.backward(tokens: tk.baseAddress!, ws: ws)
            }
        }
        var l = 0.0
        for i in 0..<n { l += -Double(logp[i]) + Double(entCoef) * Double(ent[i]) }
        for i in 0..<values.count { l += Double(coef[i]) * Double(values[i]) }
        return l
    }

    func testWholeModelGradientMatchesFiniteDifferences() {
        checkWholeModel(temperatures: [1.0, 0.7])
    }

    /// Hugging Face GPT-2-family checkpoints may set the MLP width (n_inner) and LayerNorm's ε.
    func testGradientWithAnMLPWidthAndEpsilonOtherThanGPT2s() {
        config = GPTConfig(vocabSize: 23, context: 8, nLayer: 2, nHead: 2, nEmbd: 8, nInner: 13, layerNormEpsilon: 0.05,
                           dropout: 0, scalarHead: true)
        checkWholeModel(temperatures: [1.0])
    }

    func checkWholeModel(temperatures: [Float]) {
        for temperature in temperatures {
            let model = GPT(config: config, seed: 3)
            // Larger weights than GPT-2's 0.02 so that every path carries signal.
            var rng = RNG(seed: 11)
            for t in model.layout.tensors where !t.name.contains("ln_") {
                for i in 0..<t.count { model.params[t.offset + i] = rng.normal() * 0.3 }
            }
            let ws = GPTWorkspace(config: config, maxB: 2, maxT: 6)
            model.enableGrads()
            model.zeroGrad()
            _ = loss(model, ws, temperature: temperature, backward: true)
            let grads = model.grads!.array
            var checked = 0
            for t in model.layout.tensors {
                // A few sampled entries of every tensor.
                for s in 0..<3 {
                    let i = t.offset + (s * 7919 + 13) % t.count
                    let saved = model.params[i]
                    let eps: Float = 1e-2
                    model.params[i] = saved + eps
                    let lp = loss(model, ws, temperature: temperature, backward: false)
                    model.params[i] = saved - eps
                    let lm = loss(model, ws, temperature: temperature, backward: false)
                    model.params[i] = saved
                    let numeric = (lp - lm) / Double(2 * eps)
                    let analytic = Double(grads[i])
                    let tol = 2e-3 + 2e-2 * abs(numeric)
                    XCTAssertEqual(analytic, numeric, accuracy: tol, "\(t.name)[\(i - t.offset)] at τ=\(temperature)")
                    checked += 1
                }
            }
            XCTAssertEqual(checked, model.layout.tensors.count * 3)
        }
    }
}
