import Foundation

/// A progress line (step/total, loss, tokens/s, ETA): rewritten in place on a terminal, plain
/// lines every few seconds otherwise (logs, CI).
public final class Progress {
    let isTTY = isatty(STDERR_FILENO) != 0
    var lastPrint = 0.0
    var start = 0.0
    var startStep = 0
    let interval: Double
    public var quiet = false
    /// Put before every line, e.g. "[seed 2, 2/3] " while a replicate runs.
    public var prefix = ""

    public init(interval: Double = 5) { self.interval = interval }

    public func begin(step: Int) {
        start = Date().timeIntervalSince1970
        startStep = step
        lastPrint = 0
    }

    public func update(stage: String, step: Int, total: Int, metrics: [String: Double], keys: [String]) {
        guard !quiet else { return }
        let now = Date().timeIntervalSince1970
        let done = step >= total
        if !isTTY && !done && now - lastPrint < interval { return }
        if isTTY && !done && now - lastPrint < 0.2 { return }
        lastPrint = now
        let elapsed = now - start
        let rate = Double(step - startStep) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - step) / rate : 0
        var parts = ["\(prefix)\(stage) \(step)/\(total)"]
        for k in keys { if let v = metrics[k] { parts.append("\(k) \(Self.short(v))") } }
        parts.append("ETA \(Self.duration(eta))")
        let line = parts.joined(separator: "  ")
        if isTTY {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (done ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    public func message(_ s: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data((prefix + s + "\n").utf8))
    }

    static func short(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if abs(v) >= 1000 { return String(format: "%.0f", v) }
        if abs(v) >= 1 { return String(format: "%.3f", v) }
        return String(format: "%.4f", v)
    }

    public static func duration(_ s: Double) -> String {
        if !s.isFinite { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
        if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
        return "\(t)s"
    }
}
