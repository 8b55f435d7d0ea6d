/// Packs an ordered token pair into one `UInt64` key (left id in the high half).
@inline(__always)
func packPair(_ left: Int32, _ right: Int32) -> UInt64 {
    (UInt64(UInt32(bitPattern: left)) << 32) | UInt64(UInt32(bitPattern: right))
}

/// Open-addressing hash map from a packed token pair to its merge rank.
///
/// Immutable after construction, so concurrent readers are safe. Lookups hash with one multiply
/// and probe linearly; this is the innermost operation of encoding.
struct PairRankTable {
    /// Returned by `rank` for pairs that are not a merge.
    static let none: Int32 = .max
    private static let emptyKey: UInt64 = .max  // never a real key: ids are < 2^31

    private var keys: [UInt64]
    private var ranks: [Int32]
    private let shift: UInt64

    init(merges: [(left: Int32, right: Int32)]) {
        var capacity = 16
        while capacity < merges.count * 2 { capacity <<= 1 }
        keys = [UInt64](repeating: Self.emptyKey, count: capacity)
        ranks = [Int32](repeating: Self.none, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        for (rank, merge) in merges.enumerated() {
            let key = packPair(merge.left, merge.right)
            var slot = slotFor(key)
            while keys[slot] != Self.emptyKey && keys[slot] != key {
                slot = (slot + 1) & (capacity - 1)
            }
            if keys[slot] == key {
                // A pair listed twice: the later rank wins, as in Hugging Face tokenizers (its
                // merge map is collected from the list in order). The project's own tokenizers
                // never list a pair twice.
                ranks[slot] = Int32(rank)
                continue
            }
            keys[slot] = key
            ranks[slot] = Int32(rank)
        }
    }

    @inline(__always)
    private func slotFor(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Merge rank of the pair `(left, right)`, or `PairRankTable.none`.
    @inline(__always)
    func rank(_ left: Int32, _ right: Int32) -> Int32 {
        let key = packPair(left, right)
        let mask = keys.count - 1
        var slot = slotFor(key)
        return keys.withUnsafeBufferPointer { k in
            while true {
                let found = k[slot]
                if found == key { return ranks[slot] }
                if found == Self.emptyKey { return Self.none }
                slot = (slot + 1) & mask
            }
        }
    }
}
