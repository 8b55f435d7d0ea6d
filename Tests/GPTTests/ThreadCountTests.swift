import Engine
import XCTest
@testable import GPT

/// A forward and backward pass give the same bits on one worker and on two: every kernel splits
/// its work by the data, never by the number of workers.
final class ThreadCountTests: XCTestCase {
    func testForwardAndBackwardBitIdenticalAcrossThreadCounts() {
        let config = GPTConfig(vocabSize: 300, context: 64, nLayer: 2, nHead: 4, nEmbd: 64, nInner: 200, scalarHead: true)
        let B = 3, T = 48
        var rng = RNG(seed: 17)
        let tokens = (0..<(B * T)).map { _ in Int32(rng.int(config.vocabSize)) }
        let rows = (0..<(B * T - 1)).map { Int32($0) }, targets = rows.map { tokens[Int($0) + 1] }
        func run(_ threads: Int) -> (logp: [Float], values: [Float], grads: [Float]) {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            let model = GPT(config: config, seed: 5)
            model.enableGrads()
            model.zeroGrad()
            let ws = GPTWorkspace(config: config, maxB: B, maxT: T)
            var logp = [Float](repeating: 0, count: rows.count), values = [Float](repeating: 0, count: B * T)
            let dl = [Float](repeating: -0.01, count: rows.count), dv = (0..<(B * T)).map { Float($0 % 7) * 0.01 }
            tokens.withUnsafeBufferPointer { tk in
                model.forward(tokens: tk.baseAddress!, B: B, T: T, ws: ws)
                ws.zeroHiddenGrad()
                model.tokenLogProbs(ws: ws, rows: rows, targets: targets, logp: &logp, dlogp: dl)
                model.scalarHead(ws: ws, out: &values)
                model.scalarHeadBackward(ws: ws, dout: dv)
                model.backward(tokens: tk.baseAddress!, ws: ws)
            }
            return (logp, values, model.grads!.array)
        }
        let one = run(1), two = run(2)
        XCTAssertEqual(one.logp, two.logp, "log-probs")
        XCTAssertEqual(one.values, two.values, "scalar head")
        let model = GPT(config: config, seed: 5)
        for t in model.layout.tensors {
            let a = one.grads[t.offset..<(t.offset + t.count)], b = two.grads[t.offset..<(t.offset + t.count)]
            XCTAssertTrue(a.elementsEqual(b), "gradient of \(t.name) differs between 1 and 2 threads")
        }
    }
}
