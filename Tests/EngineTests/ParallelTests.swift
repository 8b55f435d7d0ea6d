@testable import Engine
import Foundation
import XCTest

final class ParallelTests: XCTestCase {

    /// Records every (chunk, index) visit under a lock so that an overlap is detected, not raced.
    private final class Recorder: @unchecked Sendable {
        let lock = NSLock()
        var hits: [Int]
        var chunkRanges: [Int: Range<Int>] = [:]
        var duplicateChunks = 0
        var outOfRange = 0
        init(_ n: Int) { hits = [Int](repeating: 0, count: n) }
        func record(_ c: Int, _ r: Range<Int>) {
            lock.lock(); defer { lock.unlock() }
            if chunkRanges[c] != nil { duplicateChunks += 1 }
            chunkRanges[c] = r
            for i in r { if hits.indices.contains(i) { hits[i] += 1 } else { outOfRange += 1 } }
        }
        var exactlyOnce: Bool { outOfRange == 0 && hits.allSatisfy { $0 == 1 } }
    }

    func testForEachChunkCoversExactlyOnce() {
        for threads in [1, 2, 4] {
            withParallelThreads(threads) {
                for n in [0, 1, 2, 7, 100, 1000] {
                    for chunks in [1, 2, 3, 8, 16, 2000] {
                        let rec = Recorder(n)
                        Parallel.forEachChunk(n, chunks: chunks) { c, r in rec.record(c, r) }
                        let label = "threads=\(threads) n=\(n) chunks=\(chunks)"
                        XCTAssertTrue(rec.exactlyOnce, "\(label): coverage \(rec.hits.prefix(20))")
                        XCTAssertEqual(rec.duplicateChunks, 0, label)
                        let expected = n == 0 ? 0 : max(1, min(chunks, n))
                        XCTAssertEqual(rec.chunkRanges.count, expected, label)
                        // Chunks are contiguous, in order, non-empty, and depend only on (n, chunks).
                        var next = 0
                        for c in 0..<expected {
                            guard let r = rec.chunkRanges[c] else { XCTFail("\(label): chunk \(c) missing"); break }
                            XCTAssertEqual(r.lowerBound, next, label)
                            XCTAssertFalse(r.isEmpty, label)
                            XCTAssertEqual(r, (c * n / expected)..<((c + 1) * n / expected), label)
                            next = r.upperBound
                        }
                        if n > 0 { XCTAssertEqual(next, n, label) }
                    }
                }
            }
        }
    }

    func testForRangeAndForWorkersCoverExactlyOnce() {
        for threads in [1, 2, 3] {
            withParallelThreads(threads) {
                for n in [0, 1, 5, 999, 5000] {
                    for grain in [1, 64, 1024] {
                        let rec = Recorder(n)
                        Parallel.forRange(n, grain: grain) { r in rec.record(-1 - r.lowerBound, r) }
                        XCTAssertTrue(rec.exactlyOnce, "forRange threads=\(threads) n=\(n) grain=\(grain)")
                    }
                    let rec = Recorder(n)
                    var maxWorker = -1
                    let lock = NSLock()
                    Parallel.forWorkers(n) { w, r in
                        lock.lock(); maxWorker = max(maxWorker, w); lock.unlock()
                        rec.record(w, r)
                    }
                    XCTAssertTrue(rec.exactlyOnce, "forWorkers threads=\(threads) n=\(n)")
                    XCTAssertEqual(rec.duplicateChunks, 0)
                    XCTAssertEqual(maxWorker, n == 0 ? -1 : min(threads, n) - 1, "worker indices threads=\(threads) n=\(n)")
                }
            }
        }
    }

    func testLayerNormBackwardBitIdenticalAcrossThreadCounts() {
        var rng = TestRNG(501)
        let N = 100, C = 33 // 6 row blocks in the weight/bias reduction
        let inp = rng.buffer(N * C, -2, 2), weight = rng.buffer(C, 0.5, 1.5), bias = rng.buffer(C), dout = rng.buffer(N * C)
        func run(_ threads: Int) -> [[Float]] {
            withParallelThreads(threads) {
                let out = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
                let dinp = FloatBuffer(count: N * C), dw = FloatBuffer(count: C), db = FloatBuffer(count: C)
                LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: inp.pointer,
                                  weight: weight.pointer, bias: bias.pointer, N: N, C: C)
                LayerNorm.backward(dinp: dinp.pointer, dweight: dw.pointer, dbias: db.pointer, dout: dout.pointer, inp: inp.pointer,
                                   weight: weight.pointer, mean: mean.pointer, rstd: rstd.pointer, N: N, C: C, scratch: Scratch())
                return [out.array, dinp.array, dw.array, db.array]
            }
        }
        let saved = Parallel.threads
        let one = run(1), two = run(2)
        XCTAssertEqual(Parallel.threads, saved, "setting restored")
        for (k, name) in ["out", "dinp", "dweight", "dbias"].enumerated() { assertBitIdentical(one[k], two[k], "LayerNorm \(name)") }
    }

    /// `forRange` cuts GELU's n elements into pieces that follow the thread count (one piece at one
    /// thread; three at two threads for n = 3·16384 + 5, whose inner ends fall inside a vector
    /// of 8): an element must get the same bits at the end of a piece as inside one.
    func testGELUBitIdenticalAcrossThreadCounts() {
        var rng = TestRNG(506)
        let n = 3 * 16384 + 5
        let inp = rng.buffer(n, -4, 4), dout = rng.buffer(n), start = rng.buffer(n)
        func run(_ threads: Int) -> [[Float]] {
            withParallelThreads(threads) {
                let out = FloatBuffer(count: n), dinp = FloatBuffer(start.array), fresh = FloatBuffer(count: n)
                GELU.forward(out: out.pointer, inp: inp.pointer, n: n)
                GELU.backward(dinp: dinp.pointer, inp: inp.pointer, dout: dout.pointer, n: n)
                GELU.backward(dinp: fresh.pointer, inp: inp.pointer, dout: dout.pointer, n: n, accumulate: false)
                return [out.array, dinp.array, fresh.array]
            }
        }
        let one = run(1), two = run(2)
        for (k, name) in ["forward", "backward, accumulated", "backward, overwritten"].enumerated() {
            assertBitIdentical(one[k], two[k], "GELU \(name)")
        }
    }

    func testAttentionBitIdenticalAcrossThreadCounts() {
        var rng = TestRNG(502)
        // Large enough (8 heads of T = 128) that two workers really overlap in time: a per-worker
        // scratch mix-up or any thread-count dependence shows up as differing bits.
        let B = 2, T = 128, C = 32, NH = 4
        let qkv = rng.normalBuffer(B * T * 3 * C), dout = rng.buffer(B * T * C)
        func run(_ threads: Int) -> [[Float]] {
            withParallelThreads(threads) {
                let out = FloatBuffer(count: B * T * C), lse = FloatBuffer(count: B * NH * T), dqkv = FloatBuffer(count: B * T * 3 * C)
                Attention.forward(out: out.pointer, lse: lse.pointer, qkv: qkv.pointer, B: B, T: T, C: C, NH: NH, scratch: Scratch())
                Attention.backward(dqkv: dqkv.pointer, dout: dout.pointer, qkv: qkv.pointer, lse: lse.pointer, B: B, T: T, C: C, NH: NH,
                                   scratch: Scratch())
                return [out.array, lse.array, dqkv.array]
            }
        }
        let saved = Parallel.threads
        let one = run(1)
        // Repeated: a race between workers only shows when their work happens to overlap.
        for rep in 0..<10 {
            let two = run(2)
            let differs = (0..<3).contains { k in zip(one[k], two[k]).contains { $0.bitPattern != $1.bitPattern } }
            if differs {
                for (k, name) in ["out", "att", "dqkv"].enumerated() { assertBitIdentical(one[k], two[k], "Attention \(name) (repeat \(rep))") }
                break
            }
        }
        XCTAssertEqual(Parallel.threads, saved, "setting restored")
    }

    func testTokenLogProbsBitIdenticalAcrossThreadCounts() {
        var rng = TestRNG(503)
        let N = 12, C = 8, V = 19, n = TokenLogProbs.chunk(V: V) + 40
        let hidden = rng.normalBuffer(N * C), wte = rng.normalBuffer(V * C)
        let rows = (0..<n).map { _ in Int32(rng.int(N)) }, targets = (0..<n).map { _ in Int32(rng.int(V)) }
        let a = rng.buffer(n), b = rng.buffer(n)
        func run(_ threads: Int) -> [[Float]] {
            withParallelThreads(threads) {
                let logp = FloatBuffer(count: n), ent = FloatBuffer(count: n)
                let dh = FloatBuffer(count: N * C), dw = FloatBuffer(count: V * C)
                TokenLogProbs.run(hidden: hidden.pointer, rows: rows, targets: targets, n: n, wte: wte.pointer, V: V, C: C,
                                  temperature: 0.8, logp: logp.pointer, entropy: ent.pointer, dlogp: a.pointer, dentropy: b.pointer,
                                  dhidden: dh.pointer, dwte: dw.pointer, scratch: Scratch())
                return [logp.array, ent.array, dh.array, dw.array]
            }
        }
        let one = run(1), two = run(2)
        for (k, name) in ["logp", "entropy", "dhidden", "dwte"].enumerated() { assertBitIdentical(one[k], two[k], "TokenLogProbs \(name)") }
    }

    /// Split products compute every element of C in one OpenBLAS call over the whole k: the same
    /// bits on one worker and on two, for each orientation and a shape whose split is uneven.
    func testSgemmBitIdenticalAcrossThreadCounts() {
        var rng = TestRNG(504)
        for (m, n, k) in [(200, 150, 96), (37, 300, 129), (640, 40, 64)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = rng.normalBuffer(m * k), b = rng.normalBuffer(k * n), c0 = rng.normalBuffer(m * n)
                func run(_ threads: Int) -> [Float] {
                    withParallelThreads(threads) {
                        let c = FloatBuffer(c0.array)
                        BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.7, a: a.pointer, lda: ta ? m : k,
                                   b: b.pointer, ldb: tb ? k : n, beta: 1, c: c.pointer, ldc: n)
                        return c.array
                    }
                }
                assertBitIdentical(run(1), run(2), "sgemm \(m)x\(n)x\(k) transA \(ta) transB \(tb)")
            }
        }
    }
}

/// The check debug builds run on every BLAS operand: an operand must end inside its buffer.
final class BLASOperandCheckTests: XCTestCase {
    func testOperandsThatRunPastTheirBufferAreFound() {
        let b = FloatBuffer(count: 100)
        // 10 rows of 8 columns with leading dimension 10 read 9·10 + 8 = 98 floats: they fit.
        XCTAssertNil(BLAS.operandProblem("sgemm", "A", b.pointer, rows: 10, cols: 8, ld: 10))
        // From element 5 on, 98 floats do not.
        XCTAssertEqual(BLAS.operandProblem("sgemm", "A", b.pointer + 5, rows: 10, cols: 8, ld: 10),
                       "BLAS.sgemm: operand A (10×8, leading dimension 10) reads 98 floats, its buffer holds 95 from there")
        XCTAssertEqual(BLAS.operandProblem("sgemv", "x", b.pointer, rows: 3, cols: 4, ld: 2),
                       "BLAS.sgemv: operand x has leading dimension 2 < its 4 columns")
        // Memory that is not a FloatBuffer cannot be checked.
        let other = UnsafeMutablePointer<Float>.allocate(capacity: 4)
        defer { other.deallocate() }
        XCTAssertNil(BLAS.operandProblem("sgemm", "B", other, rows: 100, cols: 100, ld: 100))
    }
}
