import XCTest
@testable import Alignment
import GPT
import Engine

/// A group method's microbatch run as two halves side by side (`RolloutPasses`) against the same
/// microbatch as one pass.
final class RolloutPassesTests: XCTestCase {
    /// A GRPO trainer with a prepared rollout: 16 completions in two microbatches of 8, one row per
    /// completion (`shared`: false) or one per group of 4.
    private func prepared(shared: Bool) -> GRPOTrainer {
        var c = OnlineFixtures.grpoConfig()
        c.sharedPrompt = shared
        c.numIterations = 2
        c.beta = 0.1
        let t = OnlineFixtures.grpo(c)
        let (prompts, responses) = t.core.sample(step: 0, reducer: t.reducer)
        t.prepare(prompts: prompts, responses: responses)
        return t
    }

    func testHalvesCutTheRowsInOrder() {
        for shared in [false, true] {
            let t = prepared(shared: shared)
            XCTAssertNotNil(t.core.passes.sibling, "a tiny model with microbatches of two or more rows runs halves")
            for batch in t.core.batches {
                XCTAssertGreaterThanOrEqual(batch.n, 2)
                let h = batch.halves()
                XCTAssertEqual(h.map(\.n), [(batch.n + 1) / 2, batch.n / 2])
                XCTAssertEqual(h[0].tokens + h[1].tokens, batch.tokens)
                XCTAssertEqual(h[0].targets + h[1].targets, batch.targets)
                XCTAssertEqual(h[0].slots + h[1].slots, batch.slots)
                XCTAssertEqual(h[0].rows + h[1].rows.map { $0 + Int32(h[0].n * batch.T) }, batch.rows)
                XCTAssertTrue(h[1].rows.allSatisfy { $0 >= 0 && Int($0) < h[1].n * batch.T }, "the second half's rows are its own")
                XCTAssertEqual(h.compactMap(\.branches).flatMap { $0 }, batch.branches ?? [], "shared: \(shared)")
            }
        }
    }

    /// The halves' log-probs and gradients are the whole batch's up to float rounding (their
    /// products have other shapes), and the second gradient buffer is left at zero.
    func testHalvesMatchOnePass() {
        for shared in [false, true] {
            let t = prepared(shared: shared)
            let policy = t.policy, temperature = t.config.temperature
            let one = GPTWorkspace(config: policy.config, maxB: t.core.batches.map(\.n).max()!, maxT: t.core.maxT)
            // A loss with a different weight on each token: d loss / d logp = 1 + position / 10.
            let weights = { (n: Int) in (0..<n).map { 1 + Float($0 % 7) / 10 } }
            for batch in t.core.batches {
                let whole = batch.logProbs(policy, ws: one, temperature: temperature)
                let halved = t.core.passes.logProbs(batch, policy, temperature: temperature)
                XCTAssertEqual(whole.count, halved.count)
                for (a, b) in zip(whole, halved) { XCTAssertEqual(a, b, accuracy: 1e-5) }
                XCTAssertTrue(whole.contains { $0 < -1 }, "log-probs of sampled tokens, not zeros")

                policy.zeroGrad()
                var seen: [Float] = []
                batch.policyGradient(policy, ws: one, temperature: temperature) { lp, _ in seen = lp; return weights(lp.count) }
                let g1 = policy.grads!.array
                policy.zeroGrad()
                var seenHalves: [Float] = []
                t.core.passes.policyGradient(batch, temperature: temperature) { lp, _ in seenHalves = lp; return weights(lp.count) }
                let g2 = policy.grads!.array
                for (a, b) in zip(seen, seenHalves) { XCTAssertEqual(a, b, accuracy: 1e-5) }
                let scale = g1.map(abs).max()!
                XCTAssertGreaterThan(scale, 0)
                var worst: Float = 0
                for (a, b) in zip(g1, g2) { worst = max(worst, abs(a - b)) }
                XCTAssertLessThan(worst, 1e-4 * scale, "shared: \(shared)")
                XCTAssertEqual(t.core.passes.sibling!.grads!.array.map(abs).max(), 0, "the second buffer is added in and cleared")
            }
        }
    }

    /// One thread runs the halves one after the other: the same bits as two threads.
    func testHalvesGiveTheSameBitsAtAnyThreadCount() {
        let t = prepared(shared: false)
        let batch = t.core.batches[0]
        func gradients(threads: Int) -> [Float] {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            t.policy.zeroGrad()
            t.core.passes.policyGradient(batch, temperature: t.config.temperature) { lp, _ in lp.map { _ in 1 } }
            return t.policy.grads!.array
        }
        let two = gradients(threads: 2), one = gradients(threads: 1)
        XCTAssertEqual(one, two)
        XCTAssertTrue(one.contains { $0 != 0 })
    }

    /// Two GRPO steps (sampling, reference, update) in both layouts at one and at two threads: the
    /// same weights bit for bit.
    func testGRPOStepsGiveTheSameBitsAtAnyThreadCount() {
        for shared in [false, true] {
            func weights(threads: Int) -> [Float] {
                let saved = Parallel.threads
                Parallel.threads = threads
                defer { Parallel.threads = saved }
                var c = OnlineFixtures.grpoConfig()
                c.sharedPrompt = shared
                let t = OnlineFixtures.grpo(c)
                XCTAssertNotNil(t.core.passes.sibling)
                for _ in 0..<2 { t.trainStep() }
                return t.policy.params.array
            }
            let one = weights(threads: 1), two = weights(threads: 2)
            XCTAssertEqual(one, two, "shared: \(shared)")
            XCTAssertNotEqual(one, PPOFixtures.sft.params.array, "the steps moved the weights")
        }
    }
}
