import Engine

/// Where a trainer's examples come from. Batches are a pure function of (seed, step, micro), so
/// a resumed run sees exactly the batches the uninterrupted run would have seen.
public protocol BatchSource {
    func examples(step: Int, micro: Int) -> [SequenceExample]
}

/// Epochs over a fixed list, reshuffled each epoch from the data stream of the seed.
public struct ShuffledEpochs: BatchSource {
    public let items: [SequenceExample]
    public let batchSize: Int
    public let microPerStep: Int
    let rng: RNG

    public init(_ items: [SequenceExample], batchSize: Int, microPerStep: Int, seed: UInt64) {
        precondition(!items.isEmpty, "no examples")
        self.items = items
        self.batchSize = batchSize
        self.microPerStep = microPerStep
        rng = RNG(seed: seed).split("data")
    }

    func order(epoch: Int) -> [Int] {
        var idx = Array(items.indices)
        var r = rng.split("epoch", epoch)
        r.shuffle(&idx)
        return idx
    }

    public func examples(step: Int, micro: Int) -> [SequenceExample] {
        let start = (step * microPerStep + micro) * batchSize
        var out: [SequenceExample] = []
        var cachedEpoch = -1
        var perm: [Int] = []
        for k in start..<(start + batchSize) {
            let epoch = k / items.count
            if epoch != cachedEpoch { perm = order(epoch: epoch); cachedEpoch = epoch }
            out.append(items[perm[k % items.count]])
        }
        return out
    }
}

/// Random windows of `length + 1` tokens from a token stream (causal-LM pretraining).
public struct RandomWindows: BatchSource {
    public let stream: [Int32]
    public let length: Int
    public let batchSize: Int
    public let microPerStep: Int
    let rng: RNG

    public init(stream: [Int32], length: Int, batchSize: Int, microPerStep: Int, seed: UInt64) {
        precondition(stream.count > length + 1, "token stream of \(stream.count) tokens is shorter than one window")
        self.stream = stream
        self.length = length
        self.batchSize = batchSize
        self.microPerStep = microPerStep
        rng = RNG(seed: seed).split("windows")
    }

    public func examples(step: Int, micro: Int) -> [SequenceExample] {
        var r = rng.split("step", step * microPerStep + micro)
        return (0..<batchSize).map { _ in
            let s = r.int(stream.count - length)
            return SequenceExample(prompt: [], completion: Array(stream[s..<(s + length)]))
        }
    }
}
