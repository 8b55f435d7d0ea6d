// modules: Experiments
//
// Experiment configs: the input is cut at NUL bytes into c.json, base.json (which c.json may
// "extends") and up to four --set assignments. Contract: a config or a UserError with a one-line
// message of bounded length, never a trap (numbers past every range included).
import Experiments
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.parts(UnsafeBufferPointer(start: data, count: size), max: 6)
    let config = Fuzz.write(parts[0], "c.json")
    if parts.count > 1 { Fuzz.write(parts[1], "base.json") } else { Fuzz.remove("base.json") }
    let overrides = parts.dropFirst(2).map { String(decoding: $0, as: UTF8.self) }
    do {
        let loaded = try ExperimentConfig.load(path: config.path, overrides: overrides)
        _ = loaded.resolved.serialized()
        try loaded.checkMemory(physicalBytes: 8 << 30)
    } catch let error as UserError {
        Fuzz.checkMessage(error.description)
    } catch {
        Fuzz.fail("not a UserError: \(error)")
    }
    return 0
}
