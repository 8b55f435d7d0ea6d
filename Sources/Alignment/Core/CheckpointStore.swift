import Files
import Foundation
import GPT

/// Checkpoints of one stage: `root/step-000123/` directories, each written in a temporary
/// directory (`.tmp-step-000123`), fsync'ed and renamed into place, so that a directory named
/// `step-N` is always complete; `root/latest` names the newest (for people: the store itself
/// lists the directories, so a run killed between the rename and `latest` loses nothing).
/// A run killed mid-write leaves the previous checkpoints intact.
public enum CheckpointStore {
    public static func directoryName(_ step: Int) -> String { String(format: "step-%06d", step) }

    /// The step of a checkpoint directory name (`step-` and digits only), else nil.
    public static func step(ofDirectoryName name: String) -> Int? {
        guard name.hasPrefix("step-") else { return nil }
        let digits = name.dropFirst(5)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// Files written into every checkpoint saved while this value is bound (name -> bytes), beside
    /// the trainer's own: the experiment runner records there how far its logs had got, so that a
    /// resume cuts them back to exactly that point.
    @TaskLocal public static var companionFiles: [String: Data] = [:]

    /// Writes a checkpoint with `write(dir)`, then publishes it and keeps the `keep` newest.
    /// A failure (a full disk) removes the partial directory and leaves the published ones as they were.
    public static func save(root: URL, step: Int, keep: Int = 2, write: (URL) throws -> Void) throws {
        let fm = FileManager.default
        try DurableFile.createDirectory(root)
        let name = directoryName(step)
        let tmp = root.appendingPathComponent(".tmp-\(name)")
        try? fm.removeItem(at: tmp)
        try DurableFile.createDirectory(tmp)
        do {
            try write(tmp)
            for (file, data) in companionFiles.sorted(by: { $0.key < $1.key }) {
                try DurableFile.write(data, to: tmp.appendingPathComponent(file))
            }
            DurableFile.syncDirectory(tmp)
        } catch {
            let named = naming(error, tmp: tmp, final: root.appendingPathComponent(name))
            try? fm.removeItem(at: tmp)
            throw named
        }
        let final = root.appendingPathComponent(name)
        if fm.fileExists(atPath: final.path) {
            // Replacing a checkpoint of the same step: the old one is set aside first (a directory
            // cannot be renamed over a full one); `checkpoints(root:)` puts it back if a kill lands
            // between the two renames.
            let old = root.appendingPathComponent(".replaced-\(name)")
            try? fm.removeItem(at: old)
            guard rename(final.path, old.path) == 0 else {
                let e = errno
                try? fm.removeItem(at: tmp)
                throw FileWriteError(path: final.path, code: e)
            }
            guard rename(tmp.path, final.path) == 0 else {
                let e = errno
                _ = rename(old.path, final.path)
                try? fm.removeItem(at: tmp)
                throw FileWriteError(path: final.path, code: e)
            }
            try? fm.removeItem(at: old)
        } else if rename(tmp.path, final.path) != 0 {
            let e = errno
            try? fm.removeItem(at: tmp)
            throw FileWriteError(path: final.path, code: e)
        }
        DurableFile.syncDirectory(root)
        try DurableFile.write(Data((name + "\n").utf8), to: root.appendingPathComponent("latest"))
        // Prune older checkpoints.
        for old in checkpoints(root: root).dropFirst(keep) where old.lastPathComponent != name {
            try? fm.removeItem(at: old)
        }
    }

    /// A write into the temporary directory that failed, told as a write into the checkpoint:
    /// the path under `final`, found from the error or, for an error of a writer that does not
    /// name its file (a Foundation error without a path), from the temporary file it left.
    static func naming(_ error: Error, tmp: URL, final: URL) -> Error {
        if let w = error as? FileWriteError, w.path.hasPrefix(tmp.path + "/") {
            return FileWriteError(path: final.path + w.path.dropFirst(tmp.path.count), code: w.code)
        }
        guard DurableFile.isNoSpace(error), !(error is FileWriteError) else { return error }
        for n in (try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? [] where n.hasPrefix(".") {
            if let r = n.range(of: ".tmp-", options: .backwards), r.lowerBound > n.index(after: n.startIndex) {
                return FileWriteError(path: final.appendingPathComponent(String(n[n.index(after: n.startIndex)..<r.lowerBound])).path, code: ENOSPC)
            }
        }
        return FileWriteError(path: final.path, code: ENOSPC)
    }

    /// The published checkpoint directories under `root`, newest (highest step) first.
    public static func checkpoints(root: URL) -> [URL] {
        let fm = FileManager.default
        guard var names = try? fm.contentsOfDirectory(atPath: root.path) else { return [] }
        // A replacement killed between its two renames: the old directory comes back.
        for n in names where n.hasPrefix(".replaced-") {
            let original = String(n.dropFirst(".replaced-".count))
            if step(ofDirectoryName: original) != nil && !names.contains(original) {
                if rename(root.appendingPathComponent(n).path, root.appendingPathComponent(original).path) == 0 { names.append(original) }
            }
        }
        var found: [(Int, URL)] = []
        for n in names {
            guard let s = step(ofDirectoryName: n) else { continue }
            var isDir: ObjCBool = false
            let u = root.appendingPathComponent(n)
            if fm.fileExists(atPath: u.path, isDirectory: &isDir), isDir.boolValue { found.append((s, u)) }
        }
        return found.sorted { $0.0 > $1.0 }.map(\.1)
    }

    /// The newest checkpoint directory, if any (not necessarily intact: see `restoreNewest`).
    public static func latest(root: URL) -> URL? { checkpoints(root: root).first }

    /// A newer checkpoint that could not be restored, and where it was moved.
    public struct Skipped {
        public let directory: URL
        public let reason: String
        /// `root/damaged-step-N`, or nil when the move failed (the directory stays where it was).
        public let movedTo: URL?
    }

    /// Restores the newest checkpoint under `root` that `restore` accepts (a checkpoint is intact
    /// when every file of it loads): newer ones that fail are moved aside to `damaged-step-N`, so
    /// that later saves and resumes do not meet them again, and returned with the reason. Returns
    /// nil when there is no checkpoint; when none can be restored, throws the newest one's error
    /// and moves nothing. `restore` must overwrite everything it restores (a failed attempt may
    /// have filled part of the trainer before the next one runs).
    public static func restoreNewest(root: URL, restore: (URL) throws -> Void) throws -> (restored: URL, skipped: [Skipped])? {
        let all = checkpoints(root: root)
        guard !all.isEmpty else { return nil }
        var failures: [(URL, Error)] = []
        for dir in all {
            do {
                try restore(dir)
            } catch {
                failures.append((dir, error))
                continue
            }
            let skipped = failures.map { Skipped(directory: $0.0, reason: "\($0.1)", movedTo: setAside($0.0)) }
            return (dir, skipped)
        }
        throw failures[0].1
    }

    /// Renames `dir` (root/step-N) to root/damaged-step-N, replacing an earlier one of that name.
    static func setAside(_ dir: URL) -> URL? {
        let target = dir.deletingLastPathComponent().appendingPathComponent("damaged-" + dir.lastPathComponent)
        try? FileManager.default.removeItem(at: target)
        return rename(dir.path, target.path) == 0 ? target : nil
    }

    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try enc.encode(value), to: url)
    }

    /// Checks a step counter read from a checkpoint's `state.json` before a trainer uses it:
    /// batches and schedules index with it, so it must lie in 0...total (the configured steps).
    public static func checkStep(_ value: Int, key: String, total: Int, totalName: String, in url: URL) throws {
        guard value >= 0 else {
            throw CheckpointError("checkpoint state \(url.path): \"\(key)\" is \(value), expected an integer in 0...\(total) (\(totalName)); the checkpoint is corrupted, delete it to fall back to the previous one")
        }
        guard value <= total else {
            throw CheckpointError("checkpoint state \(url.path): \"\(key)\" is \(value), beyond the configured \(totalName) (\(total)); set \(totalName) in the run's config.json back to at least \(value), or delete the checkpoint to fall back to the previous one")
        }
    }

    /// A checkpoint's `state.json`; a file that does not decode is one line naming the file, the
    /// key and what was expected (`"iteration": expected an integer, found "abc"`).
    public static func readJSON<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckpointError("checkpoint state \(url.path): file not found; the checkpoint is incomplete")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw CheckpointError("checkpoint state \(url.path): \(StateDecoding.describe(error, type, data)); the checkpoint is corrupted, delete it to fall back to the previous one")
        }
    }
}

// MARK: - Decoding errors in a few words

enum StateDecoding {
    /// `"KEY": expected WHAT, found VALUE`, `"KEY": missing, expected WHAT`, or `not valid JSON`.
    static func describe<T: Decodable>(_ error: Error, _ type: T.Type, _ data: Data) -> String {
        guard let root = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return "not valid JSON"
        }
        let path: [CodingKey]
        var missing = false
        switch error {
        case DecodingError.keyNotFound(let key, let c):
            path = c.codingPath + [key]
            missing = true
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c):
            path = c.codingPath
        default:
            return "\(error)"
        }
        var keys = path.map { $0.intValue.map { .index($0) } ?? .key($0.stringValue) } as [Step]
        // A number that does not fit the integer wanted (2.5, 1e30) is reported by some decoders
        // without its path: find the leaf whose probe wants an integer.
        if keys.isEmpty, case DecodingError.dataCorrupted = error, let located = fraction(in: root, T.self) { keys = located }
        guard !keys.isEmpty else { return "expected \(expected(T.self) ?? "a JSON object"), found \(found(root))" }
        let name = "\"" + keys.map { k -> String in
            switch k { case .key(let s): return s; case .index(let i): return String(i) }
        }.joined(separator: ".") + "\""
        let value = lookup(root, keys)
        // What was expected: decode again with an empty array in the value's place; the type
        // mismatch that follows names the type the decoder wanted there.
        var what = "another value"
        if let probed = replacing(root, keys, with: [Any]()), let bytes = try? JSONSerialization.data(withJSONObject: probed, options: [.fragmentsAllowed]) {
            do { _ = try JSONDecoder().decode(T.self, from: bytes) } catch DecodingError.typeMismatch(let t, let c) where c.codingPath.count == keys.count {
                what = expected(t) ?? what
            } catch {}
        }
        if missing { return "\(name) is missing, expected \(what)" }
        return "\(name): expected \(what), found \(value.map(found) ?? "nothing")"
    }

    enum Step { case key(String), index(Int) }

    /// The path of a number in `root` that is not an integer where `T` wants one, if any.
    static func fraction<T: Decodable>(in root: Any, _ type: T.Type) -> [Step]? {
        var found: [Step]?
        func visit(_ node: Any, _ at: [Step]) {
            guard found == nil else { return }
            if let d = node as? [String: Any] {
                for k in d.keys.sorted() { visit(d[k]!, at + [.key(k)]) }
            } else if let a = node as? [Any] {
                for (i, v) in a.enumerated() { visit(v, at + [.index(i)]) }
            } else if let n = node as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue != n.doubleValue.rounded() || abs(n.doubleValue) >= 9.2e18 {
                guard let probed = replacing(root, at, with: [Any]()),
                      let bytes = try? JSONSerialization.data(withJSONObject: probed, options: [.fragmentsAllowed]) else { return }
                do { _ = try JSONDecoder().decode(T.self, from: bytes) } catch DecodingError.typeMismatch(let t, let c) where c.codingPath.count == at.count {
                    if expected(t) == "an integer" { found = at }
                } catch {}
            }
        }
        visit(root, [])
        return found
    }

    static func lookup(_ root: Any, _ keys: [Step]) -> Any? {
        var cur: Any = root
        for k in keys {
            switch k {
            case .key(let s): guard let d = cur as? [String: Any], let v = d[s] else { return nil }; cur = v
            case .index(let i): guard let a = cur as? [Any], a.indices.contains(i) else { return nil }; cur = a[i]
            }
        }
        return cur
    }

    /// `root` with the value at `keys` replaced by `value` (created when missing), or nil.
    static func replacing(_ root: Any, _ keys: [Step], with value: Any) -> Any? {
        func go(_ node: Any, _ rest: ArraySlice<Step>) -> Any? {
            guard let k = rest.first else { return value }
            switch k {
            case .key(let s):
                guard var d = node as? [String: Any] else { return nil }
                guard let v = go(d[s] ?? NSNull(), rest.dropFirst()) else { return nil }
                d[s] = v
                return d
            case .index(let i):
                guard var a = node as? [Any], a.indices.contains(i), let v = go(a[i], rest.dropFirst()) else { return nil }
                a[i] = v
                return a
            }
        }
        return go(root, keys[...])
    }

    static func expected(_ t: Any.Type) -> String? {
        let name = String(describing: t)
        if ["Int", "Int32", "Int64", "UInt", "UInt32", "UInt64"].contains(name) { return "an integer" }
        if ["Double", "Float"].contains(name) { return "a number" }
        if name == "Bool" { return "true or false" }
        if name == "String" { return "a string" }
        if name.hasPrefix("Dictionary") { return "an object" }
        if name.hasPrefix("Array") { return "an array" }
        return nil
    }

    static func found(_ v: Any) -> String {
        switch v {
        case is NSNull: return "null"
        case let s as String: return "\"" + (s.count > 40 ? String(s.prefix(40)) + "…" : s) + "\""
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return n.boolValue ? "true" : "false" }
            return "\(n)"
        case is [String: Any]: return "an object"
        case is [Any]: return "an array"
        default: return "\(v)"
        }
    }
}
