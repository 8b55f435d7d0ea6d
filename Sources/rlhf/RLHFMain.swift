import ArgumentParser
import Experiments
import Foundation

/// Entry point: parse, run, and turn every user mistake into one line on stderr with exit code 2.
@main
enum Main {
    static func main() {
        do {
            var command = try RLHF.parseAsRoot()
            try command.run()
        } catch let e as UserError {
            fail(e.description, code: 2)
        } catch let e as RunStopped {
            fail(e.description, code: 130)
        } catch let e as CustomStringConvertible where !(e is any ParsableCommand) && isUserFacing(e) {
            fail(e.description, code: 2)
        } catch {
            let code = RLHF.exitCode(for: error)
            if code == .success {
                print(RLHF.fullMessage(for: error))
                exit(0)
            }
            // Argument errors (unknown flag, missing value...): ArgumentParser's message, exit code 2.
            let msg = RLHF.message(for: error)
            fail(msg.isEmpty ? "\(error)" : msg + (msg.contains("--help") ? "" : " (see rlhf --help)"), code: 2)
        }
    }

    /// Errors from the modules below that describe a user mistake (bad file, checkpoint, data).
    static func isUserFacing(_ e: Any) -> Bool {
        let t = String(describing: type(of: e))
        return ["CheckpointError", "TokenizerError", "DataError", "RewardModelError", "DPOError", "PPOError"].contains(t)
    }

    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
        exit(code)
    }
}
