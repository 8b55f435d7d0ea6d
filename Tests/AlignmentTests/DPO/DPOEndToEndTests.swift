import XCTest
@testable import Alignment
import Engine
import GPT

/// SFT on prompts with random completions, then DPO on pairs labeled by a programmatic preference
/// (more of token 3 is better): the implicit reward must learn to rank held-out pairs, and the
/// policy's own samples must score higher under the preference than the reference's.
final class DPOEndToEndTests: XCTestCase {
    func sft() throws -> GPT {
        var c = SFTConfig()
        c.steps = 40
        c.batchSize = 16
        c.lr = 3e-3
        c.schedule = LRSchedule(kind: .cosine, warmupSteps: 10, minLRRatio: 0.1)
        c.evalEvery = 0
        c.checkpointEvery = 0
        let model = GPT(config: DPOToy.config, seed: 31)
        let t = SFTTrainer(model: model, config: c, source: ShuffledEpochs(DPOToy.sft(count: 400, seed: 32), batchSize: 16, microPerStep: 1, seed: 33),
                           valid: [], pad: DPOToy.pad, maxLength: 12, seed: 34)
        try t.run()
        return model
    }

    /// Mean preference score of sampled completions of `prompts`, and the fraction that ended with EOS.
    func sampleScore(_ model: GPT, _ prompts: [[Int32]]) -> (score: Double, eos: Double) {
        let gen = Generator(model: model, maxBatch: prompts.count)
        let base = RNG(seed: 77)
        var rngs = prompts.indices.map { base.split("sample", $0) }
        let out = gen.generate(prompts: prompts, options: SamplingOptions(temperature: 1, maxNewTokens: 8, eosId: DPOToy.eos), rngs: &rngs)
        let score = out.reduce(0.0) { $0 + Double(DPOToy.score($1.tokens)) } / Double(out.count)
        let eos = out.reduce(0.0) { $0 + ($1.endedWithEOS ? 1 : 0) } / Double(out.count)
        return (score, eos)
    }

    func testDPOLearnsTheProgrammaticPreference() throws {
        let sftModel = try sft()
        let reference = GPT(copying: sftModel)
        var c = DPOConfig()
        c.steps = 40
        c.batchSize = 8
        c.lr = 1e-3
        c.beta = 0.5
        c.schedule = LRSchedule(kind: .constant, warmupSteps: 5)
        c.evalEvery = 20
        c.checkpointEvery = 0
        let valid = DPOToy.pairs(count: 64, seed: 42)
        let t = DPOTrainer(policy: GPT(copying: sftModel), reference: reference, config: c,
                           train: DPOToy.pairs(count: 200, seed: 41), valid: valid, pad: DPOToy.pad, seed: 43)
        var logged: [Int: [String: Double]] = [:]
        t.hooks.log = { logged[$0] = $1 }
        let before = t.evaluate()
        XCTAssertEqual(before["eval/loss"]!, Foundation.log(2.0), accuracy: 1e-9)
        try t.run()
        let after = t.evaluate()
        let prompts = valid.map(\.prompt)
        let (refScore, refEOS) = sampleScore(reference, prompts)
        let (polScore, polEOS) = sampleScore(t.policy, prompts)
        print("DPO end to end: eval", after, "samples: reference \(refScore) (eos \(refEOS)), policy \(polScore) (eos \(polEOS))")
        XCTAssertEqual(logged.count, 40)
        XCTAssertNotNil(logged[20]?["eval/rewards/accuracies"])
        XCTAssertGreaterThanOrEqual(after["eval/rewards/accuracies"]!, 0.75)
        XCTAssertGreaterThan(after["eval/rewards/margins"]!, 0)
        XCTAssertLessThan(after["eval/loss"]!, Foundation.log(2.0) - 0.1)
        XCTAssertGreaterThan(polScore, refScore + 0.5, "policy samples score \(polScore), reference samples \(refScore)")
    }
}
