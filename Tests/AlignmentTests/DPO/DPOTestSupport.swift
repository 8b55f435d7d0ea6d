import Engine
import Foundation
import GPT
@testable import Alignment

/// Token ids of the toy preference task: 0 pad, 1 EOS, 2 SEP, 3 the "good" token, 4… words.
enum DPOToy {
    static let pad: Int32 = 0, eos: Int32 = 1, sep: Int32 = 2, good: Int32 = 3
    static let vocab = 16

    /// Prompt of 4 words + SEP.
    static func prompt(_ rng: inout RNG) -> [Int32] { (0..<4).map { _ in Int32(4 + rng.int(vocab - 4)) } + [sep] }

    /// A random completion: `length` tokens from 3..<vocab, then EOS.
    static func completion(_ rng: inout RNG, length: Int = 6) -> [Int32] {
        (0..<length).map { _ in Int32(3 + rng.int(vocab - 3)) } + [eos]
    }

    /// The programmatic preference: more occurrences of token 3 is better.
    static func score(_ tokens: [Int32]) -> Int { tokens.filter { $0 == good }.count }

    /// SFT data: prompts with random completions.
    static func sft(count: Int, seed: UInt64) -> [SequenceExample] {
        var rng = RNG(seed: seed)
        return (0..<count).map { _ in SequenceExample(prompt: prompt(&rng), completion: completion(&rng)) }
    }

    /// Preference pairs: two random completions of a prompt, the one with more 3s chosen (ties redrawn).
    static func pairs(count: Int, seed: UInt64, lengths: ClosedRange<Int> = 6...6) -> [PreferenceExample] {
        var rng = RNG(seed: seed)
        return (0..<count).map { _ in
            let p = prompt(&rng)
            while true {
                let a = completion(&rng, length: lengths.lowerBound + rng.int(lengths.count))
                let b = completion(&rng, length: lengths.lowerBound + rng.int(lengths.count))
                let sa = score(a), sb = score(b)
                if sa == sb { continue }
                return sa > sb ? PreferenceExample(prompt: p, chosen: a, rejected: b) : PreferenceExample(prompt: p, chosen: b, rejected: a)
            }
        }
    }

    static let config = GPTConfig(vocabSize: vocab, context: 16, nLayer: 2, nHead: 2, nEmbd: 32)

    /// A model with large random weights (so that log-probs differ visibly between tokens).
    static func randomModel(seed: UInt64, scale: Float = 0.3, config: GPTConfig = DPOToy.config) -> GPT {
        let m = GPT(config: config, seed: seed)
        var rng = RNG(seed: seed &+ 99)
        for t in m.layout.tensors where t.name.hasSuffix("weight") && !t.name.contains("ln_") {
            for i in 0..<t.count { m.params[t.offset + i] = rng.normal() * scale }
        }
        return m
    }

    static func dpoConfig(steps: Int, batchSize: Int = 8) -> DPOConfig {
        var c = DPOConfig()
        c.steps = steps
        c.batchSize = batchSize
        c.lr = 1e-3
        c.evalEvery = 0
        c.checkpointEvery = 0
        return c
    }

    static func tempDir(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dpo-\(name)-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))")
    }
}
