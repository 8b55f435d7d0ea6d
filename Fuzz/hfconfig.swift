// modules: GPT
//
// A Hugging Face model directory: the input is cut at NUL bytes into config.json,
// model.safetensors.index.json and a shard it may name (model-1.safetensors). Contract: a
// checkpoint or a CheckpointError with a one-line message of bounded length, never a trap.
import Foundation
import GPT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHFConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.parts(UnsafeBufferPointer(start: data, count: size), max: 3)
    let names = ["config.json", "model.safetensors.index.json", "model-1.safetensors"]
    for (i, name) in names.enumerated() {
        if i < parts.count { Fuzz.write(parts[i], name) } else { Fuzz.remove(name) }
    }
    do {
        _ = try HFCheckpoint(directory: Fuzz.directory)
    } catch let error as CheckpointError {
        Fuzz.checkMessage(error.description)
    } catch {
        Fuzz.fail("not a CheckpointError: \(error)")
    }
    return 0
}
