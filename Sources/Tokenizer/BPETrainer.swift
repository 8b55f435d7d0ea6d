import Foundation

/// A pair waiting to be merged. `<` means "merge first": the higher count wins, and on equal
/// counts the smaller packed pair (smaller left id, then smaller right id) wins.
private struct MergeCandidate: Comparable {
    var count: Int
    var pair: UInt64

    static func < (a: MergeCandidate, b: MergeCandidate) -> Bool {
        a.count != b.count ? a.count > b.count : a.pair < b.pair
    }
}

extension BPETokenizer {
    /// Learns merges from `corpus` until the vocabulary has `vocabSize` tokens
    /// (256 bytes + merges + EOS + PAD).
    ///
    /// Each corpus element is pre-tokenized on its own and chunks are counted; then the most
    /// frequent adjacent pair (ties: smallest left id, then smallest right id) is merged
    /// repeatedly. Pair counts are updated incrementally from the words that contain the merged
    /// pair only. The result is fully deterministic.
    ///
    /// A `vocabSize` below 258 is treated as 258 (no merges). If the corpus runs out of pairs
    /// before reaching `vocabSize`, training stops early and the tokenizer is smaller than asked.
    public static func train(corpus: [String], vocabSize: Int) -> BPETokenizer {
        let targetMerges = max(0, vocabSize - byteTokenCount - 2)
        var words = WordTable()
        for text in corpus {
            if text.utf8.withContiguousStorageIfAvailable({ words.add(chunksOf: $0) }) == nil {
                Array(text.utf8).withUnsafeBufferPointer { words.add(chunksOf: $0) }
            }
        }
        let merges = learnMerges(words: words.symbols, counts: words.counts, limit: targetMerges)
        return BPETokenizer(merges: merges)
    }

    /// Distinct chunks (as byte symbols) with their frequencies, in order of first appearance.
    private struct WordTable {
        var symbols: [[Int32]] = []
        var counts: [Int] = []
        private var shortIndex: [ShortChunkKey: Int] = [:]
        private var longIndex: [[UInt8]: Int] = [:]

        mutating func add(chunksOf buffer: UnsafeBufferPointer<UInt8>) {
            guard let base = buffer.baseAddress else { return }
            var pre = PreTokenizer(buffer)
            while let range = pre.next() {
                let length = range.count
                if length < 2 { continue }  // a single byte has no pairs to merge
                let start = base + range.lowerBound
                let index: Int
                if length <= ShortChunkKey.maxLength {
                    let key = ShortChunkKey(start, count: length)
                    if let found = shortIndex[key] {
                        index = found
                    } else {
                        index = newWord(start, length)
                        shortIndex[key] = index
                    }
                } else {
                    let key = Array(UnsafeBufferPointer(start: start, count: length))
                    if let found = longIndex[key] {
                        index = found
                    } else {
                        index = newWord(start, length)
                        longIndex[key] = index
                    }
                }
                counts[index] += 1
            }
        }

        private mutating func newWord(_ start: UnsafePointer<UInt8>, _ length: Int) -> Int {
            symbols.append((0..<length).map { Int32(start[$0]) })
            counts.append(0)
            return symbols.count - 1
        }
    }

    private static func learnMerges(words inputWords: [[Int32]], counts: [Int], limit: Int) -> [(left: Int32, right: Int32)] {
        var words = inputWords
        var pairCounts: [UInt64: Int] = [:]
        // For each pair, the words that contain (or once contained) it. May hold stale or
        // repeated entries; both are harmless because words are re-scanned when merged.
        var occurrences: [UInt64: [Int32]] = [:]

        func noteOccurrence(_ pair: UInt64, _ word: Int32) {
            if let slot = occurrences.index(forKey: pair) {
                if occurrences.values[slot].last != word { occurrences.values[slot].append(word) }
            } else {
                occurrences[pair] = [word]
            }
        }

        for (w, symbols) in words.enumerated() {
            let count = counts[w]
            for k in 0..<(symbols.count - 1) {
                let pair = packPair(symbols[k], symbols[k + 1])
                pairCounts[pair, default: 0] += count
                noteOccurrence(pair, Int32(w))
            }
        }

        // Sort so that heap construction does not depend on dictionary iteration order (the
        // heap order itself is total, this just keeps the run byte-for-byte reproducible).
        var heap = MinHeap(pairCounts.map { MergeCandidate(count: $0.value, pair: $0.key) }.sorted())
        var merges: [(left: Int32, right: Int32)] = []
        merges.reserveCapacity(limit)
        var lastVisit = [Int](repeating: -1, count: words.count)
        var delta: [UInt64: Int] = [:]
        var merged: [Int32] = []

        while merges.count < limit, let top = heap.pop() {
            guard let current = pairCounts[top.pair], current > 0 else { continue }
            if current != top.count {
                // Stale entry (the pair lost occurrences since it was pushed): requeue.
                heap.push(MergeCandidate(count: current, pair: top.pair))
                continue
            }
            let mergeIndex = merges.count
            let newId = Int32(byteTokenCount + mergeIndex)
            let left = Int32(truncatingIfNeeded: top.pair >> 32)
            let right = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            merges.append((left, right))

            delta.removeAll(keepingCapacity: true)
            for w32 in occurrences.removeValue(forKey: top.pair) ?? [] {
                let w = Int(w32)
                if lastVisit[w] == mergeIndex { continue }
                lastVisit[w] = mergeIndex
                let old = words[w]
                merged.removeAll(keepingCapacity: true)
                var k = 0
                while k < old.count {
                    if k + 1 < old.count && old[k] == left && old[k + 1] == right {
                        merged.append(newId)
                        k += 2
                    } else {
                        merged.append(old[k])
                        k += 1
                    }
                }
                if merged.count == old.count { continue }
                let count = counts[w]
                for k in 0..<(old.count - 1) {
                    delta[packPair(old[k], old[k + 1]), default: 0] -= count
                }
                for k in 0..<(merged.count - 1) {
                    let pair = packPair(merged[k], merged[k + 1])
                    delta[pair, default: 0] += count
                    if merged[k] == newId || merged[k + 1] == newId { noteOccurrence(pair, w32) }
                }
                words[w] = merged
            }

            pairCounts[top.pair] = nil
            for (pair, change) in delta where change != 0 && pair != top.pair {
                let updated = (pairCounts[pair] ?? 0) + change
                if updated > 0 {
                    pairCounts[pair] = updated
                    if change > 0 { heap.push(MergeCandidate(count: updated, pair: pair)) }
                } else {
                    pairCounts[pair] = nil
                    occurrences[pair] = nil
                }
            }
        }
        return merges
    }
}
