import Engine
import Foundation
import GPT

/// What a group method (GRPO, RLOO) adds to `GroupRollout`: how the prepared rollout gets its
/// advantages, and each microbatch's loss. The step around them — sampling, timing, μ passes
/// through `OptimizerStep`, counters — is the same and lives in the extension below.
protocol GroupMethod: AnyObject {
    var core: GroupRollout { get }
    var optimizer: AdamW { get }
    var reducer: GradientReducer { get }
    var step: Int { get set }
    var tokensSeen: Double { get set }
    var timeSpent: Double { get set }
    var passStats: [[String: Double]] { get set }
    /// μ, the steps of the run, the peak learning rate and its schedule over the steps × μ updates.
    var passes: Int { get }
    var totalSteps: Int { get }
    var peakLR: Double { get }
    var lrSchedule: LRSchedule { get }
    /// Whether the pass metrics carry `kl` (GRPO's KL is in the loss; RLOO's is in the reward).
    var klInLoss: Bool { get }
    /// Steps 2–4 on loaded completions: advantages into `core.buffer.sequenceAdvantages`, the
    /// forwards the loss needs; returns the rollout's metrics.
    func prepareLoaded() -> [String: Double]
    /// What a microbatch weighs in the step's mean.
    func count(_ batch: RolloutMicroBatch) -> Double
    /// d(scale · the microbatch's summed loss)/d logπ of each of its response tokens.
    func gradient(_ batch: RolloutMicroBatch, logp: [Float], entropy: [Float], scale: Double, sums: inout GroupPassSums) -> [Float]
}

extension GroupMethod {
    /// One step: sample, prepare, μ updates, counters and timings.
    func groupTrainStep() -> [String: Double] {
        let t0 = Clock.now()
        let (prompts, responses) = core.sample(step: step, reducer: reducer)
        let tSampled = Clock.now()
        core.load(prompts: prompts, responses: responses, reducer: reducer)
        var m = prepareLoaded()
        let tScored = Clock.now()
        m.merge(optimizeRollout()) { _, new in new }
        step += 1
        let dt = Clock.now() - t0
        let tokens = Double(core.rolloutTokens)
        tokensSeen += tokens
        timeSpent += dt
        m["time/generate_s"] = tSampled - t0
        m["time/score_s"] = tScored - tSampled
        m["time/optimize_s"] = dt - (tScored - t0)
        m["tokens_per_s"] = tokens / max(dt, 1e-9)
        m["completions_per_s"] = Double(core.buffer.count) / max(dt, 1e-9)
        return m
    }

    /// The μ optimizer updates over the prepared rollout (update u = step·μ + pass of steps·μ for the
    /// schedule); returns their metrics averaged and keeps each in `passStats` (with
    /// `ratio/max_deviation`, max |ρ − 1|).
    func optimizeRollout() -> [String: Double] {
        var acc = MetricAccumulator()
        passStats = []
        for pass in 0..<passes {
            let lr = lrSchedule.lr(peak: peakLR, step: step * passes + pass, total: totalSteps * passes)
            let (sums, norm) = core.pass(optimizer: optimizer, lr: lr, reducer: reducer, count: { count($0) }) {
                gradient($0, logp: $1, entropy: $2, scale: $3, sums: &$4)
            }
            var stats = sums.metrics(klLogged: klInLoss)
            stats["grad_norm"] = norm
            stats["lr"] = lr
            for (k, v) in stats { acc.add(k, v) }
            stats["ratio/max_deviation"] = sums.maxRatioDeviation
            passStats.append(stats)
        }
        return acc.means
    }

    var groupState: OnlineTrainerState { OnlineTrainerState(step: step, tokensSeen: tokensSeen, timeSpent: timeSpent) }

    func restoreGroup(from dir: URL, totalName: String) throws {
        let s = try OnlineCheckpoint.restore(policy: core.policy, optimizer: optimizer, from: dir, total: totalSteps, totalName: totalName)
        step = s.step
        tokensSeen = s.tokensSeen
        timeSpent = s.timeSpent
    }
}
