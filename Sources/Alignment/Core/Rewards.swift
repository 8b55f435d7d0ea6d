import Engine
import GPT

/// Anything that scores responses to prompts (token ids): a trained reward model, the gold judge
/// of the built-in task, or a programmatic function in tests.
public protocol RewardFunction: AnyObject {
    /// One score per (prompt, response) pair. Responses are as generated (EOS included when produced).
    func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float]
    var name: String { get }
}

/// A frozen GPT with a scalar head read at the last real token of prompt + response
/// (Stiennon et al.), plus an additive bias set by reward normalization.
public final class RewardModelScorer: RewardFunction {
    public let model: GPT
    public var bias: Float
    public let name: String
    /// Sized by the longest batch scored so far (not by the model's context: a GPT-2 of 1,024
    /// positions would hold activations for 32 × 1,024 tokens to score summaries of a few hundred).
    var ws: GPTWorkspace?
    let pad: Int32
    let maxBatch: Int

    public init(model: GPT, bias: Float = 0, pad: Int32, maxBatch: Int = 16, name: String = "reward_model") {
        precondition(model.config.scalarHead, "a reward model needs a scalar head")
        self.model = model
        self.bias = bias
        self.pad = pad
        self.maxBatch = maxBatch
        self.name = name
    }

    public func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float] {
        precondition(prompts.count == responses.count)
        var out: [Float] = []
        out.reserveCapacity(prompts.count)
        var i = 0
        while i < prompts.count {
            let j = min(prompts.count, i + maxBatch)
            let ex = (i..<j).map { k -> SequenceExample in
                truncate(SequenceExample(prompt: prompts[k], completion: responses[k]), maxLength: model.config.context, maxCompletion: model.config.context - 1)
            }
            out += rawScores(TokenBatch(ex, pad: pad)).map { $0 + bias }
            i = j
        }
        return out
    }

    /// Head output at the last real token of each sequence of the batch (no bias).
    public func rawScores(_ batch: TokenBatch) -> [Float] {
        if ws == nil || ws!.maxT < batch.T || ws!.maxB < batch.B {
            ws = nil        // freed before the larger one is allocated
            ws = GPTWorkspace(config: model.config, maxB: max(maxBatch, batch.B), maxT: batch.T)
        }
        let ws = ws!
        batch.tokens.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: batch.B, T: batch.T, ws: ws) }
        var values = [Float](repeating: 0, count: batch.B * batch.T)
        model.scalarHead(ws: ws, out: &values)
        return (0..<batch.B).map { values[$0 * batch.T + batch.lengths[$0] - 1] }
    }
}
