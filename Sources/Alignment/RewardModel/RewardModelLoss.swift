import Foundation

// MARK: - Bradley–Terry pairwise loss

/// The reward-model loss of Stiennon et al. 2020 (eq. 1), with TRL's two options. Per pair i,
///
///     ℓ_i = −log σ(r_c − r_r − m) + c · (r_c + r_r)²
///
/// (m: `margin`, TRL's margin column; c: `center_rewards_coefficient`). A step's loss is the mean
/// of ℓ_i over its pairs. Everything is computed in Double and without overflow:
/// −log σ(x) = softplus(−x) = max(−x, 0) + log(1 + e^(−|x|)), and
/// dℓ/dr_c = −σ(−x) + 2c(r_c + r_r),  dℓ/dr_r = +σ(−x) + 2c(r_c + r_r),  with x = r_c − r_r − m.
public enum RewardModelLoss {
    public struct Result {
        /// ℓ_i per pair.
        public var losses: [Double]
        /// ∂ℓ_i/∂r_c and ∂ℓ_i/∂r_r per pair (of ℓ_i, not of the mean).
        public var dChosen: [Double]
        public var dRejected: [Double]
    }

    /// −log σ(x), stable for any finite x.
    @inline(__always) public static func negLogSigmoid(_ x: Double) -> Double {
        max(-x, 0) + log1p(exp(-abs(x)))
    }

    /// σ(x), stable for any finite x.
    @inline(__always) public static func sigmoid(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
    }

    public static func compute(chosen: [Float], rejected: [Float], margin: Double = 0, centerCoef: Double = 0) -> Result {
        precondition(chosen.count == rejected.count)
        var r = Result(losses: [], dChosen: [], dRejected: [])
        r.losses.reserveCapacity(chosen.count)
        for (fc, fr) in zip(chosen, rejected) {
            let rc = Double(fc), rr = Double(fr)
            let x = rc - rr - margin
            let s = sigmoid(-x)  // = −∂(−log σ(x))/∂x
            let center = rc + rr
            r.losses.append(negLogSigmoid(x) + centerCoef * center * center)
            r.dChosen.append(-s + 2 * centerCoef * center)
            r.dRejected.append(s + 2 * centerCoef * center)
        }
        return r
    }
}

// MARK: - Pair statistics

/// Sums behind the metrics of a set of pairs (a step's microbatches, or the held-out split):
/// `loss`, `accuracy` (share of pairs with r_c > r_r, ties count as wrong, as TRL), `margin`
/// (mean r_c − r_r), `rewards/chosen`, `rewards/rejected`, `reward/mean|min|max` over both.
struct RewardPairStats {
    var pairs = 0
    var loss = 0.0, correct = 0.0, marginSum = 0.0, chosenSum = 0.0, rejectedSum = 0.0
    var minReward = Double.infinity, maxReward = -Double.infinity

    mutating func add(chosen: [Float], rejected: [Float], losses: [Double]) {
        for i in chosen.indices {
            let rc = Double(chosen[i]), rr = Double(rejected[i])
            pairs += 1
            loss += losses[i]
            correct += rc > rr ? 1 : 0
            marginSum += rc - rr
            chosenSum += rc
            rejectedSum += rr
            minReward = min(minReward, rc, rr)
            maxReward = max(maxReward, rc, rr)
        }
    }

    /// The statistics of every process of a data-parallel job: sums added, extremes gathered.
    mutating func sum(_ reducer: GradientReducer) {
        guard reducer.size > 1 else { return }
        var v = [Double(pairs), loss, correct, marginSum, chosenSum, rejectedSum]
        reducer.sum(&v)
        pairs = Int(v[0]); loss = v[1]; correct = v[2]; marginSum = v[3]; chosenSum = v[4]; rejectedSum = v[5]
        // ±infinity of a process without pairs would not survive a sum: sent as the other extreme's
        // neutral value, a finite sentinel, and dropped.
        let sentinel = Double.greatestFiniteMagnitude
        let ends = reducer.gather([minReward.isFinite ? minReward : sentinel, maxReward.isFinite ? maxReward : -sentinel], total: 2 * reducer.size)
        let mins = stride(from: 0, to: ends.count, by: 2).map { ends[$0] }.filter { $0 != sentinel }
        let maxs = stride(from: 1, to: ends.count, by: 2).map { ends[$0] }.filter { $0 != -sentinel }
        minReward = mins.min() ?? .infinity
        maxReward = maxs.max() ?? -.infinity
    }

    func metrics(prefix: String = "") -> [String: Double] {
        guard pairs > 0 else { return [:] }
        let n = Double(pairs)
        return [prefix + "loss": loss / n, prefix + "accuracy": correct / n, prefix + "margin": marginSum / n,
                prefix + "rewards/chosen": chosenSum / n, prefix + "rewards/rejected": rejectedSum / n,
                prefix + "reward/mean": (chosenSum + rejectedSum) / (2 * n),
                prefix + "reward/min": minReward, prefix + "reward/max": maxReward]
    }
}
