/// Up to 15 bytes packed into two words (the length lives in the top byte of `high`), so that
/// looking a short chunk up needs no allocation. `high` is never 0 for a real key (length >= 1),
/// which lets 0 mark empty slots.
struct ShortChunkKey: Hashable {
    static let maxLength = 15

    var low: UInt64
    var high: UInt64

    @inline(__always)
    init(_ bytes: UnsafePointer<UInt8>, count: Int) {
        var low: UInt64 = 0
        var high: UInt64 = UInt64(count) << 56
        let head = min(count, 8)
        for i in 0..<head {
            low |= UInt64(bytes[i]) << (8 * UInt64(i))
        }
        if count > 8 {
            for i in 8..<count {
                high |= UInt64(bytes[i]) << (8 * UInt64(i - 8))
            }
        }
        self.low = low
        self.high = high
    }

    @inline(__always)
    var mixed: UInt64 {
        let x = (low ^ (high &* 0xC2B2_AE3D_27D4_EB4F)) &* 0x9E37_79B9_7F4A_7C15
        return x ^ (x >> 29)
    }
}

/// Memo of chunk bytes -> token ids for short chunks: an open-addressing hash table (linear
/// probing) with key and value side by side in one slot, so a hit costs one cache miss.
/// Chunks of one or two tokens (nearly all of them) keep their ids in the slot itself; longer
/// ones point into a flat arena. When the arena or the table grows past its limit the memo
/// starts over, which bounds memory on huge, diverse inputs.
struct ChunkCache {
    static let maxArenaIds = 1 << 22
    static let maxEntries = 1 << 21

    private struct Slot {
        var low: UInt64
        var high: UInt64  // 0 = empty slot (a real key always has its length in the top byte)
        var value: UInt64
    }

    // Value layout: top two bits are a tag.
    //   1: one id in bits 0..<31;  2: two ids in bits 0..<31 and 31..<62;
    //   3: arena offset in bits 32..<62 and count in bits 0..<32.
    private static let tagShift: UInt64 = 62
    private static let idMask: UInt64 = (1 << 31) - 1

    private var slots: [Slot] = []
    private var occupied = 0
    private var shift: UInt64 = 64
    private var arena: [Int32] = []

    @inline(__always)
    private func slot(for key: ShortChunkKey) -> Int {
        Int(truncatingIfNeeded: key.mixed >> shift)
    }

    /// Appends the cached ids for `key` to `out`; false if the key is not cached.
    @inline(__always)
    func appendCached(_ key: ShortChunkKey, to out: inout [Int32]) -> Bool {
        let capacity = slots.count
        if capacity == 0 { return false }
        let mask = capacity - 1
        var i = slot(for: key)
        let value: UInt64 = slots.withUnsafeBufferPointer { slots in
            while true {
                let h = slots[i].high
                if h == 0 { return 0 }
                if h == key.high && slots[i].low == key.low { return slots[i].value }
                i = (i + 1) & mask
            }
        }
        switch value >> Self.tagShift {
        case 0:
            return false
        case 1:
            out.append(Int32(truncatingIfNeeded: value & Self.idMask))
        case 2:
            out.append(Int32(truncatingIfNeeded: value & Self.idMask))
            out.append(Int32(truncatingIfNeeded: (value >> 31) & Self.idMask))
        default:
            let offset = Int((value >> 32) & ((1 << 30) - 1))
            let count = Int(value & 0xFFFF_FFFF)
            arena.withUnsafeBufferPointer { arena in
                for k in offset..<(offset + count) { out.append(arena[k]) }
            }
        }
        return true
    }

    mutating func insert(_ key: ShortChunkKey, ids: ArraySlice<Int32>) {
        let value: UInt64
        switch ids.count {
        case 1:
            value = (1 << Self.tagShift) | UInt64(UInt32(bitPattern: ids[ids.startIndex]))
        case 2:
            value = (2 << Self.tagShift) | UInt64(UInt32(bitPattern: ids[ids.startIndex]))
                | (UInt64(UInt32(bitPattern: ids[ids.startIndex + 1])) << 31)
        default:
            if arena.count + ids.count > Self.maxArenaIds { self = ChunkCache() }
            value = (3 << Self.tagShift) | (UInt64(arena.count) << 32) | UInt64(ids.count)
            arena.append(contentsOf: ids)
        }
        if occupied >= Self.maxEntries {
            let keepArena = arena
            self = ChunkCache()
            arena = keepArena  // values already computed may point into it
        }
        if (occupied + 1) * 2 > slots.count { grow() }
        if place(Slot(low: key.low, high: key.high, value: value)) { occupied += 1 }
    }

    /// Stores the slot; true if it took an empty slot, false if it replaced an equal key.
    @discardableResult
    private mutating func place(_ entry: Slot) -> Bool {
        let mask = slots.count - 1
        var i = slot(for: ShortChunkKey(low: entry.low, high: entry.high))
        while slots[i].high != 0 {
            if slots[i].high == entry.high && slots[i].low == entry.low {
                slots[i].value = entry.value
                return false
            }
            i = (i + 1) & mask
        }
        slots[i] = entry
        return true
    }

    private mutating func grow() {
        let old = slots
        let capacity = max(1024, old.count * 2)
        slots = [Slot](repeating: Slot(low: 0, high: 0, value: 0), count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        for entry in old where entry.high != 0 {
            place(entry)
        }
    }
}

extension ShortChunkKey {
    init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }
}
