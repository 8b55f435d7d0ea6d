import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

/// A tiny world for PPO tests: vocabulary of 16 (0 = pad, 1 = EOS, 2...15 words), prompts of 3–5
/// words, and an SFT model briefly trained on random continuations of 1–12 words + EOS, so that
/// with a response length of 10 it ends with EOS most of the time but not always.
enum PPOFixtures {
    static let pad: Int32 = 0
    static let eos: Int32 = 1
    static let config = GPTConfig(vocabSize: 16, context: 24, nLayer: 2, nHead: 2, nEmbd: 32)

    static func prompts(count: Int, seed: UInt64) -> [[Int32]] {
        var rng = RNG(seed: seed)
        return (0..<count).map { _ in (0..<(3 + rng.int(3))).map { _ in Int32(4 + rng.int(12)) } }
    }

    /// The SFT model (trained once per test process).
    static let sft: GPT = {
        var rng = RNG(seed: 77)
        let ps = prompts(count: 256, seed: 5)
        let data = ps.map { p -> SequenceExample in
            let n = 1 + rng.int(12)
            return SequenceExample(prompt: p, completion: (0..<n).map { _ in Int32(2 + rng.int(14)) } + [eos])
        }
        var c = SFTConfig()
        c.steps = 60
        c.batchSize = 16
        c.lr = 3e-3
        c.schedule = LRSchedule(kind: .cosine, warmupSteps: 5, minLRRatio: 0.1)
        c.evalEvery = 0
        c.checkpointEvery = 0
        let model = GPT(config: config, seed: 3)
        let t = SFTTrainer(model: model, config: c, source: ShuffledEpochs(data, batchSize: 16, microPerStep: 1, seed: 3),
                           valid: [], pad: pad, maxLength: 24, seed: 3)
        _ = try? t.run()
        return model
    }()

    /// A reward model: the SFT trunk with a fresh scalar head (enough to initialize a value model).
    static let rewardModel: GPT = {
        var c = config
        c.scalarHead = true
        let rm = GPT(config: c, seed: 11)
        rm.copyMatchingTensors(from: sft)
        return rm
    }()

    static func ppoConfig() -> PPOConfig {
        var c = PPOConfig()
        c.iterations = 4
        c.rolloutBatchSize = 8
        c.numMiniBatches = 2
        c.gradAccum = 2
        c.numPPOEpochs = 2
        c.responseLength = 10
        c.temperature = 0.9
        c.stopToken = eos
        c.lr = 3e-4
        c.checkpointEvery = 0
        c.samplesEvery = 0
        return c
    }

    static func trainer(_ c: PPOConfig, reward: RewardFunction = CountReward(), pad: Int32 = pad, seed: UInt64 = 1,
                        promptCount: Int = 64) -> PPOTrainer {
        let m = PPOTrainer.makeModels(sft: sft, rewardModel: rewardModel, valueModel: c.valueModel, seed: 21)
        return PPOTrainer(policy: m.policy, reference: m.reference, value: m.value, reward: reward,
                          prompts: prompts(count: promptCount, seed: 9), config: c, pad: pad, seed: seed)
    }
}

/// Programmatic reward: occurrences of `token` in the response, capped.
final class CountReward: RewardFunction {
    let token: Int32, cap: Float
    var seen: [[Int32]] = []
    init(token: Int32 = 3, cap: Float = 4) { self.token = token; self.cap = cap }
    var name: String { "count" }
    func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float] {
        seen = responses
        return responses.map { r in min(Float(r.filter { $0 == token }.count), cap) }
    }
}

/// Fixed scores, recording what it was asked to score.
final class FixedReward: RewardFunction {
    var values: [Float]
    var seenResponses: [[Int32]] = []
    init(_ values: [Float]) { self.values = values }
    var name: String { "fixed" }
    func scores(prompts: [[Int32]], responses: [[Int32]]) -> [Float] {
        seenResponses = responses
        return Array(values.prefix(responses.count))
    }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
