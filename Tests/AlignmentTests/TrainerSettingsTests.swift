import XCTest
@testable import Alignment

/// A settings reader over a dictionary: what an experiment file's section gives, without the
/// Experiments module. It records the keys a config asks for, in order, and refuses values out of
/// the range `read` gives with the message the experiment reader would show.
final class KeyedReader: SettingsReader {
    struct Refused: Error, Equatable { let key: String; let message: String }
    let values: [String: Any]
    private(set) var asked: [String] = []

    init(_ values: [String: Any]) { self.values = values }

    private func take<T>(_ key: String, _ value: T) -> T {
        asked.append(key)
        guard let v = values[key] else { return value }
        if let t = v as? T { return t }
        XCTFail("\(key): \(v) is not a \(T.self)")
        return value
    }

    func int(_ key: String, _ value: Int, min lo: Int?, max hi: Int?) throws -> Int {
        let v = take(key, value)
        if let lo, v < lo { throw refuse(key, "expected an integer\(Ranges.text(lo, hi)), found \(v)") }
        if let hi, v > hi { throw refuse(key, "expected an integer\(Ranges.text(lo, hi)), found \(v)") }
        return v
    }
    func optionalInt(_ key: String, _ value: Int?, min lo: Int?, max hi: Int?) throws -> Int? {
        guard let v = take(key, value) else { return nil }
        asked.removeLast()
        return try int(key, v, min: lo, max: hi)
    }
    func double(_ key: String, _ value: Double, min lo: Double?, max hi: Double?, openMin: Bool) throws -> Double {
        let v = take(key, value)
        if let p = Ranges.problem(v, lo: lo, hi: hi, openMin: openMin) { throw refuse(key, p) }
        return v
    }
    func optionalDouble(_ key: String, _ value: Double?, min lo: Double?, max hi: Double?, openMin: Bool) throws -> Double? {
        guard let v = take(key, value) else { return nil }
        asked.removeLast()
        return try double(key, v, min: lo, max: hi, openMin: openMin)
    }
    func bool(_ key: String, _ value: Bool) throws -> Bool { take(key, value) }
    func choice(_ key: String, _ value: String, _ allowed: [String]) throws -> String {
        let v = take(key, value)
        guard allowed.contains(v) else { throw refuse(key, "expected one of \(allowed), found \(v)") }
        return v
    }
    func refuse(_ key: String, _ message: String) -> Error { Refused(key: key, message: message) }
}

/// Every trainer's settings through one `read`: the keys each config asks for (so a rename shows
/// here), values taken from the file, and the checks `problems()` runs on a config built in code.
final class TrainerSettingsTests: XCTestCase {
    static let training = ["steps", "batch_size", "grad_accum", "lr", "schedule", "warmup_steps", "min_lr_ratio",
                           "beta1", "beta2", "eps", "weight_decay", "decay_embeddings", "max_grad_norm", "checkpoint_every"]
    static let sampling = ["max_completion_length", "temperature", "samples_every", "samples_count"]

    func messages(_ p: [(key: String, message: String)]) -> [String] { p.map { "\($0.key): \($0.message)" } }

    func read<S: TrainerSettings>(_ s: S, _ values: [String: Any]) throws -> (S, [String]) {
        var c = s
        let r = KeyedReader(values)
        try c.read(r)
        return (c, r.asked)
    }

    func testEveryTrainerNamesItsKeys() throws {
        XCTAssertEqual(try read(SFTConfig(), [:]).1, Self.training + ["eval_every"])
        XCTAssertEqual(try read(RewardModelConfig(), [:]).1,
                       Self.training + ["eval_every", "margin", "center_rewards_coefficient", "normalize_on"])
        XCTAssertEqual(try read(DPOConfig(), [:]).1,
                       Self.training + ["eval_every", "beta", "loss_type", "label_smoothing", "rpo_alpha", "reference_free",
                                        "precompute_ref_log_probs", "shared_prompt", "disable_dropout"])
        XCTAssertEqual(try read(PPOConfig(), [:]).1,
                       Self.training + ["samples_every", "num_mini_batches", "num_ppo_epochs", "response_length", "temperature",
                                        "missing_eos_penalty", "missing_eos_mode", "kl_coef", "kl_estimator", "adaptive_kl", "target_kl",
                                        "horizon", "whiten_rewards", "score_clip", "gamma", "lam", "cliprange", "cliprange_value",
                                        "vf_coef", "value_lr", "value_model"])
        XCTAssertEqual(try read(GRPOConfig(), [:]).1,
                       Self.training + ["num_generations", "num_iterations"] + Self.sampling +
                       ["missing_eos_penalty", "beta", "epsilon", "epsilon_high", "scale_rewards", "loss_type",
                        "mask_truncated_completions", "shared_prompt"])
        XCTAssertEqual(try read(RLOOConfig(), [:]).1,
                       Self.training + ["num_generations", "num_iterations"] + Self.sampling +
                       ["missing_eos_penalty", "beta", "epsilon", "epsilon_high", "kl_estimator", "normalize_advantages",
                        "mask_truncated_completions", "shared_prompt"])
        XCTAssertEqual(try read(OnlineDPOConfig(), [:]).1,
                       Self.training + ["beta", "loss_type"] + Self.sampling + ["shared_prompt"])
        XCTAssertEqual(try read(BestOfNConfig(), [:]).1, ["n", "temperature", "max_completion_length"])
    }

    func testDefaultsAreUsable() {
        XCTAssertTrue(SFTConfig().problems().isEmpty)
        XCTAssertTrue(RewardModelConfig().problems().isEmpty)
        XCTAssertTrue(DPOConfig().problems().isEmpty)
        XCTAssertTrue(PPOConfig().problems().isEmpty)
        XCTAssertTrue(GRPOConfig().problems().isEmpty)
        XCTAssertTrue(RLOOConfig().problems().isEmpty)
        XCTAssertTrue(OnlineDPOConfig().problems().isEmpty)
        XCTAssertTrue(BestOfNConfig().problems().isEmpty)
    }

    func testValuesComeFromTheFileAndDefaultsStay() throws {
        let (g, _) = try read(GRPOConfig(), ["num_generations": 4, "epsilon_high": 0.28, "scale_rewards": "none", "loss_type": "dr_grpo",
                                             "mask_truncated_completions": true, "beta": 0.0, "grad_accum": 2])
        XCTAssertEqual(g.numGenerations, 4)
        XCTAssertEqual(g.upperEpsilon, 0.28)
        XCTAssertEqual(g.scaleRewards, .none)
        XCTAssertEqual(g.lossType, .drGRPO)
        XCTAssertTrue(g.maskTruncatedCompletions)
        XCTAssertEqual(g.beta, 0)
        XCTAssertEqual(g.gradAccum, 2)
        XCTAssertEqual(g.epsilon, 0.2)
        XCTAssertEqual(GRPOConfig().lossType, .dapo, "TRL's default")
        XCTAssertNil(GRPOConfig().epsilonHigh)

        let (p, _) = try read(PPOConfig(), ["kl_coef": 0.1, "cliprange_value": 0.3, "missing_eos_penalty": 1.0, "missing_eos_mode": "replace",
                                            "value_model": "shared", "steps": 7, "batch_size": 16, "lr": 1e-4])
        XCTAssertEqual(p.klCoef, 0.1)
        XCTAssertEqual(p.cliprangeValue, 0.3)
        XCTAssertEqual(p.missingEOSPenalty, 1)
        XCTAssertEqual(p.missingEOSMode, .replace)
        XCTAssertEqual(p.valueModel, .shared)
        XCTAssertEqual(p.iterations, 7)
        XCTAssertEqual(p.rolloutBatchSize, 16)
        XCTAssertEqual(p.adam.lr, 1e-4, "the optimizer's rate is the stage's lr")
        XCTAssertEqual(p.numPPOEpochs, 4)
        XCTAssertEqual(p.lam, 0.95)

        let (d, _) = try read(DPOConfig(), ["beta": 0.25, "loss_type": "ipo", "rpo_alpha": 1.0, "schedule": "cosine", "warmup_steps": 3])
        XCTAssertEqual(d.beta, 0.25)
        XCTAssertEqual(d.lossType, .ipo)
        XCTAssertEqual(d.rpoAlpha, 1.0)
        XCTAssertEqual(d.schedule.kind, .cosine)
        XCTAssertEqual(d.schedule.warmupSteps, 3)

        let (m, _) = try read(RewardModelConfig(), ["center_rewards_coefficient": 0.01, "normalize_on": "policy_samples"])
        XCTAssertEqual(m.centerRewardsCoef, 0.01)
        XCTAssertEqual(m.normalizeOn, .policySamples)
        XCTAssertEqual(m.lr, RewardModelConfig().lr)

        let (r, _) = try read(RLOOConfig(), ["normalize_advantages": true, "kl_estimator": "k3", "num_generations": 4])
        XCTAssertTrue(r.normalizeAdvantages)
        XCTAssertEqual(r.klEstimator, .k3)
        let (o, _) = try read(OnlineDPOConfig(), ["loss_type": "ipo", "beta": 0.2])
        XCTAssertEqual(o.lossType, .ipo)
        XCTAssertEqual(o.dpo.beta, 0.2)
        XCTAssertEqual(try read(BestOfNConfig(), ["n": 16]).0.n, 16)
    }

    func testTheFileReaderRefusesWhatProblemsReports() {
        XCTAssertThrowsError(try read(GRPOConfig(), ["num_generations": 1])) {
            XCTAssertEqual($0 as? KeyedReader.Refused, .init(key: "num_generations", message: "expected an integer in 2...1024, found 1"))
        }
        XCTAssertThrowsError(try read(DPOConfig(), ["label_smoothing": 0.5])) {
            XCTAssertEqual(($0 as? KeyedReader.Refused)?.key, "label_smoothing")
        }
        XCTAssertThrowsError(try read(PPOConfig(), ["batch_size": 10])) {
            XCTAssertEqual($0 as? KeyedReader.Refused, .init(key: "num_mini_batches", message: "batch_size (10) must be divisible by num_mini_batches (4)"))
        }
        XCTAssertThrowsError(try read(SFTConfig(), ["eps": 1e-50])) {
            XCTAssertEqual(($0 as? KeyedReader.Refused)?.message,
                           "expected a number > 0 that a 32-bit float holds (at least 1.2e-38; smaller ones become 0 or lose their precision), found 1e-50")
        }
    }

    func testGRPOProblems() {
        var c = GRPOConfig()
        c.numGenerations = 1
        XCTAssertEqual(messages(c.problems()), ["num_generations: expected an integer in 2...1024, found 1"])
        c = GRPOConfig()
        c.epsilonHigh = 0.1
        XCTAssertEqual(messages(c.problems()), ["epsilon_high: epsilon_high (0.1) must be at least epsilon (0.2); leave it null to use epsilon"])
        c = GRPOConfig()
        c.batchSize = 3
        c.numGenerations = 4
        c.gradAccum = 5
        XCTAssertEqual(messages(c.problems()), ["grad_accum: batch_size × num_generations (3 × 4 = 12 completions) must be divisible by grad_accum (5)"])
        c = GRPOConfig()
        c.beta = -0.1
        c.temperature = 0
        c.numIterations = 0
        c.steps = 0
        c.lr = 0
        c.maxCompletionLength = 0
        c.checkpointEvery = -1
        c.missingEOSPenalty = .infinity
        XCTAssertEqual(messages(c.problems()), [
            "steps: expected an integer ≥ 1, found 0",
            "lr: expected a number in (0, 1], found 0",
            "checkpoint_every: expected an integer ≥ 0, found -1",
            "num_iterations: expected an integer ≥ 1, found 0",
            "max_completion_length: expected an integer ≥ 1, found 0",
            "temperature: expected a number in (0, 5], found 0",
            "missing_eos_penalty: expected a number of magnitude at most 3.4e38 (a 32-bit float), found inf",
            "beta: expected a number ≥ 0, found -0.1",
        ])
        c = GRPOConfig()
        c.epsilon = 1.5
        XCTAssertEqual(messages(c.problems()), ["epsilon: expected a number in (0, 1), found 1.5"])
        c.epsilon = 0
        XCTAssertEqual(messages(c.problems()), ["epsilon: expected a number > 0, found 0"])
        c.epsilon = 1
        XCTAssertEqual(messages(c.problems()), ["epsilon: expected a number in (0, 1), found 1"])
        c = GRPOConfig()
        c.beta = 0
        c.epsilonHigh = 0.28
        XCTAssertTrue(c.problems().isEmpty, "β = 0 and DAPO's clip-higher are allowed")
    }

    func testOtherTrainersProblems() {
        var r = RLOOConfig()
        r.numGenerations = 1
        r.epsilonHigh = 0.1
        XCTAssertEqual(r.problems().map(\.key), ["num_generations", "epsilon_high"])
        r = RLOOConfig()
        r.batchSize = 5
        r.gradAccum = 4
        XCTAssertEqual(messages(r.problems()), ["grad_accum: batch_size × num_generations (5 × 2 = 10 completions) must be divisible by grad_accum (4)"])

        var o = OnlineDPOConfig()
        o.batchSize = 6
        o.gradAccum = 4
        o.beta = 0
        XCTAssertEqual(messages(o.problems()), [
            "beta: expected a number > 0, found 0",
            "grad_accum: batch_size (6 prompts) must be divisible by grad_accum (4)",
        ])

        var b = BestOfNConfig()
        b.n = 0
        XCTAssertEqual(messages(b.problems()), ["n: expected an integer in 1...4096, found 0"])

        var p = PPOConfig()
        p.rolloutBatchSize = 10
        XCTAssertEqual(p.problems().map(\.key), ["num_mini_batches"])

        var m = RewardModelConfig()
        m.batchSize = 0
        m.margin = -1
        XCTAssertEqual(m.problems().map(\.key), ["batch_size", "margin"])

        var d = DPOConfig()
        d.labelSmoothing = 0.5
        d.beta = 0
        XCTAssertEqual(messages(d.problems()), [
            "beta: expected a number > 0, found 0",
            "label_smoothing: expected a number in [0, 0.5) (the share of flipped labels: at 0.5 the labels say nothing), found 0.5",
        ])
    }
}
