import Engine
import Files
import Foundation
import JSON

/// A checkpoint problem a user can fix (wrong file, other model's shape, corrupted file).
public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON
/// header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the raw
/// little-endian data, every byte of it belonging to exactly one tensor, in offset order (the
/// format's own validation rule). F32 is written; F32, F16 and BF16 are read (widened to F32
/// exactly: every F16 and BF16 value is a Float).
public enum SafeTensors {
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"
        public var size: Int { self == .f32 ? 4 : 2 }
    }

    /// One tensor of a file: its place in the data section (offsets relative to the data's start).
    public struct Tensor: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let begin: Int, end: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public struct Entry {
        public let name: String
        public let shape: [Int]
        public let data: UnsafePointer<Float>
        public init(name: String, shape: [Int], data: UnsafePointer<Float>) {
            self.name = name
            self.shape = shape
            self.data = data
        }
    }

    /// Writes F32 tensors as one file replaced whole (`DurableFile`).
    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for e in entries {
            let n = e.shape.reduce(1, *) * 4
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + n]] as [String: Any]
            offset += n
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }  // pad with spaces so data starts 8-aligned
        var out = Data(capacity: 8 + json.count + offset)
        var len = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries {
            out.append(UnsafeBufferPointer(start: e.data, count: e.shape.reduce(1, *)))
        }
        try DurableFile.write(out, to: url)
    }

    /// A safetensors file whose header has been checked against its data: every tensor's dtype,
    /// shape and byte range agree, no two ranges overlap, and no byte of the data is left over.
    /// The data is memory-mapped and converted tensor by tensor.
    public final class File {
        public let url: URL
        /// In the order of their data.
        public let tensors: [Tensor]
        public let metadata: [String: String]
        let bytes: Data
        let dataStart: Int
        private let index: [String: Int]

        init(url: URL, tensors: [Tensor], metadata: [String: String], bytes: Data, dataStart: Int) {
            self.url = url
            self.tensors = tensors
            self.metadata = metadata
            self.bytes = bytes
            self.dataStart = dataStart
            index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
        }

        public subscript(name: String) -> Tensor? { index[name].map { tensors[$0] } }

        /// Widens `t`'s values to F32 into `dst` (t.count floats).
        public func read(_ t: Tensor, into dst: UnsafeMutablePointer<Float>) {
            bytes.withUnsafeBytes { raw in
                let src = raw.baseAddress! + dataStart + t.begin
                let n = t.count
                switch t.dtype {
                case .f32:
                    UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
                case .f16:
                    for i in 0..<n {
                        dst[i] = SafeTensors.float(f16: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
                    }
                case .bf16:
                    for i in 0..<n {
                        dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16)
                    }
                }
            }
        }

        /// `name`'s values widened to F32, or nil when the file has no such tensor.
        public func values(_ name: String) -> [Float]? {
            guard let t = self[name] else { return nil }
            return [Float](unsafeUninitializedCapacity: t.count) { buf, n in
                if t.count > 0 { read(t, into: buf.baseAddress!) }
                n = t.count
            }
        }
    }

    /// IEEE half precision to Float, exactly (subnormals, infinities and NaN included).
    @inline(__always)
    static func float(f16 h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16, exp = Int(h >> 10) & 0x1F, frac = UInt32(h & 0x3FF)
        if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (frac << 13)) }
        if exp == 0 {
            let v = Float(frac) * 0x1p-24          // subnormal (or zero): frac · 2^-24, exact in Float
            return sign != 0 ? -v : v
        }
        return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (frac << 13))
    }

    /// Opens and validates a safetensors file. `role` names it in messages ("checkpoint" for the
    /// project's files; an import names the model file it reads).
    public static func open(_ url: URL) throws -> File {
        let path = url.path
        func fail(_ m: String) -> CheckpointError { CheckpointError("checkpoint \(path): \(m)") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw fail("file not found; point to a model.safetensors written by a run (runs/NAME/checkpoints/...)")
        }
        guard !isDirectory.boolValue else { throw fail("is a directory, expected a .safetensors file") }
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw fail("cannot be read (\(FileErrors.describe(error))); check its permissions")
        }
        guard data.count >= 8 else { throw fail("not a safetensors file (\(data.count) bytes)") }
        let len = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        // Compared as UInt64 before any conversion: a corrupted length (up to 2^64 − 1) must not trap.
        guard len > 0, len <= UInt64(data.count - 8) else {
            throw fail("not a safetensors file (header length \(len) exceeds the file); the file is truncated or of another format")
        }
        let base = 8 + Int(len)
        let header: JSONValue
        do { header = try JSONParser.parse(bytes: [UInt8](data[8..<base])) } catch let e as JSONParseError {
            if e.message.hasPrefix("duplicate key ") {
                throw fail("the header names a tensor twice (\(e.message)); the file is corrupted")
            }
            throw fail("safetensors header is not a JSON object (\(e.message)); the file is corrupted")
        }
        guard case .object(let entries) = header else {
            throw fail("safetensors header is not a JSON object; the file is corrupted")
        }
        let dataBytes = data.count - base
        var tensors: [Tensor] = []
        var metadata: [String: String] = [:]
        for (name, value) in entries {
            if name == "__metadata__" {
                guard case .object(let kv) = value else { throw fail("__metadata__ is not an object of strings; the file is corrupted") }
                for (k, v) in kv {
                    guard case .string(let s) = v else {
                        throw fail("__metadata__.\(k) is \(v.describe), the format allows only strings; the file is corrupted")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let dtypeName = value["dtype"]?.stringValue, let shapeValues = value["shape"]?.arrayValue,
                  let offsetValues = value["data_offsets"]?.arrayValue, offsetValues.count == 2 else {
                throw fail("tensor \(name) has a malformed header entry")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor \(name) has dtype \(dtypeName); supported are F32, F16 and BF16 (convert the checkpoint to one of them)")
            }
            let dims = shapeValues.map(\.intValue)
            guard dims.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                throw fail("tensor \(name) has shape [\(shapeValues.map(\.describe).joined(separator: ", "))]; dimensions must be non-negative integers, the file is corrupted")
            }
            let shape = dims.map { $0! }
            // Element and byte counts with overflow checks: a lying shape must not trap.
            var count = 1, overflow = false
            for d in shape where !overflow { (count, overflow) = count.multipliedReportingOverflow(by: d) }
            var bytes = 0
            if !overflow { (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size) }
            guard !overflow, bytes <= dataBytes else {
                throw fail("tensor \(name) has shape \(shape), more than the \(dataBytes) data bytes of the file hold; the file is truncated or corrupted")
            }
            guard let b = offsetValues[0].intValue, let e = offsetValues[1].intValue else {
                throw fail("tensor \(name) has data_offsets [\(offsetValues.map(\.describe).joined(separator: ", "))]; expected two integer byte offsets, the file is corrupted")
            }
            guard b >= 0, e >= b, e <= dataBytes, e - b == bytes else {
                throw fail("tensor \(name) data range [\(b), \(e)] does not match its shape \(shape) (\(bytes) bytes) or the file's \(dataBytes) data bytes; the file is truncated or corrupted")
            }
            tensors.append(Tensor(name: name, dtype: dtype, shape: shape, begin: b, end: e))
        }
        // Every data byte belongs to exactly one tensor, in offset order.
        tensors.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var at = 0
        for (i, t) in tensors.enumerated() {
            if t.begin < at {
                throw fail("tensors \(tensors[i - 1].name) and \(t.name) share data bytes [\(t.begin), \(min(at, t.end))); the file is corrupted")
            }
            if t.begin > at { throw fail("data bytes [\(at), \(t.begin)) belong to no tensor; the file is corrupted") }
            at = t.end
        }
        if at != dataBytes {
            throw fail("\(dataBytes - at) bytes follow the last tensor's data; the file is corrupted or was not fully rewritten")
        }
        return File(url: url, tensors: tensors, metadata: metadata, bytes: data, dataStart: base)
    }
}

/// One-line descriptions of file-system errors.
public enum FileErrors {
    public static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription.replacingOccurrences(of: "\n", with: " ")
    }
}

extension GPT {
    /// Writes the parameters as `model.safetensors`-style file with the config in the metadata.
    public func save(to url: URL, extraMetadata: [String: String] = [:]) throws {
        try Self.saveBuffer(params, layout: layout, to: url, metadata: extraMetadata.merging(["config": configJSON], uniquingKeysWith: { a, _ in a }))
    }

    /// Writes any buffer laid out like this model's parameters (gradients, Adam moments).
    public static func saveBuffer(_ buffer: FloatBuffer, layout: ParameterLayout, prefix: String = "", to url: URL, metadata: [String: String] = [:]) throws {
        let entries = layout.tensors.map { SafeTensors.Entry(name: prefix + $0.name, shape: $0.shape, data: buffer.pointer + $0.offset) }
        try SafeTensors.write(entries, metadata: metadata, to: url)
    }

    /// Fills a buffer laid out like `layout` from a file written by `saveBuffer`/`save`;
    /// every tensor must be present with the same shape. Returns the file's metadata.
    @discardableResult
    public static func loadBuffer(_ buffer: FloatBuffer, layout: ParameterLayout, prefix: String = "", from url: URL) throws -> [String: String] {
        let file = try SafeTensors.open(url)
        for t in layout.tensors {
            guard let s = file[prefix + t.name] else {
                throw CheckpointError("checkpoint \(url.path): tensor \(prefix + t.name) is missing; the checkpoint is of another model (expected \(layout.config.nLayer) layers, n_embd \(layout.config.nEmbd))")
            }
            guard s.shape == t.shape else {
                throw CheckpointError("checkpoint \(url.path): tensor \(prefix + t.name) has shape \(s.shape), this model expects \(t.shape); use a checkpoint of the same model config")
            }
            file.read(s, into: buffer.pointer + t.offset)
            try checkFinite(buffer.pointer + t.offset, count: t.count, tensor: prefix + t.name, url: url)
        }
        return file.metadata
    }

    /// Training never writes NaN or infinity (AdamW skips a step whose gradient is not finite), so
    /// one in a file means corruption; loaded, it would silently turn every output into NaN.
    static func checkFinite(_ values: UnsafePointer<Float>, count: Int, tensor: String, url: URL) throws {
        for i in 0..<count where !values[i].isFinite {
            throw CheckpointError("checkpoint \(url.path): tensor \(tensor) holds \(values[i]) at element \(i); the file is corrupted, use an earlier checkpoint")
        }
    }

    var configJSON: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try! enc.encode(config), as: UTF8.self)
    }

    /// Loads a model written by `save`. The config comes from the file's metadata unless given;
    /// with `scalarHead` set, a head missing from the file is freshly initialized (seed).
    public static func load(from url: URL, scalarHead: Bool? = nil, seed: UInt64 = 0) throws -> GPT {
        let file = try SafeTensors.open(url)
        guard let cj = file.metadata["config"], let saved = try? JSONDecoder().decode(GPTConfig.self, from: Data(cj.utf8)) else {
            throw CheckpointError("checkpoint \(url.path): no model config in the safetensors metadata; it was not written by rlhf (a Hugging Face model directory is read with \"model\": {\"hf\": DIR})")
        }
        let problems = saved.problems()
        guard problems.isEmpty else {
            let list = problems.map { "\($0.key): \($0.message)" }.joined(separator: "; ")
            throw CheckpointError("checkpoint \(url.path): the model config in its metadata is invalid (\(list)); the file is corrupted or was not written by rlhf, use a model.safetensors written by a run")
        }
        // The sizes the config implies must be those of the file's tensors before anything is
        // allocated from them (n_layer 100000 or a huge n_embd would otherwise be believed).
        for (name, expected) in [("wte.weight", [saved.vocabSize, saved.nEmbd]), ("wpe.weight", [saved.context, saved.nEmbd]),
                                 ("h.\(saved.nLayer - 1).ln_1.weight", [saved.nEmbd]),
                                 ("h.\(saved.nLayer - 1).mlp.c_fc.bias", [saved.nInner])] {
            guard let shape = file[name]?.shape else {
                throw CheckpointError("checkpoint \(url.path): tensor \(name) is missing; the file is not a complete GPT checkpoint for its config (n_layer \(saved.nLayer), vocab_size \(saved.vocabSize))")
            }
            guard shape == expected else {
                throw CheckpointError("checkpoint \(url.path): tensor \(name) has shape \(shape), expected \(expected) for its config; the file is corrupted")
            }
        }
        var config = saved
        if let scalarHead { config.scalarHead = scalarHead }
        let layout = ParameterLayout(config)
        for t in layout.tensors {
            guard let shape = file[t.name]?.shape else {
                // A head asked for by the caller may be fresh (initialized by GPT.init); one the
                // file's own config declares must be in the file.
                if t.name.hasPrefix("score.") && scalarHead == true && !saved.scalarHead { continue }
                throw CheckpointError("checkpoint \(url.path): tensor \(t.name) is missing; the file is not a complete GPT checkpoint")
            }
            guard shape == t.shape else {
                throw CheckpointError("checkpoint \(url.path): tensor \(t.name) has shape \(shape), expected \(t.shape) for its config; the file is corrupted")
            }
        }
        let model = GPT(config: config, seed: seed)
        for t in model.layout.tensors {
            guard let s = file[t.name] else { continue }  // fresh head (checked above)
            file.read(s, into: model.params.pointer + t.offset)
            try checkFinite(model.params.pointer + t.offset, count: t.count, tensor: t.name, url: url)
        }
        return model
    }
}
