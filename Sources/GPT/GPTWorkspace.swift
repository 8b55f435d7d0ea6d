import Engine

/// Activations of one forward pass (kept for backward) and gradient scratch, for batches of up to
/// `maxB` sequences of up to `maxT` tokens, all in one buffer. A forward over (B,T) lays its
/// tensors out contiguously as (B,T,...) at the same offsets whatever B and T are, so any batch
/// of at most `capacity` = maxB·maxT tokens fits (fewer, longer rows: shared-prompt groups).
public final class GPTWorkspace {
    public let config: GPTConfig
    public let maxB: Int, maxT: Int
    public let storage: FloatBuffer
    /// Shape of the last forward pass.
    public internal(set) var B = 0, T = 0
    var dropoutWasOn = false
    /// The shared-prefix layout of the last forward (nil: ordinary sequences).
    var branches: [PrefixBranch]?

    // Offsets (per-layer tensors are L consecutive slabs of the per-layer size).
    let encoded, ln1, ln1Mean, ln1Rstd, qkv, atty, lse, attproj, resid2, ln2, ln2Mean, ln2Rstd: Int
    let fch, fchGelu, fcproj, resid3, lnf, lnfMean, lnfRstd: Int
    let embMask, attprojMask, fcprojMask: Int
    // Gradient scratch
    let dlnf, dres, dC1, dC2, d3C, d4C1, d4C2, onesOff: Int
    let btc: Int
    let scratch = Scratch()
    let lmScratch = Scratch()

    /// `maxT` may exceed the context only for shared-prompt batches (`PrefixBranch`: a prompt and
    /// several continuations in a row), whose positions stay within it; `GPT.forward` checks each batch.
    public init(config c: GPTConfig, maxB: Int, maxT: Int) {
        precondition(maxB > 0 && maxT > 0, "a workspace holds at least one token")
        config = c
        self.maxB = maxB
        self.maxT = maxT
        let L = c.nLayer, C = c.nEmbd, NH = c.nHead, H = c.nInner
        let bt = maxB * maxT
        btc = bt * C
        var off = 0
        func take(_ n: Int) -> Int { defer { off += n }; return off }
        encoded = take(bt * C)
        ln1 = take(L * bt * C); ln1Mean = take(L * bt); ln1Rstd = take(L * bt)
        qkv = take(L * bt * 3 * C)
        atty = take(L * bt * C)
        lse = take(L * maxB * NH * maxT)        // attention's row log-sum-exps (its probabilities are recomputed)
        attproj = take(L * bt * C)
        resid2 = take(L * bt * C)
        ln2 = take(L * bt * C); ln2Mean = take(L * bt); ln2Rstd = take(L * bt)
        fch = take(L * bt * H); fchGelu = take(L * bt * H)
        fcproj = take(L * bt * C)
        resid3 = take(L * bt * C)
        lnf = take(bt * C); lnfMean = take(bt); lnfRstd = take(bt)
        let dropN = c.dropout > 0 ? 1 : 0
        embMask = take(dropN * bt * C); attprojMask = take(dropN * L * bt * C); fcprojMask = take(dropN * L * bt * C)
        dlnf = take(bt * C); dres = take(bt * C); dC1 = take(bt * C); dC2 = take(bt * C)
        d3C = take(bt * 3 * C); d4C1 = take(bt * H); d4C2 = take(bt * H)
        onesOff = take(bt)
        storage = FloatBuffer(count: off)
        (storage.pointer + onesOff).update(repeating: 1, count: bt)
    }

    /// Floats a workspace for (maxB, maxT) holds: the sum of `init`'s buffers, for estimating
    /// memory before allocating (a test keeps the two in step).
    public static func floatCount(config c: GPTConfig, maxB: Int, maxT: Int) -> Int {
        let L = c.nLayer, C = c.nEmbd, H = c.nInner, bt = maxB * maxT
        let perLayer = 10 * bt * C + 2 * bt * H + 4 * bt + maxB * c.nHead * maxT
        let dropout = c.dropout > 0 ? (1 + 2 * L) * bt * C : 0
        return L * perLayer + 9 * bt * C + 2 * bt * H + 3 * bt + dropout
    }

    @inline(__always) func p(_ off: Int) -> UnsafeMutablePointer<Float> { storage.pointer + off }

    /// Final hidden states (after ln_f) of the last forward: (B,T,C).
    public var hidden: UnsafeMutablePointer<Float> { p(lnf) }
    /// Gradient with respect to `hidden`; heads add into it, `GPT.backward` reads it.
    public var hiddenGrad: UnsafeMutablePointer<Float> { p(dlnf) }

    /// Clears `hiddenGrad` for the current (B,T).
    public func zeroHiddenGrad() { p(dlnf).update(repeating: 0, count: B * T * config.nEmbd) }

    /// Tokens a forward can hold, in rows of any length.
    public var capacity: Int { maxB * maxT }

    /// Bytes held by this workspace.
    public var bytes: Int { storage.count * 4 }
}
