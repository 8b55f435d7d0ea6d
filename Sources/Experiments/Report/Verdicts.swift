import Engine
import Foundation

/// Comparisons with honest uncertainty. One run cannot say whether a method beats another (two
/// runs differing only in summation order moved DPO's KL from 3.7 to 1.7); replicates (seeds) and
/// pairing do. Every method is evaluated on the same prompts with the same sampling stream per
/// prompt and temperature, so the difference of two methods on one (seed, prompt) unit cancels
/// the prompt's difficulty and the sampler's luck.
public enum Verdicts {
    /// One evaluated sample: a (seed, prompt) unit and its value (win 0/½/1, gold score, KL...).
    public struct Unit: Hashable, Sendable {
        public var seed: UInt64
        public var prompt: Int
        public init(seed: UInt64, prompt: Int) {
            self.seed = seed
            self.prompt = prompt
        }
    }

    /// Mean over seeds of the per-seed means, with a 95% t-interval across seeds (half-width nil
    /// with one seed).
    public struct AcrossSeeds: Equatable, Sendable {
        public var mean: Double
        public var halfWidth: Double?
        public var seeds: Int
    }

    public static func acrossSeeds(_ values: [Unit: Double]) -> AcrossSeeds {
        let perSeed = seedMeans(values)
        let xs = perSeed.map(\.value)
        let n = xs.count
        let m = xs.reduce(0, +) / Double(max(n, 1))
        guard n > 1 else { return AcrossSeeds(mean: m, halfWidth: nil, seeds: n) }
        let sd = (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot()
        return AcrossSeeds(mean: m, halfWidth: tQuantile975(df: n - 1) * sd / Double(n).squareRoot(), seeds: n)
    }

    /// Means per seed, ordered by seed.
    static func seedMeans(_ values: [Unit: Double]) -> [(seed: UInt64, value: Double)] {
        var sums: [UInt64: (Double, Int)] = [:]
        for (u, v) in values { sums[u.seed, default: (0, 0)].0 += v; sums[u.seed, default: (0, 0)].1 += 1 }
        return sums.keys.sorted().map { ($0, sums[$0]!.0 / Double(sums[$0]!.1)) }
    }

    /// The paired difference A − B over the units both have.
    public struct Paired: Equatable, Sendable {
        /// Mean of A − B over the shared units.
        public var mean: Double
        /// 95% percentile interval of a bootstrap over (seed, prompt) units, resampling prompts
        /// within each seed (the seeds' sizes kept).
        public var low: Double, high: Double
        /// Per-seed means of A − B, ordered by seed: their spread is the run-to-run variation that
        /// the within-seed bootstrap does not resample.
        public var perSeed: [Double]
        public var units: Int
        /// The interval excludes 0.
        public var resolved: Bool { low > 0 || high < 0 }
    }

    /// `resamples` bootstrap draws from a fixed stream: the same inputs give the same interval.
    public static func paired(_ a: [Unit: Double], _ b: [Unit: Double], resamples: Int = 2000, seed: UInt64 = 2026) -> Paired? {
        let shared = a.keys.filter { b[$0] != nil }.sorted { ($0.seed, $0.prompt) < ($1.seed, $1.prompt) }
        guard !shared.isEmpty else { return nil }
        var bySeed: [UInt64: [Double]] = [:]
        for u in shared { bySeed[u.seed, default: []].append(a[u]! - b[u]!) }
        let seeds = bySeed.keys.sorted()
        let groups = seeds.map { bySeed[$0]! }
        let n = Double(shared.count)
        let mean = groups.joined().reduce(0, +) / n
        var rng = RNG(seed: seed).split("bootstrap")
        var draws = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            var s = 0.0
            for g in groups { for _ in 0..<g.count { s += g[rng.int(g.count)] } }
            draws[r] = s / n
        }
        draws.sort()
        let lo = draws[Int((0.025 * Double(resamples - 1)).rounded())]
        let hi = draws[Int((0.975 * Double(resamples - 1)).rounded())]
        return Paired(mean: mean, low: lo, high: hi, perSeed: groups.map { $0.reduce(0, +) / Double($0.count) }, units: shared.count)
    }

    /// "DPO − PPO at T=0: +0.03 [−0.01, +0.07], not resolved (3 seeds: +0.01, +0.02, +0.06)".
    public static func line(_ label: String, _ p: Paired, digits: Int = 3) -> String {
        func f(_ x: Double) -> String { (x >= 0 ? "+" : "−") + String(format: "%.\(digits)f", abs(x)) }
        let spread = p.perSeed.count > 1 ? " (\(p.perSeed.count) seeds: \(p.perSeed.map(f).joined(separator: ", ")))" : " (1 seed)"
        return "\(label): \(f(p.mean)) [\(f(p.low)), \(f(p.high))], \(p.resolved ? "resolved" : "not resolved")\(spread)"
    }

    /// The 0.975 quantile of Student's t with `df` degrees of freedom (exact table to 30, then the
    /// normal approximation's Cornish–Fisher correction).
    static func tQuantile975(df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
                               2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        if df >= 1 && df <= table.count { return table[df - 1] }
        let z = 1.959964, n = Double(max(df, 1))
        return z + (z * z * z + z) / (4 * n) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n)
    }
}
