import Foundation

/// Where a trainer's settings come from: a section of an experiment file (the experiment reader,
/// which reports a bad value with the file and JSON path), or the settings themselves, to check a
/// config built in code (`problems()`). Each accessor receives the setting's current value and
/// returns the one to use; the key, the default (the value the config starts with) and the range
/// are written once, in the config's `read`.
public protocol SettingsReader: AnyObject {
    func int(_ key: String, _ value: Int, min: Int?, max: Int?) throws -> Int
    func optionalInt(_ key: String, _ value: Int?, min: Int?, max: Int?) throws -> Int?
    func double(_ key: String, _ value: Double, min: Double?, max: Double?, openMin: Bool) throws -> Double
    func optionalDouble(_ key: String, _ value: Double?, min: Double?, max: Double?, openMin: Bool) throws -> Double?
    func bool(_ key: String, _ value: Bool) throws -> Bool
    func choice(_ key: String, _ value: String, _ allowed: [String]) throws -> String
    /// A setting that does not agree with another one.
    func refuse(_ key: String, _ message: String) -> Error
}

extension SettingsReader {
    public func int(_ key: String, _ value: Int, min: Int? = nil) throws -> Int { try int(key, value, min: min, max: nil) }
    public func double(_ key: String, _ value: Double, min: Double? = nil, max: Double? = nil) throws -> Double {
        try double(key, value, min: min, max: max, openMin: false)
    }
    /// A number > lo (and ≤ hi).
    public func positive(_ key: String, _ value: Double, above lo: Double = 0, max: Double? = nil) throws -> Double {
        try double(key, value, min: lo, max: max, openMin: true)
    }
    public func float(_ key: String, _ value: Float, min: Double? = nil, max: Double? = nil, openMin: Bool = false) throws -> Float {
        Float(try double(key, Double(value), min: min, max: max, openMin: openMin))
    }
    public func optionalFloat(_ key: String, _ value: Float?, min: Double? = nil, max: Double? = nil, openMin: Bool = false) throws -> Float? {
        try optionalDouble(key, value.map(Double.init), min: min, max: max, openMin: openMin).map(Float.init)
    }
    /// One of an enumeration's raw values.
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ value: E) throws -> E where E.RawValue == String {
        E(rawValue: try choice(key, value.rawValue, E.allCases.map(\.rawValue)))!
    }
}

/// A trainer's settings, read from a `SettingsReader` by one function that names every key with
/// its range (and checks the relations between keys).
public protocol TrainerSettings {
    mutating func read(_ r: SettingsReader) throws
}

extension TrainerSettings {
    /// The settings' problems, as (JSON key, message) pairs; empty when the config is usable.
    public func problems() -> [(key: String, message: String)] {
        let v = ValidatingReader()
        var copy = self
        try? copy.read(v)
        return v.problems
    }
}

/// Checks values against the ranges `read` gives, collecting what is wrong.
final class ValidatingReader: SettingsReader {
    var problems: [(key: String, message: String)] = []
    struct Stop: Error {}

    func int(_ key: String, _ value: Int, min lo: Int?, max hi: Int?) throws -> Int {
        if let lo, value < lo { problems.append((key, "expected an integer\(Ranges.text(lo, hi)), found \(value)")) }
        else if let hi, value > hi { problems.append((key, "expected an integer\(Ranges.text(lo, hi)), found \(value)")) }
        return value
    }

    func optionalInt(_ key: String, _ value: Int?, min lo: Int?, max hi: Int?) throws -> Int? {
        if let v = value { _ = try int(key, v, min: lo, max: hi) }
        return value
    }

    func double(_ key: String, _ value: Double, min lo: Double?, max hi: Double?, openMin: Bool) throws -> Double {
        if let p = Ranges.problem(value, lo: lo, hi: hi, openMin: openMin) { problems.append((key, p)) }
        return value
    }

    func optionalDouble(_ key: String, _ value: Double?, min lo: Double?, max hi: Double?, openMin: Bool) throws -> Double? {
        if let v = value { _ = try double(key, v, min: lo, max: hi, openMin: openMin) }
        return value
    }

    func bool(_ key: String, _ value: Bool) throws -> Bool { value }

    func choice(_ key: String, _ value: String, _ allowed: [String]) throws -> String {
        if !allowed.contains(value) { problems.append((key, "expected one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), found \"\(value)\"")) }
        return value
    }

    func refuse(_ key: String, _ message: String) -> Error {
        problems.append((key, message))
        return Stop()
    }
}

/// How ranges are written in messages, and the rule every number a setting ends up in obeys.
public enum Ranges {
    /// " ≥ 1", " in 0...9", " ≤ 4" (empty without bounds).
    public static func text(_ lo: Int?, _ hi: Int?) -> String {
        switch (lo, hi) {
        case let (l?, h?): return " in \(l)...\(h)"
        case let (l?, nil): return " ≥ \(l)"
        case let (nil, h?): return " ≤ \(h)"
        default: return ""
        }
    }

    /// " > 0", " in [0, 1]", " in (0, 1]"...
    public static func text(_ lo: Double?, _ hi: Double?, openMin: Bool = false) -> String {
        switch (lo, hi) {
        case let (l?, h?): return " in \(openMin ? "(" : "[")\(format(l)), \(format(h))]"
        case let (l?, nil): return openMin ? " > \(format(l))" : " ≥ \(format(l))"
        case let (nil, h?): return " ≤ \(format(h))"
        default: return ""
        }
    }

    /// What is wrong with `d` for the range (nil: nothing). Every setting ends in a Float or a
    /// Double, so beyond the range given a number must be a finite 32-bit float, and one that must
    /// be above 0 must not become 0 there either (an Adam ε of 1e-50 passes "> 0" as a Double and
    /// is 0 as the Float the update divides by: the model turns into NaN).
    public static func problem(_ d: Double, lo: Double?, hi: Double?, openMin: Bool, found: String? = nil) -> String? {
        let range = text(lo, hi, openMin: openMin)
        let shown = found ?? format(d)
        guard !d.isNaN else { return "expected a number\(range), found \(shown)" }
        if let lo, openMin ? d <= lo : d < lo { return "expected a number\(range), found \(shown)" }
        if let hi, d > hi { return "expected a number\(range), found \(shown)" }
        guard abs(d) <= Double(Float.greatestFiniteMagnitude) else {
            return "expected a number\(range) of magnitude at most 3.4e38 (a 32-bit float), found \(shown)"
        }
        if openMin && lo == 0 && Float(d) < Float.leastNormalMagnitude {
            return "expected a number\(range) that a 32-bit float holds (at least 1.2e-38; smaller ones become 0 or lose their precision), found \(shown)"
        }
        return nil
    }

    /// Integers without a fraction, others as Swift prints them (1e-05, 0.25).
    public static func format(_ d: Double) -> String {
        if d == d.rounded() && abs(d) < 1e12 { return String(Int64(d)) }
        return "\(d)"
    }
}

extension SettingsReader {
    /// The settings every trainer has, under one set of names: `steps`, `batch_size`,
    /// `grad_accum`, `lr`, the schedule (`schedule`, `warmup_steps`, `min_lr_ratio`), AdamW
    /// (`beta1`, `beta2`, `eps`, `weight_decay`, `decay_embeddings`, `max_grad_norm`) and
    /// `checkpoint_every`.
    public func training(steps: inout Int, batchSize: inout Int, gradAccum: inout Int, lr: inout Double,
                         schedule: inout LRSchedule, adam: inout AdamWConfig, checkpointEvery: inout Int) throws {
        steps = try int("steps", steps, min: 1)
        batchSize = try int("batch_size", batchSize, min: 1, max: 4096)
        gradAccum = try int("grad_accum", gradAccum, min: 1, max: 1024)
        lr = try double("lr", lr, min: 0, max: 1, openMin: true)
        let kind = try choice("schedule", schedule.kind)
        schedule = LRSchedule(kind: kind, warmupSteps: try int("warmup_steps", schedule.warmupSteps, min: 0),
                              minLRRatio: try double("min_lr_ratio", schedule.minLRRatio, min: 0, max: 1))
        adam.lr = lr
        adam.beta1 = try double("beta1", adam.beta1, min: 0, max: 0.9999)
        adam.beta2 = try double("beta2", adam.beta2, min: 0, max: 0.99999)
        adam.eps = try double("eps", adam.eps, min: 0, max: nil, openMin: true)
        adam.weightDecay = try double("weight_decay", adam.weightDecay, min: 0, max: 1)
        adam.decayEmbeddings = try bool("decay_embeddings", adam.decayEmbeddings)
        adam.maxGradNorm = try double("max_grad_norm", adam.maxGradNorm, min: 0)
        checkpointEvery = try int("checkpoint_every", checkpointEvery, min: 0)
    }

    /// The online methods' sampling settings: `max_completion_length`, `temperature`,
    /// `missing_eos_penalty`, and the samples they report (`samples_every`, `samples_count`).
    public func sampling(maxCompletionLength: inout Int, temperature: inout Float, samplesEvery: inout Int, samplesCount: inout Int) throws {
        maxCompletionLength = try int("max_completion_length", maxCompletionLength, min: 1)
        temperature = try float("temperature", temperature, min: 0, max: 5, openMin: true)
        samplesEvery = try int("samples_every", samplesEvery, min: 0)
        samplesCount = try int("samples_count", samplesCount, min: 0)
    }

    /// `epsilon` in (0, 1) and `epsilon_high` ≥ epsilon (null: epsilon), the clipped ratio's bounds.
    public func clip(epsilon: inout Double, epsilonHigh: inout Double?) throws {
        epsilon = try double("epsilon", epsilon, min: 0, max: nil, openMin: true)
        if epsilon >= 1 { throw refuse("epsilon", "expected a number in (0, 1), found \(Ranges.format(epsilon))") }
        epsilonHigh = try optionalDouble("epsilon_high", epsilonHigh, min: 0, max: nil, openMin: true)
        if let h = epsilonHigh, h < epsilon {
            throw refuse("epsilon_high", "epsilon_high (\(Ranges.format(h))) must be at least epsilon (\(Ranges.format(epsilon))); leave it null to use epsilon")
        }
    }
}
