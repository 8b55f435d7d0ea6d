import Alignment
import COpenMPI
import Engine
import Foundation

/// The processes of an MPI job (Open MPI), as the one `GradientReducer` of this process: sums of
/// counts and gradients by MPI_Allreduce, broadcasts by MPI_Bcast. This target is the only one that
/// imports MPI, so that the numeric libraries build and run without it.
///
/// MPI is started only in a process that a launcher started (mpirun, srun): Open MPI 4 forks a
/// helper daemon when MPI_Init runs in a process started by hand, and `rlhf run` alone must stay
/// one plain process.
public final class MPIWorld: GradientReducer {
    public let rank: Int
    public let size: Int
    /// Ranks of the job on this host (the memory check counts them).
    public let localSize: Int
    public private(set) var communicationSeconds = 0.0
    private var finalized = false

    /// Environment variables that launchers set in the processes they start: Open MPI's mpirun
    /// (OMPI_COMM_WORLD_SIZE), PMIx launchers (PMIX_RANK), PMI-1/2 launchers such as MPICH's and
    /// Slurm's srun (PMI_RANK, SLURM_STEP_ID with SLURM_PROCID).
    public static func startedByLauncher(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        if env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil { return true }
        return env["SLURM_STEP_ID"] != nil && env["SLURM_PROCID"] != nil
    }

    /// Starts MPI when a launcher started this process; nil otherwise (one process, no MPI).
    public static func startIfLaunched() -> MPIWorld? {
        guard startedByLauncher() else { return nil }
        return MPIWorld()
    }

    private init() {
        MPI_Init(nil, nil)
        var r: Int32 = 0, s: Int32 = 1
        MPI_Comm_rank(rlhf_mpi_comm_world(), &r)
        MPI_Comm_size(rlhf_mpi_comm_world(), &s)
        rank = Int(r)
        size = Int(s)
        let env = ProcessInfo.processInfo.environment
        localSize = Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? env["MPI_LOCALNRANKS"] ?? env["SLURM_NTASKS_PER_NODE"] ?? "") ?? size
    }

    /// MPI counts are Int32: larger buffers go in pieces.
    static let chunk = 1 << 30

    public func sum(_ values: inout [Double]) {
        guard size > 1, !values.isEmpty else { return }
        values.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i < p.count {
                let n = min(Self.chunk, p.count - i)
                MPI_Allreduce(rlhf_mpi_in_place(), p.baseAddress! + i, Int32(n), rlhf_mpi_double(), rlhf_mpi_sum(), rlhf_mpi_comm_world())
                i += n
            }
        }
    }

    /// The gradient in place (MPI_IN_PLACE: no second buffer of the model's size).
    public func sum(_ buffer: FloatBuffer) {
        guard size > 1 else { return }
        let t0 = Clock.now()
        var i = 0
        while i < buffer.count {
            let n = min(Self.chunk, buffer.count - i)
            MPI_Allreduce(rlhf_mpi_in_place(), buffer.pointer + i, Int32(n), rlhf_mpi_float(), rlhf_mpi_sum(), rlhf_mpi_comm_world())
            i += n
        }
        communicationSeconds += Clock.now() - t0
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) {
        guard size > 1 else { return }
        var n: Int64 = Int64(bytes.count)
        MPI_Bcast(&n, 1, rlhf_mpi_long_long(), Int32(root), rlhf_mpi_comm_world())
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(n)) }
        bytes.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i < p.count {
                let k = min(Self.chunk, p.count - i)
                MPI_Bcast(p.baseAddress! + i, Int32(k), rlhf_mpi_byte(), Int32(root), rlhf_mpi_comm_world())
                i += k
            }
        }
    }

    /// MPI_Allgather of the lengths, then MPI_Allgatherv of the bytes, in rounds of at most
    /// `chunk / size` bytes from each process (counts and displacements are Int32).
    public func allGather(bytes: [UInt8]) -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        var mine = Int64(bytes.count)
        var lengths = [Int64](repeating: 0, count: size)
        MPI_Allgather(&mine, 1, rlhf_mpi_long_long(), &lengths, 1, rlhf_mpi_long_long(), rlhf_mpi_comm_world())
        var out = lengths.map { [UInt8](repeating: 0, count: Int($0)) }
        let perRound = max(1, Self.chunk / size), longest = Int(lengths.max() ?? 0)
        var done = 0
        repeat {
            let counts = lengths.map { Int32(max(0, min(perRound, Int($0) - done))) }
            var displacements = [Int32](repeating: 0, count: size)
            for r in 1..<size { displacements[r] = displacements[r - 1] + counts[r - 1] }
            var received = [UInt8](repeating: 0, count: max(1, Int(displacements[size - 1] + counts[size - 1])))
            var sent = counts[rank] > 0 ? Array(bytes[done..<(done + Int(counts[rank]))]) : [0]
            MPI_Allgatherv(&sent, counts[rank], rlhf_mpi_byte(), &received, counts, displacements, rlhf_mpi_byte(), rlhf_mpi_comm_world())
            for r in 0..<size where counts[r] > 0 {
                let at = Int(displacements[r])
                out[r].replaceSubrange(done..<(done + Int(counts[r])), with: received[at..<(at + Int(counts[r]))])
            }
            done += perRound
        } while done < longest
        return out
    }

    public func barrier() {
        guard size > 1 else { return }
        MPI_Barrier(rlhf_mpi_comm_world())
    }

    /// Ends every process of the job (after this one printed why) with `code` as mpirun's exit code.
    public func abort(code: Int32) -> Never {
        MPI_Abort(rlhf_mpi_comm_world(), code)
        exit(code)
    }

    /// The end of a job that succeeded: every process calls it once.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }
}
