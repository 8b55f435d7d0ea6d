import Foundation
import JSON
import Alignment

/// Reads one JSON object of a config with validation. Every accessor records the key as known
/// and the value it returns (default included) into `resolved`; `finish()` rejects unknown keys
/// with a suggestion. Error messages name the file and the JSON path.
public final class ConfigSection {
    public let file: String
    public let path: String
    let entries: [(String, JSONValue)]
    var known: [String] = []
    var resolved: [(String, JSONValue)] = []
    var children: [String: ConfigSection] = [:]

    init(file: String, path: String, value: JSONValue) throws {
        self.file = file
        self.path = path
        guard case .object(let kv) = value else {
            throw UserError("\(file): \(path.isEmpty ? "top level" : path): expected a JSON object, found \(value.describe)")
        }
        entries = kv
    }

    /// The JSON path of `key` for messages (a long or odd key quoted and cut, see `JSONValue.plainExcerpt`).
    func keyPath(_ key: String) -> String {
        let shown = JSONValue.plainExcerpt(key)
        return path.isEmpty ? shown : path + "." + shown
    }

    func fail(_ key: String, _ message: String) -> UserError { UserError("\(file): \(keyPath(key)): \(message)") }

    public func has(_ key: String) -> Bool { entries.contains { $0.0 == key } }

    func raw(_ key: String) -> JSONValue? {
        known.append(key)
        guard let v = entries.last(where: { $0.0 == key })?.1 else { return nil }
        if case .null = v { return nil }
        return v
    }

    func record(_ key: String, _ v: JSONValue) {
        resolved.removeAll { $0.0 == key }
        resolved.append((key, v))
    }

    // MARK: - Scalars

    public func int(_ key: String, _ def: Int, min lo: Int? = nil, max hi: Int? = nil) throws -> Int {
        let v = try optionalInt(key, min: lo, max: hi) ?? def
        record(key, .number(Double(v), isInteger: true))
        return v
    }

    /// An integer in lo...hi, read exactly (see `JSONValue.integer`): `3.0` and `1e3` count, a
    /// fraction, an integer past the range (however many digits) or `1e400` is refused.
    public func optionalInt(_ key: String, min lo: Int? = nil, max hi: Int? = nil) throws -> Int? {
        guard let v = raw(key) else { return nil }
        let range = Int64(lo ?? Int.min)...Int64(hi ?? Int.max)
        guard case .value(let i) = v.integer(in: range, allowDecimal: true) else {
            throw fail(key, "expected an integer\(rangeText(lo, hi)), found \(v.describe)")
        }
        record(key, .number(Double(i), isInteger: true))
        return Int(i)
    }

    public func double(_ key: String, _ def: Double, min lo: Double? = nil, max hi: Double? = nil, openMin: Bool = false) throws -> Double {
        let v = try optionalDouble(key, min: lo, max: hi, openMin: openMin) ?? def
        record(key, .number(v, isInteger: false))
        return v
    }

    /// A number in the range given. Every config number ends up in a Float or a Double, so a
    /// number beyond a 32-bit float's range (magnitude above 3.4e38, `1e400` included) is refused
    /// whatever the range: converting it would give infinity.
    public func optionalDouble(_ key: String, min lo: Double? = nil, max hi: Double? = nil, openMin: Bool = false) throws -> Double? {
        guard let v = raw(key) else { return nil }
        let d = try number(v, rangeText(lo, hi, openMin: openMin), lo: lo, hi: hi, openMin: openMin) { self.fail(key, $0) }
        record(key, .number(d, isInteger: false))
        return d
    }

    /// `v` as a number in [lo, hi] (or (lo, hi]) that a 32-bit float holds (`Ranges.problem`);
    /// `fail` makes the error.
    func number(_ v: JSONValue, _ range: String, lo: Double?, hi: Double?, openMin: Bool = false,
                fail: (String) -> UserError) throws -> Double {
        guard case .number(let d, let syntax) = v, !d.isNaN else { throw fail("expected a number\(range), found \(v.describe)") }
        // As written when read from a file or --set, else (made in code) formatted.
        let found = syntax.text == nil ? fmt(d) : v.describe
        if let problem = Ranges.problem(d, lo: lo, hi: hi, openMin: openMin, found: found) { throw fail(problem) }
        return d
    }

    public func float(_ key: String, _ def: Float, min lo: Double? = nil, max hi: Double? = nil, openMin: Bool = false) throws -> Float {
        Float(try double(key, Double(def), min: lo, max: hi, openMin: openMin))
    }

    /// `optionalDouble` as a Float (never infinite: numbers past a Float's range are refused).
    public func optionalFloat(_ key: String, min lo: Double? = nil, max hi: Double? = nil, openMin: Bool = false) throws -> Float? {
        try optionalDouble(key, min: lo, max: hi, openMin: openMin).map { Float($0) }
    }

    public func bool(_ key: String, _ def: Bool) throws -> Bool {
        var b = def
        if let v = raw(key) {
            guard case .bool(let x) = v else { throw fail(key, "expected true or false, found \(v.describe)") }
            b = x
        }
        record(key, .bool(b))
        return b
    }

    public func string(_ key: String, _ def: String) throws -> String {
        let s = try optionalString(key) ?? def
        record(key, .string(s))
        return s
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let v = raw(key) else { return nil }
        guard case .string(let s) = v else { throw fail(key, "expected a string, found \(v.describe)") }
        record(key, .string(s))
        return s
    }

    /// One of a fixed set of strings.
    public func choice(_ key: String, _ def: String, _ allowed: [String]) throws -> String {
        guard let v = raw(key) else { record(key, .string(def)); return def }
        let list = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
        guard case .string(let s) = v else { throw fail(key, "expected one of \(list), found \(v.describe)") }
        guard allowed.contains(s) else {
            let hint = suggestion(s, in: allowed).map { "; did you mean \"\($0)\"?" } ?? ""
            throw fail(key, "expected one of \(list), found \(JSONValue.excerpt(s))\(hint)")
        }
        record(key, .string(s))
        return s
    }

    public func doubles(_ key: String, _ def: [Double], min lo: Double? = nil, max hi: Double? = nil, nonEmpty: Bool = true) throws -> [Double] {
        var out = def
        if let v = raw(key) {
            guard case .array(let a) = v else { throw fail(key, "expected an array of numbers, found \(v.describe)") }
            out = []
            for (i, e) in a.enumerated() {
                out.append(try number(e, rangeText(lo, hi), lo: lo, hi: hi) { self.fail(key, "element \(i): " + $0) })
            }
            if nonEmpty && out.isEmpty { throw fail(key, "expected at least one number, found an empty array") }
        }
        record(key, .array(out.map { .number($0, isInteger: false) }))
        return out
    }

    /// An array of integers in lo...hi, each read exactly as `optionalInt` reads one.
    public func integers(_ key: String, _ def: [Int], min lo: Int? = nil, max hi: Int? = nil, nonEmpty: Bool = true) throws -> [Int] {
        var out = def
        if let v = raw(key) {
            guard case .array(let a) = v else { throw fail(key, "expected an array of integers, found \(v.describe)") }
            let range = Int64(lo ?? Int.min)...Int64(hi ?? Int.max)
            out = try a.enumerated().map { i, e in
                guard case .value(let x) = e.integer(in: range, allowDecimal: true) else {
                    throw fail(key, "element \(i): expected an integer\(rangeText(lo, hi)), found \(e.describe)")
                }
                return Int(x)
            }
            if nonEmpty && out.isEmpty { throw fail(key, "expected at least one integer, found an empty array") }
        }
        record(key, .array(out.map { .number(Double($0), isInteger: true) }))
        return out
    }

    public func strings(_ key: String, _ def: [String]) throws -> [String] {
        var out = def
        if let v = raw(key) {
            guard case .array(let a) = v else { throw fail(key, "expected an array of strings, found \(v.describe)") }
            out = try a.enumerated().map { i, e in
                guard case .string(let s) = e else { throw fail(key, "element \(i): expected a string, found \(e.describe)") }
                return s
            }
        }
        record(key, .array(out.map { .string($0) }))
        return out
    }

    /// A nested object; nil when absent (or null).
    public func section(_ key: String) throws -> ConfigSection? {
        guard let v = raw(key) else { return nil }
        let s = try ConfigSection(file: file, path: keyPath(key), value: v)
        children[key] = s
        return s
    }

    /// A nested object, or an empty one when absent, so that its defaults are recorded.
    public func sectionOrEmpty(_ key: String) throws -> ConfigSection {
        if let s = try section(key) { return s }
        let s = try ConfigSection(file: file, path: keyPath(key), value: .object([]))
        children[key] = s
        return s
    }

    /// Rejects keys that no accessor asked for, suggesting the nearest known one.
    public func finish() throws {
        for (k, _) in entries where !known.contains(k) {
            if let n = suggestion(k, in: known) {
                throw fail(k, "unknown key; did you mean \"\(n)\"?")
            }
            throw fail(k, "unknown key; known keys here: \(known.uniqued().joined(separator: ", "))")
        }
        for c in children.values { try c.finish() }
    }

    /// Every value read, defaults included, in reading order.
    public var resolvedJSON: JSONValue {
        var kv = resolved.filter { children[$0.0] == nil }
        for k in known.uniqued() where children[k] != nil { kv.append((k, children[k]!.resolvedJSON)) }
        return .object(kv)
    }

    func rangeText(_ lo: Int?, _ hi: Int?) -> String { Ranges.text(lo, hi) }

    func rangeText(_ lo: Double?, _ hi: Double?, openMin: Bool = false) -> String { Ranges.text(lo, hi, openMin: openMin) }
}

/// The experiment file's sections are what trainers read their settings from.
extension ConfigSection: SettingsReader {
    public func optionalInt(_ key: String, _ value: Int?, min lo: Int?, max hi: Int?) throws -> Int? {
        if has(key) { return try optionalInt(key, min: lo, max: hi) }
        _ = raw(key)
        record(key, value.map { .number(Double($0), isInteger: true) } ?? .null)
        return value
    }
    public func optionalDouble(_ key: String, _ value: Double?, min lo: Double?, max hi: Double?, openMin: Bool) throws -> Double? {
        if has(key) { return try optionalDouble(key, min: lo, max: hi, openMin: openMin) }
        _ = raw(key)
        record(key, value.map { .number($0, isInteger: false) } ?? .null)
        return value
    }
    public func refuse(_ key: String, _ message: String) -> Error { fail(key, message) }
}

/// Longest file path a message prints whole (PATH_MAX is 4096 bytes; longer text is cut).
let pathExcerptLength = 1024

func fmt(_ d: Double) -> String { Ranges.format(d) }

/// The nearest of `candidates` for a "did you mean" hint; none for words longer than any key
/// (the edit distance of a 100,000-character word would cost time for no useful hint).
func suggestion(_ word: String, in candidates: [String]) -> String? {
    word.unicodeScalars.count <= 64 ? nearest(word, in: candidates) : nil
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

// MARK: - Files, "extends" and --set

public enum ConfigLoader {
    /// Reads a config file, following `"extends": "base.json"` (relative to the file) with
    /// key-by-key override of objects, and applies `--set a.b=value` overrides last.
    public static func load(path: String, overrides: [String] = []) throws -> JSONValue {
        var merged = try loadMerged(path: path, chain: [])
        for o in overrides { merged = try applySet(o, to: merged) }
        try checkStringLengths(merged, at: "", file: path)
        return merged
    }

    /// Longest string a config holds: no path (PATH_MAX), name or choice is longer, so a longer
    /// one is a mistake, refused here before any reader (or any other module's message) sees it.
    public static let maxStringBytes = 4096

    /// Refuses strings longer than `maxStringBytes`, naming the first by its JSON path.
    static func checkStringLengths(_ value: JSONValue, at path: String, file: String) throws {
        switch value {
        case .string(let s) where s.utf8.count > maxStringBytes:
            throw UserError("\(file): \(path.isEmpty ? "top level" : path): expected at most \(maxStringBytes) bytes (no path or name in a config is longer), found a string of \(s.utf8.count) bytes, \(JSONValue.excerpt(s)); shorten it")
        case .array(let items):
            for (i, item) in items.enumerated() { try checkStringLengths(item, at: path + "[\(i)]", file: file) }
        case .object(let members):
            for (key, item) in members {
                let shown = JSONValue.plainExcerpt(key)
                try checkStringLengths(item, at: path.isEmpty ? shown : path + "." + shown, file: file)
            }
        default: break
        }
    }

    static func loadMerged(path: String, chain: [String]) throws -> JSONValue {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if chain.contains(url.path) {
            throw UserError("\(path): \"extends\" forms a cycle (\((chain + [url.path]).joined(separator: " -> "))); remove one of the links")
        }
        // A directory, named pipe or device: say what it is (reading one would fail as "not found",
        // or block on a pipe). The base of an `extends` is checked where it is named, below.
        if chain.isEmpty, let what = FileSystem.notARegularFile(url.path) {
            throw UserError("\(path): \(what), not a config file; give the path of a JSON experiment file (configs/quickstart.json is a ready one)")
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw UserError("\(path): config file not found; check the path (configs/quickstart.json is a ready one)")
        }
        // Read as bytes: invalid UTF-8 is reported where it is, and a byte-order mark is skipped.
        let value: JSONValue
        do { value = try JSONParser.parse(bytes: [UInt8](data)) } catch let e as JSONParseError {
            throw UserError("\(path):\(e.line):\(e.column): invalid JSON: \(e.message)")
        }
        guard case .object(var kv) = value else { throw UserError("\(path): top level: expected a JSON object, found \(value.describe)") }
        guard let ext = kv.first(where: { $0.0 == "extends" })?.1 else { return value }
        guard case .string(let basePath) = ext else { throw UserError("\(path): extends: expected a file name (string), found \(ext.describe)") }
        kv.removeAll { $0.0 == "extends" }
        let baseURL = URL(fileURLWithPath: basePath, relativeTo: url.deletingLastPathComponent())
        guard FileManager.default.fileExists(atPath: baseURL.path) else {
            throw UserError("\(path): extends: file \(JSONValue.plainExcerpt(baseURL.path, limit: pathExcerptLength)) not found; the path is relative to the file that extends it")
        }
        if let what = FileSystem.notARegularFile(baseURL.path) {
            throw UserError("\(path): extends: \(JSONValue.plainExcerpt(baseURL.path, limit: pathExcerptLength)) \(what), not a config file; name a JSON experiment file (the path is relative to the file that extends it)")
        }
        let base = try loadMerged(path: baseURL.path, chain: chain + [url.path])
        return merge(base, .object(kv))
    }

    /// Objects merge key by key (recursively); anything else in `top` replaces `base`.
    public static func merge(_ base: JSONValue, _ top: JSONValue) -> JSONValue {
        guard case .object(let b) = base, case .object(let t) = top else { return top }
        var out = b
        var index: [String: Int] = [:]
        for (i, (k, _)) in out.enumerated() where index[k] == nil { index[k] = i }
        for (k, v) in t {
            if let i = index[k] {
                out[i].1 = merge(out[i].1, v)
            } else {
                index[k] = out.count
                out.append((k, v))
            }
        }
        return .object(out)
    }

    /// `a.b.c=value`: value parsed as JSON when it is valid JSON, else taken as a string.
    public static func applySet(_ assignment: String, to root: JSONValue) throws -> JSONValue {
        let shown = JSONValue.plainExcerpt(assignment)
        guard let eq = assignment.firstIndex(of: "=") else {
            throw UserError("--set \(shown): expected KEY.PATH=VALUE, e.g. --set ppo.kl_coef=0.1")
        }
        let keyPath = String(assignment[..<eq]), text = String(assignment[assignment.index(after: eq)...])
        let keys = keyPath.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keys.isEmpty, !keys.contains(where: \.isEmpty) else {
            throw UserError("--set \(shown): empty key in \(JSONValue.excerpt(keyPath)); expected KEY.PATH=VALUE, e.g. --set ppo.kl_coef=0.1")
        }
        // Numbers keep their text, so a value past any range (`1e400`, 30 digits) is refused by
        // the reader of its key with the value as written, never converted.
        let value = (try? JSONParser.parse(text)) ?? .string(text)
        return try set(keys[...], value, in: root, full: JSONValue.plainExcerpt(keyPath))
    }

    static func set(_ keys: ArraySlice<String>, _ value: JSONValue, in node: JSONValue, full: String) throws -> JSONValue {
        guard let k = keys.first else { return value }
        guard case .object(var kv) = node else {
            throw UserError("--set \(full): \(JSONValue.plainExcerpt(k)) is inside a value that is not an object (\(node.describe))")
        }
        if let i = kv.firstIndex(where: { $0.0 == k }) {
            kv[i].1 = try set(keys.dropFirst(), value, in: kv[i].1, full: full)
        } else {
            kv.append((k, try set(keys.dropFirst(), value, in: .object([]), full: full)))
        }
        return .object(kv)
    }
}
