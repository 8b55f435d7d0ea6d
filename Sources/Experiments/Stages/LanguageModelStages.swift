import Alignment
import Data
import Engine
import Files
import Foundation
import GPT
import Tokenizer

extension ExperimentRunner {
    // MARK: - tokenizer

    func runTokenizer() throws -> [String: Double] {
        let out = run.path("tokenizer.json")
        let t0 = Clock.now()
        let tok: BPETokenizer
        if let hf = config.hf {
            tok = try hfTokenizer(hf)
            progress.message("[tokenizer] Hugging Face tokenizer of \(hf.directory.path): \(tok.vocabSize) tokens, EOS \(tok.tokenString(tok.eosId)) = \(tok.eosId)\(tok.hasPadToken ? "" : ", no pad token (EOS pads, masked)")")
        } else if let p = config.tokenizer.path {
            let u = URL(fileURLWithPath: p, relativeTo: configDir).standardizedFileURL
            tok = try BPETokenizer.load(from: u)
        } else if DataParallel.reducer.size > 1 {
            tok = try trainTokenizerOnce(to: out)
        } else {
            let corpus = try data.tokenizerCorpus
            progress.message("[tokenizer] training a \(config.tokenizer.vocabSize)-token byte-level BPE on \(corpus.count) texts")
            tok = BPETokenizer.train(corpus: corpus, vocabSize: config.tokenizer.vocabSize)
        }
        if tok.vocabSize < config.tokenizer.vocabSize && config.tokenizer.path == nil && config.hf == nil {
            progress.message("[tokenizer] the corpus supports only \(tok.vocabSize) tokens (every frequent word is one token); the model uses that vocabulary")
        }
        try tok.save(to: out)
        if config.hf == nil { config.model.vocabSize = tok.vocabSize }
        _tokenizer = tok
        // Compression on the SFT texts: bytes per token.
        let sample = try data.sftTrain.prefix(200).map { $0.prompt + $0.completion }
        let bytes = sample.reduce(0) { $0 + $1.utf8.count }
        let tokens = sample.reduce(0) { $0 + tok.encode($1).count }
        return ["vocab_size": Double(tok.vocabSize), "bytes_per_token": Double(bytes) / Double(max(tokens, 1)), "train_seconds": Clock.now() - t0]
    }

    /// A data-parallel job trains the tokenizer once, on rank 0, and sends its file to the others.
    func trainTokenizerOnce(to out: URL) throws -> BPETokenizer {
        let reducer = DataParallel.reducer
        var bytes: [UInt8] = []
        if reducer.rank == 0 {
            let corpus = try data.tokenizerCorpus
            progress.message("[tokenizer] training a \(config.tokenizer.vocabSize)-token byte-level BPE on \(corpus.count) texts (on rank 0 of \(reducer.size))")
            try BPETokenizer.train(corpus: corpus, vocabSize: config.tokenizer.vocabSize).save(to: out)
            bytes = [UInt8](try Data(contentsOf: out))
        }
        reducer.broadcast(&bytes, root: 0)
        if reducer.rank != 0 { try DurableFile.write(Data(bytes), to: out) }
        return try BPETokenizer.load(from: out)
    }

    // MARK: - pretrain

    func runPretrain() throws -> [String: Double] {
        guard let cfg = config.pretrain else { return [:] }
        let tok = try tokenizer
        var stream: [Int32] = []
        for text in try data.corpus { stream += tok.encode(text) + [tok.eosId] }
        let T = config.model.context
        guard stream.count > T + 1 else {
            throw UserError("\(config.file): pretrain: the corpus has only \(stream.count) tokens, fewer than one window of n_positions (\(T)); use a larger corpus or smaller n_positions")
        }
        let model = try config.hf.map { try importHF($0, for: .pretrain) } ?? GPT(config: config.model, seed: config.seed)
        let source = RandomWindows(stream: stream, length: T, batchSize: cfg.batchSize, microPerStep: cfg.gradAccum, seed: config.seed)
        // Validation: fixed windows of held-out text of the corpus's kind (tldr-synth: corpus posts
        // past the trained ones), else of the SFT validation texts.
        var validStream: [Int32] = []
        let validTexts = try data.corpusValid ?? data.sftValid.prefix(64).map { $0.prompt + $0.completion }
        for text in validTexts { validStream += tok.encode(text) + [tok.eosId] }
        var valid: [SequenceExample] = []
        var i = 0
        while i + T <= validStream.count && valid.count < 32 {
            valid.append(SequenceExample(prompt: [], completion: Array(validStream[i..<(i + T)])))
            i += T
        }
        let trainer = SFTTrainer(model: model, config: cfg, source: source, valid: valid, pad: tok.padId, maxLength: T, seed: config.seed)
        return try trainLM(trainer, stage: .pretrain, tokens: stream.count)
    }

    // MARK: - sft

    func runSFT() throws -> [String: Double] {
        guard let cfg = config.sft else { return [:] }
        let tok = try tokenizer
        let model: GPT
        if let u = artifact("models/pretrain.safetensors") {
            model = try loadModel(u)
            progress.message("[sft] starting from \(u.path)")
        } else if let hf = config.hf {
            model = try importHF(hf, for: .sft)
        } else {
            model = GPT(config: config.model, seed: config.seed)
            progress.message("[sft] starting from a fresh GPT-2 initialization (no pretrain stage)")
        }
        let train = try data.sftTrain.map(tokenize)
        let valid = try data.sftValid.prefix(256).map(tokenize)
        let source = ShuffledEpochs(train, batchSize: cfg.batchSize, microPerStep: cfg.gradAccum, seed: config.seed)
        let trainer = SFTTrainer(model: model, config: cfg, source: source, valid: Array(valid), pad: tok.padId, maxLength: config.sequenceLength, seed: config.seed)
        var summary = try trainLM(trainer, stage: .sft, tokens: train.reduce(0) { $0 + $1.count })
        // A few samples from the SFT policy, with gold scores when the task has a judge.
        let d = try data
        let items = Array(d.test.prefix(4))
        let prompts = try items.map { try tokenizePrompt($0.prompt) }
        let gen = Generator(model: model, maxBatch: max(1, prompts.count))
        var rngs = prompts.indices.map { RNG(seed: config.seed).split("sft-samples", $0) }
        let outs = gen.generate(prompts: prompts, options: SamplingOptions(temperature: 0, maxNewTokens: config.data.maxCompletionTokens, eosId: tok.eosId), rngs: &rngs)
        var gold = 0.0
        for (k, o) in outs.enumerated() {
            let summaryText = try text(o.tokens)
            var item: [String: Any] = ["stage": "sft", "step": cfg.steps, "prompt": items[k].prompt, "completion": summaryText, "reference": items[k].reference]
            if let post = items[k].post {
                let g = GoldJudge().score(post: post, summary: summaryText)
                item["gold"] = g
                gold += g
            }
            run.logSample(item)
        }
        if d.hasGoldJudge { summary["sample_gold_greedy"] = gold / Double(max(outs.count, 1)) }
        return summary
    }

    /// Runs an LM trainer with resume, writes models/STAGE.safetensors, returns the stage summary.
    func trainLM(_ trainer: SFTTrainer, stage: Stage, tokens: Int) throws -> [String: Double] {
        let ckRoot = run.checkpoints(stage.rawValue)
        _ = try resumeFromCheckpoint(stage, restore: trainer.restore(from:)) { trainer.step }
        trainer.hooks = hooks(stage: stage, total: trainer.config.steps, keys: ["loss", "eval/loss", "tokens_per_s"]) { step in
            try CheckpointStore.save(root: ckRoot, step: step) { try trainer.save(to: $0) }
        }
        let t0 = Clock.now()
        let startStep = trainer.step
        var last = try trainer.run()
        try checkStopped(stage, step: trainer.step)
        try trainer.model.save(to: run.model(stage.rawValue))
        let dt = Clock.now() - t0
        // Resumed at the final checkpoint (stopped after it, before the state was saved): no step
        // ran, and the final figures are the last ones logged.
        if trainer.step == startStep { last = run.lastMetrics(stage: stage.rawValue).merging(last) { _, new in new } }
        var s: [String: Double] = ["steps": Double(trainer.step), "corpus_tokens": Double(tokens)]
        if let l = last["loss"] { s["final_loss"] = l }
        if let e = last["eval/loss"] { s["eval_loss"] = e }
        if trainer.step > startStep, let tps = last["tokens_per_s"] { s["tokens_per_s"] = tps; s["train_seconds"] = dt }
        return s
    }
}
