import Engine
import Files
import Foundation
import GPT

/// Reference sequence log-probs log π_ref(y) (sums over completion tokens) of a list of pairs, by index.
struct ReferenceLogProbs: Codable, Equatable {
    var chosen: [Double]
    var rejected: [Double]
}

/// The on-disk reference cache: JSON (Doubles survive the round trip bit for bit), tagged with
/// fingerprints of the pairs (after truncation) and of the reference weights, so a cache made
/// for other data or another reference model is refused instead of silently used.
struct ReferenceCacheFile: Codable {
    var format = ReferenceCacheFile.formatName
    var version = 1
    var referenceFingerprint: String
    var trainFingerprint: String
    var validFingerprint: String
    var train: ReferenceLogProbs
    var valid: ReferenceLogProbs
    static let formatName = "rlhf-dpo-reference-logps"

    enum CodingKeys: String, CodingKey {
        case format, version, train, valid
        case referenceFingerprint = "reference_fingerprint", trainFingerprint = "train_fingerprint", validFingerprint = "valid_fingerprint"
    }
}

extension DPOTrainer {
    /// File name of the reference cache inside a checkpoint directory.
    public static let referenceCacheFile = "reference_logps.json"

    // MARK: - Precomputation

    /// One pass of the frozen reference over every train and held-out pair (batches of
    /// `batchSize` pairs, in order), keeping log π_ref(y_w) and log π_ref(y_l) of each pair.
    /// Nothing to do when reference-free or when `precomputeRefLogProbs` is off.
    public func precomputeReference() {
        guard !config.referenceFree, config.precomputeRefLogProbs, let reference else { return }
        referencePasses += 1
        refTrain = referenceLogProbs(reference, train)
        refValid = referenceLogProbs(reference, valid)
    }

    /// Whether the reference log-probs are cached in memory (precomputed or loaded).
    public var hasReferenceCache: Bool { refTrain != nil && refValid != nil }

    /// The processes of a data-parallel job each compute their share of the pairs, then gather all.
    func referenceLogProbs(_ model: GPT, _ pairs: [PreferenceExample]) -> ReferenceLogProbs {
        var out = ReferenceLogProbs(chosen: [], rejected: [])
        let mine = reducer.share(pairs.count)
        out.chosen.reserveCapacity(mine.count)
        out.rejected.reserveCapacity(mine.count)
        var i = mine.lowerBound
        while i < mine.upperBound {
            let j = min(mine.upperBound, i + config.batchSize)
            let pb = PreferenceBatch(Array(pairs[i..<j]), pad: pad, sharedPrompt: config.sharedPrompt)
            let seq = pb.batch.rows.isEmpty ? [Double](repeating: 0, count: 2 * pb.pairs)
                                            : pb.sequenceLogProbs(model: model, ws: ws, logp: logpScratch)
            out.chosen += seq[0..<pb.pairs]
            out.rejected += seq[pb.pairs...]
            i = j
        }
        return ReferenceLogProbs(chosen: reducer.gather(out.chosen, total: pairs.count), rejected: reducer.gather(out.rejected, total: pairs.count))
    }

    // MARK: - Cache file

    /// Writes the cached reference log-probs (precomputing them first if needed) to `url`.
    public func saveReferenceCache(to url: URL) throws {
        if !hasReferenceCache { precomputeReference() }
        guard let refTrain, let refValid, let reference else {
            throw CheckpointError("reference cache \(url.path): nothing to save (the run is reference-free or does not precompute reference log-probs)")
        }
        let file = ReferenceCacheFile(referenceFingerprint: Self.fingerprint(reference.params),
                                      trainFingerprint: Self.fingerprint(train), validFingerprint: Self.fingerprint(valid),
                                      train: refTrain, valid: refValid)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try DurableFile.write(try enc.encode(file), to: url)
    }

    /// Loads reference log-probs written by `saveReferenceCache`; refuses a cache made for other
    /// pairs, other truncation limits or another reference model.
    public func loadReferenceCache(from url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckpointError("reference cache \(url.path): file not found")
        }
        let file: ReferenceCacheFile
        do { file = try JSONDecoder().decode(ReferenceCacheFile.self, from: data) } catch {
            throw CheckpointError("reference cache \(url.path): unreadable (\(error)); delete it and the reference log-probs will be recomputed")
        }
        guard file.format == ReferenceCacheFile.formatName, file.version == 1 else {
            throw CheckpointError("reference cache \(url.path): format \"\(file.format)\" version \(file.version), expected \"\(ReferenceCacheFile.formatName)\" version 1")
        }
        guard let reference else {
            throw CheckpointError("reference cache \(url.path): this run is reference-free and uses no reference log-probs")
        }
        let stale = "; it was made for another run — delete it and the reference log-probs will be recomputed"
        guard file.referenceFingerprint == Self.fingerprint(reference.params) else {
            throw CheckpointError("reference cache \(url.path): computed with other reference weights\(stale)")
        }
        guard file.trainFingerprint == Self.fingerprint(train), file.train.chosen.count == train.count, file.train.rejected.count == train.count else {
            throw CheckpointError("reference cache \(url.path): computed for other training pairs (or other max_length / max_completion_length)\(stale)")
        }
        guard file.validFingerprint == Self.fingerprint(valid), file.valid.chosen.count == valid.count, file.valid.rejected.count == valid.count else {
            throw CheckpointError("reference cache \(url.path): computed for other held-out pairs (or other max_length / max_completion_length)\(stale)")
        }
        refTrain = file.train
        refValid = file.valid
    }

    // MARK: - Fingerprints (FNV-1a, 64 bits)

    static func fingerprint(_ pairs: [PreferenceExample]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ v: UInt64) { h = (h ^ v) &* 0x0000_0100_0000_01B3 }
        mix(UInt64(pairs.count))
        for p in pairs {
            for part in [p.prompt, p.chosen, p.rejected] {
                mix(UInt64(part.count))
                for t in part { mix(UInt64(UInt32(bitPattern: t))) }
            }
        }
        return String(h, radix: 16)
    }

    static func fingerprint(_ buffer: FloatBuffer) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        let p = buffer.pointer
        h = (h ^ UInt64(buffer.count)) &* 0x0000_0100_0000_01B3
        for i in 0..<buffer.count { h = (h ^ UInt64(p[i].bitPattern)) &* 0x0000_0100_0000_01B3 }
        return String(h, radix: 16)
    }
}
