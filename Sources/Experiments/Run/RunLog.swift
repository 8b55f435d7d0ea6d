import Alignment
import Files
import Foundation
import JSON

/// One of a run's append-only JSON-lines logs (metrics.jsonl, samples.jsonl): an object per line,
/// with "stage" and "step". A run directory has one writer (its lock); each line goes out in one
/// write(2), and a write that fails (a full disk) is cut back to where it started, so that no torn
/// line is left for a later append to glue onto. A torn tail found when the file is opened (a
/// kill mid-write) is cut off the same way.
final class RunLog {
    let url: URL
    private var fd: Int32 = -1
    /// Valid rows per stage: what a checkpoint records, so that a resume cuts back to exactly it.
    private(set) var rows: [String: Int] = [:]

    init(url: URL) {
        self.url = url
        rows = Self.count(read().lines)
    }

    deinit { close() }

    struct Line {
        let text: Substring
        let stage: String
        let step: Int?
    }

    /// The valid rows of the file, and the 1-based numbers of the lines that are not JSON objects.
    func read() -> (lines: [Line], invalid: [Int]) {
        guard let d = FileManager.default.contents(atPath: url.path) else { return ([], []) }
        let text = String(decoding: d, as: UTF8.self)
        var lines: [Line] = []
        var invalid: [Int] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !raw.isEmpty {
            guard let v = try? JSONParser.parse(String(raw)), case .object = v else {
                invalid.append(i + 1)
                continue
            }
            lines.append(Line(text: raw, stage: v["stage"]?.stringValue ?? "", step: v["step"]?.doubleValue.map { Int($0) }))
        }
        return (lines, invalid)
    }

    static func count(_ lines: [Line]) -> [String: Int] {
        var out: [String: Int] = [:]
        for l in lines { out[l.stage, default: 0] += 1 }
        return out
    }

    // MARK: - Appending

    /// Opens the file for appending (creating it), cutting off a last line without its newline.
    func open() throws {
        guard fd < 0 else { return }
        try DurableFile.createDirectory(url.deletingLastPathComponent())
        let f = Foundation.open(url.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard f >= 0 else {
            throw UserError("\(url.path): cannot open for writing (\(FileSystem.cause(errno: errno))); remove or rename it")
        }
        let size = lseek(f, 0, SEEK_END)
        if size > 0 {
            var keep = size
            var byte: UInt8 = 0
            // Back to just after the last newline.
            while keep > 0 && pread(f, &byte, 1, keep - 1) == 1 && byte != UInt8(ascii: "\n") { keep -= 1 }
            if keep < size && ftruncate(f, keep) != 0 {
                let e = errno
                Foundation.close(f)
                throw FileWriteError(path: url.path, code: e)
            }
        }
        fd = f
    }

    func close() {
        if fd >= 0 { Foundation.close(fd) }
        fd = -1
    }

    /// Appends one line (a newline is added) in one write; on failure the file is cut back.
    func append(_ line: String, stage: String) throws {
        try open()
        let start = lseek(fd, 0, SEEK_END)
        let failure = Array((line + "\n").utf8).withUnsafeBytes { DurableFile.writeAll(fd, $0) }
        if failure != 0 {
            _ = ftruncate(fd, start)
            throw FileWriteError(path: url.path, code: failure)
        }
        rows[stage, default: 0] += 1
    }

    /// fsync (before a checkpoint records how far the log got).
    func sync() { if fd >= 0 { fsync(fd) } }

    // MARK: - Rewriting

    /// Replaces the file with `lines` (whole: `DurableFile`).
    private func rewrite(_ lines: [Line]) throws {
        close()
        try DurableFile.write(lines.map { $0.text + "\n" }.joined(), to: url)
        rows = Self.count(lines)
    }

    /// Drops the lines that are not JSON objects. Returns their numbers.
    func repair() throws -> [Int] {
        let (lines, invalid) = read()
        if !invalid.isEmpty { try rewrite(lines) }
        return invalid
    }

    /// How much of a stage's rows a resume keeps.
    enum Cut {
        /// The first n rows (as a checkpoint recorded them).
        case rows(Int)
        /// Rows with step ≤ n (a checkpoint that recorded nothing).
        case throughStep(Int)
    }

    /// Drops the rows of `stage` past `cut`, keeping every other stage's. Returns how many it dropped.
    @discardableResult
    func cut(stage: String, _ cut: Cut) throws -> Int {
        let (lines, invalid) = read()
        var seen = 0
        let kept = lines.filter { l in
            guard l.stage == stage else { return true }
            seen += 1
            switch cut {
            case .rows(let n): return seen <= n
            case .throughStep(let s): return (l.step ?? Int.max) <= s
            }
        }
        if kept.count != lines.count || !invalid.isEmpty { try rewrite(kept) }
        return lines.count - kept.count
    }
}
