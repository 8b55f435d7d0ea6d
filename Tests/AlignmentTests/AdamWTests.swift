import Engine
import Foundation
import GPT
import XCTest
@testable import Alignment

/// AdamW and the learning-rate schedules against the formulas, recomputed here in Double.
final class AdamWTests: XCTestCase {
    // n_embd 12: LayerNorm gains and biases have 12 entries (one 8-lane vector and a tail of 4).
    let layout = ParameterLayout(GPTConfig(vocabSize: 13, context: 5, nLayer: 1, nHead: 2, nEmbd: 12))

    /// Reference AdamW: the global norm, clipping, bias-corrected moments, decoupled decay on the
    /// tensors that decay.
    func reference(params: inout [Double], m: inout [Double], v: inout [Double], grads: [Float], t: Int,
                   c: AdamWConfig, lr: Double) -> Double {
        let norm = grads.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let scale = c.maxGradNorm > 0 && norm > c.maxGradNorm ? c.maxGradNorm / (norm + 1e-6) : 1
        for spec in layout.tensors {
            let decay = spec.isMatrix || (spec.isEmbedding && c.decayEmbeddings) ? c.weightDecay : 0
            for i in spec.offset..<(spec.offset + spec.count) {
                let g = Double(grads[i]) * scale
                m[i] = c.beta1 * m[i] + (1 - c.beta1) * g
                v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g
                let mhat = m[i] / (1 - pow(c.beta1, Double(t))), vhat = v[i] / (1 - pow(c.beta2, Double(t)))
                params[i] -= lr * (mhat / (vhat.squareRoot() + c.eps) + decay * params[i])
            }
        }
        return norm
    }

    func testStepsMatchTheFormulas() {
        for (maxNorm, decayEmbeddings) in [(0.0, false), (0.5, true)] {     // clipping off; clipping on (it binds)
            var c = AdamWConfig()
            c.beta1 = 0.8; c.beta2 = 0.9; c.eps = 1e-6; c.weightDecay = 0.3
            c.maxGradNorm = maxNorm; c.decayEmbeddings = decayEmbeddings
            let opt = AdamW(layout: layout, config: c)
            var rng = RNG(seed: 31)
            let params = FloatBuffer(count: layout.count), grads = FloatBuffer(count: layout.count)
            for i in 0..<params.count { params[i] = rng.normal() }
            var p = params.array.map(Double.init)
            var m = [Double](repeating: 0, count: layout.count), v = m
            for t in 1...3 {
                for i in 0..<grads.count { grads[i] = rng.normal() * 0.2 }
                let lr = 0.01 * Double(t)
                let want = reference(params: &p, m: &m, v: &v, grads: grads.array, t: t, c: c, lr: lr)
                let got = opt.step(params: params, grads: grads, lr: lr)
                XCTAssertEqual(got, want, accuracy: 1e-5 * want, "gradient norm, step \(t)")
                if maxNorm > 0 { XCTAssertGreaterThan(want, maxNorm, "the clipping case must clip") }
                for i in 0..<layout.count {
                    XCTAssertEqual(Double(params[i]), p[i], accuracy: 1e-5 * max(1, abs(p[i])), "param \(i), step \(t)")
                    XCTAssertEqual(Double(opt.m[i]), m[i], accuracy: 1e-6 * max(1, abs(m[i])), "m \(i), step \(t)")
                    XCTAssertEqual(Double(opt.v[i]), v[i], accuracy: 1e-6 * max(1, abs(v[i])), "v \(i), step \(t)")
                }
            }
        }
    }

    func testDecayOnlyWhereConfigured() {
        // Zero gradients: the moments stay 0, so the only change is the decay p ← p − lr·wd·p.
        var c = AdamWConfig()
        c.weightDecay = 0.5
        let opt = AdamW(layout: layout, config: c)
        let params = FloatBuffer([Float](repeating: 2, count: layout.count)), grads = FloatBuffer(count: layout.count)
        opt.step(params: params, grads: grads, lr: 0.1)
        for spec in layout.tensors {
            let want: Float = spec.isMatrix ? 2 - 0.1 * 0.5 * 2 : 2
            for i in spec.offset..<(spec.offset + spec.count) { XCTAssertEqual(params[i], want, "\(spec.name)[\(i - spec.offset)]") }
        }
        XCTAssertTrue(layout.tensors.contains { $0.isMatrix } && layout.tensors.contains { !$0.isMatrix && !$0.isEmbedding })
    }

    func testNonFiniteGradientLeavesTheWeights() {
        let opt = AdamW(layout: layout, config: AdamWConfig())
        let params = FloatBuffer([Float](repeating: 1, count: layout.count)), grads = FloatBuffer(count: layout.count)
        for i in 0..<grads.count { grads[i] = 0.01 }
        opt.step(params: params, grads: grads, lr: 0.1)        // one finite step: moments and t move
        let (p1, m1, v1) = (params.array, opt.m.array, opt.v.array)
        grads[3] = .nan
        let norm = opt.step(params: params, grads: grads, lr: 0.1)
        XCTAssertTrue(norm.isNaN)
        XCTAssertEqual(params.array, p1)
        XCTAssertEqual(opt.m.array, m1)
        XCTAssertEqual(opt.v.array, v1)
        XCTAssertEqual(opt.t, 1, "a skipped step does not count for the bias correction")
    }

    func testSchedules() {
        let cos = LRSchedule(kind: .cosine, warmupSteps: 4, minLRRatio: 0.1)
        XCTAssertEqual(cos.lr(peak: 1, step: 0, total: 14), 0.25, accuracy: 1e-12)       // warm-up: (step + 1) / 4
        XCTAssertEqual(cos.lr(peak: 1, step: 3, total: 14), 1, accuracy: 1e-12)
        XCTAssertEqual(cos.lr(peak: 1, step: 4, total: 14), 1, accuracy: 1e-12)          // decay starts at the peak
        XCTAssertEqual(cos.lr(peak: 1, step: 9, total: 14), 0.1 + 0.9 * 0.5, accuracy: 1e-12)   // halfway: cos(π/2) = 0
        XCTAssertEqual(cos.lr(peak: 1, step: 14, total: 14), 0.1, accuracy: 1e-12)
        let lin = LRSchedule(kind: .linear, warmupSteps: 0, minLRRatio: 0)
        XCTAssertEqual(lin.lr(peak: 2, step: 5, total: 20), 1.5, accuracy: 1e-12)
        XCTAssertEqual(LRSchedule(kind: .constant, warmupSteps: 2).lr(peak: 3, step: 10, total: 20), 3)
    }
}
