// modules: JSON
//
// The JSON reader on arbitrary bytes. Contract: a value or a JSONParseError (line and column
// within the input, a one-line message of bounded length), never a trap; every value can be
// described, read as an integer and serialized, and what `serialized` writes reads back as the
// same value.
import JSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let value: JSONValue
    do {
        value = try JSONParser.parse(buffer: bytes)
    } catch let error as JSONParseError {
        Fuzz.checkMessage(error.description)
        Fuzz.require(error.line >= 1 && error.column >= 1 && error.line <= size + 1 && error.column <= size + 1, "position outside the input: \(error)")
        return 0
    } catch {
        Fuzz.fail("not a JSONParseError: \(error)")
    }
    FuzzCheck.exercise(value)
    // What the writer writes (non-finite numbers become null) reads back as the same value.
    let text = value.serialized(pretty: size % 2 == 0)
    do {
        let again = try JSONParser.parse(text)
        Fuzz.require(again == FuzzCheck.finite(value), "serialized value reads back differently")
    } catch {
        Fuzz.fail("serialized value does not parse: \(error)")
    }
    return 0
}

enum FuzzCheck {
    static func exercise(_ v: JSONValue) {
        Fuzz.checkMessage(v.describe)
        Fuzz.checkMessage(v.kind)
        _ = v.typeName
        _ = v.integer()
        _ = v.integer(in: 0...1, allowDecimal: true)
        _ = v.intValue
        _ = v.doubleValue
        switch v {
        case .array(let items): for item in items { exercise(item) }
        case .object(let members):
            _ = v.dictionaryValue
            for (key, item) in members {
                Fuzz.checkMessage(JSONValue.excerpt(key))
                Fuzz.checkMessage(JSONValue.plainExcerpt(key))
                _ = v[key]
                exercise(item)
            }
        default: break
        }
    }

    /// The value with non-finite numbers as null, as `serialized` writes them.
    static func finite(_ v: JSONValue) -> JSONValue {
        switch v {
        case .number(let d, _) where !d.isFinite: return .null
        case .array(let items): return .array(items.map(finite))
        case .object(let members): return .object(members.map { ($0.0, finite($0.1)) })
        default: return v
        }
    }
}
