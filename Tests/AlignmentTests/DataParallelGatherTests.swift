import Engine
import Foundation
import XCTest
@testable import Alignment

/// The gathers of `GradientReducer` that data-parallel stages use, through their sum-based default
/// implementation, with two processes played by two threads of this process (`ThreadJob`); the
/// MPI implementation of the same calls runs under mpirun in ExperimentsTests/DataParallelTests.
final class DataParallelGatherTests: XCTestCase {
    func testAllGatherConcatenatesInRankOrder() {
        let out = ThreadJob.run { r in
            (r.allGather(bytes: r.rank == 0 ? [1, 2, 3] : []),
             r.allGather(r.rank == 0 ? [Float(-0.0), .infinity] : [.nan, 1.5, -2]),
             r.allGather(r.rank == 0 ? [[Int32]]([[7], [], [1, 2, 3]]) : [[4, 5]]),
             r.maximum(r.rank == 0 ? -3 : -4))
        }
        for (bytes, floats, sequences, maximum) in out {
            XCTAssertEqual(bytes, [[1, 2, 3], []])
            // Bit for bit: −0 keeps its sign, NaN and ∞ pass.
            XCTAssertEqual(floats.map(\.bitPattern), [Float(-0.0), .infinity, .nan, 1.5, -2].map(\.bitPattern))
            XCTAssertEqual(sequences, [[7], [], [1, 2, 3], [4, 5]])
            XCTAssertEqual(maximum, -3)
        }
    }

    /// PPO's and the group methods' per-token arrays: each process writes its slots, every process
    /// gets every written slot and 0 where nobody wrote.
    func testSlotGatherTakesEachSlotFromItsWriter() {
        let out = ThreadJob.run { r -> [[Float]] in
            var arrays: [[Float]] = [[9, 9, 9, 9, 9], [8, 8, 8, 8, 8]]
            let slots = r.rank == 0 ? [3, 0] : [1]
            for s in slots { arrays[0][s] = Float(10 * r.rank + s); arrays[1][s] = -Float(s) }
            r.gather(&arrays, slots: slots, count: 5)
            return arrays
        }
        for arrays in out { XCTAssertEqual(arrays, [[0, 11, 0, 3, 0], [-0, -1, 0, -3, 0]]) }
    }
}

final class Results<T> { var values: [T?] = [nil, nil] }

/// Two threads as the two processes of a job: `sum` adds the values both threads pass in the same
/// (n-th) call, in rank order, as an allreduce does.
final class ThreadJob {
    let condition = NSCondition()
    var rounds: [Int: (values: [[Double]?], read: Int)] = [:]

    final class Rank: GradientReducer {
        let job: ThreadJob
        let rank: Int
        var size: Int { 2 }
        var calls = 0
        init(job: ThreadJob, rank: Int) { self.job = job; self.rank = rank }
        func sum(_ values: inout [Double]) { values = job.exchange(rank: rank, round: calls, values); calls += 1 }
        func sum(_ buffer: FloatBuffer) { preconditionFailure("not used here") }
    }

    func exchange(rank: Int, round: Int, _ values: [Double]) -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        var entry = rounds[round] ?? (values: [nil, nil], read: 0)
        entry.values[rank] = values
        rounds[round] = entry
        condition.broadcast()
        while rounds[round]!.values.contains(where: { $0 == nil }) { condition.wait() }
        let both = rounds[round]!.values.map { $0! }
        precondition(both[0].count == both[1].count, "the two processes summed arrays of different lengths")
        rounds[round]!.read += 1
        if rounds[round]!.read == 2 { rounds[round] = nil }
        return zip(both[0], both[1]).map { $0 + $1 }
    }

    /// Runs `body` as rank 0 and rank 1 on two threads; returns their results in rank order.
    static func run<T>(_ body: @escaping (Rank) -> T) -> [T] {
        let job = ThreadJob()
        let done = DispatchGroup()
        let results = Results<T>(), lock = NSLock()
        for rank in 0..<2 {
            done.enter()
            Thread {
                let value = body(Rank(job: job, rank: rank))
                lock.lock(); results.values[rank] = value; lock.unlock()
                done.leave()
            }.start()
        }
        done.wait()
        return results.values.map { $0! }
    }
}
