import Foundation
import XCTest

/// The `rlhf` executable built beside the test bundle (`swift build --build-tests`).
let rlhfBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rlhf")

/// Runs `executable args` (in `cwd` when given) to its end and returns its exit code and output.
func runProcess(_ executable: URL, _ args: [String], cwd: URL? = nil) throws -> (code: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    if let cwd { p.currentDirectoryURL = cwd }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // stderr is drained on another thread while this one drains stdout, so a process that fills
    // one pipe while the other is being read cannot block forever.
    nonisolated(unsafe) var e = Data()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { e = err.fileHandleForReading.readDataToEndOfFile() }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Runs the `rlhf` binary, failing the test (and returning code -1) when it has not been built.
func runRLHF(_ args: [String], cwd: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws
    -> (code: Int32, stdout: String, stderr: String) {
    guard FileManager.default.isExecutableFile(atPath: rlhfBinary.path) else {
        XCTFail("rlhf binary not found at \(rlhfBinary.path): build with --build-tests", file: file, line: line)
        return (-1, "", "")
    }
    return try runProcess(rlhfBinary, args, cwd: cwd)
}
