import Foundation

/// A JSON document that keeps what configuration errors need: key order, integer vs. fractional
/// numbers, booleans as booleans, and the line of every value.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double, isInteger: Bool)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x, _), .number(y, _)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let kv) = self { return kv.last { $0.0 == key }?.1 }
        return nil
    }

    /// A short description of the value's type and content for error messages.
    public var describe: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let d, let isInt): return isInt && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
        case .string(let s): return s.count > 40 ? String(JSONValue.quote(String(s.prefix(40))).dropLast()) + "…\"" : JSONValue.quote(s)
        case .array(let a): return "an array of \(a.count)"
        case .object: return "an object"
        }
    }

    // MARK: - Serialization

    public func serialized(pretty: Bool = true, indent: String = "") -> String {
        let nl = pretty ? "\n" : "", step = pretty ? "  " : ""
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d, let isInt):
            if isInt, abs(d) < 1e15 { return String(Int64(d)) }
            if !d.isFinite { return "null" }
            return JSONValue.formatDouble(d)
        case .string(let s): return JSONValue.quote(s)
        case .array(let a):
            if a.isEmpty { return "[]" }
            let simple = a.allSatisfy { if case .object = $0 { return false }; if case .array = $0 { return false }; return true }
            if simple || !pretty { return "[" + a.map { $0.serialized(pretty: false) }.joined(separator: pretty ? ", " : ",") + "]" }
            return "[" + nl + a.map { indent + step + $0.serialized(pretty: pretty, indent: indent + step) }.joined(separator: "," + nl) + nl + indent + "]"
        case .object(let kv):
            if kv.isEmpty { return "{}" }
            let sep = pretty ? ": " : ":"
            return "{" + nl + kv.map { indent + step + JSONValue.quote($0.0) + sep + $0.1.serialized(pretty: pretty, indent: indent + step) }
                .joined(separator: "," + nl) + nl + indent + "}"
        }
    }

    public static func formatDouble(_ d: Double) -> String {
        if d == d.rounded() && abs(d) < 1e15 { return String(format: "%.1f", d) }
        var s = "\(d)"
        if s.contains("e") { s = s.replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+", with: "e") }
        return s
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// Converts Foundation/Swift values (String, Bool, Int, Double, arrays, dictionaries with sorted keys).
    public init(_ any: Any?) {
        switch any {
        case nil: self = .null
        case let v as JSONValue: self = v
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .number(Double(i), isInteger: true)
        case let i as Int32: self = .number(Double(i), isInteger: true)
        case let i as UInt64: self = .number(Double(i), isInteger: true)
        case let d as Double: self = .number(d, isInteger: false)
        case let f as Float: self = .number(Double(f), isInteger: false)
        case let s as String: self = .string(s)
        case let a as [Any?]: self = .array(a.map { JSONValue($0) })
        case let a as [Any]: self = .array(a.map { JSONValue($0) })
        case let d as [String: Any]: self = .object(d.keys.sorted().map { ($0, JSONValue(d[$0])) })
        default: self = .string("\(any!)")
        }
    }

    public var doubleValue: Double? { if case .number(let d, _) = self { return d }; return nil }
    /// The number as an Int when it is integral and within Int's range; nil for other values,
    /// fractions and integers too large to convert (converting those would trap). Numbers are read
    /// as Doubles: integers beyond 2^53 arrive rounded to a multiple of a power of two.
    public var intValue: Int? {
        guard case .number(let d, _) = self else { return nil }
        return Int(exactly: d)
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(String, JSONValue)]? { if case .object(let o) = self { return o }; return nil }
}

// MARK: - Parsing

public struct JSONParseError: Error, CustomStringConvertible {
    public let line: Int, column: Int, message: String
    public var description: String { "line \(line), column \(column): \(message)" }
}

public struct JSONParser {
    let bytes: [UInt8]
    var i = 0
    /// Arrays and objects currently open; parsing recurses once per level, so the depth is bounded.
    var depth = 0
    /// Deepest nesting accepted (experiment configs use a handful of levels).
    public static let maxDepth = 256

    public static func parse(_ text: String) throws -> JSONValue { try parse(bytes: Array(text.utf8)) }

    public static func parse(bytes: [UInt8]) throws -> JSONValue {
        var p = JSONParser(bytes: bytes)
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        if p.i < p.bytes.count { throw p.error("unexpected text after the JSON value") }
        return v
    }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ m: String) -> JSONParseError {
        var line = 1, col = 1
        for b in bytes[0..<min(i, bytes.count)] { if b == 10 { line += 1; col = 1 } else { col += 1 } }
        return JSONParseError(line: line, column: col, message: m)
    }

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
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    mutating func literal(_ s: String) throws {
        let u = Array(s.utf8)
        guard i + u.count <= bytes.count, Array(bytes[i..<(i + u.count)]) == u else { throw error("invalid literal, expected \(s)") }
        i += u.count
    }

    /// A number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    mutating func number() throws -> JSONValue {
        let start = i
        func digits() -> Int {
            let from = i
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            return i - from
        }
        func bad(_ what: String) -> JSONParseError {
            let text = String(decoding: bytes[start..<min(bytes.count, max(i, start + 1))], as: UTF8.self)
            i = start
            return error("invalid number \(text.debugDescription): \(what)")
        }
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        let intDigits = digits()
        if intDigits == 0 {
            guard i > start else {
                throw error("unexpected character '\(String(decoding: [bytes[start]], as: UTF8.self))', expected a value")
            }
            throw bad("expected a digit after '-'")
        }
        if intDigits > 1 && bytes[intStart] == UInt8(ascii: "0") { throw bad("leading zeros are not allowed in JSON") }
        var isInt = true
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            isInt = false
            if digits() == 0 { throw bad("expected a digit after '.'") }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            isInt = false
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            if digits() == 0 { throw bad("expected a digit in the exponent") }
        }
        guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw bad("not a number") }
        return .number(d, isInteger: isInt)
    }

    mutating func string() throws -> String {
        i += 1
        var out = [UInt8]()
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
            if b == UInt8(ascii: "\\") {
                i += 1
                guard i < bytes.count else { break }
                let e = bytes[i]
                switch e {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "u"):
                    guard i + 4 < bytes.count, var code = UInt32(String(decoding: bytes[(i + 1)...(i + 4)], as: UTF8.self), radix: 16) else {
                        throw error("invalid \\u escape")
                    }
                    i += 4
                    if code >= 0xD800 && code < 0xDC00, i + 6 < bytes.count, bytes[i + 1] == UInt8(ascii: "\\"), bytes[i + 2] == UInt8(ascii: "u"),
                       let low = UInt32(String(decoding: bytes[(i + 3)...(i + 6)], as: UTF8.self), radix: 16) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                    out += Array(String(Character(Unicode.Scalar(code) ?? "\u{FFFD}")).utf8)
                default: out.append(e)
                }
                i += 1
                continue
            }
            out.append(b)
            i += 1
        }
        throw error("unterminated string")
    }

    mutating func enter() throws {
        depth += 1
        if depth > Self.maxDepth { throw error("arrays and objects nested deeper than \(Self.maxDepth) levels") }
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
        var kv: [(String, JSONValue)] = []
        // Keys seen so far: a linear scan while the object is small, a set once it is large (a
        // tokenizer's vocabulary is one object of 50,000 keys).
        var seen: Set<String> = []
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key in double quotes") }
            let k = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(k)\"") }
            i += 1
            skipSpace()
            let v = try value()
            let duplicate: Bool
            if kv.count < 16 {
                duplicate = kv.contains { $0.0 == k }
            } else {
                if seen.isEmpty { seen = Set(kv.map(\.0)) }
                duplicate = !seen.insert(k).inserted
            }
            if duplicate { throw error("duplicate key \"\(k)\"") }
            kv.append((k, v))
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of file inside an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
            throw error("expected ',' or '}' in an object")
        }
    }
}
