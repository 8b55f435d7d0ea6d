import Engine
import GPT

// MARK: - Random streams

/// The random streams of an online method, all derived from (seed, iteration, ...) and named by the
/// method (`"ppo"`, `"grpo"`, ...): a run restored from a checkpoint draws exactly what the
/// uninterrupted run draws, and two methods with the same seed do not share streams.
public struct OnlineStreams: Sendable {
    public let seed: UInt64
    public let method: String
    public init(seed: UInt64, method: String) {
        self.seed = seed
        self.method = method
    }

    /// Sampling stream of sequence `index` of rollout `iteration`.
    public func sampling(iteration: Int, index: Int) -> RNG {
        RNG(seed: seed).split("\(method)-rollout", iteration).split("sequence", index)
    }

    /// The order of the prompt list in epoch `epoch`.
    public func promptOrder(epoch: Int) -> RNG { RNG(seed: seed).split("\(method)-prompts").split("epoch", epoch) }

    /// The order of a rollout's sequences in optimisation epoch `epoch` of `iteration`.
    public func minibatchOrder(iteration: Int, epoch: Int) -> RNG {
        RNG(seed: seed).split("\(method)-minibatches", iteration).split("epoch", epoch)
    }

    /// A stream for anything else of `iteration` (a judge's draws), named by `purpose`.
    public func stream(_ purpose: String, iteration: Int) -> RNG { RNG(seed: seed).split("\(method)-\(purpose)", iteration) }
}

// MARK: - Prompts

/// The prompts of each iteration: epochs over the prompt list, each in a fresh order drawn from
/// (seed, epoch), so the batch of an iteration is a pure function of the iteration. Prompts keep
/// their last `room` tokens (context − response length).
public final class PromptEpochs {
    public let prompts: [[Int32]]
    public let batchSize: Int
    let streams: OnlineStreams
    var cache: (epoch: Int, perm: [Int]) = (-1, [])

    public init(_ prompts: [[Int32]], batchSize: Int, room: Int, streams: OnlineStreams) {
        precondition(!prompts.isEmpty, "an online method needs at least one prompt")
        precondition(room >= 1, "no room for a prompt beside the response")
        self.prompts = prompts.map { p in
            precondition(!p.isEmpty, "empty prompt")
            return p.count > room ? Array(p.suffix(room)) : p
        }
        self.batchSize = batchSize
        self.streams = streams
    }

    /// Tokens of the longest prompt (after truncation).
    public var longest: Int { prompts.map(\.count).max() ?? 1 }

    /// The `batchSize` prompts of iteration `iteration`.
    public func batch(iteration: Int) -> [[Int32]] {
        let n = prompts.count, B = batchSize
        return (0..<B).map { j in
            let k = iteration * B + j
            let epoch = k / n
            if epoch != cache.epoch {
                var perm = Array(0..<n)
                var r = streams.promptOrder(epoch: epoch)
                r.shuffle(&perm)
                cache = (epoch, perm)
            }
            return prompts[cache.perm[k % n]]
        }
    }
}

// MARK: - Sampling

extension Generator {
    /// Samples a response to each prompt at `temperature`, at most `maxNewTokens` tokens, stopping
    /// after `stopToken`; response `i` draws from `stream(i)` alone, so it does not depend on the
    /// other prompts of the batch or on how the batch is cut.
    func sampleResponses(_ prompts: [[Int32]], temperature: Float, maxNewTokens: Int, stopToken: Int32?,
                         stream: (Int) -> RNG) -> [GeneratedSequence] {
        var rngs = (0..<prompts.count).map(stream)
        let options = SamplingOptions(temperature: temperature, maxNewTokens: maxNewTokens, eosId: stopToken)
        return generate(prompts: prompts, options: options, rngs: &rngs)
    }
}

// MARK: - Minibatches

/// How a rollout is cut for optimisation: an order of its sequences, cut into minibatches (one
/// optimizer step each), each cut into microbatches (one forward/backward each).
public enum Minibatches {
    public static func split(_ order: [Int], miniBatchSize: Int, microBatchSize: Int) -> [[[Int]]] {
        precondition(miniBatchSize >= 1 && microBatchSize >= 1)
        return stride(from: 0, to: order.count, by: miniBatchSize).map { m in
            let mini = Array(order[m..<min(order.count, m + miniBatchSize)])
            return stride(from: 0, to: mini.count, by: microBatchSize).map { Array(mini[$0..<min(mini.count, $0 + microBatchSize)]) }
        }
    }
}
