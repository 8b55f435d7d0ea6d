import Alignment
import Data
import Engine
import Foundation
import GPT
import JSON
import Tokenizer

/// `rlhf bench`: throughput of the engine on fixed shapes, each as one JSON line, measured
/// against this machine's own sgemm GFLOP/s in the same run.
public enum Bench {
    public struct Shape {
        public let name: String
        public let config: GPTConfig
        public let batch: Int
        public let genBatch: Int, genPrompt: Int, genNew: Int
        public let dpoPairs: Int, dpoCompletion: Int
        /// Whether `--parts ppo`, `grpo` and `rloo` (or all) measure the online methods at this shape.
        public let online: Bool
        /// The group methods' step (`--parts grpo`, `rloo`): prompts, their length, completions per
        /// prompt and completion length. TRL's peer (`trl_grpo_bench.py`) samples 8 × 8 completions
        /// of 32 tokens to prompts of 40 random words, which its tokenizer makes 86–100 tokens
        /// (mean 93), left-padded to the longest: 96 tokens here.
        public var groupPrompts = 8, groupPromptLength = 96, groupGenerations = 8, groupCompletion = 32
    }

    public static let tiny = Shape(name: "tiny", config: GPTConfig(vocabSize: 2048, context: 128, nLayer: 4, nHead: 4, nEmbd: 128),
                                   batch: 16, genBatch: 64, genPrompt: 64, genNew: 32, dpoPairs: 16, dpoCompletion: 32, online: true)
    public static let small = Shape(name: "small", config: GPTConfig(vocabSize: 8192, context: 256, nLayer: 6, nHead: 6, nEmbd: 384),
                                    batch: 8, genBatch: 64, genPrompt: 128, genNew: 64, dpoPairs: 8, dpoCompletion: 64, online: true)
    /// GPT-2 (124M) as Hugging Face ships it: the vocabulary of 50,257 and 1,024 positions. PPO at
    /// this shape (32 rollouts of 512 + 64 tokens, three models), GRPO and RLOO are not part of the benchmark.
    public static let gpt2 = Shape(name: "gpt2", config: GPTConfig(vocabSize: 50257, context: 1024, nLayer: 12, nHead: 12, nEmbd: 768),
                                   batch: 4, genBatch: 16, genPrompt: 512, genNew: 64, dpoPairs: 4, dpoCompletion: 64, online: false)
    public static let shapes = [tiny, small, gpt2]

    /// Training FLOPs per token (PaLM, appendix B; nanoGPT's MFU estimate): 6·N for the matmul
    /// parameters N (blocks and the tied LM head) plus 12·n_layer·T·C for attention (QKᵀ and AV,
    /// 2·2·T·C forward, twice that backward, counted without the causal halving).
    public static func trainFlopsPerToken(_ c: GPTConfig, T: Int) -> Double {
        let N = Double(ParameterLayout(c).matmulParameters)
        return 6 * N + 12 * Double(c.nLayer * T * c.nEmbd)
    }

    /// A training-step measurement: the median step time, and the step's GFLOP/s as a share of
    /// sgemm GFLOP/s sampled beside each step.
    public struct TrainMeasurement {
        /// Median seconds per step (forward + backward + AdamW), steps timed back to back.
        public var stepSeconds: Double
        /// Median over a second series of steps of (step GFLOP/s) / (sgemm GFLOP/s just before and
        /// just after that step, the higher of the two).
        public var fractionOfSgemm: Double
        /// Median of those per-step sgemm figures.
        public var sgemmGFLOPs: Double
        /// Medians over the back-to-back steps of the seconds spent in matmuls (`BLAS.sgemm`), in
        /// causal attention, and in everything else (LayerNorm, GELU, residuals, biases, the
        /// softmax over the vocabulary, AdamW, zeroing).
        public var matmulSeconds: Double, attentionSeconds: Double, otherSeconds: Double
    }

    /// Times `steps` training steps back to back after a warm-up (tokens/s, as PyTorch's benchmark
    /// times them), then `steps` more with one 2048³ sgemm before the first and after every one.
    /// This machine's speed drifts by 10-30% within a minute, so for the share of sgemm a step is
    /// set against the sgemm of its own seconds (the faster of its two neighbours, which is the
    /// stricter comparison) rather than against one sgemm figure taken before the run. The sgemm
    /// leaves the caches cold for the step after it, which can only lower that share.
    public static func trainStep(_ s: Shape, steps: Int) -> TrainMeasurement {
        let c = s.config, T = c.context, B = s.batch
        let model = GPT(config: c, seed: 1)
        model.enableGrads()
        let opt = AdamW(layout: model.layout, config: AdamWConfig())
        let ws = GPTWorkspace(config: c, maxB: B, maxT: T)
        var rng = RNG(seed: 2)
        let tokens = (0..<(B * T)).map { _ in Int32(rng.int(c.vocabSize)) }
        let rows = (0..<(B * T)).compactMap { i -> Int32? in i % T == T - 1 ? nil : Int32(i) }
        let targets = rows.map { tokens[Int($0) + 1] }
        let dl = [Float](repeating: -1 / Float(rows.count), count: rows.count)
        var logp = [Float](repeating: 0, count: rows.count)
        func step() -> Double {
            let t0 = Clock.now()
            model.zeroGrad()
            tokens.withUnsafeBufferPointer { tk in
                model.forward(tokens: tk.baseAddress!, B: B, T: T, ws: ws)
                ws.zeroHiddenGrad()
                model.tokenLogProbs(ws: ws, rows: rows, targets: targets, logp: &logp, dlogp: dl)
                model.backward(tokens: tk.baseAddress!, ws: ws)
            }
            opt.step(params: model.params, grads: model.grads!, lr: 1e-4)
            return Clock.now() - t0
        }
        precondition(steps >= 1, "trainStep needs at least one step")
        _ = step()
        var times: [Double] = [], matmul: [Double] = [], attention: [Double] = []
        KernelClock.enabled = true
        for _ in 0..<steps {
            let (m0, a0) = (KernelClock.matmul, KernelClock.attention)
            times.append(step())
            matmul.append(KernelClock.matmul - m0)
            attention.append(KernelClock.attention - a0)
        }
        KernelClock.enabled = false
        let other = times.indices.map { times[$0] - matmul[$0] - attention[$0] }
        let probe = SgemmProbe(n: 2048)
        var paired: [Double] = [], sgemm = [probe.gflops()]
        for _ in 0..<steps {
            paired.append(step())
            sgemm.append(probe.gflops())
        }
        let flops = trainFlopsPerToken(c, T: T) * Double(B * T)
        let beside = paired.indices.map { max(sgemm[$0], sgemm[$0 + 1]) }
        let fractions = paired.indices.map { flops / paired[$0] / 1e9 / beside[$0] }
        return TrainMeasurement(stepSeconds: median(times), fractionOfSgemm: median(fractions), sgemmGFLOPs: median(beside),
                                matmulSeconds: median(matmul), attentionSeconds: median(attention), otherSeconds: median(other))
    }

    /// A data-parallel training step (`rlhf bench` under mpirun or srun): the median step time,
    /// the median seconds of it spent summing the gradient over the processes, and those spent
    /// before that waiting for the slowest process to finish its backward pass.
    public struct DataParallelMeasurement {
        public var stepSeconds: Double
        public var allreduceSeconds: Double
        public var waitSeconds: Double
    }

    /// Times `steps` training steps of the shape's global batch shared among the processes of the
    /// job, through the trainers' `OptimizerStep` (counts summed, the gradient summed by the
    /// reducer in one allreduce over the flat buffer after the backward pass, then AdamW), after a
    /// warm-up step. With one process it is the same step as `trainStep`'s.
    public static func dataParallelTrainStep(_ s: Shape, steps: Int, reducer: GradientReducer) -> DataParallelMeasurement {
        let c = s.config, T = c.context
        let model = GPT(config: c, seed: 1)
        model.enableGrads()
        let opt = AdamW(layout: model.layout, config: AdamWConfig())
        // The global batch's tokens, as trainStep draws them; this process takes its rows.
        var rng = RNG(seed: 2)
        let all = (0..<(s.batch * T)).map { _ in Int32(rng.int(c.vocabSize)) }
        let mine = reducer.share(s.batch)
        let B = mine.count
        let tokens = Array(all[(mine.lowerBound * T)..<(mine.upperBound * T)])
        let ws = GPTWorkspace(config: c, maxB: max(B, 1), maxT: T)
        let rows = (0..<(B * T)).compactMap { i -> Int32? in i % T == T - 1 ? nil : Int32(i) }
        let targets = rows.map { tokens[Int($0) + 1] }
        var logp = [Float](repeating: 0, count: rows.count)
        func step() -> (Double, Double, Double) {
            let t0 = Clock.now(), c0 = reducer.communicationSeconds
            var wait = 0.0
            OptimizerStep(model: model, optimizer: opt, lr: 1e-4, reducer: reducer).run([rows], count: { Double($0.count) }) { rows, scale in
                if !rows.isEmpty {
                    let dl = [Float](repeating: -Float(scale), count: rows.count)
                    tokens.withUnsafeBufferPointer { tk in
                        model.forward(tokens: tk.baseAddress!, B: B, T: T, ws: ws)
                        ws.zeroHiddenGrad()
                        model.tokenLogProbs(ws: ws, rows: rows, targets: targets, logp: &logp, dlogp: dl)
                        model.backward(tokens: tk.baseAddress!, ws: ws)
                    }
                }
                // A sum of one number (done when every process has sent it) apart from the
                // gradient's, so that the gradient's time is its transfer, not the wait for the
                // slowest process (the benchmark's only addition to the trainers' step).
                let w0 = Clock.now()
                var sync = [0.0]
                reducer.sum(&sync)
                wait = Clock.now() - w0
            }
            return (Clock.now() - t0, reducer.communicationSeconds - c0, wait)
        }
        precondition(steps >= 1, "dataParallelTrainStep needs at least one step")
        _ = step()
        let timed = (0..<steps).map { _ in step() }
        return DataParallelMeasurement(stepSeconds: median(timed.map(\.0)), allreduceSeconds: median(timed.map(\.1)),
                                       waitSeconds: median(timed.map(\.2)))
    }

    /// `rlhf bench` under a launcher: the data-parallel training step of each shape, one JSON line
    /// from rank 0 (seconds are rank 0's medians; wait_s is rank 0's wait for the slowest rank). The gradient is summed after the backward pass, not in buckets during it, so
    /// no part of the allreduce is hidden behind computation.
    public static func runDataParallel(shapes: [Shape], steps: Int, reducer: GradientReducer, emit: (String) -> Void) {
        for s in shapes {
            let m = dataParallelTrainStep(s, steps: steps, reducer: reducer)
            let tokens = Double(s.batch * s.config.context)
            let parameters = Double(ParameterLayout(s.config).count)
            guard reducer.rank == 0 else { continue }
            let fields: [(String, JSONValue)] = [
                ("shape", .string(s.name)),
                ("ranks", .number(Double(reducer.size), isInteger: true)),
                ("threads", .number(Double(Parallel.threads), isInteger: true)),
                ("global_batch", .number(Double(s.batch), isInteger: true)),
                ("train_tokens_per_s", .number(tokens / m.stepSeconds, isInteger: false)),
                ("train_step_s", .number(m.stepSeconds, isInteger: false)),
                ("allreduce_s", .number(m.allreduceSeconds, isInteger: false)),
                ("allreduce_fraction", .number(m.allreduceSeconds / m.stepSeconds, isInteger: false)),
                ("wait_s", .number(m.waitSeconds, isInteger: false)),
                ("allreduce_hidden_fraction", .number(0, isInteger: false)),
                ("gradient_mb", .number(4 * parameters / 1e6, isInteger: false)),
            ]
            emit(JSONValue.object(fields).serialized(pretty: false))
        }
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted(), n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    /// New tokens per second of KV-cache sampling at batch `genBatch` (temperature 1, no EOS), and
    /// where the time went.
    public static func generate(_ s: Shape) -> (newTokensPerSecond: Double, timings: GenerationTimings) {
        let c = s.config
        let model = GPT(config: c, seed: 1)
        var rng = RNG(seed: 3)
        let prompts = (0..<s.genBatch).map { _ in (0..<s.genPrompt).map { _ in Int32(rng.int(c.vocabSize)) } }
        let gen = Generator(model: model, maxBatch: s.genBatch)
        var warm = [RNG(seed: 1)]
        _ = gen.generate(prompts: [prompts[0]], options: SamplingOptions(maxNewTokens: 4), rngs: &warm)
        var rngs = (0..<s.genBatch).map { RNG(seed: 5).split("bench", $0) }
        let t0 = Clock.now()
        let out = gen.generate(prompts: prompts, options: SamplingOptions(temperature: 1, maxNewTokens: s.genNew), rngs: &rngs)
        let dt = Clock.now() - t0
        return (Double(out.reduce(0) { $0 + $1.tokens.count }) / dt, gen.timings)
    }

    /// Seconds per PPO iteration (rollout of 32 prompts, `genNew` response tokens, reward model,
    /// separate value model, 2 epochs × 4 minibatches), the second of two iterations, and its parts
    /// as the trainer times them: sampling; scoring, log-probs, values and advantages; the PPO epochs.
    public static func ppoIteration(_ s: Shape) -> (seconds: Double, generate: Double, score: Double, optimize: Double) {
        var rc = s.config
        rc.scalarHead = true
        let sft = GPT(config: s.config, seed: 1), rm = GPT(config: rc, seed: 2)
        var c = PPOConfig()
        c.rolloutBatchSize = 32
        c.responseLength = s.genNew
        c.numPPOEpochs = 2
        c.numMiniBatches = 4
        c.stopToken = 1
        c.iterations = 2
        let m = PPOTrainer.makeModels(sft: sft, rewardModel: rm, valueModel: .separate, seed: 3)
        var rng = RNG(seed: 5)
        let prompts = (0..<32).map { _ in (0..<s.genPrompt).map { _ in Int32(2 + rng.int(s.config.vocabSize - 2)) } }
        let t = PPOTrainer(policy: m.policy, reference: m.reference, value: m.value,
                           reward: RewardModelScorer(model: rm, pad: 0, maxBatch: 32), prompts: prompts, config: c, pad: 0, seed: 1)
        var times: [Double] = []
        var parts: [String: Double] = [:]
        var last = Clock.now()
        t.hooks.log = { _, metrics in
            let now = Clock.now()
            times.append(now - last)
            parts = metrics
            last = now
        }
        _ = try? t.run()
        return (times.last ?? .nan, parts["time/generate_s"] ?? .nan, parts["time/score_s"] ?? .nan, parts["time/optimize_s"] ?? .nan)
    }

    /// The measurements `rlhf bench --parts` can select.
    public enum Part: String, CaseIterable, Sendable {
        case train, generate, dpo, ppo, grpo, rloo, tokenizer
    }

    /// Measures `parts` at each shape and emits a JSON line per shape (and one for the tokenizer).
    /// `sgemm`: whether to time the 2048³ sgemm each line reports beside its figures (a second or
    /// two; tests of the other parts leave it out).
    public static func run(shapes: [Shape], steps: Int, parts: Set<Part> = Set(Part.allCases), sgemm probe: Bool = true,
                           emit: (String) -> Void) {
        let sgemm = probe ? BLAS.measureSgemmGFLOPs(n: 2048, repeats: 5) : nil
        for s in shapes where !parts.subtracting([.tokenizer]).isEmpty {
            ProcessMemory.resetPeak()
            var fields: [(String, JSONValue)] = [("shape", .string(s.name))]
            func num(_ k: String, _ v: Double) { fields.append((k, .number(v, isInteger: false))) }
            if parts.contains(.train) {
                let m = trainStep(s, steps: steps)
                let tokens = Double(s.batch * s.config.context)
                num("train_tokens_per_s", tokens / m.stepSeconds)
                num("train_step_s", m.stepSeconds)
                num("train_gflops", trainFlopsPerToken(s.config, T: s.config.context) * tokens / m.stepSeconds / 1e9)
                num("train_fraction_of_sgemm", m.fractionOfSgemm)
                num("train_sgemm_gflops", m.sgemmGFLOPs)
                let matmulFlops = 6 * Double(ParameterLayout(s.config).matmulParameters) * tokens
                num("train_matmul_s", m.matmulSeconds)
                num("train_matmul_gflops", matmulFlops / m.matmulSeconds / 1e9)
                num("train_attention_s", m.attentionSeconds)
                num("train_other_s", m.otherSeconds)
            }
            if let sgemm { num("sgemm_gflops", sgemm) }
            if parts.contains(.generate) {
                let g = generate(s)
                num("generate_new_tokens_per_s", g.newTokensPerSecond)
                num("generate_pack_s", g.timings.pack)
                num("generate_prefill_s", g.timings.prefill)
                num("generate_decode_s", g.timings.decode)
                num("generate_sample_s", g.timings.sample)
            }
            if parts.contains(.dpo) {
                num("dpo_step_s", DPOTrainer.benchmarkStep(config: s.config, pairs: s.dpoPairs, length: s.config.context,
                                                          completion: s.dpoCompletion, steps: max(3, steps / 2)))
            }
            if parts.contains(.ppo) && s.online {
                let r = ppoIteration(s)
                num("ppo_iteration_s", r.seconds)
                num("ppo_generate_s", r.generate)
                num("ppo_score_s", r.score)
                num("ppo_optimize_s", r.optimize)
            }
            // A real trainer step each (sampling, reward, reference forward, loss, backward, AdamW).
            for (part, name, measure) in [(Part.grpo, "grpo", GRPOTrainer.benchmarkStep), (.rloo, "rloo", RLOOTrainer.benchmarkStep)]
            where parts.contains(part) && s.online {
                let r = measure(s.config, s.groupPrompts, s.groupPromptLength, s.groupGenerations, s.groupCompletion, max(3, steps / 2))
                num("\(name)_step_s", r.stepSeconds)
                num("\(name)_completions_per_s", r.completionsPerSecond)
                num("\(name)_generate_s", r.generateSeconds)
                num("\(name)_score_s", r.scoreSeconds)
                num("\(name)_optimize_s", r.optimizeSeconds)
            }
            // This shape's peak (where the system lets the peak be reset; else the process's so far).
            num("peak_rss_mb", Double(ProcessMemory.peakBytes) / 1e6)
            fields.append(("threads", .number(Double(Parallel.threads), isInteger: true)))
            emit(JSONValue.object(fields).serialized(pretty: false))
        }
        guard parts.contains(.tokenizer) else { return }
        // Tokenizer encoding speed on the built-in task's text.
        let corpus = TLDRSynth(seed: 1).corpus(posts: 2000)
        let tok = BPETokenizer.train(corpus: Array(corpus.prefix(500)), vocabSize: 2048)
        let text = corpus.joined(separator: "\n")
        let mbps = BPETokenizer.measureEncodeMBps(tokenizer: tok, text: text)
        emit(JSONValue.object([("tokenizer_encode_mb_per_s", .number(mbps, isInteger: false)),
                               ("text_mb", .number(Double(text.utf8.count) / 1e6, isInteger: false))]).serialized(pretty: false))
    }

    /// `rlhf bench --parts tokenizer --tokenizer PATH --text PATH`: the encoding speed of a given
    /// tokenizer (tokenizer.json, model directory or rlhf file) on a given UTF-8 text file, on one
    /// thread, each pass from a cold chunk memo (`measureEncodeMBps`), as one JSON line.
    public static func tokenizerFile(tokenizer path: String, text textPath: String, seconds: Double = 2) throws -> String {
        let tok = try BPETokenizer.load(from: URL(fileURLWithPath: path))
        guard let data = FileManager.default.contents(atPath: textPath) else {
            throw UserError("--text \(textPath): not found or not readable; pass a UTF-8 text file")
        }
        guard let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            throw UserError("--text \(textPath): expected non-empty UTF-8 text; pass a UTF-8 text file")
        }
        let ids = tok.encode(text)
        // CRC-32 (zlib's polynomial) of the ids as little-endian Int32, to compare with another encoder's.
        var crc: UInt32 = 0xFFFF_FFFF
        for id in ids {
            for shift in stride(from: 0, to: 32, by: 8) {
                crc ^= (UInt32(bitPattern: id) >> UInt32(shift)) & 0xFF
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
        }
        let mbps = BPETokenizer.measureEncodeMBps(tokenizer: tok, text: text, minimumSeconds: seconds)
        return JSONValue.object([("tokenizer_encode_mb_per_s", .number(mbps, isInteger: false)),
                                 ("text_mb", .number(Double(text.utf8.count) / 1e6, isInteger: false)),
                                 ("tokens", .number(Double(ids.count), isInteger: true)),
                                 ("ids_crc32", .string(String(format: "%08x", ~crc))),
                                 ("vocab_size", .number(Double(tok.vocabSize), isInteger: true)),
                                 ("merges", .number(Double(tok.merges.count), isInteger: true)),
                                 ("tokenizer", .string(path))]).serialized(pretty: false)
    }
}
