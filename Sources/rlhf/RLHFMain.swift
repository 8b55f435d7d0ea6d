import Alignment
import ArgumentParser
import Distributed
import Experiments
import Foundation

/// Entry point: parse, run, and turn every user mistake into one line on stderr with exit code 2.
@main
enum Main {
    /// The MPI job this process belongs to, when a launcher (mpirun, srun) started it.
    nonisolated(unsafe) static var world: MPIWorld?

    static func main() {
        var command: ParsableCommand
        do {
            command = try RLHF.parseAsRoot()
        } catch {
            argumentError(error)
        }
        do {
            try startDataParallel(command)
            try command.run()
            world?.finalize()
        } catch let e as UserError {
            fail(e.description, code: 2)
        } catch let e as RunStopped {
            fail(e.description, code: 130)
        } catch let e as CustomStringConvertible where !(e is any ParsableCommand) && isUserFacing(e) {
            fail(e.description, code: 2)
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // `rlhf help`, `--help` of a subcommand: ArgumentParser's own commands throw its
            // internal CommandError, which no public type matches.
            argumentError(error)
        } catch {
            // A file the system refused (a directory where a file was expected, no permission, a
            // full disk): the path and the cause, a problem of the user's environment.
            if let line = FileSystem.describe(error) { fail(line, code: 2) }
            // Anything else is a bug of rlhf, not a usage error.
            fail("internal error: \(String(describing: type(of: error))): \(error); please report it", code: 1)
        }
    }

    /// Help, or an argument error (unknown flag, missing value...): ArgumentParser's message, exit code 2.
    static func argumentError(_ error: Error) -> Never {
        if RLHF.exitCode(for: error) == .success {
            print(RLHF.fullMessage(for: error))
            exit(0)
        }
        let msg = RLHF.message(for: error)
        fail(msg.isEmpty ? "\(error)" : msg + (msg.contains("--help") ? "" : " (see rlhf --help)"), code: 2)
    }

    /// Errors from the modules below that describe a user mistake (bad file, checkpoint, data).
    static func isUserFacing(_ e: Any) -> Bool {
        let t = String(describing: type(of: e))
        return ["CheckpointError", "TokenizerError", "DataError", "RewardModelError", "DPOError", "PPOError", "FileWriteError", "TrainingError"].contains(t)
    }

    /// Under a launcher: MPI started, its reducer given to every trainer. Only the commands that
    /// train split their work among several processes; the others would run N times over.
    static func startDataParallel(_ command: ParsableCommand) throws {
        guard let w = MPIWorld.startIfLaunched() else { return }
        world = w
        DataParallel.reducer = w
        DataParallel.launched = true
        DataParallel.ranksOnHost = w.localSize
        guard w.size > 1, !(command is Run || command is Resume || command is Bench) else { return }
        let name = type(of: command).configuration.commandName ?? "\(type(of: command))".lowercased()
        throw UserError("rlhf \(name) runs as one process; start it without mpirun/srun (only rlhf run, resume and bench run data-parallel)")
    }

    /// Prints `error: MESSAGE` as one line (newlines and carriage returns of user text escaped) and exits.
    /// In an MPI job the whole job ends (MPI_Abort, mpirun exits with `code`). Every process
    /// meets a mistake in the config at once: the others wait a moment, so that rank 0's line is
    /// the one printed, and speak only when rank 0 did not end the job (their own error).
    static func fail(_ message: String, code: Int32) -> Never {
        if let w = world, w.size > 1, w.rank > 0 { sleep(2) }
        let who = world.map { $0.size > 1 && $0.rank > 0 ? "rank \($0.rank): " : "" } ?? ""
        FileHandle.standardError.write(Data(("error: " + who + oneLine(message) + "\n").utf8))
        if let w = world { w.abort(code: code) }
        exit(code)
    }

    static func oneLine(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            switch u {
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default: out.append(u)
            }
        }
        return String(out)
    }
}
