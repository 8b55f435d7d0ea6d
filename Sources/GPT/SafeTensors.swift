import Engine
import Foundation

/// A checkpoint problem a user can fix (wrong file, other model's shape, corrupted file).
public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Reading and writing the safetensors format (8-byte little-endian header length, a JSON
/// header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then raw little-endian
/// data). Only F32 tensors are written and read.
public enum SafeTensors {
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

    /// Writes atomically: a temporary file beside the target, fsync, then rename over it.
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
        try AtomicFile.write(out, to: url)
    }

    /// Reads every F32 tensor of a safetensors file.
    public static func read(_ url: URL) throws -> (tensors: [String: (shape: [Int], values: [Float])], metadata: [String: String]) {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError("checkpoint \(path): file not found; point to a model.safetensors written by a run (runs/NAME/checkpoints/...)")
        }
        guard data.count >= 8 else { throw CheckpointError("checkpoint \(path): not a safetensors file (\(data.count) bytes)") }
        let len = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        // Compared as UInt64 before any conversion: a corrupted length (up to 2^64 − 1) must not trap.
        guard len > 0, len <= UInt64(data.count - 8) else {
            throw CheckpointError("checkpoint \(path): not a safetensors file (header length \(len) exceeds the file); the file is truncated or of another format")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(len)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw CheckpointError("checkpoint \(path): safetensors header is not a JSON object; the file is corrupted")
        }
        let base = 8 + Int(len)
        var tensors: [String: ([Int], [Float])] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offs = info["data_offsets"] as? [Int], offs.count == 2 else {
                throw CheckpointError("checkpoint \(path): tensor \(name) has a malformed header entry")
            }
            guard dtype == "F32" else {
                throw CheckpointError("checkpoint \(path): tensor \(name) has dtype \(dtype); only F32 checkpoints are supported")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw CheckpointError("checkpoint \(path): tensor \(name) has shape \(shape); dimensions must be non-negative integers, the file is corrupted")
            }
            // Element and byte counts with overflow checks: a lying shape must not trap.
            let dataBytes = data.count - base
            var count = 1, overflow = false
            for d in shape where !overflow { (count, overflow) = count.multipliedReportingOverflow(by: d) }
            var bytes = 0
            if !overflow { (bytes, overflow) = count.multipliedReportingOverflow(by: 4) }
            guard !overflow, bytes <= dataBytes else {
                throw CheckpointError("checkpoint \(path): tensor \(name) has shape \(shape), more than the \(dataBytes) data bytes of the file hold; the file is truncated or corrupted")
            }
            guard offs[0] >= 0, offs[1] >= offs[0], offs[1] <= dataBytes, offs[1] - offs[0] == bytes else {
                throw CheckpointError("checkpoint \(path): tensor \(name) data range \(offs) does not match its shape \(shape) (\(bytes) bytes) or the file's \(dataBytes) data bytes; the file is truncated or corrupted")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { dst in
                data.withUnsafeBytes { src in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(base + offs[0])..<(base + offs[1])]))
                }
            }
            tensors[name] = (shape, values)
        }
        return (tensors, metadata)
    }
}

/// Atomic file writes: temporary file in the same directory, fsync, rename.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw CheckpointError("cannot create \(tmp.path): check that the directory is writable")
        }
        let fh = try FileHandle(forWritingTo: tmp)
        try fh.write(contentsOf: data)
        try fh.synchronize()
        try fh.close()
        if rename(tmp.path, url.path) != 0 {
            let err = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw CheckpointError("cannot move \(tmp.path) to \(url.path): \(err)")
        }
    }

    public static func write(_ string: String, to url: URL) throws { try write(Data(string.utf8), to: url) }
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
    /// every tensor must be present with the same shape.
    public static func loadBuffer(_ buffer: FloatBuffer, layout: ParameterLayout, prefix: String = "", from url: URL) throws {
        let (tensors, _) = try SafeTensors.read(url)
        for t in layout.tensors {
            guard let (shape, values) = tensors[prefix + t.name] else {
                throw CheckpointError("checkpoint \(url.path): tensor \(prefix + t.name) is missing; the checkpoint is of another model (expected \(layout.config.nLayer) layers, n_embd \(layout.config.nEmbd))")
            }
            guard shape == t.shape else {
                throw CheckpointError("checkpoint \(url.path): tensor \(prefix + t.name) has shape \(shape), this model expects \(t.shape); use a checkpoint of the same model config")
            }
            try checkFinite(values, tensor: prefix + t.name, url: url)
            values.withUnsafeBufferPointer { (buffer.pointer + t.offset).update(from: $0.baseAddress!, count: t.count) }
        }
    }

    /// Training never writes NaN or infinity (AdamW skips a step whose gradient is not finite), so
    /// one in a file means corruption; loaded, it would silently turn every output into NaN.
    static func checkFinite(_ values: [Float], tensor: String, url: URL) throws {
        guard let i = values.firstIndex(where: { !$0.isFinite }) else { return }
        throw CheckpointError("checkpoint \(url.path): tensor \(tensor) holds \(values[i]) at element \(i); the file is corrupted, use an earlier checkpoint")
    }

    var configJSON: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try! enc.encode(config), as: UTF8.self)
    }

    /// Loads a model written by `save`. The config comes from the file's metadata unless given;
    /// with `scalarHead` set, a head missing from the file is freshly initialized (seed).
    public static func load(from url: URL, scalarHead: Bool? = nil, seed: UInt64 = 0) throws -> GPT {
        let (tensors, metadata) = try SafeTensors.read(url)
        guard let cj = metadata["config"], let saved = try? JSONDecoder().decode(GPTConfig.self, from: Data(cj.utf8)) else {
            throw CheckpointError("checkpoint \(url.path): no model config in the safetensors metadata; it was not written by rlhf")
        }
        let problems = saved.problems()
        guard problems.isEmpty else {
            let list = problems.map { "\($0.key): \($0.message)" }.joined(separator: "; ")
            throw CheckpointError("checkpoint \(url.path): the model config in its metadata is invalid (\(list)); the file is corrupted or was not written by rlhf, use a model.safetensors written by a run")
        }
        // The sizes the config implies must be those of the file's tensors before anything is
        // allocated from them (n_layer 100000 or a huge n_embd would otherwise be believed).
        for (name, expected) in [("wte.weight", [saved.vocabSize, saved.nEmbd]), ("wpe.weight", [saved.context, saved.nEmbd]),
                                 ("h.\(saved.nLayer - 1).ln_1.weight", [saved.nEmbd])] {
            guard let shape = tensors[name]?.shape else {
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
            guard let shape = tensors[t.name]?.shape else {
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
            guard let (_, values) = tensors[t.name] else { continue }  // fresh head (checked above)
            try checkFinite(values, tensor: t.name, url: url)
            values.withUnsafeBufferPointer { (model.params.pointer + t.offset).update(from: $0.baseAddress!, count: t.count) }
        }
        return model
    }
}
