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

/// Autoregressive sampling with a KV cache. Each prompt is prefilled on its own (positions from
/// 0, no padding), then all unfinished sequences advance one token per step together; sequence i
/// draws from its own random stream `rngs[i]`, so its tokens do not depend on the other prompts.
public final class Generator {
    public let model: GPT
    public let maxBatch: Int
    let C: Int, NH: Int, HS: Int, L: Int, V: Int, ctx: Int
    let kCache: FloatBuffer, vCache: FloatBuffer
    let prefillWS: GPTWorkspace
    // Decode buffers, (maxBatch, ·)
    let x, ln, qkv, atty, tmp, fch, fchG, logits, mean, rstd: FloatBuffer
    let scores: FloatBuffer

    public init(model: GPT, maxBatch: Int) {
        self.model = model
        self.maxBatch = maxBatch
        let c = model.config
        C = c.nEmbd; NH = c.nHead; HS = c.headSize; L = c.nLayer; V = c.vocabSize; ctx = c.context
        kCache = FloatBuffer(count: L * maxBatch * NH * ctx * HS)
        vCache = FloatBuffer(count: L * maxBatch * NH * ctx * HS)
        prefillWS = GPTWorkspace(config: c, maxB: 1, maxT: ctx)
        x = FloatBuffer(count: maxBatch * C); ln = FloatBuffer(count: maxBatch * C); qkv = FloatBuffer(count: maxBatch * 3 * C)
        atty = FloatBuffer(count: maxBatch * C); tmp = FloatBuffer(count: maxBatch * C)
        fch = FloatBuffer(count: maxBatch * 4 * C); fchG = FloatBuffer(count: maxBatch * 4 * C)
        logits = FloatBuffer(count: maxBatch * V)
        mean = FloatBuffer(count: maxBatch); rstd = FloatBuffer(count: maxBatch)
        scores = FloatBuffer(count: maxBatch * NH * ctx)
    }

    /// Bytes held by the KV cache and buffers.
    public var bytes: Int { (kCache.count * 2 + prefillWS.storage.count + logits.count + scores.count) * 4 }

    @inline(__always) func cacheOffset(_ l: Int, _ slot: Int, _ h: Int, _ pos: Int) -> Int {
        (((l * maxBatch + slot) * NH + h) * ctx + pos) * HS
    }

    /// Samples continuations of every prompt. `rngs.count == prompts.count`; each stream advances.
    public func generate(prompts: [[Int32]], options: SamplingOptions, rngs: inout [RNG]) -> [GeneratedSequence] {
        precondition(rngs.count == prompts.count, "one random stream per prompt")
        var results: [GeneratedSequence] = []
        results.reserveCapacity(prompts.count)
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
        var pos = [Int](repeating: 0, count: n)      // position of the next token to be written
        var next = [Int32](repeating: 0, count: n)
        var active: [Int] = []
        let P = model.params.pointer
        let wte = P + model.layout.offset("wte.weight")
        // Prefill, one prompt at a time; logits of the last prompt position into row i.
        for i in 0..<n {
            let p = prompts[i]
            precondition(!p.isEmpty && p.count <= ctx, "prompt length \(p.count) must be in 1...\(ctx)")
            p.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: 1, T: p.count, ws: prefillWS) }
            for l in 0..<L {
                let q = prefillWS.p(prefillWS.qkv + l * prefillWS.maxB * prefillWS.maxT * 3 * C)
                for t in 0..<p.count {
                    for h in 0..<NH {
                        let o = cacheOffset(l, i, h, t)
                        (kCache.pointer + o).update(from: q + t * 3 * C + C + h * HS, count: HS)
                        (vCache.pointer + o).update(from: q + t * 3 * C + 2 * C + h * HS, count: HS)
                    }
                }
            }
            BLAS.sgemv(m: V, n: C, a: wte, lda: C, x: prefillWS.hidden + (p.count - 1) * C, y: logits.pointer + i * V)
            pos[i] = p.count
            if o.maxNewTokens > 0 { active.append(i) }
        }
        // rows[r] = sequence index of row r of the decode buffers
        var rows = active
        var step = 0
        while !rows.isEmpty {
            // Sample from the logits of each active row.
            var stillActive: [Int] = []
            for (r, i) in rows.enumerated() {
                let (tok, lp) = Sampler.sample(logits: logits.pointer + r * V, V: V, options: o, rng: &rngs[i])
                out[i].tokens.append(tok)
                out[i].logprobs.append(lp)
                next[i] = tok
                if let eos = o.eosId, tok == eos { out[i].endedWithEOS = true; continue }
                if out[i].tokens.count >= o.maxNewTokens || pos[i] >= ctx { continue }
                stillActive.append(i)
            }
            rows = stillActive
            if rows.isEmpty { break }
            decodeStep(rows: rows, tokens: rows.map { next[$0] }, positions: rows.map { pos[$0] })
            for i in rows { pos[i] += 1 }
            step += 1
        }
        return out
    }

    /// One token for each row: writes its K,V at `positions[r]` in slot `rows[r]` and leaves the
    /// next-token logits in `logits` row r.
    func decodeStep(rows: [Int], tokens: [Int32], positions: [Int]) {
        let m = rows.count
        let P = model.params.pointer, lay = model.layout
        let wte = P + lay.offset("wte.weight"), wpe = P + lay.offset("wpe.weight")
        let xp = x.pointer
        for r in 0..<m {
            let e = wte + Int(tokens[r]) * C, pe = wpe + positions[r] * C, o = xp + r * C
            for c in 0..<C { o[c] = e[c] + pe[c] }
        }
        let scale = 1 / Float(HS).squareRoot()
        for l in 0..<L {
            let w = lay.block(l)
            LayerNorm.forward(out: ln.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: xp, weight: P + w.ln1w, bias: P + w.ln1b, N: m, C: C)
            Linear.forward(out: qkv.pointer, inp: ln.pointer, weight: P + w.qkvw, bias: P + w.qkvb, N: m, C: C, OC: 3 * C)
            let q3 = qkv.pointer
            for r in 0..<m {
                for h in 0..<NH {
                    let o = cacheOffset(l, rows[r], h, positions[r])
                    (kCache.pointer + o).update(from: q3 + r * 3 * C + C + h * HS, count: HS)
                    (vCache.pointer + o).update(from: q3 + r * 3 * C + 2 * C + h * HS, count: HS)
                }
            }
            let sc = scores.pointer, kc = kCache.pointer, vc = vCache.pointer, ay = atty.pointer
            BLAS.singleThreaded {
                Parallel.forRange(m * NH, grain: 4) { range in
                    for rh in range {
                        let r = rh / NH, h = rh % NH
                        let len = positions[r] + 1
                        let s = sc + rh * ctx
                        let base = cacheOffset(l, rows[r], h, 0)
                        BLAS.sgemv(m: len, n: HS, alpha: scale, a: kc + base, lda: HS, x: q3 + r * 3 * C + h * HS, y: s)
                        let mx = FastMath.max(s, len)
                        let sum = FastMath.expShiftInPlace(s, len, shift: mx)
                        let inv = 1 / sum
                        for j in 0..<len { s[j] *= inv }
                        BLAS.sgemv(trans: true, m: len, n: HS, a: vc + base, lda: HS, x: s, y: ay + r * C + h * HS)
                    }
                }
            }
            Linear.forward(out: tmp.pointer, inp: ay, weight: P + w.attprojw, bias: P + w.attprojb, N: m, C: C, OC: C)
            Residual.forward(out: xp, a: xp, b: tmp.pointer, n: m * C)
            LayerNorm.forward(out: ln.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: xp, weight: P + w.ln2w, bias: P + w.ln2b, N: m, C: C)
            Linear.forward(out: fch.pointer, inp: ln.pointer, weight: P + w.fcw, bias: P + w.fcb, N: m, C: C, OC: 4 * C)
            GELU.forward(out: fchG.pointer, inp: fch.pointer, n: m * 4 * C)
            Linear.forward(out: tmp.pointer, inp: fchG.pointer, weight: P + w.fcprojw, bias: P + w.fcprojb, N: m, C: 4 * C, OC: C)
            Residual.forward(out: xp, a: xp, b: tmp.pointer, n: m * C)
        }
        LayerNorm.forward(out: ln.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: xp,
                          weight: P + lay.offset("ln_f.weight"), bias: P + lay.offset("ln_f.bias"), N: m, C: C)
        BLAS.sgemm(transB: true, m: m, n: V, k: C, a: ln.pointer, lda: C, b: wte, ldb: C, c: logits.pointer, ldc: V)
    }
}

/// Temperature, top-k and top-p sampling from one row of logits.
public enum Sampler {
    /// Returns the token and its log-probability under softmax(logits / τ) (τ = 1 when greedy),
    /// before any top-k/top-p filtering.
    public static func sample(logits z: UnsafePointer<Float>, V: Int, options o: SamplingOptions, rng: inout RNG) -> (Int32, Float) {
        let tau = o.temperature > 0 ? o.temperature : 1
        var scaled = [Float](unsafeUninitializedCapacity: V) { buf, n in
            for j in 0..<V { buf[j] = z[j] / tau }
            n = V
        }
        let mx = FastMath.max(scaled, V)
        var sum: Double = 0
        for j in 0..<V { sum += Double(Foundation.exp(scaled[j] - mx)) }
        let lse = mx + Float(Foundation.log(sum))
        if o.temperature <= 0 {
            var best = 0
            for j in 1..<V where scaled[j] > scaled[best] { best = j }
            return (Int32(best), scaled[best] - lse)
        }
        // Candidate set after top-k / top-p, as (index, probability).
        var probs = [Double](repeating: 0, count: V)
        for j in 0..<V { probs[j] = Foundation.exp(Double(scaled[j] - lse)) }
        var candidates: [Int]
        if o.topK > 0 || o.topP < 1 {
            candidates = Array(0..<V)
            candidates.sort { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
            if o.topK > 0 && o.topK < V { candidates.removeLast(V - o.topK) }
            if o.topP < 1 {
                var cum = 0.0
                var keep = 0
                for j in candidates {
                    cum += probs[j]
                    keep += 1
                    if cum >= Double(o.topP) { break }
                }
                candidates.removeLast(candidates.count - keep)
            }
        } else {
            candidates = []
        }
        let u = rng.uniformDouble()
        if candidates.isEmpty {
            var acc = 0.0
            let target = u * probs.reduce(0, +)
            for j in 0..<V {
                acc += probs[j]
                if acc > target { return (Int32(j), scaled[j] - lse) }
            }
            let last = (0..<V).last { probs[$0] > 0 } ?? V - 1
            return (Int32(last), scaled[last] - lse)
        }
        let total = candidates.reduce(0.0) { $0 + probs[$1] }
        var acc = 0.0
        for j in candidates {
            acc += probs[j]
            if acc > u * total { return (Int32(j), scaled[j] - lse) }
        }
        let j = candidates.last!
        scaled.removeAll()
        return (Int32(j), Float(Foundation.log(probs[j])))
    }
}
