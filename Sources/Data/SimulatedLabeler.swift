import Engine
import Foundation

/// A post with two candidate summaries, for measuring labeler agreement.
public struct JudgedPair: Sendable {
    public var post: Post
    public var a: String
    public var b: String

    public init(post: Post, a: String, b: String) {
        self.post = post
        self.a = a
        self.b = b
    }
}

/// A noisy labeler: Bradley–Terry on gold scores, P(a ≻ b) = σ((g_a − g_b) / temperature).
///
/// `defaultTemperature` (0.89) comes from `calibratedTemperature(pairs:target: 0.75)` on
/// `typicalPairs` of 2,000 tldr-synth train posts (task seed 0, rng `RNG(seed: 0).split("calibration")`;
/// `rlhf data tldr-synth --posts 2000 --seed 0` prints it): half the pairs are (reference, degraded
/// reference) with the degradation drawn uniformly, half are two plausible summaries (the reference
/// quality mix). Agreement with the gold ordering on those pairs is then 0.75 (exact gold ties are
/// skipped), roughly the agreement between human labelers reported by Stiennon et al. (2020); pairs
/// of a policy's own samples, which differ more, are labeled more consistently (the preferences
/// stage prints the rate).
public struct SimulatedLabeler: Sendable {
    public static let defaultTemperature = 0.89

    public var temperature: Double
    public var judge: GoldJudge

    public init(temperature: Double = SimulatedLabeler.defaultTemperature, judge: GoldJudge = GoldJudge()) {
        precondition(temperature > 0, "temperature must be positive")
        self.temperature = temperature
        self.judge = judge
    }

    /// P(a ≻ b) under the Bradley–Terry model.
    public func probabilityFirst(post: Post, _ a: String, _ b: String) -> Double {
        let d = (judge.score(post: post, summary: a) - judge.score(post: post, summary: b)) / temperature
        return 1 / (1 + exp(-d))
    }

    /// Samples the labeler's choice; consumes exactly one draw of `rng`.
    public func prefersFirst(post: Post, _ a: String, _ b: String, rng: inout RNG) -> Bool {
        rng.uniformDouble() < probabilityFirst(post: post, a, b)
    }

    /// The fraction of pairs with distinct gold scores on which a sampled label agrees with the gold
    /// ordering (gold ties are skipped; returns 0 when every pair ties).
    public func agreementRate(pairs: [JudgedPair], rng: inout RNG) -> Double {
        var agree = 0, total = 0
        for p in pairs {
            let ga = judge.score(post: p.post, summary: p.a), gb = judge.score(post: p.post, summary: p.b)
            if abs(ga - gb) < 1e-9 { continue }
            let first = prefersFirst(post: p.post, p.a, p.b, rng: &rng)
            total += 1
            if first == (ga > gb) { agree += 1 }
        }
        return total == 0 ? 0 : Double(agree) / Double(total)
    }

    /// The expected agreement rate (no sampling): the mean over non-tied pairs of σ(|Δg| / T).
    public func expectedAgreement(pairs: [JudgedPair]) -> Double {
        Self.expectedAgreement(gaps: Self.gaps(pairs, judge: judge), temperature: temperature)
    }

    /// The temperature at which the expected agreement on `pairs` equals `target` (bisection on
    /// log T; `target` must lie in (0.5, 1)).
    public static func calibratedTemperature(pairs: [JudgedPair], target: Double = 0.75, judge: GoldJudge = GoldJudge()) -> Double {
        precondition(target > 0.5 && target < 1, "target agreement must lie in (0.5, 1)")
        let g = gaps(pairs, judge: judge)
        guard !g.isEmpty else { return defaultTemperature }
        var lo = log(1e-3), hi = log(1e3)   // agreement falls as T grows
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if expectedAgreement(gaps: g, temperature: exp(mid)) > target { lo = mid } else { hi = mid }
        }
        return exp((lo + hi) / 2)
    }

    /// Typical labeling pairs: for each post, (reference, degraded reference) with a uniformly drawn
    /// degradation and (plausible summary, plausible summary); each pair's order is shuffled.
    public static func typicalPairs(posts: [Post], rng: inout RNG) -> [JudgedPair] {
        var out: [JudgedPair] = []
        for post in posts {
            let kind = Degradation.allCases[rng.int(Degradation.allCases.count)]
            let ref = Text.trimmed(post.reference), bad = degrade(post, kind: kind, rng: &rng)
            out.append(rng.int(2) == 0 ? JudgedPair(post: post, a: ref, b: bad) : JudgedPair(post: post, a: bad, b: ref))
            let s1 = plausibleSummary(post, rng: &rng), s2 = plausibleSummary(post, rng: &rng)
            out.append(JudgedPair(post: post, a: s1, b: s2))
        }
        return out
    }

    static func gaps(_ pairs: [JudgedPair], judge: GoldJudge) -> [Double] {
        pairs.map { abs(judge.score(post: $0.post, summary: $0.a) - judge.score(post: $0.post, summary: $0.b)) }
            .filter { $0 >= 1e-9 }
    }

    static func expectedAgreement(gaps: [Double], temperature: Double) -> Double {
        guard !gaps.isEmpty else { return 0 }
        return gaps.reduce(0) { $0 + 1 / (1 + exp(-$1 / temperature)) } / Double(gaps.count)
    }
}
