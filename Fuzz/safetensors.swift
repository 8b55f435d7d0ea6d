// modules: GPT
//
// The safetensors reader (checkpoints, Hugging Face weights) on arbitrary files. Contract: a file
// whose every tensor can be read within its bytes, or a CheckpointError with a one-line message of
// bounded length, never a trap or a read outside the file (AddressSanitizer watches).
import Foundation
import GPT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let url = Fuzz.write(UnsafeBufferPointer(start: data, count: size), "model.safetensors")
    do {
        let file = try SafeTensors.open(url)
        for t in file.tensors {
            Fuzz.require(file.values(t.name)?.count == t.shape.reduce(1, *), "tensor \(t.name) reads a wrong number of values")
        }
    } catch let error as CheckpointError {
        Fuzz.checkMessage(error.description)
    } catch {
        Fuzz.fail("not a CheckpointError: \(error)")
    }
    return 0
}
