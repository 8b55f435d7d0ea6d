import Foundation

/// The checks the online methods' configs share, each as a (JSON key, message) pair.
struct OnlineConfigChecks {
    var list: [(key: String, message: String)] = []
    mutating func add(_ key: String, _ message: String) { list.append((key, message)) }
    mutating func positive(_ v: Int, _ k: String) { if v < 1 { add(k, "expected an integer ≥ 1, found \(v)") } }
    mutating func generations(_ g: Int) {
        if g < 2 { add("num_generations", "expected an integer ≥ 2 (a group needs at least two completions to compare), found \(g)") }
    }
    mutating func divisible(batchSize: Int, generations: Int, gradAccum: Int) {
        let n = batchSize * generations
        if batchSize >= 1 && generations >= 1 && gradAccum >= 1 && n % gradAccum != 0 {
            add("grad_accum", "batch_size × num_generations (\(batchSize) × \(generations) = \(n) completions) must be divisible by grad_accum (\(gradAccum))")
        }
    }
    mutating func temperature(_ t: Float) { if !(t > 0 && t.isFinite) { add("temperature", "expected a number > 0, found \(t)") } }
    mutating func penalty(_ m: Float?) {
        if let m, !m.isFinite { add("missing_eos_penalty", "expected a finite number or null, found \(m)") }
    }
    mutating func clip(epsilon: Double, epsilonHigh: Double?) {
        if !(epsilon > 0 && epsilon < 1) { add("epsilon", "expected a number in (0, 1), found \(epsilon)") }
        if let h = epsilonHigh {
            if !(h.isFinite && h > 0) {
                add("epsilon_high", "expected a number > 0 or null, found \(h)")
            } else if h < epsilon {
                add("epsilon_high", "epsilon_high (\(h)) must be at least epsilon (\(epsilon)); leave it null to use epsilon")
            }
        }
    }
    mutating func optimisation(lr: Double, checkpointEvery: Int, samplesEvery: Int, samplesCount: Int) {
        if !(lr > 0 && lr.isFinite) { add("lr", "expected a number > 0, found \(lr)") }
        if checkpointEvery < 0 { add("checkpoint_every", "expected an integer ≥ 0, found \(checkpointEvery)") }
        if samplesEvery < 0 { add("samples_every", "expected an integer ≥ 0, found \(samplesEvery)") }
        if samplesCount < 0 { add("samples_count", "expected an integer ≥ 0, found \(samplesCount)") }
    }
}
