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

/// One eval row's samples, in prompt order, with what a model computes of each: the reward model's
/// score (`rm`, empty without a reward model), the text judge's (`js`, empty without one) and the
/// KL to the SFT policy (`kl`, empty for best-of-N).
struct RowSamples {
    var tokens: [[Int32]] = [], eos: [Bool] = []
    var rm: [Float] = [], js: [Float] = []
    var kl: [Double] = []

    mutating func append(_ u: RowSamples) {
        tokens += u.tokens; eos += u.eos; rm += u.rm; js += u.js; kl += u.kl
    }

    /// Every process's samples of a data-parallel job (each holding consecutive prompts, in rank
    /// order), in prompt order; the samples themselves in a process that runs alone.
    func gathered(_ job: GradientReducer) -> RowSamples {
        guard job.size > 1 else { return self }
        return RowSamples(tokens: job.allGather(tokens), eos: job.allGather(eos), rm: job.allGather(rm), js: job.allGather(js), kl: job.allGather(kl))
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

        /// How a row's KL(π‖π_SFT) is known: per sequence from the policy's log-probs (`RowSamples.kl`),
        /// or, for best-of-N (no tractable density), by its analytic bound with a plug-in estimate beside it.
        enum KLSource {
            case policy
            case bestOfN(n: Int, estimates: [Double])
        }

        // The work of a row is cut into units of eval.batch_size prompts (one generation batch), and
        // each unit's samples, scores and KL come from calls on that unit alone (the reward model and
        // the KL in batches of 32 inside it): a unit's results do not depend on which process
        // computes it or on the others. In a data-parallel job each process computes its share of
        // the units of every row and every process gets all of them, in prompt order, so eval.json
        // is the same, byte for byte, as one process's.
        let job = DataParallel.reducer
        /// This process's units of the first n prompts.
        func ownUnits(_ n: Int) -> [Range<Int>] {
            let all = stride(from: 0, to: n, by: cfg.batchSize).map { $0..<min(n, $0 + cfg.batchSize) }
            return Array(all[job.share(all.count)])
        }

        /// The reward model's and the judge's scores of `tokens`, the samples of prompts `range`,
        /// and their KL under `policy` (nil: not measured).
        func scoreUnit(_ range: Range<Int>, _ tokens: [[Int32]], kl policy: GPT?) throws -> RowSamples {
            var u = RowSamples()
            if let scorer { u.rm = scorer.scores(prompts: Array(prompts[range]), responses: tokens) }
            if let external {
                let texts = try tokens.map { try text($0).trimmingCharacters(in: .whitespaces) }
                u.js = external.scores(prompts: items[range].map(\.prompt), completions: texts)
            }
            if let policy { u.kl = try sequenceKL(policy: policy, reference: reference, refWS: refWS, prompts: Array(prompts[range]), responses: tokens) }
            return u
        }

        /// The eval row of one policy's samples at one temperature (and their eval_samples.jsonl lines).
        func judgeRow(_ row: RowSamples, temperature: Double, label: String, kl source: KLSource) throws -> [(String, JSONValue)] {
            let n = row.tokens.count
            let outs = zip(row.tokens, row.eos).map { (tokens: $0, endedWithEOS: $1) }
            let texts = try outs.map { try text($0.tokens).trimmingCharacters(in: .whitespaces) }
            var obj: [(String, JSONValue)] = [("temperature", .number(temperature, isInteger: false)), ("n", .number(Double(n), isInteger: true))]
            func put(_ k: String, _ m: MeanCI) {
                obj.append((k, .number(m.mean, isInteger: false)))
                obj.append((k + "_ci", m.ci.isFinite ? .number(m.ci, isInteger: false) : .null))
            }
            let rm = row.rm, js = row.js
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
            case .policy:
                kl = row.kl
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
            let options = SamplingOptions(temperature: Float(temperature), maxNewTokens: config.data.maxCompletionTokens, eosId: tok.eosId)
            var own = RowSamples()
            for range in ownUnits(n) {
                var rngs = range.map { evalStream(temperature, $0) }
                let outs = gen.generate(prompts: Array(prompts[range]), options: options, rngs: &rngs)
                var unit = try scoreUnit(range, outs.map(\.tokens), kl: policy)
                unit.tokens = outs.map(\.tokens)
                unit.eos = outs.map(\.endedWithEOS)
                own.append(unit)
            }
            return try judgeRow(own.gathered(job), temperature: temperature, label: label, kl: .policy)
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
            // Per unit of prompts: the N samples of each, then for each N the kept samples, their
            // row's scores and their KL estimates; gathered as the rows of the policies are.
            var ownKept = [RowSamples](repeating: RowSamples(), count: ns.count), ownEstimates = [[Double]](repeating: [], count: ns.count)
            for range in ownUnits(n) {
                let results = BestOfN.run(policy: reference, prompts: Array(prompts[range]), reward: scorer, config: bon, seed: config.seed,
                                          batch: cfg.batchSize, stream: { i, k in
                                              k == 0 ? evalStream(1.0, range.lowerBound + i) : evalStream(1.0, range.lowerBound + i).split("best-of-n", k)
                                          })
                for (j, (_, best, estimates)) in BestOfN.prefixes(results, ns: ns).enumerated() {
                    let kept = zip(results, best).map { $0.completions[$1] }
                    var unit = try scoreUnit(range, kept, kl: nil)
                    unit.tokens = kept
                    unit.eos = zip(results, best).map { $0.endedWithEOS[$1] }
                    ownKept[j].append(unit)
                    ownEstimates[j] += estimates
                }
            }
            for (j, candidates) in ns.enumerated() {
                let estimates = job.allGather(ownEstimates[j])
                let name = "bon-\(candidates)"
                let row = try judgeRow(ownKept[j].gathered(job), temperature: 1.0, label: name, kl: .bestOfN(n: candidates, estimates: estimates))
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
