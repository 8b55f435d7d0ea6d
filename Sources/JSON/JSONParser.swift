/// A syntax error: the 1-based line and column (in characters, a byte-order mark not counted)
/// where reading stopped, and what was wrong there.
public struct JSONParseError: Error, CustomStringConvertible, Equatable, Sendable {
    public let line: Int, column: Int, message: String
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// The one JSON reader of the project (configs, run files, data lines, tokenizer files,
/// safetensors headers, Hugging Face configs). Strict RFC 8259: JSON's number grammar, strings of
/// valid UTF-8 with only JSON's escapes and no raw control characters, surrogate pairs whole, no
/// duplicate keys, nothing after the value. A UTF-8 byte-order mark at the start is skipped
/// (Windows editors write one). Nesting is bounded (`maxDepth`), so the reader recurses a bounded
/// number of times; time and memory are linear in the input.
public struct JSONParser {
    /// Deepest nesting of arrays and objects accepted (configs use a handful of levels,
    /// tokenizer files about five).
    public static let maxDepth = 256

    public static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(buffer: $0) }
    }

    public static func parse(_ text: Substring) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(buffer: $0) }
    }

    public static func parse(bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { try parse(buffer: $0) }
    }

    public static func parse(buffer: UnsafeBufferPointer<UInt8>) throws -> JSONValue {
        var reader = Reader(bytes: buffer)
        if buffer.count >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF {
            reader.start = 3
            reader.i = 3
        }
        reader.skipSpace()
        let value = try reader.value()
        reader.skipSpace()
        if reader.i < buffer.count { throw reader.error("unexpected text after the JSON value") }
        return value
    }
}

private let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    /// Where the document starts (after a byte-order mark).
    var start = 0
    var i = 0
    /// Arrays and objects currently open.
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    // MARK: - Errors

    /// An error at the current position. Columns count characters: UTF-8 continuation bytes
    /// do not start one.
    func error(_ message: String) -> JSONParseError {
        var line = 1, column = 1
        var k = start
        let end = min(i, bytes.count)
        while k < end {
            let b = bytes[k]
            if b == 10 { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
            k += 1
        }
        return JSONParseError(line: line, column: column, message: message)
    }

    /// "character 'x'" for printable ASCII, else "character U+FEFF" for a whole UTF-8
    /// character, else "byte 0xFF".
    func what(at k: Int) -> String {
        let b = bytes[k]
        if b >= 0x20 && b < 0x7F { return "character '\(Character(Unicode.Scalar(b)))'" }
        var j = k
        if b >= 0x80, let scalar = Reader.decodeScalar(bytes, &j) {
            if JSONValue.needsEscapeInMessage(scalar) { return "character U+" + Reader.hex(scalar.value, 4) }
            return "character '\(Character(scalar))' (U+\(Reader.hex(scalar.value, 4)))"
        }
        return "byte 0x" + Reader.hex(UInt32(b), 2)
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }

    // MARK: - Values

    mutating func skipSpace() {
        while i < bytes.count {
            let b = bytes[i]
            if b == 32 || b == 9 || b == 10 || b == 13 { i += 1 } else { break }
        }
    }

    mutating func value() throws -> JSONValue {
        guard i < bytes.count else { throw error("unexpected end of file, expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case quote: return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected \(what(at: i)), expected a value")
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw error("invalid literal, expected \(word)") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw error("invalid literal, expected \(word)") }
        i += n
    }

    /// A number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    mutating func number() throws -> JSONValue {
        let begin = i
        func digits() -> Int {
            let from = i
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            return i - from
        }
        func bad(_ what: String) -> JSONParseError {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[begin..<min(bytes.count, max(i, begin + 1))]), as: UTF8.self)
            i = begin
            return error("invalid number \(JSONValue.excerpt(text)): \(what)")
        }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        let intDigits = digits()
        if intDigits == 0 { throw bad("expected a digit after '-'") }
        if intDigits > 1 && bytes[intStart] == UInt8(ascii: "0") { throw bad("leading zeros are not allowed in JSON") }
        var isInteger = true
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            isInteger = false
            if digits() == 0 { throw bad("expected a digit after '.'") }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            isInteger = false
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            if digits() == 0 { throw bad("expected a digit in the exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[begin..<i]), as: UTF8.self)
        // Integers of up to 15 digits are exact in a Double: computed directly.
        if isInteger && intDigits <= 15 {
            var v: Int64 = 0
            for k in intStart..<i { v = v * 10 + Int64(bytes[k] - 48) }
            let d = Double(v)
            return .number(intStart > begin ? -d : d, JSONNumberSyntax(isInteger: true, text: text))
        }
        // Past 2^53 the Double is rounded and past ~1.8e308 infinite; the text stays exact.
        // (Swift's conversion is correctly rounded and linear in the length of the text.)
        return .number(Double(text) ?? .nan, JSONNumberSyntax(isInteger: isInteger, text: text))
    }

    // MARK: - Strings

    /// A string: valid UTF-8 between quotes, JSON's escapes only, no raw control characters.
    mutating func string() throws -> String {
        i += 1
        let from = i
        // Fast path: no escapes.
        while i < bytes.count {
            let b = bytes[i]
            if b == quote {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if b == backslash { break }
            if b < 0x20 { throw controlCharacter(b) }
            if b < 0x80 { i += 1 } else { try utf8Character() }
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[from..<i]))
        while i < bytes.count {
            let b = bytes[i]
            if b == quote {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw controlCharacter(b) }
            if b < 0x80 && b != backslash {
                out.append(b)
                i += 1
                continue
            }
            if b >= 0x80 {
                let k = i
                try utf8Character()
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[k..<i]))
                continue
            }
            try escape(into: &out)
        }
        throw error("unterminated string")
    }

    func controlCharacter(_ b: UInt8) -> JSONParseError {
        error("control character U+\(Reader.hex(UInt32(b), 4)) inside a string; write it as an escape (\\n, \\t, \\u00XX)")
    }

    /// One escape sequence (at a backslash), appended as UTF-8.
    mutating func escape(into out: inout [UInt8]) throws {
        i += 1
        guard i < bytes.count else { throw error("unterminated string") }
        let e = bytes[i]
        switch e {
        case quote: out.append(0x22)
        case backslash: out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            i -= 1
            let at = i
            var code = try hex4()
            if (0xD800..<0xDC00).contains(code) {
                guard i + 1 < bytes.count, bytes[i] == backslash, bytes[i + 1] == UInt8(ascii: "u") else {
                    i = at
                    throw error("invalid \\u escape: \\u\(Reader.hex(code, 4)) is the first half of a surrogate pair, and no second half (\\uDC00 to \\uDFFF) follows")
                }
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else {
                    i = at
                    throw error("invalid \\u escape: \\u\(Reader.hex(code, 4)) is the first half of a surrogate pair, and no second half (\\uDC00 to \\uDFFF) follows")
                }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(code) {
                i = at
                throw error("invalid \\u escape: \\u\(Reader.hex(code, 4)) is the second half of a surrogate pair without its first half")
            }
            out.append(contentsOf: Array(String(Unicode.Scalar(code)!).utf8))
            return
        default:
            i -= 1
            let shown = e >= 0x20 && e < 0x7F ? "\\" + String(Character(Unicode.Scalar(e))) : "a backslash before the \(what(at: i + 1))"
            throw error("invalid escape \(shown) in a string; JSON's escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX")
        }
        i += 1
    }

    /// `\uXXXX` at the current position (the backslash); moves past it.
    mutating func hex4() throws -> UInt32 {
        let at = i
        i += 2
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard i < bytes.count, let d = Reader.hexDigit(bytes[i]) else {
                i = at
                throw error("invalid \\u escape, expected four hex digits after \\u")
            }
            code = code << 4 | d
            i += 1
        }
        return code
    }

    static func hexDigit(_ b: UInt8) -> UInt32? {
        switch b {
        case 0x30...0x39: return UInt32(b - 0x30)
        case 0x41...0x46: return UInt32(b - 0x41 + 10)
        case 0x61...0x66: return UInt32(b - 0x61 + 10)
        default: return nil
        }
    }

    /// Moves past one multi-byte UTF-8 character, or throws at its first byte.
    mutating func utf8Character() throws {
        var j = i
        guard Reader.decodeScalar(bytes, &j) != nil else {
            throw error("invalid UTF-8 (byte 0x\(Reader.hex(UInt32(bytes[i]), 2))) inside a string; save the file as UTF-8")
        }
        i = j
    }

    /// The scalar whose UTF-8 encoding (RFC 3629: shortest form, no surrogates, at most
    /// U+10FFFF) starts at `k` (a byte ≥ 0x80), moving `k` past it; nil when the bytes are not one.
    static func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, _ k: inout Int) -> Unicode.Scalar? {
        let b0 = bytes[k]
        let length: Int, low: UInt8, high: UInt8
        switch b0 {
        case 0xC2...0xDF: length = 2; low = 0x80; high = 0xBF
        case 0xE0: length = 3; low = 0xA0; high = 0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3; low = 0x80; high = 0xBF
        case 0xED: length = 3; low = 0x80; high = 0x9F
        case 0xF0: length = 4; low = 0x90; high = 0xBF
        case 0xF1...0xF3: length = 4; low = 0x80; high = 0xBF
        case 0xF4: length = 4; low = 0x80; high = 0x8F
        default: return nil
        }
        guard k + length <= bytes.count else { return nil }
        let b1 = bytes[k + 1]
        guard b1 >= low && b1 <= high else { return nil }
        var value = UInt32(b0) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
        value = value << 6 | UInt32(b1 & 0x3F)
        for n in 2..<length {
            let b = bytes[k + n]
            guard b & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(b & 0x3F)
        }
        k += length
        return Unicode.Scalar(value)
    }

    // MARK: - Arrays and objects

    mutating func enter() throws {
        depth += 1
        if depth > JSONParser.maxDepth { throw error("arrays and objects nested deeper than \(JSONParser.maxDepth) levels") }
    }

    mutating func array() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of file inside an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw error("expected ',' or ']' in an array")
        }
    }

    mutating func object() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        i += 1
        var members: [(String, JSONValue)] = []
        // Keys seen so far: a linear scan while the object is small, a set once it is large (a
        // tokenizer's vocabulary is one object of 50,000 keys).
        var seen: Set<String> = []
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of file inside an object") }
            guard bytes[i] == quote else { throw error("expected a key in double quotes") }
            let keyStart = i
            let key = try string()
            let duplicate: Bool
            if members.count < 16 {
                duplicate = members.contains { $0.0 == key }
            } else {
                if seen.isEmpty { seen = Set(members.map(\.0)) }
                duplicate = !seen.insert(key).inserted
            }
            if duplicate {
                i = keyStart
                throw error("duplicate key \(JSONValue.excerpt(key))")
            }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':' after key \(JSONValue.excerpt(key))") }
            i += 1
            skipSpace()
            members.append((key, try value()))
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of file inside an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw error("expected ',' or '}' in an object")
        }
    }
}
