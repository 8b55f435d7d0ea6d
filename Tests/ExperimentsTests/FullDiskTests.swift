import Foundation
import XCTest
import Alignment
@testable import Experiments
import Files

/// A run that fills its disk (a small tmpfs) ends with one line naming the file and "No space left
/// on device", exit code 2, leaves nothing half-written, and once space is freed `rlhf resume`
/// (or `rlhf run` again, when the run directory could not be created) completes it to the bytes of
/// an uninterrupted run.
final class FullDiskTests: XCTestCase {
    var dir: URL!
    var disk: URL { dir.appendingPathComponent("disk") }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fulldisk-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
    }

    override func tearDown() {
        _ = try? runProcess(URL(fileURLWithPath: "/bin/umount"), [disk.path])
        try? FileManager.default.removeItem(at: dir)
    }

    /// `mount -t tmpfs -o size=SIZE` (or a remount with a new size); nil on success, else why not.
    func mount(size: String, remount: Bool = false) throws -> String? {
        let args = remount ? ["-o", "remount,size=\(size)", disk.path] : ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", disk.path]
        guard FileManager.default.isExecutableFile(atPath: "/bin/mount") else { return "no /bin/mount" }
        let r = try runProcess(URL(fileURLWithPath: "/bin/mount"), args)
        return r.code == 0 ? nil : "mount \(args.joined(separator: " ")) failed (\(r.code)): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
    }

    /// Bytes the files under `url` occupy (whole blocks, as a tmpfs counts them).
    func usage(_ url: URL) -> Int {
        var total = 0
        for f in Recovery.files(url) {
            var st = stat()
            if stat(url.appendingPathComponent(f).path, &st) == 0 { total += Int(st.st_blocks) * 512 }
        }
        return total
    }

    func testAFullDiskEndsWithOneLineAndTheRunCompletesAfterwards() throws {
        if let why = try mount(size: "4k") {
            // Mounting is not allowed here (not root, or a container without the capability): the
            // same one line comes from the layer that turns a full disk into it.
            print("FullDiskTests: the tmpfs part did not run: \(why)")
            try expectTheTranslation()
            return
        }
        let cfg = dir.appendingPathComponent("micro.json")
        try Recovery.write(Recovery.config(name: "micro"), to: cfg)
        let reference = dir.appendingPathComponent("runs/reference")
        let ok = try runRLHF(["run", cfg.path, "--out", reference.path])
        XCTAssertEqual(ok.code, 0, ok.stderr)
        let need = usage(reference)
        // From a disk too small for the run directory itself to one with most of what the run needs.
        let sizes = [4096] + [0.15, 0.35, 0.55, 0.75, 0.95].map { Int(Double(need) * $0) / 4096 * 4096 }
        var created = 0
        for size in sizes {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: disk.path)) ?? [] {
                try FileManager.default.removeItem(at: disk.appendingPathComponent(entry))
            }
            XCTAssertNil(try mount(size: "\(size)", remount: true))
            let run = disk.appendingPathComponent("runs/r")
            let r = try runRLHF(["run", cfg.path, "--out", run.path])
            XCTAssertEqual(r.code, 2, "size \(size): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            let last = lines.last.map(String.init) ?? ""
            XCTAssertEqual(lines.filter { $0.hasPrefix("error: ") }.count, 1, r.stderr)
            if FileManager.default.fileExists(atPath: run.path) {
                created += 1
                // "error: PATH: No space left on device; ..." with PATH in the run directory.
                let prefix = "error: " + run.path
                let suffix = ": No space left on device; free some space, then continue with: rlhf resume \(run.path)"
                XCTAssertTrue(last.hasPrefix(prefix) && last.hasSuffix(suffix), "size \(size): \(last)")
                XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("state.json").path), "size \(size): a run directory without its state")
            } else {
                XCTAssertEqual(last, "error: \(run.path): cannot create the run directory (No space left on device); free some space, then run the command again")
            }
            XCTAssertEqual(Recovery.leftovers(disk), [], "size \(size): half-written files left on the full disk")
            // Space freed: the same run completes, to the uninterrupted run's bytes.
            XCTAssertNil(try mount(size: "64m", remount: true))
            let again = FileManager.default.fileExists(atPath: run.path) ? ["resume", run.path] : ["run", cfg.path, "--out", run.path]
            let done = try runRLHF(again)
            XCTAssertEqual(done.code, 0, "size \(size): \(done.stderr)")
            for f in ["models/sft.safetensors", "models/ppo.safetensors", "models/dpo.safetensors", "models/reward_model.safetensors",
                      "models/snapshots/ppo-000001.safetensors", "eval.json", "samples.jsonl"] {
                XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent(f)), try Data(contentsOf: reference.appendingPathComponent(f)), "size \(size): \(f)")
            }
            XCTAssertNil(Recovery.firstDifference(Recovery.timelessMetrics(run), Recovery.timelessMetrics(reference)), "size \(size): metrics.jsonl")
        }
        XCTAssertGreaterThanOrEqual(created, 4, "the disk filled up too early to reach the stages")
    }

    func testAFullDiskFromAnyLayerIsOneLineNamingThePath() throws { try expectTheTranslation() }

    /// What a full disk becomes, whichever layer reports it (Foundation, another module's error, ours).
    func expectTheTranslation() throws {
        let file = dir.appendingPathComponent("micro.json")
        try Recovery.write(Recovery.config(name: "micro"), to: file)
        let run = dir.appendingPathComponent("runs/micro")
        let runner = try ExperimentRunner(config: try ExperimentConfig.load(path: file.path), runDir: run)
        let cocoa = NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteOutOfSpace.rawValue,
                            userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
        XCTAssertEqual("\(runner.translate(cocoa))", "\(run.path): No space left on device; free some space, then continue with: rlhf resume \(run.path)")
        XCTAssertEqual("\(runner.translate(FileWriteError(path: run.path + "/state.json", code: ENOSPC)))",
                       "\(run.path)/state.json: No space left on device; free some space, then continue with: rlhf resume \(run.path)")
        XCTAssertEqual("\(runner.translate(FileWriteError(path: run.path + "/state.json", code: EACCES)))", "\(run.path)/state.json: cannot write (Permission denied)")
        struct Quoting: Error, CustomStringConvertible { let description: String }
        XCTAssertEqual("\(runner.translate(Quoting(description: "\(run.path)/metrics.jsonl: cannot open for writing (No space left on device); remove or rename it")))",
                       "\(run.path)/metrics.jsonl: No space left on device; free some space, then continue with: rlhf resume \(run.path)")
    }
}
