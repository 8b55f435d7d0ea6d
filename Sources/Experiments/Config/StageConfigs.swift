import Alignment
import Foundation

// Each trainer section is read by the trainer's own settings (`TrainerSettings.read`: every key,
// default and range written once, in Sources/Alignment); a section adds only what the runner
// decides around the trainer: what scores an online method's samples, and policy snapshots.

/// `reward_model` section (JSON names as TRL's RewardTrainer).
public struct RewardModelStage {
    public var trainer = RewardModelConfig()

    init(_ s: ConfigSection) throws {
        try trainer.read(s)
    }
}

/// `dpo` section (JSON names as TRL's DPOTrainer).
public struct DPOStage {
    public var trainer = DPOConfig()
    /// Save a policy snapshot every N steps for the reward–KL frontier (0: off).
    public var snapshotEvery = 0

    init(_ s: ConfigSection) throws {
        try trainer.read(s)
        snapshotEvery = try s.int("snapshot_every", 0, min: 0)
    }
}

/// The section of an online method (`ppo`, `grpo`, `rloo`, `online_dpo`): its trainer's settings,
/// what scores its samples, and snapshots.
public struct OnlineStage<Settings: TrainerSettings> {
    public var trainer: Settings
    /// `reward` ("reward_model": the trained reward model, the RLHF recipe; "gold": the task's
    /// judge, the DPO paper's PPO-GT), or for online DPO `judge`, which also takes "labelers"
    /// (the simulated labelers that labelled the offline pairs).
    public var reward = "reward_model"
    /// Save a policy snapshot every N steps for the reward–KL frontier (0: off).
    public var snapshotEvery = 0

    /// `trainer` holds the defaults the run decides (e.g. the completion budget of its data).
    init(_ s: ConfigSection, trainer: Settings, rewardKey: String = "reward", rewards: [String] = ["reward_model", "gold"]) throws {
        self.trainer = trainer
        try self.trainer.read(s)
        reward = try s.choice(rewardKey, "reward_model", rewards)
        snapshotEvery = try s.int("snapshot_every", 0, min: 0)
    }
}

public typealias PPOStage = OnlineStage<PPOConfig>
public typealias GRPOStage = OnlineStage<GRPOConfig>
public typealias RLOOStage = OnlineStage<RLOOConfig>
public typealias OnlineDPOStage = OnlineStage<OnlineDPOConfig>
