import Foundation

/// One writer per run directory: an exclusive flock(2) on `RUN/.lock`, taken by every command that
/// writes into a run (`rlhf run`, `resume`, `eval`) before its first write and held until it ends.
/// The kernel drops the lock when the process dies, however it dies, so a lock file left behind by
/// a killed process blocks nobody. The file names its holder (pid, start time) for the refusal.
public final class RunLock {
    public static let fileName = ".lock"
    private var fd: Int32

    /// Takes the lock of the existing run directory `dir`, or throws the one-line refusal.
    public convenience init(runDirectory dir: URL) throws {
        try self.init(file: dir.appendingPathComponent(Self.fileName), for: dir)
    }

    /// Takes the lock in `file` on behalf of the run directory `dir` (a directory being created
    /// holds its lock from its temporary place; the lock follows the file through the rename).
    init(file: URL, for dir: URL) throws {
        fd = open(file.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw UserError("\(file.path): cannot open the run's lock file (\(FileSystem.cause(errno: errno))); check the permissions of \(dir.path)")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EWOULDBLOCK {
                let holder = Self.holder(fd)
                close(fd)
                fd = -1
                throw Self.refusal(dir, holder)
            }
            // A file system without flock (ENOLCK, EOPNOTSUPP): the run goes on unguarded.
        }
        let stamp = Self.format.string(from: Date())
        let text = "pid \(getpid())\nstarted \(stamp)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit { release() }

    /// Gives the lock up (the process's end does the same).
    public func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// Throws the refusal when another process holds the lock of `dir`; nothing when it has no lock file.
    public static func checkFree(_ dir: URL) throws {
        let f = open(dir.appendingPathComponent(fileName).path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return }
        defer { close(f) }
        if flock(f, LOCK_SH | LOCK_NB) != 0 {
            if errno == EWOULDBLOCK { throw refusal(dir, holder(f)) }
            return
        }
        flock(f, LOCK_UN)
    }

    /// Whether `file` is a lock file that a living process holds.
    static func isHeld(_ file: URL) -> Bool {
        let f = open(file.path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return false }
        defer { close(f) }
        return flock(f, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    static func refusal(_ dir: URL, _ holder: String) -> UserError {
        UserError("\(dir.path) is in use by another rlhf process (\(holder)); wait for it or stop it")
    }

    /// "pid N, started DATE" from the lock file (which its holder may be writing at this moment).
    static func holder(_ f: Int32) -> String {
        for attempt in 0..<20 {
            var buf = [UInt8](repeating: 0, count: 256)
            let n = pread(f, &buf, buf.count, 0)
            let text = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
            var pid: String?, started: String?
            for line in text.split(separator: "\n") {
                if line.hasPrefix("pid ") { pid = String(line.dropFirst(4)) }
                if line.hasPrefix("started ") { started = String(line.dropFirst(8)) }
            }
            if let pid, let started { return "pid \(pid), started \(started)" }
            if attempt < 19 { usleep(10_000) }
        }
        return "pid unknown"
    }

    static let format: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return f
    }()
}
