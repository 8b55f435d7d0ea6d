import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BPETokenizer {
    /// Writes the tokenizer as JSON:
    /// `{"format": "rlhf-bpe-v1", "vocab_size": N, "merges": [[a, b], ...], "special": {...}}`.
    ///
    /// The file is written to a temporary file in the same directory and then renamed over
    /// `url`, so readers never see a half-written file. Missing parent directories are created.
    public func save(to url: URL) throws {
        let path = url.path
        var json = "{\n"
        json += "  \"format\": \"\(TokenizerError.formatTag)\",\n"
        json += "  \"vocab_size\": \(vocabSize),\n"
        json += "  \"merges\": ["
        for (index, merge) in merges.enumerated() {
            json += index == 0 ? "\n    " : ",\n    "
            json += "[\(merge.left), \(merge.right)]"
        }
        json += merges.isEmpty ? "],\n" : "\n  ],\n"
        json += "  \"special\": {\"\(Self.eosToken)\": \(eosId), \"\(Self.padToken)\": \(padId)}\n"
        json += "}\n"

        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(json.utf8).write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw TokenizerError.writeFailed(path: path, reason: Self.describe(error))
        }
        if rename(temporary.path, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw TokenizerError.writeFailed(path: path, reason: reason)
        }
    }

    /// Reads a file written by `save(to:)`, checking the format tag and that the merges, the
    /// vocabulary size and the special ids are consistent.
    public static func load(from url: URL) throws -> BPETokenizer {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenizerError.fileNotFound(path: path)
        }
        if isDirectory.boolValue {
            throw TokenizerError.unreadable(path: path, reason: "it is a directory")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadable(path: path, reason: describe(error))
        }

        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw TokenizerError.invalidJSON(path: path, found: data.isEmpty ? "an empty file" : "text that is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw TokenizerError.invalidJSON(path: path, found: jsonKind(parsed))
        }

        guard let formatValue = object["format"] else {
            throw TokenizerError.wrongFormat(path: path, found: "no \"format\" key")
        }
        guard let format = formatValue as? String else {
            throw TokenizerError.wrongFormat(path: path, found: jsonKind(formatValue))
        }
        guard format == TokenizerError.formatTag else {
            throw TokenizerError.wrongFormat(path: path, found: quoted(format))
        }

        func invalid(_ expected: String, _ found: String) -> TokenizerError {
            .invalidContents(path: path, expected: expected, found: found)
        }

        if let unknown = object.keys.filter({ !["format", "vocab_size", "merges", "special"].contains($0) }).sorted().first {
            throw invalid("only the keys \"format\", \"vocab_size\", \"merges\" and \"special\"", quoted(unknown))
        }
        guard let rawMerges = object["merges"] as? [Any] else {
            throw invalid("\"merges\" to be an array of [left, right] id pairs",
                          object["merges"].map(jsonKind) ?? "no \"merges\" key")
        }
        var merges: [(left: Int32, right: Int32)] = []
        merges.reserveCapacity(rawMerges.count)
        // Training never merges a pair twice; a repeated pair would make its later token unreachable.
        var seen: [Int64: Int] = [:]
        for (rank, rawPair) in rawMerges.enumerated() {
            let limit = byteTokenCount + rank
            let expected = "merges[\(rank)] to be a pair of token ids in 0..<\(limit)"
            guard let pair = rawPair as? [Any], pair.count == 2,
                  let left = integer(pair[0]), let right = integer(pair[1]) else {
                throw invalid(expected, jsonKind(rawPair))
            }
            guard (0..<limit).contains(left), (0..<limit).contains(right) else {
                throw invalid(expected, "[\(left), \(right)]")
            }
            if let first = seen.updateValue(rank, forKey: Int64(left) << 32 | Int64(right)) {
                throw invalid("merges[\(rank)] to differ from every earlier merge", "[\(left), \(right)] again (merges[\(first)])")
            }
            merges.append((Int32(left), Int32(right)))
        }

        let expectedSize = byteTokenCount + merges.count + 2
        guard let vocabSize = object["vocab_size"].flatMap(integer) else {
            throw invalid("\"vocab_size\": \(expectedSize) (an integer)",
                          object["vocab_size"].map(jsonKind) ?? "no \"vocab_size\" key")
        }
        guard vocabSize == expectedSize else {
            throw invalid("\"vocab_size\": \(expectedSize) (256 bytes + \(merges.count) merges + 2 special tokens)",
                          "\(vocabSize)")
        }

        guard let special = object["special"] as? [String: Any] else {
            throw invalid("\"special\" to be an object of special token ids",
                          object["special"].map(jsonKind) ?? "no \"special\" key")
        }
        let expectedIds = [(eosToken, expectedSize - 2), (padToken, expectedSize - 1)]
        for (name, expectedId) in expectedIds {
            let id = special[name].flatMap(integer)
            guard id == expectedId else {
                throw invalid("\"special\" id of \(name) to be \(expectedId)",
                              id.map(String.init) ?? special[name].map(jsonKind) ?? "no such key")
            }
        }
        if let extra = special.keys.filter({ $0 != eosToken && $0 != padToken }).sorted().first {
            throw invalid("only \(eosToken) and \(padToken) in \"special\"", quoted(extra))
        }
        return BPETokenizer(merges: merges)
    }

    private static func describe(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return nsError.localizedDescription
    }

    /// An exactly integral JSON number, else nil (rejects fractions, strings and booleans).
    private static func integer(_ value: Any) -> Int? {
        if isBoolean(value) { return nil }
        if let int = value as? Int { return int }
        if let double = value as? Double, double.rounded() == double, abs(double) < 1e15 { return Int(double) }
        return nil
    }

    /// JSONSerialization hands back booleans as NSNumber; they are the ones of ObjC type "c".
    private static func isBoolean(_ value: Any) -> Bool {
        if let n = value as? NSNumber, type(of: value) != Int.self, type(of: value) != Double.self {
            return String(cString: n.objCType) == "c"
        }
        return false
    }

    private static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A short phrase naming a JSON value's kind, for error messages.
    private static func jsonKind(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case let s as String: return "the string " + quoted(s)
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default:
            if isBoolean(value) { return "a boolean" }
            if let n = value as? NSNumber { return "the number \(n)" }
            return "a value of type \(type(of: value))"
        }
    }
}
