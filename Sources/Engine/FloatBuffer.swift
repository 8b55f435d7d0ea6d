import Foundation

/// One contiguous, 64-byte aligned block of `Float`s. Parameters, gradients, optimizer moments
/// and activations each live in one of these; per-tensor views are offsets into it.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// Buffers of at least this many bytes are aligned to it and advised as huge pages.
    static let hugePage = 2 << 20

    /// Allocates `count` floats, zero-filled.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative size \(count)")
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let huge = bytes >= Self.hugePage
        let status = posix_memalign(&raw, huge ? Self.hugePage : 64, bytes)
        guard status == 0, let raw else { fatalError("FloatBuffer: cannot allocate \(bytes) bytes") }
        // Where transparent huge pages are opt-in (Debian's default, `madvise`), large buffers ask
        // for them: weights, gradients and activations are walked over and over by small kernels,
        // and 2 MB pages take the TLB misses away and give a buffer the same physical layout, so
        // the same cache sets, in every process. A refusal costs nothing but the advice.
        #if os(Linux)
        if huge { _ = madvise(raw, bytes / Self.hugePage * Self.hugePage, MADV_HUGEPAGE) }
        #endif
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        BufferRegistry.add(pointer, count: max(count, 1))
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit {
        BufferRegistry.remove(pointer)
        free(pointer)
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "FloatBuffer.copy: size \(other.count) != \(count)")
        pointer.update(from: other.pointer, count: count)
    }

    public func clone() -> FloatBuffer {
        let c = FloatBuffer(count: count)
        c.copy(from: self)
        return c
    }

    public var array: [Float] { Array(buffer) }
}

/// A growable scratch allocation reused across steps (no allocation per step after warm-up).
public final class Scratch: @unchecked Sendable {
    public private(set) var buffer = FloatBuffer(count: 0)
    public init() {}
    /// A pointer to at least `count` floats; contents are unspecified.
    public func pointer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.count < count { buffer = FloatBuffer(count: count) }
        return buffer.pointer
    }
}

/// The extent of every live `FloatBuffer` (kept at each allocation, which the engine does once
/// per workspace), so that the BLAS facade of debug builds can check that an operand it hands to
/// OpenBLAS ends inside the buffer it starts in: the sanitizers do not see into OpenBLAS, so an
/// overrun through a wrong leading dimension would otherwise go unseen.
enum BufferRegistry {
    static let lock = NSLock()
    nonisolated(unsafe) static var extents: [UInt: Int] = [:]     // base address → float count

    static func add(_ p: UnsafeMutablePointer<Float>, count: Int) {
        lock.lock(); defer { lock.unlock() }
        extents[UInt(bitPattern: p)] = count
    }

    static func remove(_ p: UnsafeMutablePointer<Float>) {
        lock.lock(); defer { lock.unlock() }
        extents[UInt(bitPattern: p)] = nil
    }

    /// The floats from `p` to the end of the registered buffer that holds it; nil when `p` is not
    /// in one (a Swift array or another allocation: not checked).
    static func floatsAvailable(from p: UnsafePointer<Float>) -> Int? {
        let a = UInt(bitPattern: p)
        lock.lock(); defer { lock.unlock() }
        for (base, count) in extents where a >= base && a < base + UInt(count * 4) {
            return count - Int(a - base) / 4
        }
        return nil
    }
}
