import Foundation
import JSON

/// The per-sample evaluation of every (run, policy) a comparison names, seed by seed, and the
/// verdicts between them (`Verdicts`): the mean win rate (gold score, KL) across seeds with its
/// interval, and for each pair of methods the paired difference on identical prompts and
/// sampling streams.
///
/// A run directory is one seed; a directory whose `seed-S/` subdirectories are runs (a replicated
/// experiment) contributes each of them as seed S. Two runs of one seed are paired unit by unit
/// (prompt index), whatever directory they are in: the evaluation draws each prompt's samples from
/// a stream of (seed, temperature, prompt) alone.
struct PairedComparison {
    /// "ppo · runs/a": a policy of a run or replicated set.
    struct Method: Hashable {
        var run: String
        var policy: String
        var label: String { "\(policy) (\(run))" }
    }

    /// metric → temperature → method → unit → value.
    var values: [String: [Double: [Method: [Verdicts.Unit: Double]]]] = [:]
    var methods: [Method] = []
    var seeds: Set<UInt64> = []

    static let metrics = ["win", "gold", "kl"]

    /// The seed directories of `url`: its `seed-S/` runs when it has any, else itself.
    static func seedRuns(_ url: URL) -> [URL] {
        let fm = FileManager.default
        let subs = ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).filter { $0.hasPrefix("seed-") }.sorted()
        let runs = subs.map { url.appendingPathComponent($0) }.filter { fm.fileExists(atPath: $0.appendingPathComponent("eval.json").path) }
        return runs.isEmpty ? [url] : runs
    }

    /// Reads eval_samples.jsonl of every seed run of `runs` (labelled by `labels`).
    init(runs: [URL], labels: [String]) throws {
        for (url, label) in zip(runs, labels) {
            for seedRun in Self.seedRuns(url) {
                let evalURL = seedRun.appendingPathComponent("eval.json")
                guard let text = try? String(contentsOf: evalURL, encoding: .utf8), let eval = try? JSONParser.parse(text) else { continue }
                // Older runs did not record the seed in eval.json: their config has it.
                let resolved = (try? String(contentsOf: seedRun.appendingPathComponent("config.resolved.json"), encoding: .utf8))
                    .flatMap { try? JSONParser.parse($0) }
                guard let seedValue = eval["seed"]?.intValue ?? resolved?["seed"]?.intValue, seedValue >= 0 else { continue }
                let seed = UInt64(seedValue)
                let samplesURL = seedRun.appendingPathComponent("eval_samples.jsonl")
                guard let lines = try? String(contentsOf: samplesURL, encoding: .utf8) else { continue }
                seeds.insert(seed)
                // The final policies; snapshot lines (labelled like "ppo-000010") belong to the frontier.
                let finals = Set((eval["policies"]?.arrayValue ?? []).compactMap { $0["policy"]?.stringValue })
                for (n, line) in lines.split(separator: "\n").enumerated() {
                    let v: JSONValue
                    do { v = try JSONParser.parse(String(line)) } catch {
                        throw UserError("\(samplesURL.path): line \(n + 1): invalid JSON (\(error)); re-create it with: rlhf eval \(seedRun.path)")
                    }
                    guard let policy = v["policy"]?.stringValue, finals.contains(policy),
                          let t = v["temperature"]?.doubleValue, let i = v["prompt_index"]?.intValue else { continue }
                    let m = Method(run: label, policy: policy)
                    if !methods.contains(m) { methods.append(m) }
                    let unit = Verdicts.Unit(seed: seed, prompt: i)
                    for key in Self.metrics {
                        if let x = v[key]?.doubleValue, x.isFinite { values[key, default: [:]][t, default: [:]][m, default: [:]][unit] = x }
                    }
                }
            }
        }
    }

    var temperatures: [Double] { Array(Set(values.values.flatMap(\.keys))).sorted() }

    /// Verdicts add to the table only with two methods to pair, or several seeds to pool.
    var worthReporting: Bool { methods.count > 1 || seeds.count > 1 }

    /// Lines of verdicts for `metric`: each method's mean across seeds, then each pair's paired difference.
    func lines(metric: String, digits: Int = 3) -> [String] {
        guard let byT = values[metric] else { return [] }
        var out: [String] = []
        for t in byT.keys.sorted() {
            let ms = methods.filter { byT[t]?[$0] != nil }
            guard !ms.isEmpty else { continue }
            let tt = String(format: "T=%g", t)
            let means = ms.map { m -> String in
                let a = Verdicts.acrossSeeds(byT[t]![m]!)
                let ci = a.halfWidth.map { String(format: " ± %.\(digits)f", $0) } ?? ""
                return "\(m.label) " + String(format: "%.\(digits)f", a.mean) + ci
            }
            out.append("\(metric) at \(tt), mean across seeds: " + means.joined(separator: "; "))
            for (i, a) in ms.enumerated() {
                for b in ms[(i + 1)...] {
                    // Best-of-N (one method per N) is paired with the SFT policy it samples from
                    // only: against every other method and N it would multiply the lines by N.
                    if Overoptimization.isBestOfN(a.policy) || Overoptimization.isBestOfN(b.policy) {
                        let other = Overoptimization.isBestOfN(a.policy) ? b : a
                        guard other.policy == "sft", other.run == (other == a ? b : a).run else { continue }
                    }
                    guard let p = Verdicts.paired(byT[t]![b]!, byT[t]![a]!) else { continue }
                    out.append(Verdicts.line("\(metric) \(b.label) − \(a.label) at \(tt)", p, digits: digits))
                }
            }
        }
        return out
    }

    /// Distinct labels for run directories: the last path component, or as many trailing
    /// components as it takes to tell two apart.
    static func labels(_ runs: [URL]) -> [String] {
        let parts = runs.map { $0.standardizedFileURL.pathComponents.filter { $0 != "/" } }
        var depth = Array(repeating: 1, count: runs.count)
        func label(_ i: Int) -> String { parts[i].suffix(depth[i]).joined(separator: "/") }
        for _ in 0..<8 {
            let current = runs.indices.map(label)
            var changed = false
            for i in runs.indices where current.filter({ $0 == current[i] }).count > 1 && depth[i] < parts[i].count {
                depth[i] += 1
                changed = true
            }
            if !changed { break }
        }
        return runs.indices.map(label)
    }
}
