import Engine
import GPT

/// A prompt and a completion as token ids. The completion carries its EOS when the text ended.
public struct SequenceExample: Codable, Equatable, Sendable {
    public var prompt: [Int32]
    public var completion: [Int32]
    public init(prompt: [Int32], completion: [Int32]) {
        self.prompt = prompt
        self.completion = completion
    }
    public var count: Int { prompt.count + completion.count }
}

/// The explicit truncation rule used everywhere a prompt + completion must fit `maxLength`:
/// 1. the completion keeps at most `maxCompletion` tokens (cut at the end; a cut completion
///    loses its EOS, so the model never learns to stop where the text did not);
/// 2. then the prompt keeps its LAST tokens ("keep_end", as TRL: the instruction sits at the end
///    of a TL;DR query), never fewer than one.
public func truncate(_ e: SequenceExample, maxLength: Int, maxCompletion: Int) -> SequenceExample {
    var c = e.completion
    if c.count > maxCompletion { c.removeLast(c.count - maxCompletion) }
    let room = max(1, maxLength - c.count)
    var p = e.prompt
    if p.count > room { p.removeFirst(p.count - room) }
    if p.count + c.count > maxLength { c.removeLast(p.count + c.count - maxLength) }
    return SequenceExample(prompt: p, completion: c)
}

/// A right-padded batch of prompt+completion sequences and the rows of the LM head that predict
/// each completion token: position t−1 predicts token t.
public struct TokenBatch {
    public let B: Int
    public let T: Int
    public var tokens: [Int32]
    public let promptLengths: [Int]
    public let lengths: [Int]
    /// Flat (b·T + t−1) rows predicting completion tokens, in order, and the tokens they predict.
    public let rows: [Int32]
    public let targets: [Int32]
    /// rowStart[b]..<rowStart[b+1] are sequence b's entries of `rows`/`targets`.
    public let rowStart: [Int]

    /// A batch laid out by the caller (e.g. shared-prompt preference pairs).
    init(B: Int, T: Int, tokens: [Int32], promptLengths: [Int], lengths: [Int], rows: [Int32], targets: [Int32], rowStart: [Int]) {
        self.B = B
        self.T = T
        self.tokens = tokens
        self.promptLengths = promptLengths
        self.lengths = lengths
        self.rows = rows
        self.targets = targets
        self.rowStart = rowStart
    }

    /// `allTokens`: predict every token after the first (causal LM); else completion tokens only.
    public init(_ examples: [SequenceExample], pad: Int32, allTokens: Bool = false, fixedT: Int? = nil) {
        B = examples.count
        let maxLen = examples.map(\.count).max() ?? 1
        T = max(fixedT ?? maxLen, 1)
        precondition(maxLen <= T, "sequence of \(maxLen) tokens does not fit T = \(T)")
        var tokens = [Int32](repeating: pad, count: B * T)
        var rows: [Int32] = [], targets: [Int32] = [], rowStart = [0]
        for (b, e) in examples.enumerated() {
            let seq = e.prompt + e.completion
            for (t, tok) in seq.enumerated() { tokens[b * T + t] = tok }
            let first = allTokens ? 1 : max(1, e.prompt.count)
            if seq.count > first {
                for t in first..<seq.count {
                    rows.append(Int32(b * T + t - 1))
                    targets.append(seq[t])
                }
            }
            rowStart.append(rows.count)
        }
        self.tokens = tokens
        promptLengths = examples.map(\.prompt.count)
        lengths = examples.map(\.count)
        self.rows = rows
        self.targets = targets
        self.rowStart = rowStart
    }
}

extension GPT {
    /// Forward over a batch and the log-prob of every predicted token (row order of the batch).
    public func batchLogProbs(_ batch: TokenBatch, ws: GPTWorkspace, temperature: Float = 1, entropy: UnsafeMutablePointer<Float>? = nil) -> [Float] {
        batch.tokens.withUnsafeBufferPointer { forward(tokens: $0.baseAddress!, B: batch.B, T: batch.T, ws: ws) }
        var logp = [Float](repeating: 0, count: batch.rows.count)
        tokenLogProbs(ws: ws, rows: batch.rows, targets: batch.targets, temperature: temperature, logp: &logp, entropy: entropy)
        return logp
    }
}

// MARK: - Several sequences per row over a shared prefix

/// Groups of token sequences whose first `prefix` tokens are the same, one row per group:
/// [prefix | rest of sequence 1 | rest of sequence 2 | …], each rest masked from the ones before
/// it and placed at the positions it has after the prefix (`PrefixBranch`), so the prefix goes
/// through the model once and each sequence gets the values it gets alone. Used by DPO (pairs,
/// prefix: the prompt), reward-model training (pairs, prefix: everything the two share), reward
/// scoring and the rollouts of GRPO and RLOO (a group's completions, prefix: their prompt).
struct SharedPrefixRows {
    let B: Int, T: Int
    let tokens: [Int32]
    let branches: [PrefixBranch]
    /// Per row: the prefix length, and where in the row each sequence's rest starts.
    let prefixes: [Int], offsets: [[Int]]

    /// `groups[i].prefix` ≤ the length of each of its sequences, tokens they all share; T is at
    /// least `minT`.
    init(groups: [(sequences: [[Int32]], prefix: Int)], pad: Int32, minT: Int = 1) {
        B = groups.count
        T = max(minT, 1, groups.map { Self.packedLength($0.sequences, prefix: $0.prefix) }.max() ?? 1)
        var tokens = [Int32](repeating: pad, count: B * T)
        var branches: [PrefixBranch] = [], offsets: [[Int]] = []
        for (i, g) in groups.enumerated() {
            precondition(!g.sequences.isEmpty, "a row holds at least one sequence")
            let first = g.sequences[0], P = g.prefix
            tokens.replaceSubrange((i * T)..<(i * T + P), with: first[..<P])
            var at = P, starts: [Int] = []
            for seq in g.sequences {
                precondition(P <= seq.count && seq[..<P] == first[..<P], "the prefix must be shared")
                starts.append(at)
                tokens.replaceSubrange((i * T + at)..<(i * T + at + seq.count - P), with: seq[P...])
                at += seq.count - P
            }
            offsets.append(starts)
            // The first rest needs no mask. A lone sequence is an ordinary row: only the padding
            // after it (from `at`, a fake continuation) masks anything (T itself may be past the
            // context in a batch of longer shared rows, so it cannot mark the end).
            branches.append(PrefixBranch(prefix: P, starts: starts.count > 1 ? Array(starts.dropFirst()) : [at]))
        }
        self.tokens = tokens
        self.branches = branches
        self.offsets = offsets
        prefixes = groups.map(\.prefix)
    }

    /// Pairs (a, b) sharing their first `prefix` tokens, one row each.
    init(_ pairs: [(a: [Int32], b: [Int32], prefix: Int)], pad: Int32, minT: Int = 1) {
        self.init(groups: pairs.map { (sequences: [$0.a, $0.b], prefix: $0.prefix) }, pad: pad, minT: minT)
    }

    static func packedLength(_ a: [Int32], _ b: [Int32], prefix: Int) -> Int { a.count + b.count - prefix }
    static func packedLength(_ sequences: [[Int32]], prefix: Int) -> Int { prefix + sequences.reduce(0) { $0 + $1.count - prefix } }

    /// The number of leading tokens a and b have in common.
    static func commonPrefix(_ a: [Int32], _ b: [Int32]) -> Int {
        var k = 0
        while k < min(a.count, b.count) && a[k] == b[k] { k += 1 }
        return k
    }

    /// Flat row (i·T + ·) holding token t of sequence k of row i.
    func position(_ i: Int, _ k: Int, _ t: Int) -> Int { t < prefixes[i] ? i * T + t : i * T + offsets[i][k] + (t - prefixes[i]) }

    /// Flat row (i·T + ·) holding token t of sequence a / b of pair i.
    func rowA(_ i: Int, _ t: Int) -> Int { position(i, 0, t) }
    func rowB(_ i: Int, _ t: Int) -> Int { position(i, 1, t) }
}
