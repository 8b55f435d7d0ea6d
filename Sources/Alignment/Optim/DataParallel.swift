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

    /// The concatenation, in rank order, of every process's `items` (values of a fixed size: Int32,
    /// Float, Double, Bool...), sent as their bytes: exact, whatever the values (NaN, −0, ±∞).
    public func allGather<T: BitwiseCopyable>(_ items: [T]) -> [T] {
        guard size > 1 else { return items }
        let bytes = items.withUnsafeBytes { [UInt8]($0) }
        var out: [T] = []
        for part in allGather(bytes: bytes) {
            precondition(part.count % MemoryLayout<T>.stride == 0, "allGather: \(part.count) bytes for values of \(MemoryLayout<T>.stride)")
            let k = part.count / MemoryLayout<T>.stride
            out += [T](unsafeUninitializedCapacity: k) { buffer, initialized in
                part.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
                initialized = k
            }
        }
        return out
    }

    /// The concatenation, in rank order, of every process's token sequences (sent as their lengths
    /// and their tokens).
    public func allGather(_ sequences: [[Int32]]) -> [[Int32]] {
        guard size > 1 else { return sequences }
        let lengths = allGather(sequences.map { Int32($0.count) })
        let tokens = allGather(sequences.flatMap { $0 })
        var out: [[Int32]] = []
        out.reserveCapacity(lengths.count)
        var at = 0
        for n in lengths {
            out.append(Array(tokens[at..<(at + Int(n))]))
            at += Int(n)
        }
        precondition(at == tokens.count, "allGather: \(tokens.count) tokens for sequences of \(at)")
        return out
    }

    /// The n values of a global list of which process r holds those of `share(n)`: every process
    /// gets all of them, in order.
    public func gather(_ values: [Double], total n: Int) -> [Double] {
        guard size > 1 else { return values }
        precondition(values.count == share(n).count, "gather: \(values.count) values for a share of \(share(n).count)")
        return allGather(values)
    }

    /// The n token sequences of a global list of which process r holds those of `share(n)`: every
    /// process gets all of them, in order.
    public func gather(_ sequences: [[Int32]], total n: Int) -> [[Int32]] {
        guard size > 1 else { return sequences }
        precondition(sequences.count == share(n).count, "gather: \(sequences.count) sequences for a share of \(share(n).count)")
        return allGather(sequences)
    }

    /// Float arrays of which each element was written by one process (its slots): every process
    /// gets every written element, and 0 where no process wrote. `slots` are the indices this
    /// process wrote; the others' copies are overwritten.
    public func gather(_ arrays: inout [[Float]], slots: [Int], count n: Int) {
        guard size > 1 else { return }
        let at = allGather(slots.map(Int32.init))
        for a in arrays.indices {
            let values = allGather(slots.map { arrays[a][$0] })
            var whole = [Float](repeating: 0, count: n)
            for (i, v) in zip(at, values) { whole[Int(i)] = v }
            arrays[a] = whole
        }
    }

    /// The largest of every process's `x`.
    public func maximum(_ x: Double) -> Double {
        guard size > 1 else { return x }
        return allGather([x]).max()!
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
