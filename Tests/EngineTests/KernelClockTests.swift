import Engine
import XCTest

/// `KernelClock` splits a benchmark's training step into matmuls, attention and the rest; it must
/// count every top-level call once, count nothing twice, and cost nothing when off.
final class KernelClockTests: XCTestCase {
    override func tearDown() {
        KernelClock.enabled = false
        super.tearDown()
    }

    private struct Work {
        let n = 128, B = 2, T = 64, C = 32, NH = 4
        var rng = TestRNG(811)
        let a: FloatBuffer, b: FloatBuffer, c: FloatBuffer
        let qkv: FloatBuffer, out: FloatBuffer, lse: FloatBuffer, dqkv: FloatBuffer

        init() {
            a = rng.buffer(4 * n * n); b = rng.buffer(4 * n * n); c = FloatBuffer(count: 4 * n * n)
            qkv = rng.normalBuffer(B * T * 3 * C); out = FloatBuffer(count: B * T * C)
            lse = FloatBuffer(count: B * NH * T); dqkv = FloatBuffer(count: B * T * 3 * C)
        }

        /// 128³: large enough that `sgemm` splits it across workers when there are several.
        func sgemm() {
            BLAS.sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
        }

        func batched() {
            BLAS.sgemmStridedBatched(count: 4, m: n, n: n, k: n, a: a.pointer, lda: n, strideA: n * n,
                                     b: b.pointer, ldb: n, strideB: n * n, c: c.pointer, ldc: n, strideC: n * n)
        }

        func attention() {
            Attention.forward(out: out.pointer, lse: lse.pointer, qkv: qkv.pointer, B: B, T: T, C: C, NH: NH, scratch: Scratch())
            Attention.backward(dqkv: dqkv.pointer, dout: out.pointer, qkv: qkv.pointer, lse: lse.pointer,
                               B: B, T: T, C: C, NH: NH, scratch: Scratch())
        }
    }

    /// Runs `body` and returns its wall time and what it added to the two totals.
    private func measure(_ body: () -> Void) -> (wall: Double, matmul: Double, attention: Double) {
        let (m0, a0) = (KernelClock.matmul, KernelClock.attention)
        let t0 = Clock.now()
        body()
        let wall = Clock.now() - t0
        return (wall, KernelClock.matmul - m0, KernelClock.attention - a0)
    }

    func testCountsNothingWhenOff() {
        let w = Work()
        KernelClock.enabled = false
        let r = measure { w.sgemm(); w.batched(); w.attention() }
        XCTAssertEqual(r.matmul, 0)
        XCTAssertEqual(r.attention, 0)
    }

    func testCountsEachTopLevelCallOnce() {
        let w = Work()
        for threads in [1, 2] {
            withParallelThreads(threads) {
                KernelClock.enabled = true
                defer { KernelClock.enabled = false }
                // A split sgemm's pieces and a batched call's inner products run on several workers
                // at once; counted per piece, they would add up to more than the wall time.
                for (name, body) in [("sgemm", w.sgemm), ("batched", w.batched)] {
                    let r = measure(body)
                    XCTAssertGreaterThan(r.matmul, 0, "\(name), \(threads) threads")
                    XCTAssertLessThanOrEqual(r.matmul, r.wall, "\(name) counted more than once, \(threads) threads")
                    XCTAssertEqual(r.attention, 0, name)
                }
                // Attention is its own counter, and none of its time is also counted as matmul
                // (the breakdown's "other" is the step minus both).
                let r = measure(w.attention)
                XCTAssertGreaterThan(r.attention, 0, "attention, \(threads) threads")
                XCTAssertLessThanOrEqual(r.attention, r.wall, "attention, \(threads) threads")
                XCTAssertEqual(r.matmul, 0, "attention's time also counted as matmul")
            }
        }
    }
}
