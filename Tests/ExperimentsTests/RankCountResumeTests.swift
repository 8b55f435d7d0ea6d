import Foundation
import XCTest

/// Batch sizes are global and every example's place in the data order does not depend on the
/// number of processes, so a run checkpointed by one process resumes under `mpirun -np 2` and one
/// checkpointed by two ranks resumes as one process: either ends with the log rows and, within the
/// data-parallel tolerance, the model of the uninterrupted run.
final class RankCountResumeTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("rank-count-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testARunResumesWithAnotherNumberOfProcesses() throws {
        let mpirun = try MPI.mpirun()
        let base = try MPI.makeBase(in: dir)
        let cfg = try MPI.writeConfig(in: dir, base: base, stages: ["sft"], sftSteps: 12, checkpointEvery: 2)
        let one = dir.appendingPathComponent("one")
        let r1 = try runRLHF(["run", cfg.path, "--out", one.path])
        XCTAssertEqual(r1.code, 0, r1.stderr)

        // One process, killed after step 4; resumed by two ranks.
        let a = dir.appendingPathComponent("a")
        let p = try Recovery.start(["run", cfg.path, "--out", a.path], stderr: dir.appendingPathComponent("a.stderr"))
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        XCTAssertTrue(Recovery.waitUntil(60) { Recovery.steps(a).contains("sft:4") || !p.isRunning }, "no step 4 in a minute")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertFalse(Recovery.steps(a).contains("sft:12"), "the run finished before the kill")
        let ra = try runProcess(mpirun, MPI.args(np: 2) + [rlhfBinary.path, "resume", a.path])
        XCTAssertEqual(ra.code, 0, ra.stderr)

        // Two ranks, rank 1 killed after step 4 (the job ends); resumed by one process.
        let b = dir.appendingPathComponent("b")
        let errFile = dir.appendingPathComponent("b.stderr")
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let job = Process()
        job.executableURL = mpirun
        job.arguments = MPI.args(np: 2) + [rlhfBinary.path, "run", cfg.path, "--out", b.path]
        job.standardError = try FileHandle(forWritingTo: errFile)
        job.standardOutput = FileHandle.nullDevice
        try job.run()
        defer { if job.isRunning { kill(job.processIdentifier, SIGKILL) } }
        XCTAssertTrue(Recovery.waitUntil(60) { Recovery.steps(b).contains("sft:4") || !job.isRunning }, "no step 4 in a minute")
        guard job.isRunning, let victim = MPI.rankProcess(of: job.processIdentifier, rank: 1) else {
            return XCTFail("the job ended before rank 1 could be killed: \(Recovery.text(errFile))")
        }
        XCTAssertEqual(kill(victim, SIGKILL), 0)
        XCTAssertTrue(Recovery.waitUntil(20) { !job.isRunning }, "mpirun still running 20 s after rank 1 was killed")
        job.waitUntilExit()
        // The killed rank could not remove its scratch run directory.
        try? FileManager.default.removeItem(at: FileManager.default.temporaryDirectory.appendingPathComponent("rlhf-rank1-\(victim)"))
        XCTAssertFalse(Recovery.steps(b).contains("sft:12"), "the run finished before the kill")
        let rb = try runRLHF(["resume", b.path])
        XCTAssertEqual(rb.code, 0, rb.stderr)

        for run in [a, b] {
            XCTAssertNil(Recovery.firstDifference(Recovery.steps(run), Recovery.steps(one)), run.lastPathComponent)
            MPI.assertSameRun(one, run, models: ["sft"], tolerance: 2e-4)
        }
    }
}
