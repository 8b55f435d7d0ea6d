import Foundation
import Tokenizer

/// Small deterministic generator (SplitMix64) so that test data is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Fixtures {
    static let words = [
        "the", "model", "reward", "policy", "preference", "token", "learning", "human", "feedback",
        "gradient", "optimizer", "chosen", "rejected", "sample", "batch", "value", "loss", "step",
        "a", "of", "and", "to", "in", "is", "it's", "don't", "we'll", "they're",
        "日本語", "テキスト", "café", "naïve", "🎉", "42", "2024", "3.14",
    ]

    /// A few hundred deterministic English-like sentences with some non-ASCII mixed in.
    static func corpus(sentences: Int = 300, seed: UInt64 = 7) -> [String] {
        var rng = SeededGenerator(seed: seed)
        var out: [String] = []
        for _ in 0..<sentences {
            let length = Int.random(in: 4...14, using: &rng)
            var sentence = (0..<length).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ")
            sentence = sentence.prefix(1).uppercased() + sentence.dropFirst()
            sentence += [".", "!", "?", ",\n", ".\n\n"].randomElement(using: &rng)!
            out.append(sentence)
        }
        return out
    }

    static func randomBytes(count: Int, using rng: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func trained(vocabSize: Int = 400) -> BPETokenizer {
        BPETokenizer.train(corpus: corpus(), vocabSize: vocabSize)
    }
}

/// Reference BPE written as plainly as possible: per pre-tokenized chunk, merge the lowest-rank
/// adjacent pair (leftmost on ties) until no pair is a merge.
func referenceEncode(_ text: String, tokenizer: BPETokenizer) -> [Int32] {
    var ranks: [String: Int] = [:]
    for (rank, merge) in tokenizer.merges.enumerated() {
        ranks["\(merge.left),\(merge.right)"] = rank
    }
    var out: [Int32] = []
    for chunk in BPETokenizer.preTokenize(text) {
        var symbols = chunk.utf8.map { Int32($0) }
        while symbols.count > 1 {
            var best: (rank: Int, at: Int)? = nil
            for i in 0..<(symbols.count - 1) {
                if let rank = ranks["\(symbols[i]),\(symbols[i + 1])"], rank < (best?.rank ?? Int.max) {
                    best = (rank, i)
                }
            }
            guard let (rank, at) = best else { break }
            symbols[at] = Int32(256 + rank)
            symbols.remove(at: at + 1)
        }
        out += symbols
    }
    return out
}
