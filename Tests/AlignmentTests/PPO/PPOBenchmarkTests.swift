import XCTest
@testable import Alignment
import GPT
import Engine
import Foundation

/// Time per iteration on a quickstart-like shape; runs only with PPO_BENCH=1 in the environment.
final class PPOBenchmarkTests: XCTestCase {
    func testQuickstartShapeTimePerIteration() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["PPO_BENCH"] == "1", "set PPO_BENCH=1 to run")
        let g = GPTConfig(vocabSize: 2048, context: 256, nLayer: 4, nHead: 4, nEmbd: 128)
        var rc = g
        rc.scalarHead = true
        let sft = GPT(config: g, seed: 1), rm = GPT(config: rc, seed: 2)
        var c = PPOConfig()
        c.rolloutBatchSize = 32
        c.responseLength = 48
        c.stopToken = 1
        c.iterations = Int(ProcessInfo.processInfo.environment["PPO_BENCH_ITERS"] ?? "3") ?? 3
        let m = PPOTrainer.makeModels(sft: sft, rewardModel: rm, valueModel: .separate, seed: 3)
        var rng = RNG(seed: 5)
        let prompts = (0..<64).map { _ in (0..<96).map { _ in Int32(2 + rng.int(2046)) } }
        let t = PPOTrainer(policy: m.policy, reference: m.reference, value: m.value,
                           reward: RewardModelScorer(model: rm, pad: 0), prompts: prompts, config: c, pad: 0, seed: 1)
        var times: [Double] = []
        var last = Clock.now()
        t.hooks.log = { i, m in
            let now = Clock.now(); times.append(now - last); last = now
            print(String(format: "PPO bench iteration %d: %.2f s, response_length %.1f, tokens_per_s %.0f", i, times.last!, m["response_length"]!, m["tokens_per_s"]!))
        }
        try t.run()
        // One more iteration, phase by phase.
        var t0 = Clock.now()
        let batch = t.promptBatch(iteration: t.iteration)
        let responses = t.sample(batch, iteration: t.iteration)
        let tSample = Clock.now() - t0; t0 = Clock.now()
        _ = t.reward.scores(prompts: batch, responses: responses)
        let tScore = Clock.now() - t0; t0 = Clock.now()
        t.makeRollout(prompts: batch, responses: responses)
        let tRollout = Clock.now() - t0; t0 = Clock.now()
        _ = t.optimize(iteration: t.iteration, lr: 1e-5, valueLR: 1e-5)
        let tOptimize = Clock.now() - t0
        print(String(format: "PPO bench phases: sample %.2f s, score %.2f s, rollout (score + 3 forwards + GAE) %.2f s, optimize (%d epochs) %.2f s",
                     tSample, tScore, tRollout, c.numPPOEpochs, tOptimize))
        print(String(format: "PPO bench: %.2f s/iteration (mean of %d), memory %.1f MB", times.reduce(0, +) / Double(times.count), times.count, Double(t.memoryBytes) / 1_048_576))
    }
}
