import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

/// The PPO tests' tiny world (`PPOFixtures`: vocabulary 16, 0 pad, 1 EOS, prompts of 3–5 words,
/// an SFT model that usually ends with EOS within 10 tokens) for the critic-free and online methods.
enum OnlineFixtures {
    static func grpoConfig() -> GRPOConfig {
        var c = GRPOConfig()
        c.steps = 4
        c.batchSize = 4
        c.numGenerations = 4
        c.gradAccum = 2
        c.maxCompletionLength = 10
        c.temperature = 0.9
        c.stopToken = PPOFixtures.eos
        c.lr = 3e-4
        c.checkpointEvery = 0
        c.samplesEvery = 0
        return c
    }

    static var prompts: [[Int32]] { PPOFixtures.prompts(count: 64, seed: 9) }

    static func grpo(_ c: GRPOConfig, reward: RewardFunction = CountReward(), seed: UInt64 = 1) -> GRPOTrainer {
        GRPOTrainer(policy: GPT(copying: PPOFixtures.sft), reference: GPT(copying: PPOFixtures.sft), reward: reward,
                    prompts: prompts, config: c, pad: PPOFixtures.pad, seed: seed)
    }

    static func tempDir(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("online-\(name)-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))")
    }

    /// Metrics without the wall-clock ones.
    static func deterministic(_ m: [String: Double]) -> [String: Double] {
        m.filter { !$0.key.hasPrefix("time/") && $0.key != "tokens_per_s" && $0.key != "completions_per_s" }
    }

    /// log π of the response tokens of (prompt, response) under `model` run alone (B = 1), logits / temperature.
    static func logProbs(_ model: GPT, prompt: [Int32], response: [Int32], temperature: Float) -> [Float] {
        let seq = prompt + response
        let ws = GPTWorkspace(config: model.config, maxB: 1, maxT: seq.count)
        seq.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: 1, T: seq.count, ws: ws) }
        var lp = [Float](repeating: 0, count: response.count)
        let rows = (0..<response.count).map { Int32(prompt.count + $0 - 1) }
        model.tokenLogProbs(ws: ws, rows: rows, targets: response, temperature: temperature, logp: &lp)
        return lp
    }
}
