import Alignment
import Files
import Foundation

// MARK: - File-system errors as one line

/// File operations whose failures become one `UserError` line naming the path and the cause
/// ("is a directory", "not a directory", "permission denied"), instead of a Foundation error dump.
public enum FileSystem {
    /// The system's text for `code`, lowercased: "no such file or directory".
    public static func cause(errno code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }

    /// Why `url` cannot be read, found by asking the file system.
    static func cause(_ url: URL) -> String {
        let fd = open(url.path, O_RDONLY)
        if fd < 0 { return cause(errno: errno) }
        close(fd)
        return "unreadable"
    }

    /// `DecodingError`s in a few words (the JSON is parsed first for a line and column).
    static func describeDecoding(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c), DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            let path = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? "not valid JSON" : "unexpected value at \(path)"
        case DecodingError.keyNotFound(let k, _):
            return "missing key \"\(k.stringValue)\""
        default:
            return "\(error)"
        }
    }

    /// The first existing component of `url`'s path (walking up from `url`) that is not a directory.
    static func fileInTheWay(_ url: URL) -> URL? {
        var u = url.standardizedFileURL
        while u.path != "/" && !u.path.isEmpty {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir) {
                return isDir.boolValue ? nil : u
            }
            u = u.deletingLastPathComponent()
        }
        return nil
    }

    /// `mkdir -p url`; a failure names the path, `what` it was meant to be, the cause and `fix`.
    public static func createDirectory(_ url: URL, what: String, fix: String) throws {
        if let f = fileInTheWay(url) {
            let why = f.path == url.standardizedFileURL.path ? "it exists and is not a directory" : "\(f.path) is a file, not a directory"
            throw UserError("\(url.path): cannot create \(what) (\(why)); \(fix)")
        }
        var prefix = "/"
        for c in url.standardizedFileURL.pathComponents where c != "/" {
            prefix = (prefix as NSString).appendingPathComponent(c)
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                let e = errno
                let at = prefix == url.standardizedFileURL.path ? "" : " at \(prefix)"
                throw UserError("\(url.path): cannot create \(what) (\(cause(errno: e))\(at)); \(fix)")
            }
        }
    }

    /// One line for a Foundation file error (`CocoaError` with a path and a POSIX cause), or nil.
    public static func describe(_ error: Error) -> String? {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return nil }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        var why: String
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            why = cause(errno: Int32(u.code))
        } else if ns.domain == NSPOSIXErrorDomain {
            why = cause(errno: Int32(ns.code))
        } else if let p = path, let f = fileInTheWay(URL(fileURLWithPath: p)) {
            why = f.path == p ? "it is not a directory" : "\(f.path) is a file, not a directory"
        } else if let p = path {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir) {
                why = isDir.boolValue ? "is a directory" : (access(p, W_OK) != 0 ? cause(errno: errno) : "file error \(ns.code)")
            } else {
                why = access((p as NSString).deletingLastPathComponent, W_OK) != 0 ? cause(errno: errno) : "no such file or directory"
            }
        } else {
            why = "file error \(ns.code)"
        }
        return path.map { "\($0): \(why)" } ?? "file-system error: \(why)"
    }
}

extension FileSystem {
    /// What `path` is when it is not a regular file ("is a directory", "is not a regular file (a
    /// named pipe)"), nil for a regular file or a missing one (the caller's "not found").
    public static func notARegularFile(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "is a directory"
        case S_IFIFO: return "is not a regular file (a named pipe)"
        case S_IFSOCK: return "is not a regular file (a socket)"
        case S_IFCHR: return "is not a regular file (a character device)"
        case S_IFBLK: return "is not a regular file (a block device)"
        default: return "is not a regular file"
        }
    }

    /// Whether `error` is a full disk (or an exhausted quota), whichever layer raised it.
    public static func isNoSpace(_ error: Error) -> Bool { DurableFile.isNoSpace(error) }
}
