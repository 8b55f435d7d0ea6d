import Foundation
import XCTest
@testable import GPT
import Engine

final class GenerationTests: XCTestCase {
    let config = GPTConfig(vocabSize: 50, context: 32, nLayer: 2, nHead: 2, nEmbd: 16)

    func model() -> GPT {
        let m = GPT(config: config, seed: 5)
        var rng = RNG(seed: 9)
        for t in m.layout.tensors where t.name.hasSuffix("weight") && !t.name.contains("ln_") {
            for i in 0..<t.count { m.params[t.offset + i] = rng.normal() * 0.3 }
        }
        return m
    }

    let prompts: [[Int32]] = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11], [12, 13, 14, 15, 16]]

    func testBatchGivesTheSameTokensAsEachPromptAlone() {
        let m = model()
        let gen = Generator(model: m, maxBatch: 4)
        for opts in [SamplingOptions(temperature: 1, maxNewTokens: 12, eosId: 0),
                     SamplingOptions(temperature: 0.7, topK: 10, topP: 0.9, maxNewTokens: 12, eosId: 3),
                     SamplingOptions(temperature: 0, maxNewTokens: 12)] {
            assertBatchMatchesEachAlone(gen, prompts, opts, base: RNG(seed: 77))
        }
    }

    /// Generates `prompts` as one batch and each prompt alone, from the same per-prompt streams:
    /// each prompt must get the same tokens and log-probs, and its stream must advance the same.
    @discardableResult
    func assertBatchMatchesEachAlone(_ gen: Generator, _ prompts: [[Int32]], _ opts: SamplingOptions, base: RNG,
                                     file: StaticString = #filePath, line: UInt = #line) -> [GeneratedSequence] {
        var rngs = prompts.indices.map { base.split("sample", $0) }
        let batch = gen.generate(prompts: prompts, options: opts, rngs: &rngs)
        for (i, p) in prompts.enumerated() {
            var one = [base.split("sample", i)]
            let alone = gen.generate(prompts: [p], options: opts, rngs: &one)[0]
            XCTAssertEqual(batch[i].tokens, alone.tokens, "prompt \(i), options \(opts)", file: file, line: line)
            XCTAssertEqual(batch[i].logprobs.count, alone.logprobs.count, file: file, line: line)
            for (a, b) in zip(batch[i].logprobs, alone.logprobs) { XCTAssertEqual(a, b, accuracy: 1e-5, file: file, line: line) }
            XCTAssertEqual(rngs[i], one[0], "random stream of prompt \(i) advanced differently", file: file, line: line)
        }
        return batch
    }

    /// With two threads and at least 12 rows, a decode step runs its rows as two groups side by
    /// side (one worker each); sequences ending at EOS shrink the step below that size on the way.
    /// Every sequence must still get what it gets alone, and the same samples with one thread.
    func testDecodeInTwoRowGroupsGivesEachPromptItsOwnSamples() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        let m = model()
        let gen = Generator(model: m, maxBatch: 16)
        var many: [[Int32]] = []
        for i in 0..<14 { many.append((0...(i % 5)).map { (t: Int) -> Int32 in Int32((7 * i + 3 * t) % 50) }) }
        let opts = SamplingOptions(temperature: 1, maxNewTokens: 10, eosId: 0)      // 4 of the 14 stop early
        let base = RNG(seed: 78)
        Parallel.threads = 2
        let batch = assertBatchMatchesEachAlone(gen, many, opts, base: base)
        XCTAssertTrue(batch.contains { $0.endedWithEOS } && batch.contains { !$0.endedWithEOS }, "rows leave the step on the way")
        Parallel.threads = 1
        var serial = many.indices.map { base.split("sample", $0) }
        let oneThread = gen.generate(prompts: many, options: opts, rngs: &serial)
        for i in many.indices {
            XCTAssertEqual(oneThread[i].tokens, batch[i].tokens, "prompt \(i), one thread")
            for (a, b) in zip(oneThread[i].logprobs, batch[i].logprobs) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        }
    }

    /// Prefill in batches of at most 8 padded tokens (lengths 7 | 5 | 3+1 padded to 3) must give
    /// what one batch of every prompt gives.
    func testPrefillBatchingDoesNotChangeTheSamples() {
        let m = model()
        let one = Generator(model: m, maxBatch: 4)
        let many = Generator(model: m, maxBatch: 4, prefillTokens: 8)
        let opts = SamplingOptions(temperature: 0.9, maxNewTokens: 8)
        var r1 = prompts.indices.map { RNG(seed: 40 + UInt64($0)) }
        var r2 = r1
        let a = one.generate(prompts: prompts, options: opts, rngs: &r1)
        let b = many.generate(prompts: prompts, options: opts, rngs: &r2)
        XCTAssertEqual(a.map(\.tokens), b.map(\.tokens))
        for (x, y) in zip(a, b) { for (p, q) in zip(x.logprobs, y.logprobs) { XCTAssertEqual(p, q, accuracy: 1e-5) } }
    }

    /// A prompt given several times (a group's G completions) is prefilled once and its copies
    /// take its cache: each copy still samples what it samples alone from its own stream, the
    /// copies differ from one another (their streams differ), and the prefill's FLOPs are those of
    /// the distinct prompts only.
    func testRepeatedPromptsArePrefilledOnceAndSampleAsAlone() {
        let m = model()
        let gen = Generator(model: m, maxBatch: 8)
        let repeated = [prompts[1], prompts[0], prompts[1], prompts[1], prompts[3], prompts[0], prompts[1], prompts[3]]
        let opts = SamplingOptions(temperature: 1, maxNewTokens: 12, eosId: 0)
        var rngs = repeated.indices.map { RNG(seed: 81).split("sample", $0) }
        let batch = gen.generate(prompts: repeated, options: opts, rngs: &rngs)
        XCTAssertNotEqual(batch[0].tokens, batch[2].tokens, "copies of one prompt sample on their own streams")
        // One new token: the prefill and a sample, no decode step.
        func prefillFlops(_ ps: [[Int32]]) -> Double {
            let before = FlopCounter.snapshot.generate
            var r = ps.indices.map { RNG(seed: 3).split("one", $0) }
            _ = gen.generate(prompts: ps, options: SamplingOptions(temperature: 1, maxNewTokens: 1), rngs: &r)
            return FlopCounter.snapshot.generate - before
        }
        XCTAssertEqual(prefillFlops(repeated), prefillFlops([prompts[1], prompts[0], prompts[3]]),
                       "the prefill of the three distinct prompts only")
        assertBatchMatchesEachAlone(gen, repeated, opts, base: RNG(seed: 81))
    }

    /// The KV-cache path must give the same log-probs as a full forward pass over prompt + sample.
    func testCachedLogProbsMatchFullForward() {
        let m = model()
        let gen = Generator(model: m, maxBatch: 2)
        var rngs = [RNG(seed: 1), RNG(seed: 2)]
        let opts = SamplingOptions(temperature: 0.8, maxNewTokens: 10)
        let out = gen.generate(prompts: [prompts[0], prompts[1]], options: opts, rngs: &rngs)
        let ws = GPTWorkspace(config: config, maxB: 1, maxT: 32)
        for (i, seq) in out.enumerated() {
            XCTAssertEqual(seq.tokens.count, 10)
            let full = prompts[i] + seq.tokens
            full.withUnsafeBufferPointer { m.forward(tokens: $0.baseAddress!, B: 1, T: full.count, ws: ws) }
            let P = prompts[i].count
            let rows = (0..<seq.tokens.count).map { Int32(P - 1 + $0) }
            var logp = [Float](repeating: 0, count: rows.count)
            m.tokenLogProbs(ws: ws, rows: rows, targets: seq.tokens, temperature: 0.8, logp: &logp)
            for (a, b) in zip(logp, seq.logprobs) { XCTAssertEqual(a, b, accuracy: 2e-4) }
        }
    }

    func testStopsAtEOSAndRespectsMaxNewTokens() {
        let m = model()
        let gen = Generator(model: m, maxBatch: 4)
        // Make token 7 overwhelmingly likely by greedy decoding with a huge bias: EOS = the greedy choice.
        var rngs = prompts.indices.map { RNG(seed: UInt64($0)) }
        let greedy = gen.generate(prompts: prompts, options: SamplingOptions(temperature: 0, maxNewTokens: 5), rngs: &rngs)
        for (i, g) in greedy.enumerated() {
            XCTAssertEqual(g.tokens.count, 5)
            XCTAssertFalse(g.endedWithEOS)
            let eos = g.tokens[2]
            var r2 = [RNG(seed: 0)]
            let stopped = gen.generate(prompts: [prompts[i]], options: SamplingOptions(temperature: 0, maxNewTokens: 5, eosId: eos), rngs: &r2)[0]
            let firstEOS = g.tokens.firstIndex(of: eos)!
            XCTAssertEqual(stopped.tokens, Array(g.tokens[...firstEOS]))
            XCTAssertTrue(stopped.endedWithEOS)
        }
    }

    func testTopKOneIsGreedy() {
        let m = model()
        let gen = Generator(model: m, maxBatch: 4)
        var r1 = prompts.indices.map { RNG(seed: UInt64($0)) }
        var r2 = r1
        let greedy = gen.generate(prompts: prompts, options: SamplingOptions(temperature: 0, maxNewTokens: 6), rngs: &r1)
        let top1 = gen.generate(prompts: prompts, options: SamplingOptions(temperature: 1.3, topK: 1, maxNewTokens: 6), rngs: &r2)
        XCTAssertEqual(greedy.map(\.tokens), top1.map(\.tokens))
    }

    /// Sampler frequencies against the closed form: softmax(z/τ), and top-p's renormalized nucleus.
    func testSamplerFrequenciesMatchTheDistribution() {
        let z: [Float] = [2.0, 1.0, 0.5, -1.0, 0.0]
        let tau: Float = 0.5
        let e = z.map { Foundation.exp(Double($0 / tau)) }
        let p = e.map { $0 / e.reduce(0, +) }          // 0.830, 0.112, 0.041, 0.002, 0.015
        var rng = RNG(seed: 3)
        let draws = 20000
        for (topP, support) in [(Float(1), 5), (Float(0.9), 2)] {
            var counts = [Int](repeating: 0, count: z.count)
            for _ in 0..<draws {
                var row = z
                let (tok, lp) = row.withUnsafeMutableBufferPointer {
                    Sampler.sample(logits: $0.baseAddress!, V: z.count, options: SamplingOptions(temperature: tau, topP: topP, maxNewTokens: 1), rng: &rng)
                }
                counts[Int(tok)] += 1
                XCTAssertEqual(Double(lp), Foundation.log(p[Int(tok)]), accuracy: 1e-5, "log-prob is of the unfiltered distribution")
            }
            let mass = p.prefix(support).reduce(0, +)
            for j in 0..<z.count {
                let expected = j < support ? p[j] / mass : 0
                XCTAssertEqual(Double(counts[j]) / Double(draws), expected, accuracy: 0.01, "token \(j), top-p \(topP)")
            }
        }
    }
}
