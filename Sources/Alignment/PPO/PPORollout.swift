import Foundation

/// The bounded buffer of one PPO rollout: `capacity` sequences of at most `L` response tokens.
/// Per-token arrays are flat (capacity, L), entry b·L + t = t-th response token of sequence b;
/// they are allocated once and overwritten by every iteration.
public final class PPORollout {
    public let capacity: Int
    public let L: Int
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

    public init(capacity: Int, responseLength L: Int) {
        self.capacity = capacity
        self.L = L
        let n = capacity * L
        mask = [Bool](repeating: false, count: n)
        logprobs = [Float](repeating: 0, count: n)
        refLogprobs = logprobs; values = logprobs; kl = logprobs
        rewards = logprobs; advantages = logprobs; returns = logprobs
    }

    /// Number of real response tokens of sequence b.
    public func length(_ b: Int) -> Int { responses[b].count }

    /// Sum over the real tokens of sequence b of `x` (a (capacity, L) array).
    func rowSum(_ x: [Float], _ b: Int) -> Double {
        var s = 0.0
        for t in 0..<responses[b].count { s += Double(x[b * L + t]) }
        return s
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
}
