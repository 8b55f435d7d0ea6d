import COpenBLAS
import Dispatch
import Foundation

/// The BLAS/LAPACK facade: the only file that talks to OpenBLAS. Every matrix is row-major.
public enum BLAS {
    // MARK: - Threads

    /// OpenBLAS runs single-threaded; `sgemm` splits large products across our own workers
    /// instead. OpenBLAS's pthread workers spin (sched_yield) between calls and fought our
    /// kernels' threads for the two cores: a quarter of a training step went to the scheduler.
    nonisolated(unsafe) static var configured: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Sets the number of threads the engine uses (BLAS splits and kernels alike).
    public static func setThreads(_ n: Int) {
        _ = configured
        Parallel.threads = max(1, n)
    }

    public static var threads: Int { Parallel.threads }

    /// Runs `body` with each sgemm call's pieces on the calling thread, so that several of our own
    /// workers can each issue independent matmuls at once (the same pieces, the same bits).
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        _ = configured
        let saved = splitDisabled
        splitDisabled = true
        defer { splitDisabled = saved }
        return try body()
    }

    /// Set by `singleThreaded` around a parallel region (read by its workers); one compute thread sets it at a time.
    nonisolated(unsafe) static var splitDisabled = false

    // MARK: - Level 3

    /// Pieces a large product is cut into, whatever the thread count: OpenBLAS's bits for an element
    /// of C depend on the shape of the call that computes it (its blocking and kernels follow m
    /// and n), so a split that followed the number of workers made a run's results depend on
    /// `threads`. Two pieces keep both cores of a two-core machine busy at no cost; on machines
    /// with more cores per process, RLHF_GEMM_PIECES=N (N ≥ 1) cuts products into N pieces for N
    /// workers: results are then the same for every thread count with that N, and differ from
    /// those of other N in the last bits.
    nonisolated(unsafe) public static var pieces: Int = {
        if let v = ProcessInfo.processInfo.environment["RLHF_GEMM_PIECES"], let n = Int(v), n >= 1, n <= 256 { return n }
        return 2
    }()

    /// C(m,n) = alpha * op(A)(m,k) * op(B)(k,n) + beta * C, row-major with leading dimensions.
    /// op(A) = A when `transA` is false (A is m×k, lda ≥ k), Aᵀ when true (A is k×m, lda ≥ m).
    /// Products above ~2 MFLOP are cut into `pieces` row (or column) blocks of C, chosen by the
    /// shape alone, run side by side when there are workers for them; each element of C is
    /// computed by one single-threaded OpenBLAS call over the whole k.
    @inline(__always)
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        // Inside `singleThreaded` regions the calls come from several workers at once: the region's
        // caller counts them as a whole instead.
        let t0 = splitDisabled ? 0 : KernelClock.start()
        sgemmUntimed(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                     b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        KernelClock.stop(.matmul, since: t0)
    }

    @inline(__always)
    static func sgemmUntimed(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        #if DEBUG
        checkOperand("sgemm", "A", a, rows: transA ? k : m, cols: transA ? m : k, ld: lda)
        checkOperand("sgemm", "B", b, rows: transB ? n : k, cols: transB ? k : n, ld: ldb)
        checkOperand("sgemm", "C", c, rows: m, cols: n, ld: ldc)
        #endif
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        _ = configured
        if pieces > 1 && m * n * k >= 1 << 20 && max(m, n) >= 2 * 16 {
            // Split the longer side of C into blocks that are multiples of 16 (the kernels' tile).
            let splitRows = m >= n
            let len = splitRows ? m : n
            let parts = min(pieces, len / 16)
            let block = ((len + parts - 1) / parts + 15) / 16 * 16
            let count = (len + block - 1) / block
            func piece(_ p: Int) {
                let start = p * block, size = min(block, len - start)
                if splitRows {
                    let ap = transA ? a + start : a + start * lda
                    rawSgemm(transA, transB, size, n, k, alpha, ap, lda, b, ldb, beta, c + start * ldc, ldc)
                } else {
                    let bp = transB ? b + start * ldb : b + start
                    rawSgemm(transA, transB, m, size, k, alpha, a, lda, bp, ldb, beta, c + start, ldc)
                }
            }
            if Parallel.threads > 1 && !splitDisabled {
                DispatchQueue.concurrentPerform(iterations: count, execute: piece)
            } else {
                for p in 0..<count { piece(p) }
            }
            return
        }
        rawSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    @inline(__always)
    static func rawSgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                         _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                         _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `count` independent sgemms whose operands sit `strideA`, `strideB`, `strideC` floats apart.
    /// With more than one worker they run concurrently on single-threaded OpenBLAS.
    public static func sgemmStridedBatched(
        count: Int, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, strideA: Int,
        b: UnsafePointer<Float>, ldb: Int, strideB: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
    ) {
        let t0 = splitDisabled ? 0 : KernelClock.start()
        defer { KernelClock.stop(.matmul, since: t0) }
        singleThreaded {
            Parallel.forWorkers(count) { _, range in
                for i in range {
                    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                          a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                          beta: beta, c: c + i * strideC, ldc: ldc)
                }
            }
        }
    }

    /// Debug builds check every operand with this: a row-major `rows` × `cols` operand with
    /// leading dimension `ld` must have ld ≥ cols and end inside the buffer it starts in (when
    /// that buffer is a `FloatBuffer`). Returns what is wrong, or nil.
    static func operandProblem(_ call: String, _ name: String, _ p: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int) -> String? {
        guard rows > 0 && cols > 0 else { return nil }
        if ld < cols { return "BLAS.\(call): operand \(name) has leading dimension \(ld) < its \(cols) columns" }
        let needed = (rows - 1) * ld + cols
        if let available = BufferRegistry.floatsAvailable(from: p), needed > available {
            return "BLAS.\(call): operand \(name) (\(rows)×\(cols), leading dimension \(ld)) reads \(needed) floats, its buffer holds \(available) from there"
        }
        return nil
    }

    #if DEBUG
    static func checkOperand(_ call: String, _ name: String, _ p: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int) {
        if let problem = operandProblem(call, name, p, rows: rows, cols: cols, ld: ld) { preconditionFailure(problem) }
    }
    #endif

    // MARK: - Level 2 / 1

    /// y(m) = alpha * A(m,n) x + beta * y, or with `trans` y(n) = alpha * Aᵀ x + beta * y.
    public static func sgemv(
        trans: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, incx: Int = 1, beta: Float = 0, y: UnsafeMutablePointer<Float>, incy: Int = 1
    ) {
        if m == 0 || n == 0 { return }
        #if DEBUG
        checkOperand("sgemv", "A", a, rows: m, cols: n, ld: lda)
        checkOperand("sgemv", "x", x, rows: trans ? m : n, cols: 1, ld: incx)
        checkOperand("sgemv", "y", y, rows: trans ? n : m, cols: 1, ld: incy)
        #endif
        _ = configured
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda),
                    x, Int32(incx), beta, y, Int32(incy))
    }

    public static func sdot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(n), x, 1, y, 1)
    }

    /// y += alpha * x
    public static func saxpy(_ n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(n), alpha, x, 1, y, 1)
    }

    // MARK: - LAPACK

    /// Fills `q` (rows×cols, row-major) with a matrix with orthonormal rows or columns (whichever
    /// is fewer), scaled by `gain`, from the QR decomposition of a Gaussian matrix (Saxe et al.
    /// 2014, the "orthogonal" initializer). Used for the scalar heads.
    public static func orthogonal(rows: Int, cols: Int, gain: Float, rng: inout RNG, into q: UnsafeMutablePointer<Float>) {
        // Work on the tall orientation: a (big × small) matrix whose columns become orthonormal.
        let big = max(rows, cols), small = min(rows, cols)
        var a = [Float](repeating: 0, count: big * small)
        for i in 0..<a.count { a[i] = rng.normal() }
        var tau = [Float](repeating: 0, count: small)
        var info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(big), Int32(small), &a, Int32(small), &tau)
        precondition(info == 0, "LAPACKE_sgeqrf failed with info \(info)")
        // Sign correction (Mezzadri 2007) makes Q uniformly (Haar) distributed: scale column j by sign(R_jj).
        let signs = (0..<small).map { a[$0 * small + $0] < 0 ? Float(-1) : Float(1) }
        info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, Int32(big), Int32(small), Int32(small), &a, Int32(small), &tau)
        precondition(info == 0, "LAPACKE_sorgqr failed with info \(info)")
        for i in 0..<big {
            for j in 0..<small {
                let v = a[i * small + j] * signs[j] * gain
                if rows >= cols { q[i * cols + j] = v } else { q[j * cols + i] = v }
            }
        }
    }

    /// Measures this machine's sgemm throughput on an n×n×n product (GFLOP/s), best of `repeats`.
    public static func measureSgemmGFLOPs(n: Int = 2048, repeats: Int = 5) -> Double {
        let probe = SgemmProbe(n: n)
        return (0..<max(1, repeats)).map { _ in probe.gflops() }.max()!
    }
}

/// One n×n×n sgemm kept ready (operands filled, first call done) so that it can be timed again
/// and again, e.g. beside each step of a benchmark.
public final class SgemmProbe {
    let n: Int
    let a: FloatBuffer, b: FloatBuffer, c: FloatBuffer

    public init(n: Int = 2048) {
        self.n = n
        a = FloatBuffer(count: n * n)
        b = FloatBuffer(count: n * n)
        c = FloatBuffer(count: n * n)
        var rng = RNG(seed: 1)
        for i in 0..<(n * n) { a[i] = rng.uniform() - 0.5; b[i] = rng.uniform() - 0.5 }
        run()
    }

    func run() {
        BLAS.sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
    }

    /// GFLOP/s of one timed product.
    public func gflops() -> Double {
        let t0 = Clock.now()
        run()
        return 2 * Double(n) * Double(n) * Double(n) / (Clock.now() - t0) / 1e9
    }
}

/// Wall-clock seconds spent in the engine's matmuls (top-level `BLAS.sgemm` calls) and in causal
/// attention (forward and backward) while `enabled`: `rlhf bench` splits a training step into
/// matmuls, attention and everything else with it. Off by default. Switch it on only around code
/// whose engine calls come from one thread at a time, as a training step's do: calls issued
/// concurrently from several workers would race on the totals.
public enum KernelClock {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) public static var matmul = 0.0
    nonisolated(unsafe) public static var attention = 0.0

    public enum Counter { case matmul, attention }

    /// The time to pass to `stop`, or 0 when the clock is off.
    @inline(__always) public static func start() -> Double { enabled ? Clock.now() : 0 }

    /// Adds the seconds since `t0` (from `start`) to `counter`; nothing when `t0` is 0.
    @inline(__always) public static func stop(_ counter: Counter, since t0: Double) {
        guard t0 > 0 else { return }
        let dt = Clock.now() - t0
        switch counter {
        case .matmul: matmul += dt
        case .attention: attention += dt
        }
    }
}

/// Monotonic wall clock in seconds.
public enum Clock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
