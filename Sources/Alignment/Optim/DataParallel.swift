import Engine

/// The processes of a data-parallel job, as the trainers see them: the reducer every trainer takes
/// by default (`rlhf` sets it once at start when a launcher started the process; a process that
/// runs alone keeps `LocalReducer`), and how a global batch is shared among the processes.
///
/// Every process holds the whole model and computes its share of every batch; the batch sizes of
/// a config are global, so N processes walk the same data in the same order as one process, and
/// the counts of `OptimizerStep` (tokens, pairs) are global, so the loss is the same mean.
public enum DataParallel {
    /// The reducer of this process's job (`LocalReducer.shared` unless a launcher started it).
    nonisolated(unsafe) public static var reducer: GradientReducer = LocalReducer.shared
    /// Whether a launcher (mpirun, srun) started this process, even as a job of one process.
    nonisolated(unsafe) public static var launched = false
    /// Processes of the job on this host, each holding its own copy of the models (the memory check).
    nonisolated(unsafe) public static var ranksOnHost = 1
}

extension GradientReducer {
    /// Indices of this process's share of a global batch of `n` items: a contiguous slice, in rank
    /// order (ranks before the last get ⌊n/size⌋ or one more), so that the concatenation of the
    /// shares in rank order is the batch.
    public func share(_ n: Int) -> Range<Int> {
        (rank * n / size)..<((rank + 1) * n / size)
    }

    /// This process's share of `items` (see `share(_:)`).
    public func share<T>(_ items: [T]) -> [T] {
        size == 1 ? items : Array(items[share(items.count)])
    }

    /// The concatenation, in rank order, of every process's `values` where process r holds the
    /// share `share(n)` of n values: sums of zero-padded copies (adding zeros is exact).
    public func gather(_ values: [Double], total n: Int) -> [Double] {
        guard size > 1 else { return values }
        let mine = share(n)
        precondition(values.count == mine.count, "gather: \(values.count) values for a share of \(mine.count)")
        return gather(values, at: mine.lowerBound, total: n)
    }

    /// n values, of which this process holds `values` from index `offset` on and the others the
    /// rest (no index held twice): sums of zero-padded copies.
    public func gather(_ values: [Double], at offset: Int, total n: Int) -> [Double] {
        guard size > 1 else { return values }
        var all = [Double](repeating: 0, count: n)
        for (k, v) in values.enumerated() { all[offset + k] = v }
        sum(&all)
        return all
    }

    /// The token sequences of every process where process r holds those of `share(n)`, each at
    /// most `maxLength` tokens (sent as a length and the tokens, in Doubles: exact).
    public func gather(_ sequences: [[Int32]], total n: Int, maxLength: Int) -> [[Int32]] {
        guard size > 1 else { return sequences }
        let mine = share(n), w = maxLength + 1
        precondition(sequences.count == mine.count, "gather: \(sequences.count) sequences for a share of \(mine.count)")
        var flat = [Double](repeating: 0, count: mine.count * w)
        for (k, s) in sequences.enumerated() {
            precondition(s.count <= maxLength, "gather: a sequence of \(s.count) tokens, longer than \(maxLength)")
            flat[k * w] = Double(s.count)
            for (j, t) in s.enumerated() { flat[k * w + 1 + j] = Double(t) }
        }
        let all = gather(flat, at: mine.lowerBound * w, total: n * w)
        return (0..<n).map { k in (0..<Int(all[k * w])).map { Int32(all[k * w + 1 + $0]) } }
    }

    /// Float arrays of which each element was written by one process (its slots) and is zero in
    /// the others: every process gets all of them (x + 0 is exact). `slots` are the indices this
    /// process wrote; the others' copies are overwritten.
    public func gather(_ arrays: inout [[Float]], slots: [Int], count n: Int) {
        guard size > 1 else { return }
        var flat = [Double](repeating: 0, count: arrays.count * n)
        for (a, x) in arrays.enumerated() { for i in slots { flat[a * n + i] = Double(x[i]) } }
        sum(&flat)
        for a in arrays.indices { for i in 0..<n { arrays[a][i] = Float(flat[a * n + i]) } }
    }

    /// Whether `flag` holds in any process (a decision every process must take together, such as
    /// stopping after a signal).
    public func any(_ flag: Bool) -> Bool {
        guard size > 1 else { return flag }
        var v = [flag ? 1.0 : 0.0]
        sum(&v)
        return v[0] > 0
    }
}
