import Foundation

/// Set by SIGINT, SIGTERM or SIGHUP; trainers poll it between steps, checkpoint and stop.
nonisolated(unsafe) var stopRequested: Int32 = 0

/// Raised when a run stops on a signal after checkpointing (exit code 130).
public struct RunStopped: Error, CustomStringConvertible {
    public let description: String
}

/// How a signal stops a run. SIGINT (Ctrl-C), SIGTERM (kill) and SIGHUP (a closed terminal or
/// ssh session) are handled alike: in a trainer stage the first one asks for a checkpoint and a
/// stop after the current step (`RunStopped`, one line, exit code 130); in a stage without
/// checkpoints (tokenizer, preferences, eval), or at a second signal, the process prints its one
/// line and exits at once with 130 (every file it writes is replaced whole, and the lock goes with
/// the process, so `rlhf resume` continues from the last checkpoint).
enum SignalStop {
    /// The line printed by an immediate stop (prepared outside the handler: it may only write(2)).
    nonisolated(unsafe) static var atOnce: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var atOnceLength = 0
    nonisolated(unsafe) static var second: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var secondLength = 0

    /// In a job of several processes a signal ends this process at once, rank 0 printing `job`:
    /// mpirun and srun send SIGTERM to every rank when one of them ended (killed, out of memory) or
    /// the job was interrupted, then SIGKILL a moment later, and a rank that died can take part in
    /// no agreed checkpoint, so `rlhf resume` continues from the last one.
    nonisolated(unsafe) static var inJob = false
    nonisolated(unsafe) static var job: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var jobLength = 0

    static func install() {
        for s in [SIGINT, SIGTERM, SIGHUP] {
            signal(s) { _ in
                if SignalStop.inJob {
                    if let m = SignalStop.job { _ = write(STDERR_FILENO, m, SignalStop.jobLength) }
                    _exit(130)
                }
                if let m = SignalStop.atOnce {
                    _ = write(STDERR_FILENO, m, SignalStop.atOnceLength)
                    _exit(130)
                }
                if stopRequested != 0, let m = SignalStop.second {
                    _ = write(STDERR_FILENO, m, SignalStop.secondLength)
                    _exit(130)
                }
                stopRequested = 1
            }
        }
    }

    /// While `message` is set, a signal prints "error: MESSAGE" and exits at once.
    static func stopAtOnce(_ message: String?) {
        let (p, n) = message.map(prepare) ?? (nil, 0)
        // The previous line is not freed: a handler may be reading it.
        atOnce = nil
        atOnceLength = n
        atOnce = p
    }

    /// What a second signal prints before it exits at once (the first one's checkpoint is not awaited).
    static func secondSignal(_ message: String) {
        let (p, n) = prepare(message)
        secondLength = n
        second = p
    }

    /// A signal ends this rank of a job of several processes at once; `message` (rank 0's) is printed.
    static func endJobAtOnce(_ message: String?) {
        let (p, n) = message.map(prepare) ?? (nil, 0)
        jobLength = n
        job = p
        inJob = true
    }

    private static func prepare(_ message: String) -> (UnsafeMutablePointer<CChar>?, Int) {
        let line = "error: " + message.replacingOccurrences(of: "\n", with: "\\n") + "\n"
        return (strdup(line), line.utf8.count)
    }
}

extension ExperimentRunner {
    /// Installs the handlers of SIGINT, SIGTERM and SIGHUP (see `SignalStop`).
    public static func installSignalHandlers() { SignalStop.install() }
}
