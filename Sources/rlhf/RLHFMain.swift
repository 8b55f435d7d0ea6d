import ArgumentParser
import Experiments
import Foundation

/// Entry point: parse, run, and turn every user mistake into one line on stderr with exit code 2.
@main
enum Main {
    static func main() {
        var command: ParsableCommand
        do {
            command = try RLHF.parseAsRoot()
        } catch {
            argumentError(error)
        }
        do {
            try checkConfigFile(command)
            try command.run()
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

    /// `rlhf run PATH` with a directory, a named pipe or a device for PATH: say what it is (the
    /// config reader would call it "not found").
    static func checkConfigFile(_ command: ParsableCommand) throws {
        guard let run = command as? Run, let what = FileSystem.notARegularFile(run.config) else { return }
        throw UserError("\(run.config): \(what), not a config file; give the path of a JSON experiment file (configs/quickstart.json is a ready one)")
    }

    /// Prints `error: MESSAGE` as one line (newlines and carriage returns of user text escaped) and exits.
    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data(("error: " + oneLine(message) + "\n").utf8))
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
