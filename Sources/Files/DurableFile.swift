import Foundation

// The one writer of whole files. Every module that writes a file (checkpoints, models, the
// tokenizer, data sets, run directories, reports) goes through `DurableFile.write`, so that what
// a reader or a killed process finds is always the old file or the new one, and a failure is one
// `FileWriteError` naming the file and the system's reason.

/// A write the file system refused: the path and the system's reason ("No space left on device").
public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let code: Int32
    public init(path: String, code: Int32) {
        self.path = path
        self.code = code
    }
    public var reason: String { String(cString: strerror(code)) }
    public var description: String { "\(path): cannot write (\(reason))" }
    /// A full disk or an exhausted quota.
    public var isNoSpace: Bool { code == ENOSPC || code == EDQUOT }
}

/// Files replaced whole: a reader, or a process killed at any instant, sees the old content or
/// the new one, never a part; after `write` returns the new content survives a power cut; a
/// failure leaves the old content and no temporary file behind.
public enum DurableFile {
    /// Writes `data` to `.NAME.tmp-PID` beside `url`, fsyncs it, renames it over `url` and fsyncs
    /// the directory (so that the rename itself is on disk). Missing parent directories are
    /// created. Run directories recognise `.NAME.tmp-PID` as a write cut short and remove it.
    public static func write(_ data: Data, to url: URL) throws {
        try write(data, to: url, observe: nil)
    }

    public static func write(_ string: String, to url: URL) throws { try write(Data(string.utf8), to: url) }

    /// The steps of a write, in order, for tests: `observe` is called after each; a throw from it
    /// fails the write there as a system error would.
    enum Step: Equatable {
        case wroteTemporary(URL)
        case syncedFile
        case renamed
        /// The directory's fsync, and whether it succeeded.
        case syncedDirectory(URL, Bool)
    }

    static func write(_ data: Data, to url: URL, observe: ((Step) throws -> Void)?) throws {
        let dir = url.deletingLastPathComponent()
        try createDirectory(dir)
        let tmp = temporaryURL(for: url)
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError(path: url.path, code: errno) }
        var failure: Int32 = 0
        var pending: Error?
        func step(_ s: Step) {
            guard failure == 0, let observe else { return }
            do { try observe(s) } catch {
                pending = error
                failure = EIO
            }
        }
        data.withUnsafeBytes { failure = writeAll(fd, $0) }
        step(.wroteTemporary(tmp))
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        step(.syncedFile)
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(tmp.path, url.path) != 0 { failure = errno }
        if failure != 0 {
            unlink(tmp.path)
            if let pending { throw pending }
            throw FileWriteError(path: url.path, code: failure)
        }
        step(.renamed)
        let synced = syncDirectory(dir)
        step(.syncedDirectory(dir, synced))
        if let pending { throw pending }
    }

    /// Where `write` puts the new content of `url` before the rename.
    public static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    }

    /// Writes all of `bytes` to `fd` (retrying partial writes and interruptions). Returns 0, or
    /// the errno of the write that failed.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        var off = 0
        while off < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            off += n
        }
        return 0
    }

    /// fsync of a directory (its entries: a rename or a new file); best effort, since some file
    /// systems refuse it. Returns whether it was done.
    @discardableResult
    public static func syncDirectory(_ url: URL) -> Bool {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }

    /// `mkdir -p`, failing with the first component that could not be made (a component that
    /// exists but is not a directory fails as "Not a directory", naming that component).
    public static func createDirectory(_ url: URL) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue { return }
        var prefix = "/"
        for c in url.standardizedFileURL.pathComponents where c != "/" {
            prefix = (prefix as NSString).appendingPathComponent(c)
            guard mkdir(prefix, 0o755) != 0 else { continue }
            let e = errno
            guard e == EEXIST else { throw FileWriteError(path: prefix, code: e) }
            var st = stat()
            if stat(prefix, &st) == 0 && st.st_mode & S_IFMT != S_IFDIR { throw FileWriteError(path: prefix, code: ENOTDIR) }
        }
    }

    /// Whether `error` is a full disk (or an exhausted quota), whichever layer raised it: a
    /// `FileWriteError`, a Foundation error with the POSIX cause, or another module's one-line
    /// error quoting the system's text.
    public static func isNoSpace(_ error: Error) -> Bool {
        if let w = error as? FileWriteError { return w.isNoSpace }
        let ns = error as NSError
        func posix(_ e: NSError) -> Bool { e.domain == NSPOSIXErrorDomain && (Int32(e.code) == ENOSPC || Int32(e.code) == EDQUOT) }
        if posix(ns) { return true }
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix(u) { return true }
        if ns.domain == NSCocoaErrorDomain && ns.code == CocoaError.fileWriteOutOfSpace.rawValue { return true }
        // Foundation's text for NSFileWriteOutOfSpaceError, which some modules quote.
        let text = "\(error)"
        return text.contains(String(cString: strerror(ENOSPC))) || text.contains(String(cString: strerror(EDQUOT)))
            || text.contains("There isn’t enough space") || text.contains("There isn't enough space")
    }
}
