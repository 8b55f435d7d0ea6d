import Alignment
import Foundation

/// An experiment run by several processes (`mpirun -np N rlhf run CONFIG`): every process runs
/// the same stages on its share of each batch (`DataParallel`); rank 0 alone writes the run
/// directory, the logs, the checkpoints and the progress lines. The other ranks compute only:
/// what their runner writes goes into a scratch directory of their own (removed at the end), so
/// that they need no file of rank 0's while a run starts. To resume, they copy the run directory,
/// which they must then see at the same path (a shared file system, as for the config and data).
extension Lab {
    static var reducer: GradientReducer { DataParallel.reducer }

    /// Whether this process is a rank other than 0 of a data-parallel job.
    static var isFollower: Bool { reducer.rank > 0 }

    /// Refuses, under a job of several processes, a global batch smaller than the number of
    /// processes (a process would have no example). Every stage splits its work among the
    /// processes; preferences and eval split theirs in whole generation batches, so a process may
    /// get none of a small one, which costs nothing.
    static func checkDataParallel(_ cfg: ExperimentConfig) throws {
        let n = reducer.size
        guard n > 1 else { return }
        let micro = "each process takes its share of every microbatch"
        let groups = "each process samples and trains on the groups of its share of the step's prompts"
        var batches: [(key: String, size: Int, why: String)] = []
        if cfg.stages.contains(.pretrain), let p = cfg.pretrain { batches.append(("pretrain.batch_size", p.batchSize, micro)) }
        if cfg.stages.contains(.sft), let p = cfg.sft { batches.append(("sft.batch_size", p.batchSize, micro)) }
        if cfg.stages.contains(.rewardModel), let p = cfg.rewardModel { batches.append(("reward_model.batch_size", p.trainer.batchSize, micro)) }
        if cfg.stages.contains(.dpo), let p = cfg.dpo { batches.append(("dpo.batch_size", p.trainer.batchSize, micro)) }
        if cfg.stages.contains(.ppo), let p = cfg.ppo { batches.append(("ppo.batch_size", p.trainer.rolloutBatchSize, micro)) }
        if cfg.stages.contains(.grpo), let p = cfg.grpo { batches.append(("grpo.batch_size", p.trainer.batchSize, groups)) }
        if cfg.stages.contains(.rloo), let p = cfg.rloo { batches.append(("rloo.batch_size", p.trainer.batchSize, groups)) }
        if cfg.stages.contains(.onlineDPO), let p = cfg.onlineDPO {
            batches.append(("online_dpo.batch_size", p.trainer.batchSize, "each process samples, judges and trains on the pairs of its share of the step's prompts"))
        }
        for (key, b, why) in batches where b < n {
            throw UserError("\(cfg.file): \(key): is \(b), fewer than the \(n) processes of this job (batch sizes are global: \(why)); set \(key) to at least \(n) or start fewer processes")
        }
    }

    /// The scratch run directory of a rank other than 0.
    static func followerDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("rlhf-rank\(reducer.rank)-\(getpid())")
    }

    /// Rank r > 0: the same run in its scratch directory. To resume, the run directory is copied
    /// there first, while rank 0 waits before it touches that directory.
    static func follow(_ cfg: ExperimentConfig, dir: URL, resuming: Bool) throws {
        let scratch = followerDirectory()
        try? FileManager.default.removeItem(at: scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }
        if resuming {
            do {
                try FileManager.default.copyItem(at: dir, to: scratch)
            } catch {
                throw UserError("\(dir.path): rank \(reducer.rank) cannot copy the run directory to resume it (\(FileSystem.describe(error) ?? "\(error)")); every process of the job must see the run directory at the same path")
            }
            _ = reducer.any(false)
            return try continueRun(scratch)
        }
        try startRun(cfg, dir: scratch)
    }

    /// Rank 0 before it resumes: the other ranks copy the run directory as it stands.
    static func letFollowersCopy() {
        guard reducer.size > 1 else { return }
        _ = reducer.any(false)
    }
}
