/// PPO's rollout buffer is the shared one (`RolloutBuffer`), with every per-token array: the
/// rewards, values, KL, advantages and returns of the value-model path.
public typealias PPORollout = RolloutBuffer
