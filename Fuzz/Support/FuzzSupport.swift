// Compiled into every fuzz target (scripts/fuzz.sh): files for the readers that take paths, the
// split of one input into several files, and the contract every message meets.
import Foundation

enum Fuzz {
    /// A directory of this process for the files a target reads (in memory where /dev/shm exists:
    /// writers that fsync cost nothing there).
    static let directory: URL = {
        let shm = URL(fileURLWithPath: "/dev/shm", isDirectory: true)
        let base = FileManager.default.isWritableFile(atPath: shm.path) ? shm : FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent("rlhf-fuzz-\(getpid())", isDirectory: true)
        try? FileManager.default.removeItem(at: url)
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Fuzz.directory) }
        return url
    }()

    /// The URL of `name` in `directory`, made once (Foundation's URL arithmetic costs more than
    /// the write itself, and a target writes and removes its few files on every input).
    private nonisolated(unsafe) static var urls: [String: URL] = [:]

    static func url(_ name: String) -> URL {
        if let url = urls[name] { return url }
        let url = directory.appendingPathComponent(name)
        urls[name] = url
        return url
    }

    /// Writes `bytes` as `name` in `directory` (replacing what was there).
    @discardableResult
    static func write<C: Collection>(_ bytes: C, _ name: String) -> URL where C.Element == UInt8 {
        let url = url(name)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        require(fd >= 0, "cannot create \(url.path): \(String(cString: strerror(errno)))")
        let data = Array(bytes)
        var off = 0
        while off < data.count {
            let n = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + off, data.count - off) }
            require(n > 0 || errno == EINTR, "cannot write \(url.path): \(String(cString: strerror(errno)))")
            if n > 0 { off += n }
        }
        close(fd)
        return url
    }

    static func remove(_ name: String) { unlink(url(name).path) }

    /// The input cut at NUL bytes into at most `count` parts (the last part keeps any further
    /// NULs): one input, several files.
    static func parts(_ data: UnsafeBufferPointer<UInt8>, max count: Int) -> [ArraySlice<UInt8>] {
        Array(data).split(separator: 0, maxSplits: count - 1, omittingEmptySubsequences: false)
    }

    /// A broken contract: says which (precondition drops its message in optimized builds) and
    /// stops, which libFuzzer reports as a finding with the input that caused it.
    static func fail(_ message: @autoclosure () -> String) -> Never {
        fatalError(message())
    }

    static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    /// A user-facing message: one line, and bounded whatever the input (user text is quoted in
    /// at most ~60 characters, paths aside).
    static func checkMessage(_ text: String) {
        Fuzz.require(!text.unicodeScalars.contains { $0 == "\n" || $0 == "\r" || $0 == "\u{2028}" || $0 == "\u{2029}" },
                     "message on several lines: \(text)")
        // Paths of this process's directory count as "DIR". The replacement (Foundation's, slow) is
        // only needed when the message could be too long: a character is at least one UTF-8 byte.
        if text.utf8.count <= 2000 { return }
        let shown = text.replacingOccurrences(of: directory.path, with: "DIR")
        Fuzz.require(shown.unicodeScalars.count <= 2000, "message of \(shown.unicodeScalars.count) characters: \(shown.prefix(300))…")
    }
}
