import Foundation
import XCTest

/// Data-parallel jobs across simulated hosts and a rank that dies: two network namespaces joined
/// by a veth pair (scripts/two_hosts.sh), mpirun starting each rank's daemon inside one of them
/// through scripts/netns_agent.sh, MPI traffic over TCP on the veth only.
final class TwoHostTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("twohost-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testSFTAndDPOOnTwoSimulatedHostsEqualOneProcess() throws {
        let mpirun = try MPI.mpirun()
        let hosts = try SimulatedHosts.make(in: dir)
        defer { hosts.remove() }
        // Each rank runs in its own namespace, under the namespace's name as its host name.
        let where_ = try hosts.mpirun(mpirun, ["/bin/sh", "-c", "echo $OMPI_COMM_WORLD_RANK $(ip netns identify $$) $(hostname)"])
        XCTAssertEqual(where_.code, 0, where_.stderr)
        XCTAssertEqual(Set(where_.stdout.split(separator: "\n").map(String.init)),
                       ["0 \(hosts.name)-a \(hosts.name)-a", "1 \(hosts.name)-b \(hosts.name)-b"], where_.stderr)

        let base = try MPI.makeBase(in: dir)
        let cfg = try MPI.writeConfig(in: dir, base: base, stages: ["sft", "dpo"])
        let one = dir.appendingPathComponent("one"), two = dir.appendingPathComponent("two")
        let r1 = try runRLHF(["run", cfg.path, "--out", one.path])
        XCTAssertEqual(r1.code, 0, r1.stderr)
        let r2 = try hosts.mpirun(mpirun, [rlhfBinary.path, "run", cfg.path, "--out", two.path])
        XCTAssertEqual(r2.code, 0, r2.stderr)
        XCTAssertEqual(r2.stdout.components(separatedBy: "done: ").count - 1, 1, r2.stdout)
        MPI.assertSameRun(one, two, models: ["sft", "dpo"], tolerance: 2e-4)
    }

    /// kill -9 of rank 1 while it trains: mpirun ends the job within seconds, rank 0 saying why
    /// in one line (mpirun --quiet says nothing); `rlhf resume` under mpirun continues from the last checkpoint to the same model and
    /// logs as a run that was never interrupted.
    func testAKilledRankEndsTheJobAndResumeContinuesIt() throws {
        let mpirun = try MPI.mpirun()
        let base = try MPI.makeBase(in: dir)
        let cfg = try MPI.writeConfig(in: dir, base: base, stages: ["sft"], sftSteps: 16, checkpointEvery: 2)
        let run = dir.appendingPathComponent("run"), one = dir.appendingPathComponent("one")
        let errFile = dir.appendingPathComponent("mpirun.stderr")
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let p = Process()
        p.executableURL = mpirun
        p.arguments = MPI.args(np: 2) + [rlhfBinary.path, "run", cfg.path, "--out", run.path]
        p.standardError = try FileHandle(forWritingTo: errFile)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }

        // After the checkpoint of step 4, rank 1 (a child of mpirun, its local daemon) dies.
        XCTAssertTrue(Recovery.waitUntil(60) { Recovery.steps(run).contains("sft:4") || !p.isRunning }, "no step 4 in a minute")
        guard p.isRunning, let victim = MPI.rankProcess(of: p.processIdentifier, rank: 1) else {
            return XCTFail("the job ended before rank 1 could be killed: \(Recovery.text(errFile))")
        }
        let t0 = Date()
        XCTAssertEqual(kill(victim, SIGKILL), 0)
        XCTAssertTrue(Recovery.waitUntil(20) { !p.isRunning }, "mpirun still running 20 s after rank 1 was killed")
        p.waitUntilExit()
        let seconds = Date().timeIntervalSince(t0)
        print("mpirun ended \(String(format: "%.2f", seconds)) s after kill -9 of rank 1 (pid \(victim))")
        XCTAssertLessThan(seconds, 10)
        XCTAssertNotEqual(p.terminationStatus, 0)
        let said = Recovery.text(errFile)
        XCTAssertTrue(said.hasSuffix("error: rank 0 of 2: stopped by a signal from the launcher, which ends every process of the job when one of them ends (killed, out of memory) or the job is interrupted; continue from the last checkpoint with: mpirun ... rlhf resume \(run.path)\n"), said)
        XCTAssertFalse(Recovery.steps(run).contains("sft:16"), "the run finished before the kill")
        // The killed rank's scratch run directory (it could not remove it).
        try? FileManager.default.removeItem(at: FileManager.default.temporaryDirectory.appendingPathComponent("rlhf-rank1-\(victim)"))

        let scratchBefore = MPI.rankScratch()
        let r = try runProcess(mpirun, MPI.args(np: 2) + [rlhfBinary.path, "resume", run.path])
        XCTAssertEqual(r.code, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resuming \(run.path)"), r.stderr)
        XCTAssertEqual(MPI.leftScratch(since: scratchBefore), [])
        let r1 = try runRLHF(["run", cfg.path, "--out", one.path])
        XCTAssertEqual(r1.code, 0, r1.stderr)
        XCTAssertNil(Recovery.firstDifference(Recovery.steps(run), Recovery.steps(one)))
        MPI.assertSameRun(one, run, models: ["sft"], tolerance: 2e-4)
    }
}

/// Two network namespaces made by scripts/two_hosts.sh for one test, and mpirun across them.
struct SimulatedHosts {
    let name: String
    let hostfile: URL

    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts")

    /// iproute2's `ip`, also where a user's PATH has no sbin directory.
    static func ip() throws -> URL {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for d in dirs {
            let u = URL(fileURLWithPath: d).appendingPathComponent("ip")
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        XCTFail("ip is not installed: run scripts/setup.sh (it installs iproute2)")
        throw MPI.MissingTool()
    }

    /// The namespaces NAME-a and NAME-b (NAME unique to this test process), or a skip, printed with
    /// its reason, where this process may not create network namespaces (no root, no CAP_SYS_ADMIN).
    static func make(in dir: URL) throws -> SimulatedHosts {
        let ip = try ip()
        let name = "rlhf-test-\(getpid())"
        let probe = try runProcess(ip, ["netns", "add", "\(name)-probe"])
        if probe.code != 0 {
            let why = "network namespaces cannot be created here (ip netns add: \(probe.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); the two-host test needs root or CAP_SYS_ADMIN"
            print("skipped: \(why)")
            throw XCTSkip(why)
        }
        _ = try runProcess(ip, ["netns", "del", "\(name)-probe"])
        let up = try runProcess(scripts.appendingPathComponent("two_hosts.sh"), ["up", name])
        guard up.code == 0 else {
            XCTFail("scripts/two_hosts.sh up \(name): \(up.stderr)")
            throw MPI.MissingTool()
        }
        let hostfile = dir.appendingPathComponent("hosts")
        try "\(name)-a slots=1\n\(name)-b slots=1\n".write(to: hostfile, atomically: true, encoding: .utf8)
        return SimulatedHosts(name: name, hostfile: hostfile)
    }

    /// Removes both namespaces and whatever still runs in them.
    func remove() {
        _ = try? runProcess(Self.scripts.appendingPathComponent("two_hosts.sh"), ["down", name])
    }

    /// `mpirun -np 2` started in NAME-a, one rank per namespace, TCP over the veth only.
    func mpirun(_ mpirun: URL, _ command: [String]) throws -> (code: Int32, stdout: String, stderr: String) {
        try runProcess(try Self.ip(), ["netns", "exec", "\(name)-a", mpirun.path] + MPI.args(np: 2, extra: [
            "--hostfile", hostfile.path, "--mca", "plm_rsh_agent", Self.scripts.appendingPathComponent("netns_agent.sh").path,
            "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "10.211.0.0/24", "--mca", "oob_tcp_if_include", "10.211.0.0/24",
        ]) + command)
    }
}
