import Engine
import Foundation

extension TLDRSynth {
    /// One labeled comparison per post of `split` (post indices 0..<count), in the
    /// "summarize from feedback" form. Two thirds compare the reference with a degraded reference
    /// (uniform over `Degradation`; policies "reference" / "degraded-<kind>"), one third two distinct
    /// plausible summaries (policies "sampled"); the order is shuffled and `choice` is drawn from a
    /// `SimulatedLabeler` at `temperature`. A pure function of (seed, split, index, temperature).
    public func comparisons(split: Split, count: Int,
                            temperature: Double = SimulatedLabeler.defaultTemperature) -> [ComparisonRecord] {
        let labeler = SimulatedLabeler(temperature: temperature)
        let base = RNG(seed: seed)
        return (0..<max(0, count)).map { i in
            let post = post(index: i, split: split)
            var rng = base.split("tldr-synth/comparisons/" + split.rawValue, i)
            let ref = Text.trimmed(post.reference)
            var a = "", b = "", pa = "", pb = ""
            if rng.int(3) == 2 {
                for _ in 0..<8 {
                    a = plausibleSummary(post, rng: &rng)
                    b = plausibleSummary(post, rng: &rng)
                    if a != b { break }
                }
                pa = "sampled"; pb = "sampled"
            }
            if a == b {
                let kind = Degradation.allCases[rng.int(Degradation.allCases.count)]
                a = ref; pa = "reference"
                b = degrade(post, kind: kind, rng: &rng); pb = "degraded-" + kind.rawValue
            }
            if rng.int(2) == 0 { swap(&a, &b); swap(&pa, &pb) }
            let first = labeler.prefersFirst(post: post, a, b, rng: &rng)
            return ComparisonRecord(
                id: post.id, subreddit: post.subreddit, title: post.title, body: post.body, facts: post.facts,
                summaries: [a, b], policies: [pa, pb], notes: ["", ""], choice: first ? 0 : 1,
                worker: "simulated-labeler-T\(temperature)", batch: "tldr-synth-seed\(seed)", split: split.rawValue)
        }
    }
}

extension Datasets {
    /// Writes `tldr-synth` in the real formats to `dir` (created if missing):
    ///
    /// - `train.jsonl` (`posts` posts), `valid.jsonl` and `test.jsonl` (max(1, posts / 10) each):
    ///   TL;DR filtered lines {"id", "subreddit", "title", "post", "summary", "facts"};
    /// - `comparisons_train.jsonl`, `comparisons_valid.jsonl`: `TLDRSynth.comparisons` of the same
    ///   train and valid posts, in the comparisons format (facts in "info"."facts").
    ///
    /// `loadPosts`, `loadSFTExamples`, `loadComparisons` and `loadPreferencePairs` read these back
    /// to exactly the in-memory posts, examples, records and pairs.
    public static func writeTLDRSynth(to dir: URL, posts: Int, seed: UInt64) throws {
        guard posts >= 1 else {
            throw DataError("\(displayName(dir)): no examples; asked for \(posts) posts, ask for at least 1")
        }
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw DataError("\(displayName(dir)): cannot create the directory (\(error.localizedDescription)); check the path and permissions")
        }
        let synth = TLDRSynth(seed: seed)
        let evalCount = max(1, posts / 10)
        try writePosts(synth.posts(split: .train, count: posts), to: dir.appendingPathComponent("train.jsonl"))
        try writePosts(synth.posts(split: .valid, count: evalCount), to: dir.appendingPathComponent("valid.jsonl"))
        try writePosts(synth.posts(split: .test, count: evalCount), to: dir.appendingPathComponent("test.jsonl"))
        try writeComparisons(synth.comparisons(split: .train, count: posts), to: dir.appendingPathComponent("comparisons_train.jsonl"))
        try writeComparisons(synth.comparisons(split: .valid, count: evalCount), to: dir.appendingPathComponent("comparisons_valid.jsonl"))
    }
}
