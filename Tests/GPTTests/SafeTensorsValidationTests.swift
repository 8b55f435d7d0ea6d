import XCTest
@testable import GPT
import Engine
import Foundation

/// Corrupted or lying safetensors files (header length, shapes, offsets, the model config in the
/// metadata) end in one CheckpointError naming the file, never a trap.
final class SafeTensorsValidationTests: XCTestCase {
    let config = GPTConfig(vocabSize: 11, context: 8, nLayer: 1, nHead: 2, nEmbd: 8)
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-valid-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// A valid checkpoint's header (parsed) and data section.
    func valid() throws -> (header: [String: Any], data: Data) {
        let url = dir.appendingPathComponent("valid.safetensors")
        try GPT(config: config, seed: 1).save(to: url)
        let bytes = try Data(contentsOf: url)
        let len = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        let header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + len))) as! [String: Any]
        return (header, bytes.subdata(in: (8 + len)..<bytes.count))
    }

    /// Writes a safetensors file; `rawLength` replaces the true header length.
    func write(_ name: String, header: [String: Any], data: Data, rawLength: UInt64? = nil) throws -> URL {
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var len = (rawLength ?? UInt64(json.count)).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(data)
        let url = dir.appendingPathComponent(name)
        try out.write(to: url)
        return url
    }

    /// The valid file with `edit` applied to its header.
    func edited(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> URL {
        var (h, d) = try valid()
        edit(&h)
        return try write(name, header: h, data: d)
    }

    /// The valid file with `edit` applied to the model config in its metadata.
    func withConfig(_ name: String, _ edit: @escaping (inout [String: Any]) -> Void) throws -> URL {
        try edited(name) { h in
            var meta = h["__metadata__"] as! [String: String]
            var c = try! JSONSerialization.jsonObject(with: Data(meta["config"]!.utf8)) as! [String: Any]
            edit(&c)
            meta["config"] = String(decoding: try! JSONSerialization.data(withJSONObject: c, options: [.sortedKeys]), as: UTF8.self)
            h["__metadata__"] = meta
        }
    }

    func setTensor(_ h: inout [String: Any], _ name: String, shape: [Int]? = nil, offsets: [Int]? = nil) {
        var e = h[name] as! [String: Any]
        if let shape { e["shape"] = shape }
        if let offsets { e["data_offsets"] = offsets }
        h[name] = e
    }

    func expectError(_ url: URL, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try GPT.load(from: url), file: file, line: line) { e in
            XCTAssertTrue(e is CheckpointError, "\(type(of: e))", file: file, line: line)
            XCTAssertEqual("\(e)", message, file: file, line: line)
        }
    }

    func dataBytes() throws -> Int { try valid().data.count }

    // MARK: - Header length

    func testHeaderLengthBeyondAnyIntIsReported() throws {
        let (h, d) = try valid()
        for raw: UInt64 in [UInt64.max, UInt64(Int64.max), UInt64(Int64.max) - 3, 1 << 40] {
            let url = try write("len.safetensors", header: h, data: d, rawLength: raw)
            expectError(url, "checkpoint \(url.path): not a safetensors file (header length \(raw) exceeds the file); the file is truncated or of another format")
        }
    }

    // MARK: - Shapes and offsets

    func testNegativeDimensionIsReported() throws {
        let url = try edited("neg.safetensors") { setTensor(&$0, "ln_f.bias", shape: [-1], offsets: [4, 0]) }
        expectError(url, "checkpoint \(url.path): tensor ln_f.bias has shape [-1]; dimensions must be non-negative integers, the file is corrupted")
        let url2 = try edited("neg2.safetensors") { setTensor(&$0, "ln_f.bias", shape: [-2, -4]) }
        expectError(url2, "checkpoint \(url2.path): tensor ln_f.bias has shape [-2, -4]; dimensions must be non-negative integers, the file is corrupted")
    }

    func testShapeWhoseSizeOverflowsIsReported() throws {
        let n = try dataBytes()
        let url = try edited("ovf.safetensors") { setTensor(&$0, "ln_f.bias", shape: [1 << 40, 1 << 40]) }
        expectError(url, "checkpoint \(url.path): tensor ln_f.bias has shape [\(1 << 40), \(1 << 40)], more than the \(n) data bytes of the file hold; the file is truncated or corrupted")
        // count fits in an Int, count · 4 does not.
        let url2 = try edited("ovf2.safetensors") { setTensor(&$0, "ln_f.bias", shape: [1 << 61], offsets: [0, 0]) }
        expectError(url2, "checkpoint \(url2.path): tensor ln_f.bias has shape [\(1 << 61)], more than the \(n) data bytes of the file hold; the file is truncated or corrupted")
    }

    func testOffsetsThatDoNotMatchTheShapeOrTheFileAreReported() throws {
        let n = try dataBytes()
        let url = try edited("beyond.safetensors") { setTensor(&$0, "ln_f.bias", offsets: [1_000_000_000, 1_000_000_032]) }
        expectError(url, "checkpoint \(url.path): tensor ln_f.bias data range [1000000000, 1000000032] does not match its shape [8] (32 bytes) or the file's \(n) data bytes; the file is truncated or corrupted")
        let url2 = try edited("huge.safetensors") { setTensor(&$0, "ln_f.bias", offsets: [Int.max - 8, Int.max]) }
        expectError(url2, "checkpoint \(url2.path): tensor ln_f.bias has data_offsets [9.223372036854776e+18, 9.223372036854776e+18]; expected two integer byte offsets, the file is corrupted")
        let url2b = try edited("big.safetensors") { setTensor(&$0, "ln_f.bias", offsets: [1 << 50, (1 << 50) + 32]) }
        expectError(url2b, "checkpoint \(url2b.path): tensor ln_f.bias data range [\(1 << 50), \((1 << 50) + 32)] does not match its shape [8] (32 bytes) or the file's \(n) data bytes; the file is truncated or corrupted")
        let url3 = try edited("backwards.safetensors") { setTensor(&$0, "ln_f.bias", offsets: [64, 32]) }
        expectError(url3, "checkpoint \(url3.path): tensor ln_f.bias data range [64, 32] does not match its shape [8] (32 bytes) or the file's \(n) data bytes; the file is truncated or corrupted")
    }

    // MARK: - Every data byte belongs to exactly one tensor

    func testOverlappingRangesHolesAndTrailingBytesAreReported() throws {
        // ln_f.bias and ln_f.weight (8 floats each) are adjacent: point the bias at the weight's bytes.
        let (h, _) = try valid()
        let w = (h["ln_f.weight"] as! [String: Any])["data_offsets"] as! [Int]
        let url = try edited("overlap.safetensors") { setTensor(&$0, "ln_f.bias", offsets: w) }
        expectError(url, "checkpoint \(url.path): tensors ln_f.bias and ln_f.weight share data bytes [\(w[0]), \(w[1])); the file is corrupted")
        var (h2, d2) = try valid()
        d2.append(contentsOf: [UInt8](repeating: 7, count: 12))
        let trailing = try write("trailing.safetensors", header: h2, data: d2)
        expectError(trailing, "checkpoint \(trailing.path): 12 bytes follow the last tensor's data; the file is corrupted or was not fully rewritten")
        // A tensor removed from the header leaves its bytes to nobody.
        let b = (h2["ln_f.bias"] as! [String: Any])["data_offsets"] as! [Int]
        h2["ln_f.bias"] = nil
        let hole = try write("hole.safetensors", header: h2, data: d2.prefix(d2.count - 12))
        if b[1] == d2.count - 12 {
            expectError(hole, "checkpoint \(hole.path): 32 bytes follow the last tensor's data; the file is corrupted or was not fully rewritten")
        } else {
            expectError(hole, "checkpoint \(hole.path): data bytes [\(b[0]), \(b[1])) belong to no tensor; the file is corrupted")
        }
    }

    func testATensorNamedTwiceIsReported() throws {
        let (h, d) = try valid()
        var json = String(decoding: try JSONSerialization.data(withJSONObject: h, options: [.sortedKeys]), as: UTF8.self)
        let entry = String(decoding: try JSONSerialization.data(withJSONObject: h["ln_f.bias"]!, options: [.sortedKeys]), as: UTF8.self)
        json = "{\"ln_f.bias\":" + entry + "," + json.dropFirst()
        var out = Data()
        var len = UInt64(json.utf8.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(Data(json.utf8))
        out.append(d)
        let url = dir.appendingPathComponent("twice.safetensors")
        try out.write(to: url)
        XCTAssertThrowsError(try GPT.load(from: url)) { e in
            XCTAssertTrue("\(e)".hasPrefix("checkpoint \(url.path): the header names a tensor twice (duplicate key \"ln_f.bias\")"), "\(e)")
        }
    }

    // MARK: - F16 and BF16

    func testHalfPrecisionValuesWidenExactly() {
        let cases: [(UInt16, Float)] = [(0x3C00, 1), (0xC000, -2), (0x7BFF, 65504), (0x0001, 0x1p-24), (0x8400, -0x1p-14),
                                        (0x3555, 0.333251953125), (0x0000, 0), (0x7C00, .infinity)]
        for (bits, value) in cases { XCTAssertEqual(SafeTensors.float(f16: bits), value, String(bits, radix: 16)) }
        XCTAssertTrue(SafeTensors.float(f16: 0x7E00).isNaN)
        XCTAssertEqual(SafeTensors.float(f16: 0x8000).sign, .minus)
    }

    // MARK: - The model config in the metadata

    func testInvalidModelConfigIsReportedBeforeUse() throws {
        let cases: [(String, [String: Any], String)] = [
            ("nhead0", ["n_head": 0], "n_head: expected an integer ≥ 1, found 0"),
            ("vocabneg", ["vocab_size": -5], "vocab_size: expected an integer ≥ 2, found -5"),
            ("nondiv", ["n_head": 3], "n_embd: n_embd (8) must be divisible by n_head (3); e.g. use n_embd 6"),
            ("ctx0", ["n_positions": 0], "n_positions: expected an integer ≥ 2, found 0"),
            ("dropout", ["dropout": 5], "dropout: expected a number in [0, 1), found 5.0"),
        ]
        for (name, change, problem) in cases {
            let url = try withConfig("cfg_\(name).safetensors") { c in for (k, v) in change { c[k] = v } }
            expectError(url, "checkpoint \(url.path): the model config in its metadata is invalid (\(problem)); the file is corrupted or was not written by rlhf, use a model.safetensors written by a run")
        }
    }

    func testConfigThatDisagreesWithTheTensorsIsReportedBeforeAllocating() throws {
        let url = try withConfig("layers.safetensors") { $0["n_layer"] = 100_000 }
        expectError(url, "checkpoint \(url.path): tensor h.99999.ln_1.weight is missing; the file is not a complete GPT checkpoint for its config (n_layer 100000, vocab_size 11)")
        let url2 = try withConfig("vocab.safetensors") { $0["vocab_size"] = 1 << 40 }
        expectError(url2, "checkpoint \(url2.path): tensor wte.weight has shape [11, 8], expected [\(1 << 40), 8] for its config; the file is corrupted")
        // A scalar head the config declares must be in the file (it used to be silently made up).
        let url3 = try withConfig("head.safetensors") { $0["scalar_head"] = true }
        expectError(url3, "checkpoint \(url3.path): tensor score.weight is missing; the file is not a complete GPT checkpoint")
    }

    func testNonFiniteWeightsAreReported() throws {
        let m = GPT(config: config, seed: 4)
        let t = m.layout["h.0.mlp.c_fc.weight"]!
        m.params[t.offset + 5] = .nan
        let url = dir.appendingPathComponent("nan.safetensors")
        try m.save(to: url)
        expectError(url, "checkpoint \(url.path): tensor h.0.mlp.c_fc.weight holds nan at element 5; the file is corrupted, use an earlier checkpoint")
        m.params[t.offset + 5] = 0
        m.params[m.layout["wte.weight"]!.offset] = -.infinity
        try m.save(to: url)
        expectError(url, "checkpoint \(url.path): tensor wte.weight holds -inf at element 0; the file is corrupted, use an earlier checkpoint")
    }

    func testValidFileStillLoadsAndAFreshHeadCanBeAsked() throws {
        let url = dir.appendingPathComponent("ok.safetensors")
        let m = GPT(config: config, seed: 4)
        try m.save(to: url)
        let back = try GPT.load(from: url)
        XCTAssertEqual(back.params.array, m.params.array)
        let withHead = try GPT.load(from: url, scalarHead: true, seed: 2)
        XCTAssertTrue(withHead.config.scalarHead)
        XCTAssertEqual(withHead.layout.count, m.layout.count + config.nEmbd + 1)
    }
}
