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

// MARK: - Hugging Face fixtures

/// The files of Fixtures/hf (written by scripts/make_hf_tokenizer_fixtures.py) and their expectations.
enum HFFixtures {
    static let directory: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("hf")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    struct Case {
        var text: String
        var tokenizers: [Int32]
        var tokenizersLegacyMerges: [Int32]
        var autoJSON: [Int32]
        var autoPair: [Int32]
        var autoSplit: [Int32]
        var decoded: String
        var decodedSkipSpecial: String
        var ownTokenizers: [Int32]
        var ownAuto: [Int32]
    }

    static let expected: [String: Any] = {
        let data = try! Data(contentsOf: url("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static let cases: [Case] = (expected["cases"] as! [[String: Any]]).map { c in
        func ids(_ key: String) -> [Int32] { (c[key] as! [Int]).map { Int32($0) } }
        return Case(text: c["text"] as! String, tokenizers: ids("tokenizers"), tokenizersLegacyMerges: ids("tokenizers_legacy_merges"),
                    autoJSON: ids("auto_json"), autoPair: ids("auto_pair"), autoSplit: ids("auto_split"),
                    decoded: c["decoded"] as! String, decodedSkipSpecial: c["decoded_skip_special"] as! String,
                    ownTokenizers: ids("own_tokenizers"), ownAuto: ids("own_auto"))
    }

    static let pretokenized: [(text: String, chunks: [String])] = (expected["pretokenize"] as! [[String: Any]]).map {
        ($0["text"] as! String, $0["chunks"] as! [String])
    }

    /// The fixture's merges in the project's own layout.
    static let ownMerges: [(left: Int32, right: Int32)] = {
        let pairs = try! JSONSerialization.jsonObject(with: Data(contentsOf: url("own_merges.json"))) as! [[Int]]
        return pairs.map { (Int32($0[0]), Int32($0[1])) }
    }()

    /// A fresh temporary directory holding copies of fixture files (`target name: fixture name`)
    /// and files given as text (`target name: contents`).
    static func directory(copying files: [String: String] = [:], writing texts: [String: String] = [:]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hf-fixture-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (target, source) in files {
            try FileManager.default.copyItem(at: url(source), to: dir.appendingPathComponent(target))
        }
        for (target, text) in texts {
            try Data(text.utf8).write(to: dir.appendingPathComponent(target))
        }
        return dir
    }
}

/// The error message of a throwing tokenizer call, or a note that it did not throw as expected.
func tokenizerError(_ body: () throws -> Any) -> String {
    do {
        _ = try body()
        return "no error"
    } catch let error as TokenizerError {
        return error.description
    } catch {
        return "unexpected error type: \(error)"
    }
}
