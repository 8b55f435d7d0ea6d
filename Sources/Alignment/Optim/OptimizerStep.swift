import Engine
import GPT

/// How one process's counts and gradients join those of the other processes of a data-parallel
/// job: element-wise sums over every process. A single process is the identity (`LocalReducer`);
/// a job under an MPI launcher plugs in its allreduce.
public protocol GradientReducer: AnyObject {
    /// This process's index and the number of processes.
    var rank: Int { get }
    var size: Int { get }
    /// values ← Σ over processes of values (counts and metric sums, in Double).
    func sum(_ values: inout [Double])
    /// buffer ← Σ over processes of buffer (a gradient).
    func sum(_ buffer: FloatBuffer)
    /// bytes ← the bytes of process `root` (a file made once, such as a trained tokenizer).
    func broadcast(_ bytes: inout [UInt8], root: Int)
    /// Every process's `bytes`, in rank order (an allgather): the parts of a list that each process
    /// computed and that every process needs whole (samples, scores, labels).
    func allGather(bytes: [UInt8]) -> [[UInt8]]
    /// Seconds spent summing gradients so far (the benchmark reports it).
    var communicationSeconds: Double { get }
}

extension GradientReducer {
    /// Through `sum`: the length, then the bytes as Doubles (exact), zeros from the other processes.
    public func broadcast(_ bytes: inout [UInt8], root: Int) {
        guard size > 1 else { return }
        var n = [rank == root ? Double(bytes.count) : 0]
        sum(&n)
        var v = [Double](repeating: 0, count: Int(n[0]))
        if rank == root { for (i, b) in bytes.enumerated() { v[i] = Double(b) } }
        sum(&v)
        bytes = v.map { UInt8($0) }
    }

    /// Through `sum`: the lengths, then every process's bytes at its offset as Doubles (exact),
    /// zeros elsewhere.
    public func allGather(bytes: [UInt8]) -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        var counts = [Double](repeating: 0, count: size)
        counts[rank] = Double(bytes.count)
        sum(&counts)
        var offsets = [0]
        for c in counts { offsets.append(offsets.last! + Int(c)) }
        var all = [Double](repeating: 0, count: offsets[size])
        for (i, b) in bytes.enumerated() { all[offsets[rank] + i] = Double(b) }
        sum(&all)
        return (0..<size).map { r in all[offsets[r]..<offsets[r + 1]].map { UInt8($0) } }
    }

    public var communicationSeconds: Double { 0 }
}

/// One process: nothing to add.
public final class LocalReducer: GradientReducer {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sum(_ values: inout [Double]) {}
    public func sum(_ buffer: FloatBuffer) {}
    /// The reducer of a process that runs alone.
    public static let shared = LocalReducer()
}

/// The one optimizer step every trainer takes (SFT, the reward model, DPO, PPO's policy and value
/// updates): zero the gradients; count what the step's microbatches weigh (tokens, pairs...) and
/// sum the counts over processes; let the trainer add each microbatch's gradient of its summed
/// loss times 1/(global count), so that the step's loss is a mean over the whole batch however it
/// is split into microbatches and processes; sum the gradients over processes; clip and apply
/// AdamW to each trained model. Trainers differ in their loss, not in this loop.
public struct OptimizerStep {
    /// A trained model, its optimizer and the learning rate of this step.
    public struct Part {
        public let model: GPT
        public let optimizer: AdamW
        public var lr: Double
        public init(model: GPT, optimizer: AdamW, lr: Double) {
            self.model = model
            self.optimizer = optimizer
            self.lr = lr
        }
    }

    public let parts: [Part]
    public let reducer: GradientReducer

    public init(parts: [Part], reducer: GradientReducer = LocalReducer.shared) {
        self.parts = parts
        self.reducer = reducer
    }

    public init(model: GPT, optimizer: AdamW, lr: Double, reducer: GradientReducer = LocalReducer.shared) {
        self.init(parts: [Part(model: model, optimizer: optimizer, lr: lr)], reducer: reducer)
    }

    public struct Result {
        /// Gradient norm of each part before clipping (non-finite: the update was skipped).
        public var gradNorms: [Double]
        /// The step's global count (the denominator of the loss).
        public var total: Double
        public var gradNorm: Double { gradNorms.first ?? .nan }
    }

    /// Runs the step over `micro`: `count(m)` is what microbatch m weighs in the loss's mean,
    /// `accumulate(m, scale)` adds scale · ∂(its summed loss)/∂θ into the parts' gradients.
    @discardableResult
    public func run<Micro>(_ micro: [Micro], count: (Micro) -> Double, accumulate: (Micro, Double) -> Void) -> Result {
        for p in parts { p.model.zeroGrad() }
        var counts = [micro.reduce(0) { $0 + count($1) }]
        reducer.sum(&counts)
        let total = counts[0]
        let scale = total > 0 ? 1 / total : 0
        for m in micro { accumulate(m, scale) }
        var norms: [Double] = []
        for p in parts {
            guard let g = p.model.grads else { preconditionFailure("OptimizerStep: a trained model without gradients (enableGrads)") }
            reducer.sum(g)
            norms.append(p.optimizer.step(params: p.model.params, grads: g, lr: p.lr))
        }
        return Result(gradNorms: norms, total: total)
    }
}
