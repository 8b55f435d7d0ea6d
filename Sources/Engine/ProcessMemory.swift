import Foundation

/// The process's peak resident memory, for the figures a stage or a benchmark reports.
public enum ProcessMemory {
    /// Peak resident bytes since the process started, or since the last `resetPeak()` where the
    /// system allows one (Linux: VmHWM of /proc/self/status); elsewhere getrusage's maximum.
    public static var peakBytes: Int {
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kb = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "") {
            return kb * 1024
        }
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return Int(u.ru_maxrss) * 1024
        #else
        var u = rusage()
        getrusage(RUSAGE_SELF, &u)
        return Int(u.ru_maxrss)
        #endif
    }

    /// Starts a new peak at the current resident size (Linux ≥ 4.0: "5" to /proc/self/clear_refs);
    /// returns whether the system allowed it.
    @discardableResult
    public static func resetPeak() -> Bool {
        #if os(Linux)
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "5", 1) == 1
        #else
        return false
        #endif
    }
}
