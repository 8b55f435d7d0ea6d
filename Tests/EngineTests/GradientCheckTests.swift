import Engine
import Foundation
import XCTest

/// Finite-difference checks of every kernel's backward against its forward, with
/// loss = Σ w ⊙ out for a fixed random w, plus the "backward adds into the gradient" contract.
final class GradientCheckTests: XCTestCase {

    // MARK: Encoder

    func testEncoderGradients() {
        var rng = TestRNG(101)
        let B = 2, T = 3, C = 4, V = 5, maxT = 4
        let toks: [Int32] = [0, 3, 3, 4, 0, 1] // repeated tokens, token 2 unused, position 3 unused
        let wte = rng.buffer(V * C), wpe = rng.buffer(maxT * C)
        let w = rng.buffer(B * T * C)
        let out = FloatBuffer(count: B * T * C)
        let dwte = FloatBuffer(count: V * C), dwpe = FloatBuffer(count: maxT * C)
        toks.withUnsafeBufferPointer { tok in
            let g = checkBackwardAdds("Encoder", [("wte", dwte), ("wpe", dwpe)]) {
                Encoder.backward(dwte: dwte.pointer, dwpe: dwpe.pointer, dout: w.pointer, tokens: tok.baseAddress!, B: B, T: T, C: C)
            }
            gradCheck("Encoder", [GradInput(name: "wte", value: wte, grad: g[0]), GradInput(name: "wpe", value: wpe, grad: g[1])],
                      eps: 1e-2) {
                Encoder.forward(out: out.pointer, tokens: tok.baseAddress!, wte: wte.pointer, wpe: wpe.pointer, B: B, T: T, C: C)
                return weightedSum(out.pointer, w)
            }
            // Unused token row and unused position row get exactly zero gradient.
            for c in 0..<C {
                XCTAssertEqual(g[0][2 * C + c], 0)
                XCTAssertEqual(g[1][3 * C + c], 0)
            }
        }
    }

    // MARK: Residual

    func testResidualGradients() {
        var rng = TestRNG(102)
        let n = 13
        let a = rng.buffer(n), b = rng.buffer(n), w = rng.buffer(n)
        let out = FloatBuffer(count: n), da = FloatBuffer(count: n), db = FloatBuffer(count: n)
        let g = checkBackwardAdds("Residual", [("a", da), ("b", db)]) {
            Residual.backward(da: da.pointer, db: db.pointer, dout: w.pointer, n: n)
        }
        gradCheck("Residual", [GradInput(name: "a", value: a, grad: g[0]), GradInput(name: "b", value: b, grad: g[1])], eps: 1e-2) {
            Residual.forward(out: out.pointer, a: a.pointer, b: b.pointer, n: n)
            return weightedSum(out.pointer, w)
        }
    }

    // MARK: Dropout

    func testDropoutGradients() {
        var rng = TestRNG(103)
        let n = 40, p: Float = 0.4
        let inp = rng.buffer(n), w = rng.buffer(n)
        let out = FloatBuffer(count: n), mask = FloatBuffer(count: n), dinp = FloatBuffer(count: n)
        let start = RNG(seed: 7)
        var r0 = start
        Dropout.forward(out: out.pointer, mask: mask.pointer, inp: inp.pointer, n: n, p: p, rng: &r0)
        XCTAssertTrue(mask.array.contains(0) && mask.array.contains { $0 != 0 }, "fixture should drop some and keep some")
        let g = checkBackwardAdds("Dropout", [("inp", dinp)]) {
            Dropout.backward(dinp: dinp.pointer, dout: w.pointer, mask: mask.pointer, n: n)
        }
        gradCheck("Dropout", [GradInput(name: "inp", value: inp, grad: g[0])], eps: 1e-2) {
            var r = start // same stream → same mask
            let m2 = FloatBuffer(count: n)
            Dropout.forward(out: out.pointer, mask: m2.pointer, inp: inp.pointer, n: n, p: p, rng: &r)
            return weightedSum(out.pointer, w)
        }
    }

    // MARK: LayerNorm

    func testLayerNormGradients() {
        var rng = TestRNG(104)
        // N = 40 gives two row blocks in the weight/bias reduction; C = 21 runs both the 8-lane
        // loops (16 columns) and the scalar tail (5).
        let N = 40, C = 21
        let inp = rng.buffer(N * C, -2, 2), weight = rng.buffer(C, 0.5, 1.5), bias = rng.buffer(C)
        let w = rng.buffer(N * C)
        let out = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
        let dinp = FloatBuffer(count: N * C), dweight = FloatBuffer(count: C), dbias = FloatBuffer(count: C)
        let scratch = Scratch()
        LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: inp.pointer,
                          weight: weight.pointer, bias: bias.pointer, N: N, C: C)
        let g = checkBackwardAdds("LayerNorm", [("inp", dinp), ("weight", dweight), ("bias", dbias)]) {
            LayerNorm.backward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: dbias.pointer, dout: w.pointer, inp: inp.pointer,
                               weight: weight.pointer, mean: mean.pointer, rstd: rstd.pointer, N: N, C: C, scratch: scratch)
        }
        let m2 = FloatBuffer(count: N), r2 = FloatBuffer(count: N)
        gradCheck("LayerNorm", [GradInput(name: "inp", value: inp, grad: g[0]), GradInput(name: "weight", value: weight, grad: g[1]),
                                GradInput(name: "bias", value: bias, grad: g[2])], eps: 5e-3) {
            LayerNorm.forward(out: out.pointer, mean: m2.pointer, rstd: r2.pointer, inp: inp.pointer,
                              weight: weight.pointer, bias: bias.pointer, N: N, C: C)
            return weightedSum(out.pointer, w)
        }
    }

    // MARK: GELU

    func testGELUGradients() {
        var rng = TestRNG(105)
        let n = 21
        let inp = rng.buffer(n, -4, 4), w = rng.buffer(n)
        let out = FloatBuffer(count: n), dinp = FloatBuffer(count: n)
        let g = checkBackwardAdds("GELU", [("inp", dinp)]) {
            GELU.backward(dinp: dinp.pointer, inp: inp.pointer, dout: w.pointer, n: n)
        }
        gradCheck("GELU", [GradInput(name: "inp", value: inp, grad: g[0])], eps: 1e-2) {
            GELU.forward(out: out.pointer, inp: inp.pointer, n: n)
            return weightedSum(out.pointer, w)
        }
        // accumulate: false overwrites (n = 21: the 8-lane loop and the scalar tail).
        let fresh = FloatBuffer([Float](repeating: .nan, count: n))
        GELU.backward(dinp: fresh.pointer, inp: inp.pointer, dout: w.pointer, n: n, accumulate: false)
        XCTAssertEqual(fresh.array, g[0], "GELU backward without accumulate must write dout · GELU'(x)")
    }

    // MARK: Linear

    func testLinearGradients() {
        var rng = TestRNG(106)
        let N = 3, C = 4, OC = 5
        let inp = rng.buffer(N * C), weight = rng.buffer(C * OC), bias = rng.buffer(OC), w = rng.buffer(N * OC)
        let ones = FloatBuffer([Float](repeating: 1, count: N))
        let out = FloatBuffer(count: N * OC)
        let dinp = FloatBuffer(count: N * C), dweight = FloatBuffer(count: C * OC), dbias = FloatBuffer(count: OC)
        let g = checkBackwardAdds("Linear", [("inp", dinp), ("weight", dweight), ("bias", dbias)]) {
            Linear.backward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: dbias.pointer, dout: w.pointer, inp: inp.pointer,
                            weight: weight.pointer, N: N, C: C, OC: OC, ones: ones.pointer)
        }
        gradCheck("Linear", [GradInput(name: "inp", value: inp, grad: g[0]), GradInput(name: "weight", value: weight, grad: g[1]),
                             GradInput(name: "bias", value: bias, grad: g[2])], eps: 1e-2) {
            Linear.forward(out: out.pointer, inp: inp.pointer, weight: weight.pointer, bias: bias.pointer, N: N, C: C, OC: OC)
            return weightedSum(out.pointer, w)
        }
        // Frozen pieces (nil gradients) leave the others unchanged.
        let dw2 = FloatBuffer(count: C * OC), di2 = FloatBuffer(count: N * C), db2 = FloatBuffer(count: OC)
        Linear.backward(dinp: nil, dweight: dw2.pointer, dbias: nil, dout: w.pointer, inp: inp.pointer,
                        weight: weight.pointer, N: N, C: C, OC: OC, ones: ones.pointer)
        Linear.backward(dinp: di2.pointer, dweight: nil, dbias: db2.pointer, dout: w.pointer, inp: inp.pointer,
                        weight: weight.pointer, N: N, C: C, OC: OC, ones: ones.pointer)
        assertClose(dw2.array, g[1], rtol: 1e-6, atol: 1e-7, "Linear dweight alone")
        assertClose(di2.array, g[0], rtol: 1e-6, atol: 1e-7, "Linear dinp alone")
        assertClose(db2.array, g[2], rtol: 1e-6, atol: 1e-7, "Linear dbias alone")
    }

    func testLinearWithoutBiasGradients() {
        var rng = TestRNG(107)
        let N = 4, C = 3, OC = 2
        let inp = rng.buffer(N * C), weight = rng.buffer(C * OC), w = rng.buffer(N * OC)
        let ones = FloatBuffer([Float](repeating: 1, count: N))
        let out = FloatBuffer(count: N * OC)
        for i in 0..<out.count { out[i] = .nan } // without bias, forward must overwrite (beta = 0)
        let dinp = FloatBuffer(count: N * C), dweight = FloatBuffer(count: C * OC)
        let g = checkBackwardAdds("Linear(no bias)", [("inp", dinp), ("weight", dweight)]) {
            Linear.backward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: nil, dout: w.pointer, inp: inp.pointer,
                            weight: weight.pointer, N: N, C: C, OC: OC, ones: ones.pointer)
        }
        gradCheck("Linear(no bias)", [GradInput(name: "inp", value: inp, grad: g[0]), GradInput(name: "weight", value: weight, grad: g[1])],
                  eps: 1e-2) {
            Linear.forward(out: out.pointer, inp: inp.pointer, weight: weight.pointer, bias: nil, N: N, C: C, OC: OC)
            return weightedSum(out.pointer, w)
        }
    }

    // MARK: Attention

    func testAttentionGradients() {
        var rng = TestRNG(108)
        let B = 2, T = 5, C = 8, NH = 2
        let qkv = rng.normalBuffer(B * T * 3 * C), w = rng.buffer(B * T * C)
        let out = FloatBuffer(count: B * T * C), lse = FloatBuffer(count: B * NH * T)
        let dqkv = FloatBuffer(count: B * T * 3 * C)
        let scratch = Scratch()
        // The backward's scratch (packed operands, P and dS) starts as NaN, larger than it needs so that
        // it is reused: panel padding must be written and P and dS above the diagonal zeroed before the
        // tiles read them.
        let scratchFloats = 1 << 16
        let dsInit = scratch.pointer(scratchFloats)
        for i in 0..<scratchFloats { dsInit[i] = .nan }
        Attention.forward(out: out.pointer, lse: lse.pointer, qkv: qkv.pointer, B: B, T: T, C: C, NH: NH, scratch: Scratch())
        let g = checkBackwardAdds("Attention", [("qkv", dqkv)]) {
            Attention.backward(dqkv: dqkv.pointer, dout: w.pointer, qkv: qkv.pointer, lse: lse.pointer, B: B, T: T, C: C, NH: NH,
                               scratch: scratch)
        }
        gradCheck("Attention", [GradInput(name: "qkv", value: qkv, grad: g[0])], eps: 5e-3) {
            Attention.forward(out: out.pointer, lse: nil, qkv: qkv.pointer, B: B, T: T, C: C, NH: NH, scratch: Scratch())
            return weightedSum(out.pointer, w)
        }
        // Causality: the key/value of the last position influence nothing but the last query,
        // so with dout nonzero only at t < T-1 the last K and V rows get zero gradient.
        let w2 = FloatBuffer(count: B * T * C)
        for b in 0..<B { for t in 0..<(T - 1) { for c in 0..<C { w2[(b * T + t) * C + c] = w[(b * T + t) * C + c] } } }
        dqkv.zero()
        Attention.backward(dqkv: dqkv.pointer, dout: w2.pointer, qkv: qkv.pointer, lse: lse.pointer, B: B, T: T, C: C, NH: NH,
                           scratch: scratch)
        for b in 0..<B {
            for c in C..<(3 * C) { XCTAssertEqual(dqkv[(b * T + T - 1) * 3 * C + c], 0, "future K/V must not get gradient") }
        }
    }

    // MARK: TokenLogProbs

    private func tokenLogProbsCheck(temperature: Float, seed: UInt64) {
        var rng = TestRNG(seed)
        // V = 11 exercises both the 8-wide SIMD path and the scalar tail of FastMath; n = chunk + 5
        // rows exercises the second chunk; rows index 10 hidden rows, so they repeat.
        let N = 10, C = 5, V = 11, n = TokenLogProbs.chunk(V: V) + 5
        let hidden = rng.normalBuffer(N * C), wte = rng.normalBuffer(V * C, scale: 0.7)
        var rows = (0..<n).map { _ in Int32(rng.int(N)) }
        rows[0] = 3; rows[n - 1] = 3 // the same row in both chunks
        let targets = (0..<n).map { _ in Int32(rng.int(V)) }
        let a = rng.buffer(n), b = rng.buffer(n)
        let logp = FloatBuffer(count: n), ent = FloatBuffer(count: n)
        let dhidden = FloatBuffer(count: N * C), dwte = FloatBuffer(count: V * C)
        let scratch = Scratch()
        let label = "TokenLogProbs(τ=\(temperature))"
        rows.withUnsafeBufferPointer { rp in
            targets.withUnsafeBufferPointer { tp in
                let fwdLogp = FloatBuffer(count: n), fwdEnt = FloatBuffer(count: n)
                TokenLogProbs.run(hidden: hidden.pointer, rows: rp.baseAddress!, targets: tp.baseAddress!, n: n, wte: wte.pointer,
                                  V: V, C: C, temperature: temperature, logp: fwdLogp.pointer, entropy: fwdEnt.pointer, scratch: scratch)
                let g = checkBackwardAdds(label, [("hidden", dhidden), ("wte", dwte)]) {
                    TokenLogProbs.run(hidden: hidden.pointer, rows: rp.baseAddress!, targets: tp.baseAddress!, n: n, wte: wte.pointer,
                                      V: V, C: C, temperature: temperature, logp: logp.pointer, entropy: ent.pointer,
                                      dlogp: a.pointer, dentropy: b.pointer, dhidden: dhidden.pointer, dwte: dwte.pointer, scratch: scratch)
                }
                // The fused pass reports the same forward values as the forward-only pass.
                assertBitIdentical(logp.array, fwdLogp.array, "\(label) logp in backward pass")
                assertBitIdentical(ent.array, fwdEnt.array, "\(label) entropy in backward pass")
                gradCheck(label, [GradInput(name: "hidden", value: hidden, grad: g[0]), GradInput(name: "wte", value: wte, grad: g[1])],
                          eps: 5e-3) {
                    TokenLogProbs.run(hidden: hidden.pointer, rows: rp.baseAddress!, targets: tp.baseAddress!, n: n, wte: wte.pointer,
                                      V: V, C: C, temperature: temperature, logp: logp.pointer, entropy: ent.pointer, scratch: scratch)
                    var s = 0.0
                    for r in 0..<n { s += Double(a[r]) * Double(logp[r]) + Double(b[r]) * Double(ent[r]) }
                    return s
                }
                // Only one of the two gradients requested: same values as the fused pass.
                let dh2 = FloatBuffer(count: N * C), dw2 = FloatBuffer(count: V * C)
                TokenLogProbs.run(hidden: hidden.pointer, rows: rp.baseAddress!, targets: tp.baseAddress!, n: n, wte: wte.pointer,
                                  V: V, C: C, temperature: temperature, logp: nil, entropy: nil,
                                  dlogp: a.pointer, dentropy: b.pointer, dhidden: dh2.pointer, dwte: nil, scratch: scratch)
                TokenLogProbs.run(hidden: hidden.pointer, rows: rp.baseAddress!, targets: tp.baseAddress!, n: n, wte: wte.pointer,
                                  V: V, C: C, temperature: temperature, logp: nil, entropy: nil,
                                  dlogp: a.pointer, dentropy: b.pointer, dhidden: nil, dwte: dw2.pointer, scratch: scratch)
                assertClose(dh2.array, g[0], rtol: 1e-6, atol: 1e-7, "\(label) dhidden alone")
                assertClose(dw2.array, g[1], rtol: 1e-6, atol: 1e-7, "\(label) dwte alone")
            }
        }
    }

    func testTokenLogProbsGradientsTemperature1() { tokenLogProbsCheck(temperature: 1, seed: 109) }

    func testTokenLogProbsGradientsTemperature07() { tokenLogProbsCheck(temperature: 0.7, seed: 110) }

    /// Only the log-prob term (dentropy nil) and only the entropy term (dlogp nil).
    func testTokenLogProbsSingleTermGradients() {
        var rng = TestRNG(111)
        let N = 4, C = 3, V = 9, n = 6
        let hidden = rng.normalBuffer(N * C), wte = rng.normalBuffer(V * C)
        let rows: [Int32] = [0, 1, 1, 2, 3, 0], targets: [Int32] = [0, 8, 3, 3, 5, 7]
        let a = rng.buffer(n)
        let logp = FloatBuffer(count: n), ent = FloatBuffer(count: n)
        let scratch = Scratch()
        for entropyTerm in [false, true] {
            let dh = FloatBuffer(count: N * C), dw = FloatBuffer(count: V * C)
            let label = entropyTerm ? "TokenLogProbs(H only)" : "TokenLogProbs(logp only)"
            rows.withUnsafeBufferPointer { rp in
                targets.withUnsafeBufferPointer { tp in
                    let g = checkBackwardAdds(label, [("hidden", dh), ("wte", dw)]) {
                        TokenLogProbs.run(hidden: hidden.pointer, rows: rp.baseAddress!, targets: tp.baseAddress!, n: n, wte: wte.pointer,
                                          V: V, C: C, temperature: 0.9, logp: nil, entropy: nil,
                                          dlogp: entropyTerm ? nil : a.pointer, dentropy: entropyTerm ? a.pointer : nil,
                                          dhidden: dh.pointer, dwte: dw.pointer, scratch: scratch)
                    }
                    gradCheck(label, [GradInput(name: "hidden", value: hidden, grad: g[0]), GradInput(name: "wte", value: wte, grad: g[1])],
                              eps: 5e-3) {
                        TokenLogProbs.run(hidden: hidden.pointer, rows: rp.baseAddress!, targets: tp.baseAddress!, n: n, wte: wte.pointer,
                                          V: V, C: C, temperature: 0.9, logp: logp.pointer, entropy: ent.pointer, scratch: scratch)
                        var s = 0.0
                        for r in 0..<n { s += Double(a[r]) * Double(entropyTerm ? ent[r] : logp[r]) }
                        return s
                    }
                }
            }
        }
    }

    // MARK: ScalarHead

    func testScalarHeadGradients() {
        var rng = TestRNG(112)
        let N = 4, C = 6
        let hidden = rng.buffer(N * C), wv = rng.buffer(C), bias = FloatBuffer([0.3]), w = rng.buffer(N)
        let out = FloatBuffer(count: N)
        let dh = FloatBuffer(count: N * C), dw = FloatBuffer(count: C), db = FloatBuffer(count: 1)
        let g = checkBackwardAdds("ScalarHead", [("hidden", dh), ("w", dw), ("b", db)]) {
            ScalarHead.backward(dhidden: dh.pointer, dw: dw.pointer, db: db.pointer, dout: w.pointer, hidden: hidden.pointer,
                                w: wv.pointer, N: N, C: C)
        }
        gradCheck("ScalarHead", [GradInput(name: "hidden", value: hidden, grad: g[0]), GradInput(name: "w", value: wv, grad: g[1]),
                                 GradInput(name: "b", value: bias, grad: g[2])], eps: 1e-2) {
            ScalarHead.forward(out: out.pointer, hidden: hidden.pointer, w: wv.pointer, b: bias[0], N: N, C: C)
            return weightedSum(out.pointer, w)
        }
    }
}
