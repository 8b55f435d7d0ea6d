// modules: Data
//
// The JSONL data loaders on arbitrary files: every format (TL;DR, comparisons with and without
// a split, SFT, preference pairs, detection), from memory and from a file. Contract: examples
// or a DataError with a one-line message of bounded length, never a trap.
import Data
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzData(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let name = "data/x.jsonl"
    check { try Datasets.parsePosts(jsonl: text, name: name) }
    check { try Datasets.parseSFTExamples(jsonl: text, name: name) }
    check { try Datasets.parseComparisons(jsonl: text, name: name) }
    check { try Datasets.parseComparisons(jsonl: text, name: name, split: "train") }
    check { try Datasets.parsePreferencePairs(jsonl: text, name: name) }
    check { try Datasets.detectFormat(jsonl: text, name: name) }
    // From a file: bytes that are not UTF-8, a byte-order mark.
    let url = Fuzz.write(bytes, "x.jsonl")
    check { try Datasets.loadPreferencePairs(from: url, split: "valid") }
    check { try Datasets.loadSFTExamples(from: url) }
    return 0
}

func check<T>(_ body: () throws -> T) {
    do {
        _ = try body()
    } catch let error as DataError {
        Fuzz.checkMessage(error.message)
    } catch {
        Fuzz.fail("not a DataError: \(error)")
    }
}
