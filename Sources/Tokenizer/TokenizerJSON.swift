/// A small JSON reader for tokenizer files.
///
/// Foundation's JSONSerialization is not used because of how it hands numbers back: integers
/// past Int64 come back as decimals that silently round when cast to `Int`, `true` casts to 1,
/// and `1e400` fails the whole document without saying where. Here a number keeps its literal
/// text and is converted only by `integer(...)`, with overflow checks, so every bad number gives
/// a one-line error that names its key.
enum JSON: Equatable {
    case null
    case bool(Bool)
    /// The literal text of the number, already checked against JSON's number grammar.
    case number(String)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// A syntax error: a 1-based line and column and what was expected there.
    struct SyntaxError: Error {
        var line: Int
        var column: Int
        var message: String
    }

    /// Nesting deeper than this is refused (tokenizer files nest 5 levels or so).
    static let maxDepth = 64

    static func parse(_ bytes: [UInt8]) throws -> JSON {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(buffer)
            parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            if parser.position < buffer.count { throw parser.error("the end of the document after the top-level value") }
            return value
        }
    }

    // MARK: - Accessors

    subscript(key: String) -> JSON? {
        if case let .object(members) = self { return members[key] }
        return nil
    }

    var objectValue: [String: JSON]? {
        if case let .object(members) = self { return members }
        return nil
    }

    var arrayValue: [JSON]? {
        if case let .array(items) = self { return items }
        return nil
    }

    var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    var isNull: Bool { self == .null }

    /// The outcome of reading a number as an integer.
    enum IntegerReading {
        case value(Int64)
        /// Not a number, or a number with a fraction.
        case notInteger
        /// An integer (or integral decimal) beyond Int64.
        case tooLarge
    }

    /// Reads an integer. Plain integer literals are read digit by digit with overflow checks;
    /// with `allowDecimal`, `3.0` or `1e3` count too when exactly integral and below 2^53.
    func integer(allowDecimal: Bool = false) -> IntegerReading {
        guard case let .number(text) = self else { return .notInteger }
        let utf8 = Array(text.utf8)
        if !utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            let negative = utf8.first == UInt8(ascii: "-")
            var value: Int64 = 0
            for digit in utf8.dropFirst(negative ? 1 : 0) {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (next, o2) = negative ? times10.subtractingReportingOverflow(Int64(digit - 48))
                                          : times10.addingReportingOverflow(Int64(digit - 48))
                if o1 || o2 { return .tooLarge }
                value = next
            }
            return .value(value)
        }
        guard let double = Double(text), double.isFinite else { return .tooLarge }
        guard allowDecimal, double.rounded() == double else { return .notInteger }
        guard abs(double) < 9_007_199_254_740_992 else { return .tooLarge }
        return .value(Int64(double))
    }

    /// A short phrase naming the value, for error messages (`the string "x"`, `the number 3`, `an array`).
    var kind: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .number(text): return "the number " + (text.count > 40 ? String(text.prefix(40)) + "..." : text)
        case let .string(s): return "the string " + JSON.quoted(s.count > 60 ? String(s.prefix(60)) + "..." : s)
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// A string as it would be written in JSON (for messages).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    // MARK: - Parser

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func error(_ expected: String) -> SyntaxError {
            var line = 1
            var lineStart = 0
            for i in 0..<min(position, bytes.count) where bytes[i] == 0x0A {
                line += 1
                lineStart = i + 1
            }
            let found: String
            if position >= bytes.count {
                found = "the end of the file"
            } else {
                let b = bytes[position]
                found = (b >= 0x20 && b < 0x7F) ? "'\(Character(Unicode.Scalar(b)))'" : "the byte 0x" + String(b, radix: 16, uppercase: true)
            }
            return SyntaxError(line: line, column: position - lineStart + 1, message: "expected \(expected), found \(found)")
        }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws -> JSON {
            guard position < bytes.count else { throw error("a JSON value") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                guard depth < JSON.maxDepth else { throw error("at most \(JSON.maxDepth) levels of nesting") }
                position += 1
                var members: [String: JSON] = [:]
                skipWhitespace()
                if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    return .object(members)
                }
                while true {
                    skipWhitespace()
                    guard position < bytes.count && bytes[position] == UInt8(ascii: "\"") else { throw error("a string key") }
                    let key = try string()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"), "':' after an object key")
                    skipWhitespace()
                    members[key] = try value(depth: depth + 1)
                    skipWhitespace()
                    guard position < bytes.count else { throw error("',' or '}'") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    try expect(UInt8(ascii: "}"), "',' or '}'")
                    return .object(members)
                }
            case UInt8(ascii: "["):
                guard depth < JSON.maxDepth else { throw error("at most \(JSON.maxDepth) levels of nesting") }
                position += 1
                var items: [JSON] = []
                skipWhitespace()
                if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(items)
                }
                while true {
                    skipWhitespace()
                    items.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("',' or ']'") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    try expect(UInt8(ascii: "]"), "',' or ']'")
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .number(try number())
            default:
                throw error("a JSON value")
            }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws {
            guard position < bytes.count && bytes[position] == byte else { throw error(what) }
            position += 1
        }

        mutating func literal(_ word: String) throws {
            for b in word.utf8 {
                guard position < bytes.count && bytes[position] == b else { throw error("'\(word)'") }
                position += 1
            }
        }

        mutating func number() throws -> String {
            let start = position
            func digits() -> Int {
                let from = position
                while position < bytes.count && bytes[position] >= 0x30 && bytes[position] <= 0x39 { position += 1 }
                return position - from
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count else { throw error("a digit") }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else if digits() == 0 {
                throw error("a digit")
            }
            if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
                position += 1
                if digits() == 0 { throw error("a digit after '.'") }
            }
            if position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
                position += 1
                if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) { position += 1 }
                if digits() == 0 { throw error("a digit in the exponent") }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        }

        mutating func string() throws -> String {
            position += 1  // the opening quote
            let start = position
            // Fast path: no escapes.
            while position < bytes.count {
                let b = bytes[position]
                if b == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                    guard let s = String(validating: slice, as: UTF8.self) else {
                        position = start
                        throw error("a string of valid UTF-8")
                    }
                    position += 1
                    return s
                }
                if b == UInt8(ascii: "\\") || b < 0x20 { break }
                position += 1
            }
            var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
            while true {
                guard position < bytes.count else { throw error("'\"' closing the string") }
                let b = bytes[position]
                if b == UInt8(ascii: "\"") {
                    position += 1
                    guard let s = String(validating: out, as: UTF8.self) else {
                        position = start
                        throw error("a string of valid UTF-8")
                    }
                    return s
                }
                if b < 0x20 { throw error("an escaped control character (\\n, \\u0000...) inside the string") }
                if b != UInt8(ascii: "\\") {
                    out.append(b)
                    position += 1
                    continue
                }
                position += 1
                guard position < bytes.count else { throw error("an escape character after '\\'") }
                let e = bytes[position]
                position += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            throw error("a low surrogate \\uDC00-\\uDFFF after a high surrogate")
                        }
                        position += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("a low surrogate \\uDC00-\\uDFFF after a high surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw error("a high surrogate before a low surrogate")
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(code)!).utf8))
                default:
                    position -= 1
                    throw error("one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u")
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            var code: UInt32 = 0
            for _ in 0..<4 {
                guard position < bytes.count, let digit = hexDigit(bytes[position]) else { throw error("four hex digits after \\u") }
                code = code << 4 | digit
                position += 1
            }
            return code
        }

        func hexDigit(_ b: UInt8) -> UInt32? {
            switch b {
            case 0x30...0x39: return UInt32(b - 0x30)
            case 0x41...0x46: return UInt32(b - 0x41 + 10)
            case 0x61...0x66: return UInt32(b - 0x61 + 10)
            default: return nil
            }
        }
    }
}

// MARK: - Writing

enum JSONWriter {
    /// A JSON string literal: quotes, backslashes and control characters escaped, everything
    /// else (the byte-level alphabet included) written as UTF-8, as serde_json writes it.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
