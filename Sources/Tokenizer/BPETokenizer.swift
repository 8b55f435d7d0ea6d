import Foundation

/// A byte-level BPE tokenizer in the style of GPT-2.
///
/// Vocabulary layout: ids `0...255` are the raw bytes, id `256 + r` is the result of merge `r`
/// (merges in the order they were learned, which is also their priority when encoding), then
/// `eosId = 256 + merges.count` and `padId = eosId + 1`.
///
/// Text is first split into chunks (see `preTokenize`); merges never cross chunk boundaries.
/// Encoding never produces the special tokens: a literal `"<|endoftext|>"` in the input is
/// encoded as ordinary bytes.
///
/// Thread safety: the tokenizer is immutable apart from a memo of recently encoded chunks, which
/// is guarded by a lock. A call that finds the memo busy (another thread is encoding) simply
/// uses a private one, so concurrent `encode` calls never block each other.
public final class BPETokenizer: @unchecked Sendable {
    public static let eosToken = "<|endoftext|>"
    public static let padToken = "<|pad|>"

    /// Number of byte tokens; merge `r` produces id `byteTokenCount + r`.
    public static let byteTokenCount = 256

    /// Learned merges in priority order; merge `r` yields token id `256 + r`.
    public let merges: [(left: Int32, right: Int32)]

    let rankTable: PairRankTable
    /// Bytes of every non-special token: token `t` is `tokenBytes[tokenOffsets[t]..<tokenOffsets[t+1]]`.
    private let tokenOffsets: [Int32]
    private let tokenBytes: [UInt8]

    private let cacheLock = NSLock()
    private var sharedCache = ChunkCache()

    /// Total number of token ids, including the two special tokens.
    public var vocabSize: Int { Self.byteTokenCount + merges.count + 2 }
    public var eosId: Int32 { Int32(Self.byteTokenCount + merges.count) }
    public var padId: Int32 { eosId + 1 }

    /// Builds a tokenizer from an ordered merge list. Each merge may only refer to byte tokens
    /// and to tokens produced by earlier merges (`load` checks this before calling).
    init(merges: [(left: Int32, right: Int32)]) {
        precondition(Self.invalidMergeIndex(merges) == nil, "merge refers to a token that does not exist yet")
        self.merges = merges
        rankTable = PairRankTable(merges: merges)
        var offsets: [Int32] = [0]
        var bytes: [UInt8] = []
        offsets.reserveCapacity(Self.byteTokenCount + merges.count + 1)
        for b in 0..<Self.byteTokenCount {
            bytes.append(UInt8(b))
            offsets.append(Int32(bytes.count))
        }
        for merge in merges {
            for part in [merge.left, merge.right] {
                let start = Int(offsets[Int(part)])
                let end = Int(offsets[Int(part) + 1])
                bytes.append(contentsOf: bytes[start..<end])
            }
            offsets.append(Int32(bytes.count))
        }
        tokenOffsets = offsets
        tokenBytes = bytes
    }

    /// Index of the first merge that refers to an id that is negative or not yet defined, if any.
    static func invalidMergeIndex(_ merges: [(left: Int32, right: Int32)]) -> Int? {
        for (rank, merge) in merges.enumerated() {
            let limit = Int32(byteTokenCount + rank)
            if merge.left < 0 || merge.right < 0 || merge.left >= limit || merge.right >= limit {
                return rank
            }
        }
        return nil
    }

    // MARK: - Encoding

    /// Encodes text. Never emits EOS or PAD.
    public func encode(_ text: String) -> [Int32] {
        if let ids = text.utf8.withContiguousStorageIfAvailable({ encodeWithSharedCache($0) }) {
            return ids
        }
        return encode(bytes: Array(text.utf8))
    }

    /// Encodes an arbitrary byte string (valid UTF-8 or not); `decodeBytes` restores it exactly.
    public func encode(bytes: [UInt8]) -> [Int32] {
        bytes.withUnsafeBufferPointer { encodeWithSharedCache($0) }
    }

    /// Splits text into the chunks that BPE merges operate within (a debugging aid).
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
        var pre = PreTokenizer(buffer)
        while let range = pre.next() {
            let start = base + range.lowerBound
            let length = range.count
            if length == 1 {
                out.append(Int32(start[0]))
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
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * length) { scratch in
            let symbols = scratch.baseAddress!
            let ranks = symbols + length
            for k in 0..<length { symbols[k] = Int32(bytes[k]) }
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
                symbols[at] = Int32(Self.byteTokenCount) + best
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
        var symbols = (0..<length).map { Int32(bytes[$0]) }
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
            symbols[i] = Int32(Self.byteTokenCount) + rank
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

    /// The exact bytes of the tokens. EOS contributes the bytes of `"<|endoftext|>"`, PAD
    /// contributes nothing, and an id outside the vocabulary contributes U+FFFD (EF BF BD).
    public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        let regularCount = Int32(tokenOffsets.count - 1)
        let eos = eosId
        let pad = padId
        tokenBytes.withUnsafeBufferPointer { bytes in
            tokenOffsets.withUnsafeBufferPointer { offsets in
                for id in ids {
                    if id >= 0 && id < regularCount {
                        let start = Int(offsets[Int(id)])
                        let end = Int(offsets[Int(id) + 1])
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
                    } else if id == eos {
                        out.append(contentsOf: Self.eosToken.utf8)
                    } else if id == pad {
                        continue
                    } else {
                        out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    }
                }
            }
        }
        return out
    }

    /// Decodes to text. EOS becomes `"<|endoftext|>"`, PAD becomes `""`; byte sequences that are
    /// not valid UTF-8 (e.g. a multi-byte character cut in half) become U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    /// A printable rendering of one token for display: special tokens as their literal names,
    /// control characters escaped (`\n`, `\t`, `\r`, `\u{7F}`), bytes that are not valid UTF-8 on
    /// their own as `<0xNN>`, ids outside the vocabulary as `<unk:ID>`.
    public func tokenString(_ id: Int32) -> String {
        if id == eosId { return Self.eosToken }
        if id == padId { return Self.padToken }
        guard id >= 0 && Int(id) < tokenOffsets.count - 1 else { return "<unk:\(id)>" }
        let bytes = Array(tokenBytes[Int(tokenOffsets[Int(id)])..<Int(tokenOffsets[Int(id) + 1])])
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
    /// until at least 0.25 s have been measured.
    public static func measureEncodeMBps(tokenizer: BPETokenizer, text: String) -> Double {
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
        } while elapsed < 250_000_000
        precondition(checksum > 0)
        return Double(processed) / 1e6 / (Double(elapsed) / 1e9)
    }
}
