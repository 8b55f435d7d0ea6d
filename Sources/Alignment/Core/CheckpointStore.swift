import Foundation
import GPT

/// Checkpoints of one stage: `root/step-000123/` directories, each written in a temporary
/// directory and renamed into place, and `root/latest` naming the newest complete one. A run
/// killed mid-write leaves the previous checkpoint intact.
public enum CheckpointStore {
    public static func directoryName(_ step: Int) -> String { String(format: "step-%06d", step) }

    /// Writes a checkpoint with `write(dir)`, then publishes it and keeps the `keep` newest.
    public static func save(root: URL, step: Int, keep: Int = 2, write: (URL) throws -> Void) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let name = directoryName(step)
        let tmp = root.appendingPathComponent(".tmp-\(name)")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try write(tmp)
        let final = root.appendingPathComponent(name)
        try? fm.removeItem(at: final)
        try fm.moveItem(at: tmp, to: final)
        try AtomicFile.write(name + "\n", to: root.appendingPathComponent("latest"))
        // Prune older checkpoints.
        let all = (try? fm.contentsOfDirectory(atPath: root.path)) ?? []
        let steps = all.filter { $0.hasPrefix("step-") }.sorted()
        for old in steps.dropLast(keep) where old != name {
            try? fm.removeItem(at: root.appendingPathComponent(old))
        }
    }

    /// The newest complete checkpoint directory, if any.
    public static func latest(root: URL) -> URL? {
        guard let s = try? String(contentsOf: root.appendingPathComponent("latest"), encoding: .utf8) else { return nil }
        let name = s.trimmingCharacters(in: .whitespacesAndNewlines)
        let dir = root.appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: dir.path) ? dir : nil
    }

    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(value), to: url)
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

    public static func readJSON<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckpointError("checkpoint state \(url.path): file not found; the checkpoint is incomplete")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw CheckpointError("checkpoint state \(url.path): unreadable (\(error)); the checkpoint is corrupted, delete it to fall back to the previous one")
        }
    }
}
