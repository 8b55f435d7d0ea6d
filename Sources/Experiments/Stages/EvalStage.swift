import Alignment
import Data
import Engine
import Files
import Foundation
import GPT
import JSON

/// Mean and 95% confidence half-width (normal approximation).
struct MeanCI {
    var mean: Double, ci: Double, n: Int
    init(_ xs: [Double]) {
        n = xs.count
        let m = xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count)
        mean = m
        if xs.count > 1 {
            let v = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)
            ci = 1.96 * (v / Double(xs.count)).squareRoot()
        } else {
            ci = .nan
        }
    }
}

/// 1 when `score` beats `reference` by more than `tie`, 0.5 within it, else 0.
func winScore(_ score: Double, _ reference: Double, tie: Double) -> Double {
    abs(score - reference) <= tie + 1e-9 ? 0.5 : (score > reference ? 1 : 0)   // 1e-9: a margin of exactly five words is a tie
}

extension ExperimentRunner {
    /// Samples each policy on held-out prompts at each temperature and judges the samples against
    /// the reference summaries: win rate (ties count half), judge score, reward-model score,
    /// KL(π‖π_SFT) estimated from the samples, length and EOS rate, with 95% CIs. Also evaluates
    /// the snapshots saved during training at temperature 1 (the reward–KL frontier), and
    /// best-of-N from the SFT policy for each N of `eval.best_of_n` (policies "bon-N", and the
    /// frontier's "bon" curve over N: the over-optimisation curve).
    func runEval() throws -> [String: Double] {
        guard let cfg = config.eval else { return [:] }
        let d = try data
        let tok = try tokenizer
        let items = Array(d.test.prefix(cfg.prompts))
        let prompts = try items.map { try tokenizePrompt($0.prompt) }
        let reference = try requireModel("sft", for: .eval)
        let scorer = try loadRewardScorer()
        if !cfg.bestOfN.isEmpty && scorer == nil {
            throw UserError("\(config.file): eval.best_of_n keeps the reward model's best of N samples, but this run has no models/reward_model.safetensors; add the reward_model stage (or init_from a run that trained one), or remove eval.best_of_n")
        }
        let judge = GoldJudge()
        let gold = d.hasGoldJudge
        // What decides the win rate (eval.judge): the gold judge, this run's reward model, or an
        // independent reward model that reads the texts with its own tokenizer.
        let judgeSpec = cfg.judge ?? (gold ? "gold" : "reward_model")
        let external = ["gold", "reward_model"].contains(judgeSpec) ? nil
            : try TextJudge.load(judgeSpec, maxPromptTokens: config.data.maxPromptTokens,
                                 maxCompletionTokens: config.data.maxCompletionTokens, file: config.file)
        // Reference summaries' scores (fixed across policies and temperatures).
        let refTexts = items.map { $0.reference.trimmingCharacters(in: .whitespaces) }
        let refGold: [Double] = gold ? zip(items, refTexts).map { judge.score(post: $0.post!, summary: $1) } : []
        let refTokens = items.map { tok.encode($0.reference) + [tok.eosId] }
        let refRM: [Float] = scorer.map { $0.scores(prompts: prompts, responses: refTokens) } ?? []
        let refJudge: [Float] = external.map { $0.scores(prompts: items.map(\.prompt), completions: refTexts) } ?? []
        let refWS = GPTWorkspace(config: reference.config, maxB: 32, maxT: config.sequenceLength)
        // One line per judged sample (eval_samples.jsonl), so a reader can see what the numbers are made of.
        var sampleLines: [String] = []

        /// How a row's KL(π‖π_SFT) is known: per sequence from the policy's log-probs, or, for
        /// best-of-N (no tractable density), by its analytic bound with a plug-in estimate beside it.
        enum KLSource {
            case policy(GPT)
            case bestOfN(n: Int, estimates: [Double])
        }

        /// The eval row of one policy's samples at one temperature (and their eval_samples.jsonl lines).
        func judgeRow(_ outs: [(tokens: [Int32], endedWithEOS: Bool)], temperature: Double, label: String, kl source: KLSource) throws -> [(String, JSONValue)] {
            let n = outs.count
            let ps = Array(prompts.prefix(n))
            let texts = try outs.map { try text($0.tokens).trimmingCharacters(in: .whitespaces) }
            var obj: [(String, JSONValue)] = [("temperature", .number(temperature, isInteger: false)), ("n", .number(Double(n), isInteger: true))]
            func put(_ k: String, _ m: MeanCI) {
                obj.append((k, .number(m.mean, isInteger: false)))
                obj.append((k + "_ci", m.ci.isFinite ? .number(m.ci, isInteger: false) : .null))
            }
            var rm: [Float] = [], js: [Float] = []
            if let scorer { rm = scorer.scores(prompts: ps, responses: outs.map(\.tokens)) }
            if let external { js = external.scores(prompts: items.prefix(n).map(\.prompt), completions: texts) }
            // The judge's verdict on each sample, once: score, facts found, unsupported words.
            let b = gold ? (0..<n).map { judge.breakdown(post: items[$0].post!, summary: texts[$0]) } : []
            let g = b.map(\.score)
            // Each sample's win against its reference under the judge (ties half), kept per sample
            // for the paired verdicts of rlhf compare.
            var wins: [Double] = []
            if judgeSpec == "gold" {
                wins = (0..<n).map { winScore(g[$0], refGold[$0], tie: cfg.tieMargin) }
            } else if external != nil {
                wins = (0..<n).map { winScore(Double(js[$0]), Double(refJudge[$0]), tie: cfg.tieMargin) }
            } else if !rm.isEmpty {
                wins = (0..<n).map { winScore(Double(rm[$0]), Double(refRM[$0]), tie: cfg.tieMargin) }
            }
            if !wins.isEmpty { put("win_rate", MeanCI(wins)) }
            if !js.isEmpty { put("judge_score", MeanCI(js.map(Double.init))) }
            if gold {
                put("gold", MeanCI(g))
                // What the judge saw: share of the post's key facts expressed, and unsupported words.
                put("facts_expressed", MeanCI(b.map { Double($0.factsExpressed.count) / Double(max(1, $0.factsExpressed.count + $0.factsMissing.count)) }))
                put("unsupported_words", MeanCI(b.map { Double($0.unsupportedEntities.count + $0.unsupportedWords.count) }))
            }
            if !rm.isEmpty { put("rm_score", MeanCI(rm.map(Double.init))) }
            // KL(π‖π_ref) per sample: Σ_t log π(y_t) − log π_ref(y_t) at temperature 1 over the
            // sampled tokens. Best-of-N's row gives the bound as "kl" (the x of over-optimisation
            // curves, as Gao et al. plot it) and its samples only the estimate, so that paired KL
            // verdicts never compare a bound with a measurement.
            var kl: [Double] = [], klEstimate: [Double] = []
            switch source {
            case .policy(let policy):
                kl = try sequenceKL(policy: policy, reference: reference, refWS: refWS, prompts: ps, responses: outs.map(\.tokens))
                put("kl", MeanCI(kl))
            case .bestOfN(let candidates, let estimates):
                klEstimate = estimates
                obj.append(("kl", .number(BestOfN.klBound(n: candidates), isInteger: false)))
                obj.append(("kl_ci", .null))
                put("kl_estimate", MeanCI(estimates))
                obj.append(("kl_estimator", .string("kl: the analytic log N − (N−1)/N, an upper bound (exact for distinct rewards; Beirami et al. 2024); kl_estimate: plug-in over each prompt's N scored samples (BestOfN.klPlugIn), biased low")))
                obj.append(("best_of_n", .number(Double(candidates), isInteger: true)))
            }
            for i in 0..<n {
                var line: [(String, JSONValue)] = [("policy", .string(label)), ("temperature", .number(temperature, isInteger: false)),
                                                   ("prompt_index", .number(Double(i), isInteger: true)), ("summary", .string(texts[i])),
                                                   ("reference", .string(refTexts[i]))]
                if !wins.isEmpty { line.append(("win", .number(wins[i], isInteger: false))) }
                if gold {
                    line += [("gold", .number(g[i], isInteger: false)), ("reference_gold", .number(refGold[i], isInteger: false)),
                             ("facts", .array(b[i].factsExpressed.map { .string($0.rawValue) })),
                             ("unsupported", .array((b[i].unsupportedEntities + b[i].unsupportedWords).map { .string($0) })),
                             ("repeated_trigrams", .number(Double(b[i].repeatedTrigrams), isInteger: true)),
                             ("ends_mid_sentence", .bool(b[i].endsMidSentence))]
                }
                if !rm.isEmpty { line += [("rm_score", .number(Double(rm[i]), isInteger: false)), ("reference_rm_score", .number(Double(refRM[i]), isInteger: false))] }
                if !js.isEmpty { line += [("judge_score", .number(Double(js[i]), isInteger: false)), ("reference_judge_score", .number(Double(refJudge[i]), isInteger: false))] }
                if !kl.isEmpty { line.append(("kl", .number(kl[i], isInteger: false))) }
                if !klEstimate.isEmpty { line.append(("kl_estimate", .number(klEstimate[i], isInteger: false))) }
                line += [("tokens", .number(Double(outs[i].tokens.count), isInteger: true)), ("eos", .bool(outs[i].endedWithEOS))]
                sampleLines.append(JSONValue.object(line).serialized(pretty: false))
            }
            put("length", MeanCI(outs.map { Double($0.tokens.count) }))
            obj.append(("eos_rate", .number(Double(outs.filter(\.endedWithEOS).count) / Double(max(n, 1)), isInteger: false)))
            obj.append(("example", .string(texts.first ?? "")))
            return obj
        }

        /// The stream of prompt `i` at temperature `t`: the same for every policy (and every run of
        /// the same seed), so that two methods' samples of one prompt differ by the policies alone,
        /// which is what makes their paired difference (rlhf compare's verdicts) sharp.
        func evalStream(_ t: Double, _ i: Int) -> RNG { RNG(seed: config.seed).split("eval-\(t)", i) }

        func evaluate(_ policy: GPT, temperature: Double, count: Int, label: String) throws -> [(String, JSONValue)] {
            let n = min(count, prompts.count)
            let gen = Generator(model: policy, maxBatch: min(cfg.batchSize, n))
            var rngs = (0..<n).map { evalStream(temperature, $0) }
            let outs = gen.generate(prompts: Array(prompts.prefix(n)), options: SamplingOptions(temperature: Float(temperature), maxNewTokens: config.data.maxCompletionTokens, eosId: tok.eosId), rngs: &rngs)
            return try judgeRow(outs.map { ($0.tokens, $0.endedWithEOS) }, temperature: temperature, label: label, kl: .policy(policy))
        }

        var policiesJSON: [JSONValue] = []
        var summary: [String: Double] = [:]
        // Final policies' rows at temperature 1, reused for a snapshot with the same weights.
        var finalAtOne: [String: (weights: [Float], row: [(String, JSONValue)])] = [:]
        let available = cfg.policies.filter { artifact("models/\($0).safetensors") != nil }
        progress.message("[eval] \(available.joined(separator: ", ")) on \(items.count) prompts at temperatures \(cfg.temperatures.map { String($0) }.joined(separator: ", "))")
        for name in available {
            let policy = try requireModel(name, for: .eval)
            var rows: [JSONValue] = []
            for t in cfg.temperatures {
                let row = try evaluate(policy, temperature: t, count: cfg.prompts, label: name)
                rows.append(.object(row))
                if t == 1.0 { finalAtOne[name] = (policy.params.array, row) }
                let v = JSONValue.object(row)
                if let w = v["win_rate"]?.doubleValue { summary["\(name)_win_rate_t\(t)"] = w }
                if let g = v["gold"]?.doubleValue { summary["\(name)_gold_t\(t)"] = g }
                progress.message(String(format: "[eval] %@ T=%.2f win %.3f gold %.3f kl %.2f len %.1f", name, t,
                                        v["win_rate"]?.doubleValue ?? .nan, v["gold"]?.doubleValue ?? .nan,
                                        v["kl"]?.doubleValue ?? .nan, v["length"]?.doubleValue ?? .nan))
                if stopRequested != 0 { throw RunStopped(description: "stopped during eval (eval is redone on resume); continue with: rlhf resume \(run.url.path)") }
            }
            policiesJSON.append(.object([("policy", .string(name)), ("by_temperature", .array(rows))]))
        }
        // Best-of-N from the SFT policy at T = 1 (sampling from the policy itself, where its KL
        // bound holds): one draw of the largest N per prompt, best-of-n the reward model's best of
        // the first n samples, sample 0 on every policy's stream (best-of-1 is the SFT row at T = 1).
        var bonFrontier: [JSONValue] = []
        if !cfg.bestOfN.isEmpty {
            let scorer = scorer!   // checked before any sampling
            let ns = cfg.bestOfN.sorted()
            var bon = BestOfNConfig()
            bon.n = ns.last!
            bon.temperature = 1
            bon.maxCompletionLength = config.data.maxCompletionTokens
            bon.stopToken = tok.eosId
            let n = min(cfg.prompts, prompts.count)
            progress.message("[eval] best-of-N from sft: \(bon.n) samples of each of \(n) prompts at T=1, kept for N = \(ns.map(String.init).joined(separator: ", "))")
            let results = BestOfN.run(policy: reference, prompts: Array(prompts.prefix(n)), reward: scorer, config: bon, seed: config.seed,
                                      batch: cfg.batchSize, stream: { i, k in k == 0 ? evalStream(1.0, i) : evalStream(1.0, i).split("best-of-n", k) })
            for (candidates, best, estimates) in BestOfN.prefixes(results, ns: ns) {
                let name = "bon-\(candidates)"
                let outs = zip(results, best).map { ($0.completions[$1], $0.endedWithEOS[$1]) }
                let row = try judgeRow(outs, temperature: 1.0, label: name, kl: .bestOfN(n: candidates, estimates: estimates))
                policiesJSON.append(.object([("policy", .string(name)), ("by_temperature", .array([.object(row)]))]))
                bonFrontier.append(.object([("policy", .string("bon")), ("step", .number(Double(candidates), isInteger: true))] + row))
                let v = JSONValue.object(row)
                if let w = v["win_rate"]?.doubleValue { summary["\(name)_win_rate_t1.0"] = w }
                if let g = v["gold"]?.doubleValue { summary["\(name)_gold_t1.0"] = g }
                progress.message(String(format: "[eval] %@ T=1.00 win %.3f gold %.3f rm %.3f kl ≤ %.2f (estimate %.2f) len %.1f", name,
                                        v["win_rate"]?.doubleValue ?? .nan, v["gold"]?.doubleValue ?? .nan, v["rm_score"]?.doubleValue ?? .nan,
                                        v["kl"]?.doubleValue ?? .nan, v["kl_estimate"]?.doubleValue ?? .nan, v["length"]?.doubleValue ?? .nan))
            }
            if stopRequested != 0 { throw RunStopped(description: "stopped during eval (eval is redone on resume); continue with: rlhf resume \(run.url.path)") }
        }
        // Reward–KL frontier: every snapshot of the PPO/DPO runs at temperature 1, on the same
        // prompts and sampling streams as the final policies (a snapshot of the final weights is
        // the final policy's point, not a second estimate of it).
        var frontier: [JSONValue] = []
        let snapDir = run.path("models/snapshots")
        let snaps = ((try? FileManager.default.contentsOfDirectory(atPath: snapDir.path)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
        for s in snaps {
            let parts = s.replacingOccurrences(of: ".safetensors", with: "").split(separator: "-")
            guard parts.count == 2, let step = Int(parts[1]) else { continue }
            let name = String(parts[0])
            let policy = try loadModel(snapDir.appendingPathComponent(s))
            let row: [(String, JSONValue)]
            if let f = finalAtOne[name], f.weights == policy.params.array {
                row = f.row
            } else {
                row = try evaluate(policy, temperature: 1.0, count: cfg.prompts, label: String(s.dropLast(".safetensors".count)))
            }
            frontier.append(.object([("policy", .string(name)), ("step", .number(Double(step), isInteger: true))] + row))
        }
        let out: JSONValue = .object([
            ("judge", .string(judgeSpec == "gold" ? "gold" : external?.name ?? (scorer != nil ? "reward_model" : "none"))),
            ("seed", .number(Double(config.seed), isInteger: true)),
            ("prompts", .number(Double(items.count), isInteger: true)),
            ("reference_gold", gold ? .number(MeanCI(refGold).mean, isInteger: false) : .null),
            ("tie_margin", .number(cfg.tieMargin, isInteger: false)),
            ("policies", .array(policiesJSON)),
            ("frontier", .array(frontier + bonFrontier)),
        ])
        try run.writeJSON(out, "eval.json")
        try DurableFile.write(sampleLines.joined(separator: "\n") + "\n", to: run.path("eval_samples.jsonl"))
        return summary
    }

    /// The trained reward model with its normalization bias, if this run (or init_from) has one.
    func loadRewardScorer() throws -> RewardModelScorer? {
        guard let u = artifact("models/reward_model.safetensors") else { return nil }
        let meta = try SafeTensors.open(u).metadata
        let model = try loadModel(u)
        guard model.config.scalarHead else {
            throw UserError("\(u.path): the model has no scalar head (scalar_head false), so it is not a reward model; replace it with the reward_model stage's output (run the reward_model stage again) or init_from a run that trained one")
        }
        let bias = Float(meta["reward_bias"] ?? "0") ?? 0
        return RewardModelScorer(model: model, bias: bias, pad: try tokenizer.padId, maxBatch: 32)
    }

    /// Σ_t log π(y_t|x,y_<t) − log π_ref(y_t|x,y_<t) per sequence, at temperature 1.
    func sequenceKL(policy: GPT, reference: GPT, refWS: GPTWorkspace, prompts: [[Int32]], responses: [[Int32]]) throws -> [Double] {
        let pad = try tokenizer.padId
        let ws = GPTWorkspace(config: policy.config, maxB: 32, maxT: config.sequenceLength)
        var out: [Double] = []
        var i = 0
        while i < prompts.count {
            let j = min(prompts.count, i + 32)
            let ex = (i..<j).map { SequenceExample(prompt: prompts[$0], completion: responses[$0]) }
            let batch = TokenBatch(ex, pad: pad)
            let lp = policy.batchLogProbs(batch, ws: ws)
            let lr = reference.batchLogProbs(batch, ws: refWS)
            for b in 0..<batch.B {
                var s = 0.0
                for r in batch.rowStart[b]..<batch.rowStart[b + 1] { s += Double(lp[r] - lr[r]) }
                out.append(s)
            }
            i = j
        }
        return out
    }
}
