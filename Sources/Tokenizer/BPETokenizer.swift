import Foundation

/// A byte-level BPE tokenizer in the style of GPT-2, with any vocabulary: the project's own
/// (trained by `train`) or one read from Hugging Face files (`tokenizer.json`, or `vocab.json` +
/// `merges.txt`), such as GPT-2's 50,257 tokens.
///
/// Vocabulary: each of the 256 bytes has a token (`byteIds`), merge `r` (its rank, which is its
/// priority) joins the pair `merges[r]` into token `mergeResults[r]`, every id decodes to bytes,
/// and `addedTokens` (`<|endoftext|>`, pads, ...) are matched in the raw text. The project's own
/// tokenizers have the fixed layout: ids `0...255` are the bytes in byte order, merge `r` gives
/// `256 + r`, then `eosId = 256 + merges.count` (`<|endoftext|>`) and `padId = eosId + 1` (`<|pad|>`).
///
/// Encoding, exactly as Hugging Face `tokenizers` with its default settings:
/// 1. added tokens are cut out of the text first (leftmost-longest, honouring `lstrip`, `rstrip`,
///    `single_word` and `normalized` as `tokenizers` does), under the tokenizer's `specialTokenRule`:
///    - `.split` (files read from Hugging Face): special-token text such as `"<|endoftext|>"` in the
///      input becomes its id;
///    - `.bytes` (the project's own tokenizers, and any whose `tokenizer_config.json` says
///      `"split_special_tokens": true`): special-token text is encoded as ordinary bytes, so the
///      input can never produce EOS or PAD; non-special added tokens are still matched;
/// 2. each piece of text between them is split into chunks by GPT-2's pattern (see `preTokenize`);
/// 3. within a chunk, the adjacent pair with the lowest merge rank is merged (leftmost on ties)
///    until no pair is a merge. Merges never cross chunk boundaries. (A pair listed twice in a
///    Hugging Face file takes its later rank, as in `tokenizers`.)
///
/// Decoding gives the bytes of each token; an added token gives its content (through the
/// ByteLevel decoder, as `tokenizers`). The project's own layout keeps its old rule that PAD
/// decodes to nothing; `skipSpecialTokens` drops every special token.
///
/// Thread safety: the tokenizer is immutable apart from a memo of recently encoded chunks, which
/// is guarded by a lock. A call that finds the memo busy (another thread is encoding) simply
/// uses a private one, so concurrent `encode` calls never block each other.
public final class BPETokenizer: @unchecked Sendable {
    public static let eosToken = "<|endoftext|>"
    public static let padToken = "<|pad|>"

    /// Number of byte tokens; in the project's own layout merge `r` produces id `byteTokenCount + r`.
    public static let byteTokenCount = 256

    /// Merges in priority order (rank); merge `r` joins `merges[r]` into `mergeResults[r]`.
    public let merges: [(left: Int32, right: Int32)]
    /// The token each merge produces (`256 + r` in the project's own layout).
    public let mergeResults: [Int32]
    /// The token of each single byte (`byteIds[b] == b` in the project's own layout).
    public let byteIds: [Int32]
    /// Tokens matched in the raw text before pre-tokenization, in id order.
    public let addedTokens: [AddedToken]
    /// Whether special-token text in the input is matched (`.split`) or encoded as bytes (`.bytes`).
    public let specialTokenRule: SpecialTokenRule
    public let eosId: Int32
    /// The beginning-of-sequence token named by the tokenizer's files (GPT-2: `<|endoftext|>`), if any.
    public let bosId: Int32?
    /// The unknown token named by the tokenizer's files (GPT-2: `<|endoftext|>`); byte-level BPE never emits it.
    public let unkId: Int32?
    /// True when the tokenizer has a pad token of its own; otherwise `padId == eosId` (as TRL pads GPT-2).
    public let hasPadToken: Bool
    public let padId: Int32
    /// `model_max_length` of `tokenizer_config.json` when it names a real limit.
    public let modelMaxLength: Int?
    /// Total number of token ids: the BPE vocabulary plus added tokens outside it.
    public let vocabSize: Int
    /// Ids `0..<modelVocabSize` are the BPE model's vocabulary (`model.vocab` of tokenizer.json, `vocab.json`).
    public let modelVocabSize: Int
    /// The project's own layout (bytes in order, merge r = 256 + r, then EOS and PAD as the only
    /// added tokens); such a tokenizer keeps its rule that PAD decodes to nothing.
    public let isProjectLayout: Bool

    let rankTable: PairRankTable
    /// Bytes of every id: token `t` is `tokenBytes[tokenOffsets[t]..<tokenOffsets[t+1]]`.
    private let tokenOffsets: [Int32]
    private let tokenBytes: [UInt8]
    private let isSpecialId: [Bool]
    private let byteIdTable: UnsafeMutablePointer<Int32>
    private let resultTable: UnsafeMutablePointer<Int32>
    let splitter: AddedTokenSplitter?

    private let cacheLock = NSLock()
    private var sharedCache = ChunkCache()

    /// The parts a tokenizer is built from; the readers check them first (`BPETokenizer.build`,
    /// `readLegacy`), this type only asserts what is cheap to assert.
    struct Parts {
        var byteIds: [Int32]
        var merges: [(left: Int32, right: Int32)]
        var mergeResults: [Int32]
        /// Bytes of model tokens `0..<modelTokenBytes.count`.
        var modelTokenBytes: [[UInt8]]
        var addedTokens: [AddedToken]
        var eosId: Int32
        var padId: Int32?
        var bosId: Int32?
        var unkId: Int32?
        var rule: SpecialTokenRule
        var modelMaxLength: Int?
    }

    /// The project's own layout from an ordered merge list. Each merge may only refer to byte
    /// tokens and to tokens produced by earlier merges (`load` checks this before calling).
    /// As in GPT-2, `<|endoftext|>` is also the BOS and UNK token (the project prepends no BOS,
    /// and byte-level BPE never needs UNK; exported files name them as GPT-2's do).
    convenience init(merges: [(left: Int32, right: Int32)]) {
        precondition(Self.invalidMergeIndex(merges) == nil, "merge refers to a token that does not exist yet")
        self.init(Self.projectParts(merges: merges))
    }

    static func projectParts(merges: [(left: Int32, right: Int32)]) -> Parts {
        var tokens = (0..<byteTokenCount).map { [UInt8($0)] }
        tokens.reserveCapacity(byteTokenCount + merges.count)
        for merge in merges { tokens.append(tokens[Int(merge.left)] + tokens[Int(merge.right)]) }
        let eos = Int32(byteTokenCount + merges.count)
        return Parts(byteIds: (0..<Int32(byteTokenCount)).map { $0 }, merges: merges,
                     mergeResults: (0..<merges.count).map { Int32(byteTokenCount + $0) }, modelTokenBytes: tokens,
                     addedTokens: [AddedToken(content: eosToken, id: eos, special: true),
                                   AddedToken(content: padToken, id: eos + 1, special: true)],
                     eosId: eos, padId: eos + 1, bosId: eos, unkId: eos, rule: .bytes, modelMaxLength: nil)
    }

    init(_ parts: Parts) {
        precondition(parts.byteIds.count == Self.byteTokenCount && parts.merges.count == parts.mergeResults.count)
        let added = parts.addedTokens.sorted { $0.id < $1.id }
        let modelCount = parts.modelTokenBytes.count
        let count = modelCount + added.filter { Int($0.id) >= modelCount }.count
        let pad = parts.padId ?? parts.eosId
        let layout = parts.byteIds.enumerated().allSatisfy { $0.element == Int32($0.offset) }
            && parts.mergeResults.enumerated().allSatisfy { $0.element == Int32(Self.byteTokenCount + $0.offset) }
            && modelCount == Self.byteTokenCount + parts.merges.count
            && added == [AddedToken(content: Self.eosToken, id: Int32(modelCount), special: true),
                         AddedToken(content: Self.padToken, id: Int32(modelCount) + 1, special: true)]
            && parts.eosId == Int32(modelCount) && parts.padId == parts.eosId + 1
        merges = parts.merges
        mergeResults = parts.mergeResults
        byteIds = parts.byteIds
        addedTokens = added
        specialTokenRule = parts.rule
        eosId = parts.eosId
        bosId = parts.bosId
        unkId = parts.unkId
        hasPadToken = parts.padId != nil && parts.padId != parts.eosId
        padId = pad
        modelMaxLength = parts.modelMaxLength
        modelVocabSize = modelCount
        vocabSize = count
        rankTable = PairRankTable(merges: parts.merges)
        isProjectLayout = layout

        var decoded = [[UInt8]?](repeating: nil, count: count)
        var special = [Bool](repeating: false, count: count)
        for token in added {
            decoded[Int(token.id)] = (layout && token.id == pad) ? [] : ByteLevel.decodedBytes(of: token.content)
            special[Int(token.id)] = token.special
        }
        var offsets: [Int32] = [0]
        var bytes: [UInt8] = []
        offsets.reserveCapacity(count + 1)
        for id in 0..<count {
            bytes.append(contentsOf: decoded[id] ?? parts.modelTokenBytes[id])
            offsets.append(Int32(bytes.count))
        }
        tokenOffsets = offsets
        tokenBytes = bytes
        isSpecialId = special

        byteIdTable = .allocate(capacity: Self.byteTokenCount)
        byteIdTable.initialize(from: parts.byteIds, count: Self.byteTokenCount)
        resultTable = .allocate(capacity: max(1, parts.mergeResults.count))
        resultTable.initialize(from: parts.mergeResults, count: parts.mergeResults.count)
        splitter = AddedTokenSplitter(addedTokens, rule: parts.rule)
    }

    deinit {
        byteIdTable.deallocate()
        resultTable.deallocate()
    }

    /// Index of the first merge that refers to an id that is negative or not yet defined, if any
    /// (the project's own layout, where merge r may use ids below 256 + r).
    static func invalidMergeIndex(_ merges: [(left: Int32, right: Int32)]) -> Int? {
        for (rank, merge) in merges.enumerated() {
            let limit = Int32(byteTokenCount + rank)
            if merge.left < 0 || merge.right < 0 || merge.left >= limit || merge.right >= limit {
                return rank
            }
        }
        return nil
    }

    // MARK: - Lookups

    /// The id of a token given as Hugging Face spells it: an added token's content, or a
    /// vocabulary key in the byte-level alphabet (`"Ġthe"` for `" the"`). O(vocabulary) per call.
    public func tokenId(_ token: String) -> Int32? {
        if let added = addedTokens.first(where: { $0.content == token }) { return added.id }
        guard let bytes = ByteLevel.bytes(of: token) else { return nil }
        return tokenBytes.withUnsafeBufferPointer { all -> Int32? in
            for id in 0..<modelVocabSize {
                let start = Int(tokenOffsets[id]), end = Int(tokenOffsets[id + 1])
                if end - start == bytes.count && bytes.elementsEqual(all[start..<end]) { return Int32(id) }
            }
            return nil
        }
    }

    /// The bytes token `id` decodes to (empty for ids outside the vocabulary).
    public func bytes(ofToken id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < vocabSize else { return [] }
        return Array(tokenBytes[Int(tokenOffsets[Int(id)])..<Int(tokenOffsets[Int(id) + 1])])
    }

    /// True for the ids of special added tokens.
    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < vocabSize && isSpecialId[Int(id)]
    }

    // MARK: - Encoding

    /// Encodes text (see the type's comment for the special-token rule).
    public func encode(_ text: String) -> [Int32] {
        if let ids = text.utf8.withContiguousStorageIfAvailable({ encodeWithSharedCache($0) }) {
            return ids
        }
        return encode(bytes: Array(text.utf8))
    }

    /// Encodes an arbitrary byte string (valid UTF-8 or not); `decodeBytes` restores it exactly
    /// when no added token matched.
    public func encode(bytes: [UInt8]) -> [Int32] {
        bytes.withUnsafeBufferPointer { encodeWithSharedCache($0) }
    }

    /// Splits text into the chunks that BPE merges operate within (a debugging aid; added tokens
    /// are not taken out first).
    public static func preTokenize(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            var pre = PreTokenizer(buffer)
            var chunks: [String] = []
            while let range = pre.next() {
                chunks.append(String(decoding: buffer[range], as: UTF8.self))
            }
            return chunks
        }
    }

    private func encodeWithSharedCache(_ buffer: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(buffer.count / 3 + 8)
        if cacheLock.try() {
            // Move the cache out so that it is uniquely referenced while we mutate it.
            var cache = sharedCache
            sharedCache = ChunkCache()
            encode(buffer, into: &out, cache: &cache)
            sharedCache = cache
            cacheLock.unlock()
        } else {
            var cache = ChunkCache()
            encode(buffer, into: &out, cache: &cache)
        }
        return out
    }

    /// Chunk limit above which the quadratic in-place merge loop gives way to the heap version.
    static let longChunkThreshold = 64

    func encode(_ buffer: UnsafeBufferPointer<UInt8>, into out: inout [Int32], cache: inout ChunkCache) {
        guard let base = buffer.baseAddress else { return }
        if let splitter {
            splitter.split(base, 0..<buffer.count,
                           text: { encodeText(UnsafeBufferPointer(start: base + $0.lowerBound, count: $0.count), into: &out, cache: &cache) },
                           token: { out.append($0) })
        } else {
            encodeText(buffer, into: &out, cache: &cache)
        }
    }

    /// Pre-tokenization and BPE of text that holds no added token.
    private func encodeText(_ buffer: UnsafeBufferPointer<UInt8>, into out: inout [Int32], cache: inout ChunkCache) {
        guard let base = buffer.baseAddress else { return }
        let byteIds = byteIdTable
        var pre = PreTokenizer(buffer)
        while let range = pre.next() {
            let start = base + range.lowerBound
            let length = range.count
            if length == 1 {
                out.append(byteIds[Int(start[0])])
            } else if length <= ShortChunkKey.maxLength {
                let key = ShortChunkKey(start, count: length)
                if cache.appendCached(key, to: &out) { continue }
                let before = out.count
                mergeShortChunk(start, length, into: &out)
                cache.insert(key, ids: out[before...])
            } else if length <= Self.longChunkThreshold {
                mergeShortChunk(start, length, into: &out)
            } else {
                mergeLongChunk(start, length, into: &out)
            }
        }
    }

    /// BPE on one chunk: repeatedly merge the adjacent pair with the lowest rank (leftmost on
    /// ties). Ranks of adjacent pairs are kept in an array and only the two neighbours of a merge
    /// are looked up again. Quadratic in the chunk length, so only used for short chunks.
    @inline(__always)
    private func mergeShortChunk(_ bytes: UnsafePointer<UInt8>, _ length: Int, into out: inout [Int32]) {
        let table = rankTable
        let byteIds = byteIdTable
        let results = resultTable
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * length) { scratch in
            let symbols = scratch.baseAddress!
            let ranks = symbols + length
            for k in 0..<length { symbols[k] = byteIds[Int(bytes[k])] }
            for k in 0..<(length - 1) { ranks[k] = table.rank(symbols[k], symbols[k + 1]) }
            var n = length
            while n > 1 {
                var best = PairRankTable.none
                var at = -1
                for k in 0..<(n - 1) where ranks[k] < best {
                    best = ranks[k]
                    at = k
                }
                if at < 0 { break }
                symbols[at] = results[Int(best)]
                var k = at + 1
                while k < n - 1 {
                    symbols[k] = symbols[k + 1]
                    k += 1
                }
                k = at + 1
                while k < n - 2 {
                    ranks[k] = ranks[k + 1]
                    k += 1
                }
                n -= 1
                if at > 0 { ranks[at - 1] = table.rank(symbols[at - 1], symbols[at]) }
                if at < n - 1 { ranks[at] = table.rank(symbols[at], symbols[at + 1]) }
            }
            out.append(contentsOf: UnsafeBufferPointer(start: symbols, count: n))
        }
    }

    /// Same result as `mergeShortChunk`, in O(n log n): a doubly linked list of symbols plus a
    /// heap of candidate merges keyed by (rank, original position), validated lazily when popped.
    private func mergeLongChunk(_ bytes: UnsafePointer<UInt8>, _ length: Int, into out: inout [Int32]) {
        let table = rankTable
        let byteIds = byteIdTable
        let results = resultTable
        var symbols = (0..<length).map { byteIds[Int(bytes[$0])] }
        var next = (0..<length).map { $0 + 1 < length ? $0 + 1 : -1 }
        var prev = (0..<length).map { $0 - 1 }
        var alive = [Bool](repeating: true, count: length)
        var candidates: [UInt64] = []
        for k in 0..<(length - 1) {
            let r = table.rank(symbols[k], symbols[k + 1])
            if r != PairRankTable.none { candidates.append((UInt64(r) << 32) | UInt64(k)) }
        }
        var heap = MinHeap(candidates)
        while let entry = heap.pop() {
            let rank = Int32(entry >> 32)
            let i = Int(entry & 0xFFFF_FFFF)
            guard alive[i] else { continue }
            let j = next[i]
            guard j >= 0, table.rank(symbols[i], symbols[j]) == rank else { continue }
            symbols[i] = results[Int(rank)]
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { prev[next[j]] = i }
            if prev[i] >= 0 {
                let r = table.rank(symbols[prev[i]], symbols[i])
                if r != PairRankTable.none { heap.push((UInt64(r) << 32) | UInt64(prev[i])) }
            }
            if next[i] >= 0 {
                let r = table.rank(symbols[i], symbols[next[i]])
                if r != PairRankTable.none { heap.push((UInt64(r) << 32) | UInt64(i)) }
            }
        }
        var k = 0
        while k >= 0 {
            out.append(symbols[k])
            k = next[k]
        }
    }

    // MARK: - Decoding

    /// The exact bytes of the tokens. An added token contributes its content (EOS the bytes of
    /// `"<|endoftext|>"`; PAD nothing in the project's own layout), special tokens nothing when
    /// `skipSpecialTokens`, and an id outside the vocabulary U+FFFD (EF BF BD).
    public func decodeBytes(_ ids: [Int32], skipSpecialTokens: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        let count = Int32(vocabSize)
        tokenBytes.withUnsafeBufferPointer { bytes in
            tokenOffsets.withUnsafeBufferPointer { offsets in
                isSpecialId.withUnsafeBufferPointer { special in
                    for id in ids {
                        if id >= 0 && id < count {
                            if skipSpecialTokens && special[Int(id)] { continue }
                            let start = Int(offsets[Int(id)])
                            let end = Int(offsets[Int(id) + 1])
                            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
                        } else {
                            out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                        }
                    }
                }
            }
        }
        return out
    }

    /// Decodes to text (see `decodeBytes`); byte sequences that are not valid UTF-8 (e.g. a
    /// multi-byte character cut in half) become U+FFFD, as Hugging Face's ByteLevel decoder does.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        String(decoding: decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
    }

    /// A printable rendering of one token for display: added tokens as their content, control
    /// characters escaped (`\n`, `\t`, `\r`, `\u{7F}`), bytes that are not valid UTF-8 on their
    /// own as `<0xNN>`, ids outside the vocabulary as `<unk:ID>`.
    public func tokenString(_ id: Int32) -> String {
        if let added = addedTokens.first(where: { $0.id == id }) { return added.content }
        guard id >= 0 && Int(id) < vocabSize else { return "<unk:\(id)>" }
        let bytes = self.bytes(ofToken: id)
        var result = ""
        var position = 0
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        while true {
            switch parser.parseScalar(from: &iterator) {
            case let .valid(encoded):
                let scalar = Unicode.UTF8.decode(encoded)
                position += encoded.count
                switch scalar {
                case "\n": result += "\\n"
                case "\t": result += "\\t"
                case "\r": result += "\\r"
                default:
                    if scalar.properties.generalCategory == .control {
                        result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                    } else {
                        result.unicodeScalars.append(scalar)
                    }
                }
            case let .error(length):
                for byte in bytes[position..<(position + length)] {
                    result += "<0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true) + ">"
                }
                position += length
            case .emptyInput:
                return result
            }
        }
    }

    // MARK: - Benchmark

    /// Single-core encoding throughput in MB/s (10^6 bytes of UTF-8 per second).
    ///
    /// Each pass starts from an empty chunk memo (the shared one is neither used nor disturbed),
    /// so the figure is the cold-cache throughput of a single pass over `text`. Passes repeat
    /// until at least `minimumSeconds` have been measured.
    public static func measureEncodeMBps(tokenizer: BPETokenizer, text: String, minimumSeconds: Double = 0.25) -> Double {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return 0 }
        var elapsed: UInt64 = 0
        var processed = 0
        var checksum = 0
        repeat {
            var cache = ChunkCache()
            var out: [Int32] = []
            out.reserveCapacity(bytes.count / 3 + 8)
            let start = DispatchTime.now().uptimeNanoseconds
            bytes.withUnsafeBufferPointer { tokenizer.encode($0, into: &out, cache: &cache) }
            elapsed += DispatchTime.now().uptimeNanoseconds - start
            processed += bytes.count
            checksum &+= out.count
        } while Double(elapsed) < minimumSeconds * 1e9
        precondition(checksum > 0)
        return Double(processed) / 1e6 / (Double(elapsed) / 1e9)
    }
}
