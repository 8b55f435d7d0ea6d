import Engine

extension GPT {
    /// Runs the trunk over `tokens` (B,T), positions 0..<T (see `branches`), and leaves the final hidden states
    /// (after ln_f) in `ws.hidden`. With `dropout` non-nil and config.dropout > 0 the dropout
    /// masks are drawn from it (training); otherwise dropout is off. With `branches` (one per
    /// sequence) each sequence carries continuations of a shared prompt (`PrefixBranch`): T may
    /// then exceed the context as long as every real position stays within it.
    public func forward(tokens: UnsafePointer<Int32>, B: Int, T: Int, ws: GPTWorkspace, dropout: UnsafeMutablePointer<RNG>? = nil,
                        branches: [PrefixBranch]? = nil) {
        precondition(B * T <= ws.capacity, "batch (\(B),\(T)) exceeds the workspace's \(ws.capacity) tokens")
        if let branches {
            // Positions are clamped to the context (see PrefixBranch.position): the caller keeps each
            // prompt + continuation within it, as it must for ordinary sequences.
            precondition(branches.count == B && branches.allSatisfy { $0.lastStart <= T && $0.fits(context: config.context) },
                         "one prefix branch per sequence, each within the batch")
        } else {
            precondition(T <= config.context, "sequence length \(T) exceeds the context \(config.context)")
        }
        ws.branches = branches
        FlopCounter.addForward(config, B: B, T: T)
        let c = config, C = c.nEmbd, NH = c.nHead, L = c.nLayer, V = c.vocabSize, H = c.nInner, eps = c.layerNormEpsilon
        let N = B * T
        ws.B = B
        ws.T = T
        for i in 0..<N { precondition(tokens[i] >= 0 && Int(tokens[i]) < V, "token id \(tokens[i]) out of range 0..<\(V)") }
        let P = params.pointer
        let bt = ws.maxB * ws.maxT
        let useDrop = dropout != nil && c.dropout > 0
        ws.dropoutWasOn = useDrop
        Encoder.forward(out: ws.p(ws.encoded), tokens: tokens, wte: P + layout.offset("wte.weight"),
                        wpe: P + layout.offset("wpe.weight"), B: B, T: T, C: C, branches: branches, context: c.context)
        if useDrop {
            Dropout.forward(out: ws.p(ws.encoded), mask: ws.p(ws.embMask), inp: ws.p(ws.encoded), n: N * C, p: c.dropout, rng: &dropout!.pointee)
        }
        for l in 0..<L {
            let w = layout.block(l)
            let residIn = l == 0 ? ws.p(ws.encoded) : ws.p(ws.resid3 + (l - 1) * bt * C)
            let ln1 = ws.p(ws.ln1 + l * bt * C), qkv = ws.p(ws.qkv + l * bt * 3 * C)
            let atty = ws.p(ws.atty + l * bt * C), lse = ws.p(ws.lse + l * ws.maxB * NH * ws.maxT)
            let attproj = ws.p(ws.attproj + l * bt * C), resid2 = ws.p(ws.resid2 + l * bt * C)
            let ln2 = ws.p(ws.ln2 + l * bt * C), fch = ws.p(ws.fch + l * bt * H), fchGelu = ws.p(ws.fchGelu + l * bt * H)
            let fcproj = ws.p(ws.fcproj + l * bt * C), resid3 = ws.p(ws.resid3 + l * bt * C)

            LayerNorm.forward(out: ln1, mean: ws.p(ws.ln1Mean + l * bt), rstd: ws.p(ws.ln1Rstd + l * bt),
                              inp: residIn, weight: P + w.ln1w, bias: P + w.ln1b, N: N, C: C, eps: eps)
            Linear.forward(out: qkv, inp: ln1, weight: P + w.qkvw, bias: P + w.qkvb, N: N, C: C, OC: 3 * C)
            Attention.forward(out: atty, lse: lse, qkv: qkv, B: B, T: T, C: C, NH: NH, branches: branches, scratch: ws.scratch)
            Linear.forward(out: attproj, inp: atty, weight: P + w.attprojw, bias: P + w.attprojb, N: N, C: C, OC: C)
            if useDrop {
                Dropout.forward(out: attproj, mask: ws.p(ws.attprojMask + l * bt * C), inp: attproj, n: N * C, p: c.dropout, rng: &dropout!.pointee)
            }
            Residual.forward(out: resid2, a: residIn, b: attproj, n: N * C)
            LayerNorm.forward(out: ln2, mean: ws.p(ws.ln2Mean + l * bt), rstd: ws.p(ws.ln2Rstd + l * bt),
                              inp: resid2, weight: P + w.ln2w, bias: P + w.ln2b, N: N, C: C, eps: eps)
            Linear.forward(out: fch, inp: ln2, weight: P + w.fcw, bias: P + w.fcb, N: N, C: C, OC: H)
            GELU.forward(out: fchGelu, inp: fch, n: N * H)
            Linear.forward(out: fcproj, inp: fchGelu, weight: P + w.fcprojw, bias: P + w.fcprojb, N: N, C: H, OC: C)
            if useDrop {
                Dropout.forward(out: fcproj, mask: ws.p(ws.fcprojMask + l * bt * C), inp: fcproj, n: N * C, p: c.dropout, rng: &dropout!.pointee)
            }
            Residual.forward(out: resid3, a: resid2, b: fcproj, n: N * C)
        }
        LayerNorm.forward(out: ws.p(ws.lnf), mean: ws.p(ws.lnfMean), rstd: ws.p(ws.lnfRstd),
                          inp: ws.p(ws.resid3 + (L - 1) * bt * C),
                          weight: P + layout.offset("ln_f.weight"), bias: P + layout.offset("ln_f.bias"), N: N, C: C, eps: eps)
    }

    /// Log-probabilities (and entropies) of `targets` predicted at flat positions `rows` of the last
    /// forward, with logits divided by `temperature`. With `dlogp`/`dentropy` it also back-propagates
    /// into `ws.hiddenGrad` and the tied embedding's gradient (recomputing the logits chunk by chunk).
    public func tokenLogProbs(ws: GPTWorkspace, rows: [Int32], targets: [Int32], temperature: Float = 1,
                              logp: UnsafeMutablePointer<Float>?, entropy: UnsafeMutablePointer<Float>? = nil,
                              dlogp: UnsafePointer<Float>? = nil, dentropy: UnsafePointer<Float>? = nil) {
        precondition(rows.count == targets.count)
        let backward = dlogp != nil || dentropy != nil
        FlopCounter.addHead(config, rows: rows.count, backward: backward)
        let wte = layout.offset("wte.weight")
        rows.withUnsafeBufferPointer { r in
            targets.withUnsafeBufferPointer { y in
                TokenLogProbs.run(hidden: ws.hidden, rows: r.baseAddress!, targets: y.baseAddress!, n: rows.count,
                                  wte: params.pointer + wte, V: config.vocabSize, C: config.nEmbd, temperature: temperature,
                                  logp: logp, entropy: entropy, dlogp: dlogp, dentropy: dentropy,
                                  dhidden: backward ? ws.hiddenGrad : nil,
                                  dwte: backward ? grads.map { $0.pointer + wte } : nil, scratch: ws.lmScratch)
            }
        }
    }

    /// Full logits of the given flat rows of the last forward (for tests and inspection): (rows.count, V).
    public func logits(ws: GPTWorkspace, rows: [Int]) -> [Float] {
        let C = config.nEmbd, V = config.vocabSize
        var out = [Float](repeating: 0, count: rows.count * V)
        let wte = params.pointer + layout.offset("wte.weight")
        out.withUnsafeMutableBufferPointer { o in
            for (i, r) in rows.enumerated() {
                BLAS.sgemv(m: V, n: C, a: wte, lda: C, x: ws.hidden + r * C, y: o.baseAddress! + i * V)
            }
        }
        return out
    }

    /// Scalar head on every position of the last forward: out (B·T).
    public func scalarHead(ws: GPTWorkspace, out: UnsafeMutablePointer<Float>) {
        guard let w = layout["score.weight"], let b = layout["score.bias"] else {
            preconditionFailure("this model has no scalar head")
        }
        ScalarHead.forward(out: out, hidden: ws.hidden, w: params.pointer + w.offset, b: params[b.offset], N: ws.B * ws.T, C: config.nEmbd)
    }

    /// Back-propagates d(out) of `scalarHead` into `ws.hiddenGrad` and the head's gradients.
    public func scalarHeadBackward(ws: GPTWorkspace, dout: UnsafePointer<Float>) {
        guard let w = layout["score.weight"], let b = layout["score.bias"] else { preconditionFailure("this model has no scalar head") }
        let g = grads
        ScalarHead.backward(dhidden: ws.hiddenGrad, dw: g.map { $0.pointer + w.offset }, db: g.map { $0.pointer + b.offset },
                            dout: dout, hidden: ws.hidden, w: params.pointer + w.offset, N: ws.B * ws.T, C: config.nEmbd)
    }
}
