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
            out += sharedPromptScores(ex).map { $0 + bias }
            i = j
        }
        return out
    }

    /// Raw scores of `examples`; consecutive ones with the same prompt (a group's completions,
    /// best-of-N's samples) share one row behind one copy of it (`SharedPrefixRows`), each scored
    /// at its own last token as alone up to rounding. Without such runs, plain rows.
    func sharedPromptScores(_ examples: [SequenceExample]) -> [Float] {
        var runs: [[Int]] = []
        for (k, e) in examples.enumerated() {
            if let last = runs.last?.last, examples[last].prompt == e.prompt, !e.prompt.isEmpty { runs[runs.count - 1].append(k) } else { runs.append([k]) }
        }
        if runs.count == examples.count { return rawScores(TokenBatch(examples, pad: pad)) }
        let packed = SharedPrefixRows(groups: runs.map { r in
            (sequences: r.map { examples[$0].prompt + examples[$0].completion }, prefix: examples[r[0]].prompt.count)
        }, pad: pad)
        let values = headValues(packed.tokens, B: packed.B, T: packed.T, branches: packed.branches, longest: examples.map(\.count).max()!)
        var scores = [Float](repeating: 0, count: examples.count)
        for (i, r) in runs.enumerated() {
            for (k, e) in r.enumerated() { scores[e] = values[packed.position(i, k, examples[e].count - 1)] }
        }
        return scores
    }

    /// The head's output at every position of (B, T) rows of `tokens`.
    func headValues(_ tokens: [Int32], B: Int, T: Int, branches: [PrefixBranch]? = nil, longest: Int) -> [Float] {
        let ws = workspace(B: B, T: T, longest: longest)
        tokens.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: B, T: T, ws: ws, branches: branches) }
        var values = [Float](repeating: 0, count: B * T)
        model.scalarHead(ws: ws, out: &values)
        return values
    }

    /// The workspace, grown to hold B rows of T tokens whose sequences are at most `longest` long
    /// (the old one freed before the larger is allocated). It is sized as `maxBatch` rows of the
    /// longest sequence: shared-prompt rows, fewer and longer, hold fewer tokens than that.
    func workspace(B: Int, T: Int, longest: Int) -> GPTWorkspace {
        if ws == nil || ws!.capacity < B * T {
            ws = nil
            let rows = max(maxBatch, B)
            ws = GPTWorkspace(config: model.config, maxB: rows, maxT: max(longest, (B * T + rows - 1) / rows))
        }
        return ws!
    }

    /// Head output at the last real token of each sequence of the batch (no bias).
    public func rawScores(_ batch: TokenBatch) -> [Float] {
        let values = headValues(batch.tokens, B: batch.B, T: batch.T, longest: batch.T)
        return (0..<batch.B).map { values[$0 * batch.T + batch.lengths[$0] - 1] }
    }
}
