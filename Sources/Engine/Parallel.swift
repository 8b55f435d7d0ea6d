import Foundation

/// Work splitting for kernels that are not BLAS calls. Reductions are cut into a number of chunks
/// that depends only on the problem size, never on the thread count (`forEachChunk`), and sum their
/// per-chunk partials in order; `forRange` and `forWorkers` split by threads, for work whose
/// items do not depend on the split. So every kernel gives the same bits on one core or many.
public enum Parallel {
    /// Number of worker threads used by `forEachChunk` (1 disables threading).
    nonisolated(unsafe) public static var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body(chunk, range)` for `chunks` contiguous pieces of `0..<n`.
    /// Chunk `c` always covers the same range for a given (n, chunks).
    public static func forEachChunk(_ n: Int, chunks requested: Int, _ body: (Int, Range<Int>) -> Void) {
        guard n > 0 else { return }
        let chunks = max(1, min(requested, n))
        let ranges = (0..<chunks).map { c in (c * n / chunks)..<((c + 1) * n / chunks) }
        if threads <= 1 || chunks == 1 {
            for c in 0..<chunks { body(c, ranges[c]) }
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { c in body(c, ranges[c]) }
        }
    }

    /// Runs `body(range)` over `0..<n` in pieces of at least `grain` items. The pieces follow the
    /// thread count (one piece on one thread), so `body` must give an item the same bits whatever
    /// piece it falls in: element-wise or row-wise work whose code for an item does not depend on
    /// where the piece ends (a vector loop's remainder runs the vector code, `GELU`).
    public static func forRange(_ n: Int, grain: Int = 1024, _ body: (Range<Int>) -> Void) {
        guard n > 0 else { return }
        let chunks = threads <= 1 ? 1 : min(max(1, n / max(grain, 1)), threads * 4)
        forEachChunk(n, chunks: chunks) { _, r in body(r) }
    }

    /// Runs `body(0) … body(n - 1)` at the same time on separate workers, every kernel inside them
    /// on its own worker's thread (`threads` reads 1 meanwhile), for work that is split by hand
    /// into independent parts. Serial when one thread is configured.
    public static func independentTasks(_ n: Int, _ body: (Int) -> Void) {
        let saved = threads
        if saved <= 1 || n <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        threads = 1
        defer { threads = saved }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: n) { body($0) }
        }
    }

    /// Runs `first` and `second`, two independent parts of one piece of work: side by side, as
    /// `independentTasks`, when `sideBySide` is set, else one after the other. The choice is the
    /// caller's, from the sizes of the work, so that the same parts run whatever the thread count.
    public static func both(sideBySide: Bool, _ first: () -> Void, _ second: () -> Void) {
        if sideBySide { independentTasks(2) { $0 == 0 ? first() : second() } } else { first(); second() }
    }

    /// Runs `body(worker, range)` with exactly `min(threads, n)` workers (worker index can
    /// address per-worker scratch). Results must not depend on how items are split.
    public static func forWorkers(_ n: Int, _ body: (Int, Range<Int>) -> Void) {
        forEachChunk(n, chunks: min(threads, n), body)
    }
}
