/// GPT-2's byte-level alphabet (`bytes_to_unicode` in OpenAI's encoder.py, `bytes_char` in Hugging
/// Face tokenizers): every byte is written as one printable character, so that a byte string can be
/// stored as a JSON string key. The printable bytes `!`...`~`, `¡`...`¬` and `®`...`ÿ` stand for
/// themselves (as U+0021... and U+00A1...); the other 68 bytes (controls, space, U+007F...U+00A0,
/// the soft hyphen U+00AD) are mapped in byte order to U+0100, U+0101, ... — so the space 0x20 is
/// `Ġ` (U+0120) and the newline 0x0A is `Ċ` (U+010A).
enum ByteLevel {
    /// `scalarOfByte[b]` is the character that stands for byte `b`.
    static let scalarOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if isPrintable(UInt8(b)) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, or nil if the character is not in the alphabet.
    @inline(__always)
    static func byte(of scalar: Unicode.Scalar) -> UInt8? {
        let v = scalar.value
        if v < 256 { return isPrintable(UInt8(v)) ? UInt8(v) : nil }
        if v >= 256 + 68 { return nil }
        return nonPrintableBytes[Int(v - 256)]
    }

    private static func isPrintable(_ b: UInt8) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// The 68 bytes that are not printable, in byte order: U+0100 + k stands for `nonPrintableBytes[k]`.
    private static let nonPrintableBytes: [UInt8] = (0..<256).map { UInt8($0) }.filter { !isPrintable($0) }

    /// The byte-level spelling of a byte string (a vocabulary key, a merge part).
    static func string(of bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarOfByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a byte-level string spells, or nil if a character is outside the alphabet.
    static func bytes(of string: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(string.unicodeScalars.count)
        for scalar in string.unicodeScalars {
            guard let b = byte(of: scalar) else { return nil }
            out.append(b)
        }
        return out
    }

    /// What Hugging Face's ByteLevel decoder makes of one token string: the bytes it spells when
    /// every character is in the alphabet, else the string's own UTF-8 (as `tokenizers` does).
    static func decodedBytes(of string: String) -> [UInt8] {
        bytes(of: string) ?? Array(string.utf8)
    }
}
