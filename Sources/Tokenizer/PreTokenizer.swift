/// GPT-2 style pre-tokenization, written by hand over UTF-8 bytes.
///
/// The chunking follows the GPT-2 pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`:
///
/// * a lowercase English contraction (`'s 't 're 've 'm 'll 'd`) at a chunk start is its own chunk;
/// * a run of letters, a run of digits, or a run of other non-space characters, each optionally
///   preceded by one ASCII space;
/// * a run of whitespace. When such a run is followed by a non-space character, its last
///   character is split off: a final `" "` becomes the leading space of the next chunk, any other
///   final whitespace character becomes a chunk of its own.
///
/// Bytes that are not valid UTF-8 are classed as "other" one byte at a time, so arbitrary byte
/// strings can be chunked too. Chunk boundaries never split a valid UTF-8 sequence.
struct PreTokenizer {
    enum CharClass: UInt8 {
        case letter, number, space, other
    }

    private let base: UnsafePointer<UInt8>
    private let count: Int
    private var position = 0

    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        // An empty buffer may have a nil base address; any non-nil pointer will do because
        // `count == 0` means it is never read.
        if let address = buffer.baseAddress {
            base = address
        } else {
            base = UnsafePointer(bitPattern: 0x10)!
        }
        count = buffer.count
    }

    /// The next chunk as a byte range into the buffer, or nil at the end.
    @inline(__always)
    mutating func next() -> Range<Int>? {
        let start = position
        guard start < count else { return nil }
        let b0 = base[start]

        // Contractions: 's 't 'm 'd 're 've 'll
        if b0 == 0x27, start + 1 < count {
            let b1 = base[start + 1]
            if b1 == 0x73 || b1 == 0x74 || b1 == 0x6D || b1 == 0x64 {  // s t m d
                position = start + 2
                return start..<position
            }
            if start + 2 < count {
                let b2 = base[start + 2]
                if (b1 == 0x72 && b2 == 0x65) || (b1 == 0x76 && b2 == 0x65) || (b1 == 0x6C && b2 == 0x6C) {  // re ve ll
                    position = start + 3
                    return start..<position
                }
            }
        }

        let (c0, l0) = classify(at: start)
        var runClass = c0
        var end = start + l0
        // A single ASCII space glued to a following non-space run.
        if b0 == 0x20, end < count {
            let (c1, l1) = classify(at: end)
            if c1 != .space {
                runClass = c1
                end += l1
            }
        }
        if runClass != .space {
            while end < count {
                let (c, l) = classify(at: end)
                if c != runClass { break }
                end += l
            }
            position = end
            return start..<end
        }

        // Whitespace run.
        var lastStart = start
        while end < count {
            let (c, l) = classify(at: end)
            if c != .space { break }
            lastStart = end
            end += l
        }
        if end < count && lastStart > start {
            // Followed by non-space: leave the last whitespace character for the next chunk.
            position = lastStart
        } else {
            position = end
        }
        return start..<position
    }

    /// Character class and byte length of the (possibly invalid) UTF-8 sequence at `i`.
    @inline(__always)
    private func classify(at i: Int) -> (CharClass, Int) {
        let b = base[i]
        if b < 0x80 {
            return (Self.asciiClass(b), 1)
        }
        return classifyMultiByte(at: i, lead: b)
    }

    @inline(__always)
    static func asciiClass(_ b: UInt8) -> CharClass {
        let lower = b | 0x20
        if lower >= 0x61 && lower <= 0x7A { return .letter }  // a-z, A-Z
        if b >= 0x30 && b <= 0x39 { return .number }
        if b == 0x20 || (b >= 0x09 && b <= 0x0D) { return .space }
        return .other
    }

    private func classifyMultiByte(at i: Int, lead b: UInt8) -> (CharClass, Int) {
        @inline(__always) func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> UInt32? {
            guard k < count else { return nil }
            let c = base[k]
            guard c >= lo && c <= hi else { return nil }
            return UInt32(c & 0x3F)
        }
        var value: UInt32
        var length: Int
        switch b {
        case 0xC2...0xDF:
            guard let c1 = cont(i + 1) else { return (.other, 1) }
            value = (UInt32(b & 0x1F) << 6) | c1
            length = 2
        case 0xE0...0xEF:
            let lo: UInt8 = b == 0xE0 ? 0xA0 : 0x80  // no overlong forms
            let hi: UInt8 = b == 0xED ? 0x9F : 0xBF  // no surrogates
            guard let c1 = cont(i + 1, lo, hi), let c2 = cont(i + 2) else { return (.other, 1) }
            value = (UInt32(b & 0x0F) << 12) | (c1 << 6) | c2
            length = 3
        case 0xF0...0xF4:
            let lo: UInt8 = b == 0xF0 ? 0x90 : 0x80  // no overlong forms
            let hi: UInt8 = b == 0xF4 ? 0x8F : 0xBF  // nothing above U+10FFFF
            guard let c1 = cont(i + 1, lo, hi), let c2 = cont(i + 2), let c3 = cont(i + 3) else {
                return (.other, 1)
            }
            value = (UInt32(b & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3
            length = 4
        default:
            return (.other, 1)
        }
        if value < 0x10000 { return (Self.bmpClasses[Int(value)], length) }
        guard let scalar = Unicode.Scalar(value) else { return (.other, 1) }
        return (Self.scalarClass(scalar), length)
    }

    /// `scalarClass` of every scalar below U+10000, computed once (64 KB): the Unicode property
    /// lookups cost more than the rest of the chunking of non-ASCII text. Surrogate code points
    /// are never looked up (their UTF-8 forms are rejected above).
    static let bmpClasses: [CharClass] = (0..<0x10000).map { value in
        guard let scalar = Unicode.Scalar(UInt32(value)) else { return .other }
        return scalarClass(scalar)
    }

    static func scalarClass(_ scalar: Unicode.Scalar) -> CharClass {
        if scalar.isASCII { return asciiClass(UInt8(scalar.value)) }
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}
