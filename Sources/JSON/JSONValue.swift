import Foundation

/// A JSON document as every input of the project is read: object members in their order
/// (duplicate keys are refused by the parser), numbers with their text (see `JSONNumberSyntax`),
/// booleans as booleans. `JSONParser` reads it; messages describe its values with `describe`,
/// `kind` or `typeName`, which quote at most `excerptLength` characters of user text.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number: its value (rounded to a Double; infinite past Double's range, as `1e400`) and
    /// how it was written. Made in code as `.number(3, isInteger: true)`.
    case number(Double, JSONNumberSyntax)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// Values compare by content: numbers by value (`2E+3` equals `2000`), objects member by
    /// member in order.
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

    // MARK: - Accessors

    /// The member named `key` of an object (the last one, for objects made in code with a key twice).
    public subscript(key: String) -> JSONValue? {
        if case .object(let kv) = self { return kv.last { $0.0 == key }?.1 }
        return nil
    }

    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    /// An object's members in document order.
    public var objectValue: [(String, JSONValue)]? { if case .object(let o) = self { return o }; return nil }
    /// An object's members by key (for lookups in large objects, such as a 50,000-token vocabulary).
    public var dictionaryValue: [String: JSONValue]? {
        guard case .object(let o) = self else { return nil }
        return Dictionary(o, uniquingKeysWith: { _, last in last })
    }
    public var isNull: Bool { if case .null = self { return true }; return false }

    // MARK: - Descriptions for messages

    /// The value as a config message shows it: `null`, `true`, `12`, `2.50`, `1e400`, `"text"`
    /// (cut after `excerptLength` characters), `an array of 3`, `an object`. Numbers are shown as
    /// written, except integers of 16 digits or more, which are shown by their Double
    /// (`99999999999999999999999` as `1e+23`), as the checkpoint and config messages always have.
    public var describe: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let d, let syntax) where syntax.isInteger && d.isFinite:
            return abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
        case .number: return JSONValue.cut(numberText)
        case .string(let s): return JSONValue.excerpt(s)
        case .array(let a): return "an array of \(a.count)"
        case .object: return "an object"
        }
    }

    /// The value as a phrase after "found": `null`, `true`, `the number 12`, `the string "x"`,
    /// `an array`, `an object`. Numbers are shown as written, whatever their length (cut after
    /// `excerptLength` characters).
    public var kind: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number: return "the number " + JSONValue.cut(numberText)
        case .string(let s): return "the string " + JSONValue.excerpt(s)
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The value's type: `null`, `a boolean`, `a number`, `a string`, `an array`, `an object`.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Number text (ASCII) cut as `excerpt` cuts strings.
    static func cut(_ text: String) -> String {
        text.utf8.count > excerptLength ? String(text.prefix(excerptLength)) + "…" : text
    }

    // MARK: - Serialization

    public func serialized(pretty: Bool = true, indent: String = "") -> String {
        let nl = pretty ? "\n" : "", step = pretty ? "  " : ""
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d, let syntax):
            if syntax.isInteger, abs(d) < 1e15 { return String(Int64(d)) }
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
}
