import Foundation

/// What happens to the score of a response that ended without EOS (it ran out of length).
public enum MissingEOSMode: String, Codable, Sendable, CaseIterable {
    /// score − missingEOSPenalty (TRL's `missing_eos_penalty`).
    case subtract
    /// score := −missingEOSPenalty (Huang et al. 2024: `penalty_reward_value = −1`).
    case replace
}

/// The bounded buffer of one rollout of an online method (PPO, GRPO, RLOO): `capacity` sequences
/// of at most `L` response tokens. Per-token arrays are flat (capacity, L), entry b·L + t = t-th
/// response token of sequence b; they are allocated once and overwritten by every iteration.
///
/// What a method does not use is not allocated: the per-token reward arrays (`rewards`, `values`,
/// `kl`, `advantages`, `returns`) belong to PPO's value-model path (`tokenRewards`), the reference
/// log-probs to a method that keeps a reference (`reference`). GRPO and RLOO keep one advantage
/// per sequence (`sequenceAdvantages`).
public final class RolloutBuffer {
    public let capacity: Int
    public let L: Int
    /// Whether the per-token reward, value, KL, advantage and return arrays are held.
    public let tokenRewards: Bool
    /// Whether the reference log-probs are held.
    public let reference: Bool
    /// Number of sequences in the current rollout (≤ capacity).
    public internal(set) var count = 0
    /// Prompts (after truncation to the context) and postprocessed responses (up to and including EOS).
    public internal(set) var prompts: [[Int32]] = []
    public internal(set) var responses: [[Int32]] = []
    public internal(set) var endedWithEOS: [Bool] = []
    /// Reward function output, and the score entering the reward (after EOS penalty and clip).
    public internal(set) var rawScores: [Float] = []
    public internal(set) var scores: [Float] = []
    /// Length of the forward passes of this rollout: max over sequences of prompt + response.
    public internal(set) var T = 1
    /// (capacity, L): real response token (not padding).
    public internal(set) var mask: [Bool]
    /// (capacity, L): log π_old, log π_ref of each response token (logits / temperature).
    public internal(set) var logprobs: [Float]
    public internal(set) var refLogprobs: [Float]
    /// (capacity, L): V(s_t), read at the last token of the context before response token t.
    public internal(set) var values: [Float]
    /// (capacity, L): per-token KL estimate, reward, whitened advantage, return.
    public internal(set) var kl: [Float]
    public internal(set) var rewards: [Float]
    public internal(set) var advantages: [Float]
    public internal(set) var returns: [Float]
    /// (capacity): one advantage per sequence (group-normalised or leave-one-out), shared by its tokens.
    public internal(set) var sequenceAdvantages: [Float]

    public init(capacity: Int, responseLength L: Int, tokenRewards: Bool = true, reference: Bool = true) {
        self.capacity = capacity
        self.L = L
        self.tokenRewards = tokenRewards
        self.reference = reference
        let n = capacity * L
        mask = [Bool](repeating: false, count: n)
        logprobs = [Float](repeating: 0, count: n)
        refLogprobs = reference ? logprobs : []
        let perToken = tokenRewards ? logprobs : []
        values = perToken; kl = perToken
        rewards = perToken; advantages = perToken; returns = perToken
        sequenceAdvantages = [Float](repeating: 0, count: capacity)
    }

    /// Number of real response tokens of sequence b.
    public func length(_ b: Int) -> Int { responses[b].count }

    /// Sum over the real tokens of sequence b of `x` (a (capacity, L) array).
    func rowSum(_ x: [Float], _ b: Int) -> Double {
        var s = 0.0
        for t in 0..<responses[b].count { s += Double(x[b * L + t]) }
        return s
    }

    /// Bytes held by the per-token and per-sequence arrays (prompts and responses aside).
    public var bytes: Int {
        let floatsPerToken = 1 + (reference ? 1 : 0) + (tokenRewards ? 5 : 0)
        return capacity * L * (floatsPerToken * 4 + 1) + capacity * 4
    }

    // MARK: - Response postprocessing

    /// The response as it enters scoring and training: at most `maxLength` tokens, cut after the
    /// first `stopToken` (which is kept). TRL's truncate_response, without the pad fill.
    public static func truncate(_ response: [Int32], stopToken: Int32?, maxLength: Int) -> (tokens: [Int32], endedWithEOS: Bool) {
        var r = Array(response.prefix(maxLength))
        guard let eos = stopToken else { return (r, false) }
        if let k = r.firstIndex(of: eos) {
            r.removeLast(r.count - k - 1)
            return (r, true)
        }
        return (r, false)
    }

    /// The score that enters the reward: the reward function's output, then the missing-EOS
    /// penalty (subtracted, or replacing the score by −penalty), then the optional clip to ±clip.
    public static func finalScore(_ raw: Float, endedWithEOS: Bool, penalty: Float?, mode: MissingEOSMode, clip: Float?) -> Float {
        var s = raw
        if !endedWithEOS, let p = penalty {
            switch mode {
            case .subtract: s -= p
            case .replace: s = -p
            }
        }
        if let c = clip { s = min(max(s, -c), c) }
        return s
    }

    /// Fills the buffer with (prompt, response) pairs: prompts keep their last `promptRoom`
    /// tokens, responses are cut at `L` tokens and after the first `stopToken`, the mask marks
    /// the kept tokens. The per-token values of earlier rollouts stay until overwritten.
    func load(prompts: [[Int32]], responses: [[Int32]], stopToken: Int32?, promptRoom room: Int) {
        precondition(prompts.count == responses.count && !prompts.isEmpty && prompts.count <= capacity,
                     "a rollout holds 1...\(capacity) (prompt, response) pairs")
        let n = prompts.count
        count = n
        self.prompts = prompts.map { $0.count > room ? Array($0.suffix(room)) : $0 }
        let cut = responses.map { Self.truncate($0, stopToken: stopToken, maxLength: L) }
        precondition(cut.allSatisfy { !$0.tokens.isEmpty }, "every response needs at least one token")
        self.responses = cut.map(\.tokens)
        endedWithEOS = cut.map(\.endedWithEOS)
        T = (0..<n).map { self.prompts[$0].count + self.responses[$0].count }.max()!
        for b in 0..<capacity {
            for t in 0..<L { mask[b * L + t] = b < n && t < self.responses[b].count }
        }
    }

    /// Scores every loaded (prompt, response) with `reward` (prompt and postprocessed response),
    /// then applies the missing-EOS penalty (only with a stop token) and the clip: `rawScores`, `scores`.
    /// The processes of a data-parallel job (`reducer`) each score their share and all get every score.
    func score(with reward: RewardFunction, stopToken: Int32?, missingEOSPenalty: Float?, mode: MissingEOSMode, clip: Float?,
               reducer: GradientReducer = LocalReducer.shared) {
        let mine = reducer.share(count)
        let local = reward.scores(prompts: Array(prompts[mine]), responses: Array(responses[mine]))
        precondition(local.count == mine.count, "reward function \(reward.name) returned \(local.count) scores for \(mine.count) responses")
        rawScores = reducer.size == 1 ? local : reducer.gather(local.map(Double.init), total: count).map(Float.init)
        let penalty = stopToken == nil ? nil : missingEOSPenalty
        scores = (0..<count).map {
            Self.finalScore(rawScores[$0], endedWithEOS: endedWithEOS[$0], penalty: penalty, mode: mode, clip: clip)
        }
    }
}
