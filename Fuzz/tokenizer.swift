// modules: Tokenizer Files
//
// The tokenizer file readers on arbitrary files. The input is cut at NUL bytes into
// tokenizer.json, tokenizer_config.json, vocab.json and merges.txt (a part left out is no file).
// Contract: a tokenizer or a TokenizerError with a one-line message of bounded length, never a
// trap; a tokenizer read encodes and decodes text, and writes files that read back the same (or
// a TokenizerError saying why it cannot be written, or the writer's FileWriteError).
import Files
import Foundation
import Tokenizer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.parts(UnsafeBufferPointer(start: data, count: size), max: 4)
    let names = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"]
    for (i, name) in names.enumerated() {
        if i < parts.count && (i == 0 || !parts[i].isEmpty) { Fuzz.write(parts[i], name) } else { Fuzz.remove(name) }
    }
    // Both layouts: the tokenizer.json alone (with its config), and the directory without it.
    check { try BPETokenizer.load(from: Fuzz.url("tokenizer.json")) }
    Fuzz.remove("tokenizer.json")
    check { try BPETokenizer.load(directory: Fuzz.directory) }
    return 0
}

func check(_ load: () throws -> BPETokenizer) {
    let tokenizer: BPETokenizer
    do {
        tokenizer = try load()
    } catch let error as TokenizerError {
        Fuzz.checkMessage(error.description)
        return
    } catch {
        Fuzz.fail("not a TokenizerError: \(error)")
    }
    let text = "Hello, world! <|endoftext|> héllo 😀 \n\t  123"
    let ids = tokenizer.encode(text)
    _ = tokenizer.decode(ids)
    // What it writes reads back as a tokenizer that encodes the same way (or it says why it cannot be written).
    let out = Fuzz.url("out/tokenizer.json")
    do {
        try tokenizer.save(to: out)
        let again = try BPETokenizer.load(from: out)
        Fuzz.require(again.encode(text) == ids, "the written tokenizer encodes differently")
    } catch let error as TokenizerError {
        Fuzz.checkMessage(error.description)
    } catch let error as FileWriteError {
        Fuzz.checkMessage(error.description)
    } catch {
        Fuzz.fail("not a TokenizerError: \(error)")
    }
}
