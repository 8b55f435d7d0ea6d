import Engine

extension GPT {
    /// Back-propagates `ws.hiddenGrad` (d loss / d hidden, filled by the heads) through the trunk
    /// of the last forward and ADDS into `grads`. The forward must have been run on `tokens`.
    public func backward(tokens: UnsafePointer<Int32>, ws: GPTWorkspace) {
        guard let G = grads?.pointer else { preconditionFailure("backward on a model without gradients (call enableGrads)") }
        let c = config, C = c.nEmbd, NH = c.nHead, L = c.nLayer, H = c.nInner
        let B = ws.B, T = ws.T, N = B * T
        FlopCounter.addBackward(config, B: B, T: T)
        let P = params.pointer
        let bt = ws.maxB * ws.maxT
        let dres = ws.p(ws.dres), dC1 = ws.p(ws.dC1), dC2 = ws.p(ws.dC2)
        let d3C = ws.p(ws.d3C), d4C1 = ws.p(ws.d4C1), d4C2 = ws.p(ws.d4C2)
        let ones = ws.p(ws.onesOff)
        let dropActive = ws.dropoutWasOn

        dres.update(repeating: 0, count: N * C)
        LayerNorm.backward(dinp: dres, dweight: G + layout.offset("ln_f.weight"), dbias: G + layout.offset("ln_f.bias"),
                           dout: ws.hiddenGrad, inp: ws.p(ws.resid3 + (L - 1) * bt * C),
                           weight: P + layout.offset("ln_f.weight"), mean: ws.p(ws.lnfMean), rstd: ws.p(ws.lnfRstd),
                           N: N, C: C, scratch: ws.scratch)
        for l in stride(from: L - 1, through: 0, by: -1) {
            let w = layout.block(l)
            let residIn = l == 0 ? ws.p(ws.encoded) : ws.p(ws.resid3 + (l - 1) * bt * C)
            let ln1 = ws.p(ws.ln1 + l * bt * C), qkv = ws.p(ws.qkv + l * bt * 3 * C)
            let atty = ws.p(ws.atty + l * bt * C), lse = ws.p(ws.lse + l * ws.maxB * NH * ws.maxT)
            let resid2 = ws.p(ws.resid2 + l * bt * C)
            let ln2 = ws.p(ws.ln2 + l * bt * C), fch = ws.p(ws.fch + l * bt * H), fchGelu = ws.p(ws.fchGelu + l * bt * H)

            // resid3 = resid2 + fcproj: d(resid2) = dres (kept in place), d(fcproj) = dres.
            var dfcproj = UnsafePointer(dres)
            if dropActive {
                dC1.update(repeating: 0, count: N * C)
                Dropout.backward(dinp: dC1, dout: dres, mask: ws.p(ws.fcprojMask + l * bt * C), n: N * C)
                dfcproj = UnsafePointer(dC1)
            }
            // fcproj = fchGelu @ Wfcproj + b
            d4C2.update(repeating: 0, count: N * H)
            Linear.backward(dinp: d4C2, dweight: G + w.fcprojw, dbias: G + w.fcprojb, dout: dfcproj, inp: fchGelu,
                            weight: P + w.fcprojw, N: N, C: H, OC: C, ones: ones)
            // fchGelu = GELU(fch): d4C1 written, not accumulated (no zeroing pass)
            GELU.backward(dinp: d4C1, inp: fch, dout: d4C2, n: N * H, accumulate: false)
            // fch = ln2 @ Wfc + b
            dC2.update(repeating: 0, count: N * C)
            Linear.backward(dinp: dC2, dweight: G + w.fcw, dbias: G + w.fcb, dout: d4C1, inp: ln2,
                            weight: P + w.fcw, N: N, C: C, OC: H, ones: ones)
            // ln2 = LN(resid2)
            LayerNorm.backward(dinp: dres, dweight: G + w.ln2w, dbias: G + w.ln2b, dout: dC2, inp: resid2, weight: P + w.ln2w,
                               mean: ws.p(ws.ln2Mean + l * bt), rstd: ws.p(ws.ln2Rstd + l * bt), N: N, C: C, scratch: ws.scratch)
            // resid2 = residIn + attproj: d(residIn) = dres, d(attproj) = dres.
            var dattproj = UnsafePointer(dres)
            if dropActive {
                dC1.update(repeating: 0, count: N * C)
                Dropout.backward(dinp: dC1, dout: dres, mask: ws.p(ws.attprojMask + l * bt * C), n: N * C)
                dattproj = UnsafePointer(dC1)
            }
            // attproj = atty @ Wproj + b
            dC2.update(repeating: 0, count: N * C)
            Linear.backward(dinp: dC2, dweight: G + w.attprojw, dbias: G + w.attprojb, dout: dattproj, inp: atty,
                            weight: P + w.attprojw, N: N, C: C, OC: C, ones: ones)
            // atty = Attention(qkv): d3C written, not accumulated (no zeroing pass)
            Attention.backward(dqkv: d3C, dout: dC2, qkv: qkv, lse: lse, B: B, T: T, C: C, NH: NH, branches: ws.branches, scratch: ws.scratch,
                               accumulate: false)
            // qkv = ln1 @ Wqkv + b
            dC1.update(repeating: 0, count: N * C)
            Linear.backward(dinp: dC1, dweight: G + w.qkvw, dbias: G + w.qkvb, dout: d3C, inp: ln1,
                            weight: P + w.qkvw, N: N, C: C, OC: 3 * C, ones: ones)
            // ln1 = LN(residIn)
            LayerNorm.backward(dinp: dres, dweight: G + w.ln1w, dbias: G + w.ln1b, dout: dC1, inp: residIn, weight: P + w.ln1w,
                               mean: ws.p(ws.ln1Mean + l * bt), rstd: ws.p(ws.ln1Rstd + l * bt), N: N, C: C, scratch: ws.scratch)
        }
        // encoded = dropout(wte[tok] + wpe[t])
        var denc = UnsafePointer(dres)
        if dropActive {
            dC1.update(repeating: 0, count: N * C)
            Dropout.backward(dinp: dC1, dout: dres, mask: ws.p(ws.embMask), n: N * C)
            denc = UnsafePointer(dC1)
        }
        Encoder.backward(dwte: G + layout.offset("wte.weight"), dwpe: G + layout.offset("wpe.weight"), dout: denc,
                         tokens: tokens, B: B, T: T, C: C, branches: ws.branches, context: c.context)
    }
}
