import Engine
import Foundation

/// How to pick the next token.
public struct SamplingOptions: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// Keep only the k most likely tokens (0: off).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches p (1: off).
    public var topP: Float
    public var maxNewTokens: Int
    /// Generation of a sequence ends after this token (included in the output).
    public var eosId: Int32?

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, maxNewTokens: Int, eosId: Int32? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.maxNewTokens = maxNewTokens
        self.eosId = eosId
    }
}

public struct GeneratedSequence: Sendable, Equatable {
    /// New tokens (the EOS included when one was produced).
    public var tokens: [Int32]
    /// log π(token) under softmax(logits / temperature) (temperature 1 when greedy), before top-k/top-p.
    public var logprobs: [Float]
    public var endedWithEOS: Bool
}

/// Where the wall time of the last `generate` went (seconds): packing the decode weights, the
/// prompts' prefill, the decode steps (model), and sampling from the logits. Each is a read of the
/// monotonic clock around its phase, a few per decode step, so always on.
public struct GenerationTimings: Sendable, Equatable {
    public var pack = 0.0, prefill = 0.0, decode = 0.0, sample = 0.0
    public var total: Double { pack + prefill + decode + sample }
}

/// Autoregressive sampling with a KV cache. Prompts are prefilled in batches (right-padded to the
/// longest prompt of the batch: causal attention keeps padding out of every real position, so
/// each prompt gets the values it gets alone), then all unfinished sequences advance one token per
/// step together; sequence i draws from its own random stream `rngs[i]`, so its tokens do not
/// depend on the other prompts.
public final class Generator {
    public let model: GPT
    public let maxBatch: Int
    let C: Int, NH: Int, HS: Int, L: Int, V: Int, ctx: Int, H: Int, eps: Float
    let kCache: FloatBuffer, vCache: FloatBuffer
    // Decode buffers, (maxBatch, ·)
    let x, ln, qkv, atty, tmp, fch, logits, mean, rstd: FloatBuffer
    let scores: FloatBuffer
    /// Prefill works on up to `prefillTokens` (padded) prompt tokens at once (one prompt when it is
    /// longer), one layer at a time, keeping no activations for a backward pass.
    let prefillTokens: Int
    let px, pln, pqkv, patty, ptmp, pfch, pmean, prstd, plogits: FloatBuffer
    let prefillScratch = Scratch()
    /// The decode steps' weights, packed for `PackedMatmul` at the start of every `generate` that
    /// decodes (the model's weights may have changed since the last call): per layer c_attn,
    /// attn.c_proj, mlp.c_fc, mlp.c_proj, then the LM head (wteᵀ). As many floats as those weights.
    let packed: FloatBuffer
    let packedScratch: FloatBuffer
    /// Offsets into `packed`: [layer][0..<4] for the four block matrices, and the LM head.
    let packedBlock: [[Int]], packedHead: Int
    /// The phases of the last `generate`.
    public private(set) var timings = GenerationTimings()
    /// Per slot of the current group: the slot whose prompt it repeats (itself for a prompt's
    /// first copy; `prefill`) and its prompt's length. Slots with one root hold the same keys and
    /// values at the prompt's positions, which the decode attention reads once for all of them.
    var promptRoot: [Int], promptLength: [Int]

    /// `prefillTokens` (default max(context, 2048)) bounds the padded prompt tokens of one prefill batch.
    public init(model: GPT, maxBatch: Int, prefillTokens: Int? = nil) {
        self.model = model
        self.maxBatch = maxBatch
        promptRoot = Array(0..<maxBatch)
        promptLength = [Int](repeating: 0, count: maxBatch)
        let c = model.config
        C = c.nEmbd; NH = c.nHead; HS = c.headSize; L = c.nLayer; V = c.vocabSize; ctx = c.context
        H = c.nInner; eps = c.layerNormEpsilon
        kCache = FloatBuffer(count: L * maxBatch * NH * ctx * HS)
        vCache = FloatBuffer(count: L * maxBatch * NH * ctx * HS)
        x = FloatBuffer(count: maxBatch * C); ln = FloatBuffer(count: maxBatch * C); qkv = FloatBuffer(count: maxBatch * 3 * C)
        atty = FloatBuffer(count: maxBatch * C); tmp = FloatBuffer(count: maxBatch * C)
        fch = FloatBuffer(count: maxBatch * H)
        logits = FloatBuffer(count: maxBatch * V)
        mean = FloatBuffer(count: maxBatch); rstd = FloatBuffer(count: maxBatch)
        scores = FloatBuffer(count: maxBatch * NH * ctx)
        // 2,048 tokens keep the prefill matmuls large enough for both cores without a big workspace.
        self.prefillTokens = max(1, prefillTokens ?? 2048)
        let n = max(ctx, self.prefillTokens)
        px = FloatBuffer(count: n * C); pln = FloatBuffer(count: n * C); pqkv = FloatBuffer(count: n * 3 * C)
        patty = FloatBuffer(count: n * C); ptmp = FloatBuffer(count: n * C); pfch = FloatBuffer(count: n * H)
        pmean = FloatBuffer(count: n); prstd = FloatBuffer(count: n)
        plogits = FloatBuffer(count: min(maxBatch, n) * V)
        var offsets: [[Int]] = [], total = 0
        for _ in 0..<L {
            var o: [Int] = []
            for (k, n) in [(C, 3 * C), (C, C), (C, H), (H, C)] { o.append(total); total += PackedMatmul.packedCount(k: k, n: n) }
            offsets.append(o)
        }
        packedBlock = offsets
        packedHead = total
        total += PackedMatmul.packedCount(k: C, n: V)
        packed = FloatBuffer(count: total)
        packedScratch = FloatBuffer(count: 2 * PackedMatmul.inputScratchCount(m: maxBatch, k: max(H, C)))   // one per row group
    }

    /// Lays out the current weights for the decode steps.
    func packWeights() {
        let P = model.params.pointer, lay = model.layout, pk = packed.pointer
        for l in 0..<L {
            let w = lay.block(l), o = packedBlock[l]
            PackedMatmul.pack(P + w.qkvw, k: C, n: 3 * C, transposed: false, into: pk + o[0])
            PackedMatmul.pack(P + w.attprojw, k: C, n: C, transposed: false, into: pk + o[1])
            PackedMatmul.pack(P + w.fcw, k: C, n: H, transposed: false, into: pk + o[2])
            PackedMatmul.pack(P + w.fcprojw, k: H, n: C, transposed: false, into: pk + o[3])
        }
        PackedMatmul.pack(P + lay.offset("wte.weight"), k: C, n: V, transposed: true, into: pk + packedHead)
    }

    /// out(m, n) = inp(m, k) · (packed weight at `offset`) + bias, for a decode step.
    func decodeLinear(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, offset: Int, bias: UnsafePointer<Float>?,
                      m: Int, k: Int, n: Int, scratch: UnsafeMutablePointer<Float>) {
        PackedMatmul.multiply(out: out, ldc: n, inp: inp, lda: k, packed: packed.pointer + offset, bias: bias, m: m, k: k, n: n,
                              scratch: scratch)
    }

    /// Bytes held by the KV cache and buffers.
    public var bytes: Int {
        let decode = [x, ln, qkv, atty, tmp, fch, logits, mean, rstd, scores, packed, packedScratch].reduce(0) { $0 + $1.count }
        let prefill = [px, pln, pqkv, patty, ptmp, pfch, pmean, prstd, plogits].reduce(0) { $0 + $1.count } + prefillScratch.buffer.count
        return (kCache.count * 2 + decode + prefill) * 4
    }

    @inline(__always) func cacheOffset(_ l: Int, _ slot: Int, _ h: Int, _ pos: Int) -> Int {
        (((l * maxBatch + slot) * NH + h) * ctx + pos) * HS
    }

    /// Samples continuations of every prompt. `rngs.count == prompts.count`; each stream advances.
    public func generate(prompts: [[Int32]], options: SamplingOptions, rngs: inout [RNG]) -> [GeneratedSequence] {
        precondition(rngs.count == prompts.count, "one random stream per prompt")
        var results: [GeneratedSequence] = []
        results.reserveCapacity(prompts.count)
        timings = GenerationTimings()
        let t0 = Clock.now()
        if options.maxNewTokens > 1 && !prompts.isEmpty { packWeights() }      // a decode step will run
        timings.pack = Clock.now() - t0
        var start = 0
        while start < prompts.count {
            let end = min(prompts.count, start + maxBatch)
            var group = Array(rngs[start..<end])
            results += generateGroup(Array(prompts[start..<end]), options, &group)
            rngs.replaceSubrange(start..<end, with: group)
            start = end
        }
        return results
    }

    func generateGroup(_ prompts: [[Int32]], _ o: SamplingOptions, _ rngs: inout [RNG]) -> [GeneratedSequence] {
        let n = prompts.count
        var out = [GeneratedSequence](repeating: GeneratedSequence(tokens: [], logprobs: [], endedWithEOS: false), count: n)
        for p in prompts { precondition(!p.isEmpty && p.count <= ctx, "prompt length \(p.count) must be in 1...\(ctx)") }
        var pos = prompts.map(\.count)      // position of the next token to be written
        var next = [Int32](repeating: 0, count: n)
        var t = Clock.now()
        prefill(prompts)
        timings.prefill += Clock.now() - t
        t = Clock.now()
        // rows[r] = sequence index of row r of the decode buffers (and of `logits`)
        var rows = o.maxNewTokens > 0 ? Array(0..<n) : []
        var picked = [(Int32, Float)](repeating: (0, 0), count: n)
        while !rows.isEmpty {
            // Sample from the logits of each active row, rows in parallel (each has its own stream).
            let lg = logits.pointer, vocab = V
            rows.withUnsafeBufferPointer { rp in
                rngs.withUnsafeMutableBufferPointer { rng in
                    picked.withUnsafeMutableBufferPointer { pk in
                        Parallel.forRange(rp.count, grain: vocab >= 8192 ? 2 : 8) { range in
                            for r in range { pk[r] = Sampler.sample(logits: lg + r * vocab, V: vocab, options: o, rng: &rng[rp[r]]) }
                        }
                    }
                }
            }
            var stillActive: [Int] = []
            FlopCounter.addGenerated(rows.count)
            for (r, i) in rows.enumerated() {
                let (tok, lp) = picked[r]
                out[i].tokens.append(tok)
                out[i].logprobs.append(lp)
                next[i] = tok
                if let eos = o.eosId, tok == eos { out[i].endedWithEOS = true; continue }
                if out[i].tokens.count >= o.maxNewTokens || pos[i] >= ctx { continue }
                stillActive.append(i)
            }
            rows = stillActive
            let sampled = Clock.now()
            timings.sample += sampled - t
            if rows.isEmpty { break }
            decodeStep(rows: rows, tokens: rows.map { next[$0] }, positions: rows.map { pos[$0] })
            for i in rows { pos[i] += 1 }
            t = Clock.now()
            timings.decode += t - sampled
        }
        return out
    }

    /// Runs the prompts through the model, filling the KV cache (slot i for prompt i) and leaving
    /// the next-token logits of prompt i in `logits` row i. Prompts are sorted by length and packed
    /// into batches of at most `prefillTokens` padded tokens, so that little compute goes to padding.
    ///
    /// A prompt given more than once (GRPO's and RLOO's G completions of a prompt, best-of-N's N
    /// samples, online DPO's pair) is prefilled once: its later copies get the first one's cache
    /// and logits row. A prompt's prefill does not depend on the others in its batch, so the copies
    /// hold the bits their own prefill would have computed.
    func prefill(_ prompts: [[Int32]]) {
        var first: [[Int32]: Int] = [:]
        var source = Array(prompts.indices)
        for (i, p) in prompts.enumerated() {
            if let f = first[p] { source[i] = f } else { first[p] = i }
            promptRoot[i] = source[i]
            promptLength[i] = p.count
        }
        let order = prompts.indices.filter { source[$0] == $0 }.sorted { (prompts[$0].count, $0) > (prompts[$1].count, $1) }
        var k = 0
        while k < order.count {
            let T = prompts[order[k]].count        // the longest of this batch (sorted descending)
            let B = min(order.count - k, max(1, prefillTokens / T))
            prefillBatch(Array(order[k..<(k + B)]), prompts, T: T)
            k += B
        }
        let copies = prompts.indices.filter { source[$0] != $0 }
        Parallel.forRange(copies.count, grain: 4) { range in
            for i in copies[range] { self.copySlot(from: source[i], to: i, positions: prompts[i].count) }
        }
    }

    /// Slot `to` ← slot `from`: the first `positions` cached keys and values of every layer and
    /// head, and the next-token logits row.
    func copySlot(from: Int, to: Int, positions: Int) {
        let kc = kCache.pointer, vc = vCache.pointer
        for l in 0..<L {
            for h in 0..<NH {
                let src = cacheOffset(l, from, h, 0), dst = cacheOffset(l, to, h, 0)
                (kc + dst).update(from: kc + src, count: positions * HS)
                (vc + dst).update(from: vc + src, count: positions * HS)
            }
        }
        (logits.pointer + to * V).update(from: logits.pointer + from * V, count: V)
    }

    func prefillBatch(_ members: [Int], _ prompts: [[Int32]], T: Int) {
        let B = members.count, N = B * T
        FlopCounter.addPrefill(model.config, B: B, T: T, heads: B)
        let P = model.params.pointer, lay = model.layout
        let wte = P + lay.offset("wte.weight"), wpe = P + lay.offset("wpe.weight")
        var tokens = [Int32](repeating: 0, count: N)      // padding: token 0 after each prompt's end
        for (b, i) in members.enumerated() { tokens.replaceSubrange((b * T)..<(b * T + prompts[i].count), with: prompts[i]) }
        let xp = px.pointer
        tokens.withUnsafeBufferPointer { Encoder.forward(out: xp, tokens: $0.baseAddress!, wte: wte, wpe: wpe, B: B, T: T, C: C) }
        for l in 0..<L {
            let w = lay.block(l)
            LayerNorm.forward(out: pln.pointer, mean: pmean.pointer, rstd: prstd.pointer, inp: xp, weight: P + w.ln1w, bias: P + w.ln1b, N: N, C: C,
                              eps: eps)
            Linear.forward(out: pqkv.pointer, inp: pln.pointer, weight: P + w.qkvw, bias: P + w.qkvb, N: N, C: C, OC: 3 * C)
            let q3 = pqkv.pointer, kc = kCache.pointer, vc = vCache.pointer
            Parallel.forRange(B * NH, grain: 4) { range in
                for bh in range {
                    let b = bh / NH, h = bh % NH, i = members[b]
                    for t in 0..<prompts[i].count {
                        let o = cacheOffset(l, i, h, t), src = q3 + (b * T + t) * 3 * C + h * HS
                        (kc + o).update(from: src + C, count: HS)
                        (vc + o).update(from: src + 2 * C, count: HS)
                    }
                }
            }
            if l < L - 1 {
                Attention.forward(out: patty.pointer, lse: nil, qkv: q3, B: B, T: T, C: C, NH: NH, scratch: prefillScratch)
                blockTail(w, x: xp, atty: patty.pointer, N: N, ln: pln.pointer, mean: pmean.pointer, rstd: prstd.pointer,
                          tmp: ptmp.pointer, fch: pfch.pointer)
                continue
            }
            // The last layer: every position's K and V are cached above, but only each prompt's last
            // position feeds the next-token logits, so attention and the rest of the block run on
            // that one row per prompt (a 1/L share of the prompt's block FLOPs, less a quarter).
            // Its query attends to the cached keys and values, as a decode step's does.
            let ay = patty.pointer
            attendToCache(layer: l, groups: (0..<B).map { [$0] }, scores: scores.pointer, out: ay) { (b: Int) -> (qkv: UnsafePointer<Float>, slot: Int, len: Int) in
                let i = members[b], t = prompts[i].count - 1
                return (UnsafePointer(q3 + (b * T + t) * 3 * C), i, t + 1)
            }
            // Row b of x ← its last position (b·T + t ≥ b: no row is overwritten before it is read).
            for (b, i) in members.enumerated() where b * T + prompts[i].count - 1 != b {
                (xp + b * C).update(from: xp + (b * T + prompts[i].count - 1) * C, count: C)
            }
            blockTail(w, x: xp, atty: ay, N: B, ln: pln.pointer, mean: pmean.pointer, rstd: prstd.pointer,
                      tmp: ptmp.pointer, fch: pfch.pointer)
        }
        // ln_f and the LM head on each prompt's last position (x rows 0..<B).
        LayerNorm.forward(out: pln.pointer, mean: pmean.pointer, rstd: prstd.pointer, inp: xp,
                          weight: P + lay.offset("ln_f.weight"), bias: P + lay.offset("ln_f.bias"), N: B, C: C, eps: eps)
        var b0 = 0
        while b0 < B {         // plogits holds min(maxBatch, prefillTokens) rows
            let nb = min(B - b0, plogits.count / V)
            BLAS.sgemm(transB: true, m: nb, n: V, k: C, a: pln.pointer + b0 * C, lda: C, b: wte, ldb: C, c: plogits.pointer, ldc: V)
            for b in 0..<nb { (logits.pointer + members[b0 + b] * V).update(from: plogits.pointer + b * V, count: V) }
            b0 += nb
        }
    }

    /// Attention of query rows against the KV cache of layer `layer`: row j's `query(j)` gives its
    /// qkv row (queries in the first C floats), its cache slot and the number of cached positions
    /// it attends to; its output goes to out row j (C floats), its probabilities to `scores`
    /// (NH·ctx floats per row). `groups` partitions the rows; the rows of a group of two or more
    /// have one `promptRoot` and read its prompt's cached positions once (`Attention.attendCached`).
    /// Groups and heads in parallel.
    func attendToCache(layer l: Int, groups: [[Int]], scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                       query: (Int) -> (qkv: UnsafePointer<Float>, slot: Int, len: Int)) {
        let scale = 1 / Float(HS).squareRoot(), kc = kCache.pointer, vc = vCache.pointer
        let rows = groups.reduce(0) { $0 + $1.count }
        Parallel.forRange(groups.count * NH, grain: max(1, 4 * groups.count / max(rows, 1))) { part in
            for gh in part {
                let group = groups[gh / NH], h = gh % NH
                withUnsafeTemporaryAllocation(of: Attention.CachedQuery.self, capacity: group.count) { qs in
                    var root = 0, shared = Int.max
                    for (n, j) in group.enumerated() {
                        let (q, slot, len) = query(j), base = cacheOffset(l, slot, h, 0)
                        qs[n] = Attention.CachedQuery(q: q + h * HS, k: kc + base, v: vc + base, len: len,
                                                      scores: scores + (j * NH + h) * ctx, out: out + j * C + h * HS)
                        root = promptRoot[slot]
                        shared = min(shared, promptLength[slot], len)
                    }
                    if group.count < 2 { shared = 0 }
                    let rb = cacheOffset(l, root, h, 0)
                    Attention.attendCached(UnsafeBufferPointer(qs), shared: shared, sharedK: kc + rb, sharedV: vc + rb, HS: HS, scale: scale)
                }
            }
        }
    }

    /// The rest of block `w` after attention, in place on the residual stream x (N rows):
    /// x += atty·W_proj + b;  x += GELU(LN2(x)·W_fc + b)·W_fcproj + b.  `fch` holds N·4C floats.
    /// `decode` (a decode step's layer index and matmul scratch) takes the weights from `packed`.
    func blockTail(_ w: ParameterLayout.Block, x: UnsafeMutablePointer<Float>, atty: UnsafePointer<Float>, N: Int,
                   ln: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                   tmp: UnsafeMutablePointer<Float>, fch: UnsafeMutablePointer<Float>,
                   decode: (layer: Int, scratch: UnsafeMutablePointer<Float>)? = nil) {
        let P = model.params.pointer
        // out = inp · (block matrix `slot`: 1 attn.c_proj, 2 mlp.c_fc, 3 mlp.c_proj) + bias
        func linear(_ slot: Int, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: Int, bias: Int, k: Int, n: Int) {
            if let d = decode {
                decodeLinear(out: out, inp: inp, offset: packedBlock[d.layer][slot], bias: P + bias, m: N, k: k, n: n, scratch: d.scratch)
            } else {
                Linear.forward(out: out, inp: inp, weight: P + weight, bias: P + bias, N: N, C: k, OC: n)
            }
        }
        linear(1, out: tmp, inp: atty, weight: w.attprojw, bias: w.attprojb, k: C, n: C)
        Residual.forward(out: x, a: x, b: tmp, n: N * C)
        LayerNorm.forward(out: ln, mean: mean, rstd: rstd, inp: x, weight: P + w.ln2w, bias: P + w.ln2b, N: N, C: C, eps: eps)
        linear(2, out: fch, inp: ln, weight: w.fcw, bias: w.fcb, k: C, n: H)
        GELU.forward(out: fch, inp: fch, n: N * H)
        linear(3, out: tmp, inp: fch, weight: w.fcprojw, bias: w.fcprojb, k: H, n: C)
        Residual.forward(out: x, a: x, b: tmp, n: N * C)
    }

    /// Above this many bytes of packed weights a step runs as one group whose matmuls split the
    /// weight panels between the cores: every group streams all of the weights from memory, and
    /// at GPT-2's 500 MB two groups double that traffic for the same rows (alternated runs of
    /// `rlhf bench --shapes gpt2 --parts generate`: one group 15% faster on the mean of four
    /// pairings, ahead in three). The small shape's 55 MB keeps two groups, which measured 5% faster there.
    public static let rowGroupWeightBytes = 128 << 20

    /// One token for each row: writes its K,V at `positions[r]` in slot `rows[r]` and leaves the
    /// next-token logits in `logits` row r.
    ///
    /// With two or more threads and weights that are not too large (`rowGroupWeightBytes`) the
    /// rows are cut into two groups that go through the whole model side by side, one worker
    /// each, every kernel inside a group on one thread. The groups drift
    /// out of phase, so one group's cache reads (attention: memory-bound) overlap the other's
    /// matmuls (compute-bound), where splitting each kernel across both cores kept both cores
    /// waiting on memory at the same time. No kernel mixes rows, so every row's values are those it
    /// gets in a batch of one.
    func decodeStep(rows: [Int], tokens: [Int32], positions: [Int]) {
        let m = rows.count
        FlopCounter.addDecode(model.config, rows: m, cached: positions.reduce(m, +))
        let scratchStride = packedScratch.count / 2
        if Parallel.threads >= 2 && m >= 2 * PackedMatmul.rowTile && packed.count * 4 <= Self.rowGroupWeightBytes {
            // Equal halves: the cache reads scale with rows, and at m = 64 both halves take six row
            // tiles of the matmuls (32 = 5·6 + 2). (36 | 28 measured the same at small, within noise.)
            let half = m / 2
            Parallel.independentTasks(2) { g in
                let r0 = g == 0 ? 0 : half, r1 = g == 0 ? half : m
                decodeRows(r0..<r1, rows: rows, tokens: tokens, positions: positions, scratch: packedScratch.pointer + g * scratchStride)
            }
        } else {
            decodeRows(0..<m, rows: rows, tokens: tokens, positions: positions, scratch: packedScratch.pointer)
        }
    }

    /// `decodeStep` for the rows `range` of the decode buffers (all of `rows` index the whole step).
    func decodeRows(_ range: Range<Int>, rows: [Int], tokens: [Int32], positions: [Int], scratch: UnsafeMutablePointer<Float>) {
        let r0 = range.lowerBound, m = range.count
        let P = model.params.pointer, lay = model.layout
        let wte = P + lay.offset("wte.weight"), wpe = P + lay.offset("wpe.weight")
        let xp = x.pointer + r0 * C, lnp = ln.pointer + r0 * C, meanp = mean.pointer + r0, rstdp = rstd.pointer + r0
        let q3 = qkv.pointer + r0 * 3 * C, ay = atty.pointer + r0 * C
        for r in range {
            let e = wte + Int(tokens[r]) * C, pe = wpe + positions[r] * C, o = x.pointer + r * C
            for c in 0..<C { o[c] = e[c] + pe[c] }
        }
        // The rows by the prompt they continue (in order of first appearance).
        var groups: [[Int]] = [], groupOf: [Int: Int] = [:]
        for i in 0..<m {
            let root = promptRoot[rows[r0 + i]]
            if let g = groupOf[root] { groups[g].append(i) } else { groupOf[root] = groups.count; groups.append([i]) }
        }
        for l in 0..<L {
            let w = lay.block(l)
            LayerNorm.forward(out: lnp, mean: meanp, rstd: rstdp, inp: xp, weight: P + w.ln1w, bias: P + w.ln1b, N: m, C: C, eps: eps)
            decodeLinear(out: q3, inp: lnp, offset: packedBlock[l][0], bias: P + w.qkvb, m: m, k: C, n: 3 * C, scratch: scratch)
            for i in 0..<m {
                let r = r0 + i
                for h in 0..<NH {
                    let o = cacheOffset(l, rows[r], h, positions[r])
                    (kCache.pointer + o).update(from: q3 + i * 3 * C + C + h * HS, count: HS)
                    (vCache.pointer + o).update(from: q3 + i * 3 * C + 2 * C + h * HS, count: HS)
                }
            }
            attendToCache(layer: l, groups: groups, scores: scores.pointer + r0 * NH * ctx, out: ay) { (i: Int) -> (qkv: UnsafePointer<Float>, slot: Int, len: Int) in
                (UnsafePointer(q3 + i * 3 * C), rows[r0 + i], positions[r0 + i] + 1)
            }
            blockTail(w, x: xp, atty: ay, N: m, ln: lnp, mean: meanp, rstd: rstdp, tmp: tmp.pointer + r0 * C, fch: fch.pointer + r0 * H,
                      decode: (l, scratch))
        }
        LayerNorm.forward(out: lnp, mean: meanp, rstd: rstdp, inp: xp,
                          weight: P + lay.offset("ln_f.weight"), bias: P + lay.offset("ln_f.bias"), N: m, C: C, eps: eps)
        decodeLinear(out: logits.pointer + r0 * V, inp: lnp, offset: packedHead, bias: nil, m: m, k: C, n: V, scratch: scratch)
    }
}

/// Temperature, top-k and top-p sampling from one row of logits.
public enum Sampler {
    /// Returns the token and its log-probability under softmax(logits / τ) (τ = 1 when greedy),
    /// before any top-k/top-p filtering. The row is used as scratch: it holds exp(z/τ − max) after.
    public static func sample(logits z: UnsafeMutablePointer<Float>, V: Int, options o: SamplingOptions, rng: inout RNG) -> (Int32, Float) {
        if o.temperature > 0 && o.temperature != 1 {
            let tau = o.temperature
            for j in 0..<V { z[j] /= tau }
        }
        let mx = FastMath.max(z, V)
        if o.temperature <= 0 {
            var best = 0
            while best < V - 1 && z[best] != mx { best += 1 }          // the first maximum (bounded: NaN rows)
            let sum = FastMath.expShiftInPlace(z, V, shift: mx)
            return (Int32(best), -Foundation.log(sum))
        }
        // z[j] = exp(z[j]/τ − max): unnormalized probabilities; log p_j = log z[j] − log Σ. The sum
        // is taken in Double in index order, as the scan below adds, so that u·Σ (u < 1) is crossed.
        _ = FastMath.expShiftInPlace(z, V, shift: mx)
        var sum = 0.0
        for j in 0..<V { sum += Double(z[j]) }
        let logSum = Float(Foundation.log(sum))
        func result(_ j: Int) -> (Int32, Float) { (Int32(j), Foundation.log(z[j]) - logSum) }
        let u = rng.uniformDouble()
        if o.topK <= 0 && o.topP >= 1 {
            let target = u * sum
            var acc = 0.0
            for j in 0..<V {
                acc += Double(z[j])
                if acc > target { return result(j) }
            }
            return result(V - 1)     // unreachable for finite logits (acc ends at sum > target)
        }
        // Candidate set after top-k / top-p: tokens by decreasing probability (ties: lower id first).
        var candidates = Array(0..<V)
        candidates.sort { z[$0] > z[$1] || (z[$0] == z[$1] && $0 < $1) }
        var keep = o.topK > 0 ? min(o.topK, V) : V
        if o.topP < 1 {
            let need = Double(o.topP) * sum
            var cum = 0.0
            for (n, j) in candidates.prefix(keep).enumerated() {
                cum += Double(z[j])
                if cum >= need { keep = n + 1; break }
            }
        }
        var total = 0.0
        for j in candidates.prefix(keep) { total += Double(z[j]) }
        var acc = 0.0
        for j in candidates.prefix(keep) {
            acc += Double(z[j])
            if acc > u * total { return result(j) }
        }
        return result(candidates[keep - 1])
    }
}
