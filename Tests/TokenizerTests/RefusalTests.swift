import Foundation
@testable import Tokenizer
import JSON
import XCTest

/// A small valid tokenizer.json (GPT-2's settings): the 256 bytes in byte order, three merges
/// (Ġt = 256, he = 257, Ġthe = 258) and `<|endoftext|>` = 259 as an added special token. Each
/// field is raw JSON text that a test replaces to make one thing wrong.
struct MiniTokenizerJSON {
    var version = #""1.0""#
    var truncation = "null"
    var normalizer = "null"
    var preTokenizer = #"{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}"#
    var postProcessor = #"{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}"#
    var decoder = #"{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}"#
    var model: [(String, String)] = [
        ("type", #""BPE""#), ("dropout", "null"), ("unk_token", "null"), ("continuing_subword_prefix", "null"),
        ("end_of_word_suffix", "null"), ("fuse_unk", "false"), ("byte_fallback", "false"), ("ignore_merges", "false"),
    ]
    var extraVocab: [(String, String)] = [("Ġt", "256"), ("he", "257"), ("Ġthe", "258"), ("<|endoftext|>", "259")]
    var dropByte: UInt8? = nil
    var merges = #"["Ġ t", "h e", "Ġt he"]"#
    var addedTokens = #"[{"id": 259, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]"#

    mutating func setModel(_ key: String, _ raw: String) {
        if let i = model.firstIndex(where: { $0.0 == key }) { model[i].1 = raw } else { model.append((key, raw)) }
    }

    var text: String {
        var vocab: [String] = []
        for b in 0..<256 where UInt8(b) != dropByte {
            let id = dropByte.map { b > Int($0) ? b - 1 : b } ?? b
            vocab.append(JSONValue.quote(String(ByteLevel.scalarOfByte[b])) + ": \(id)")
        }
        vocab += extraVocab.map { JSONValue.quote($0.0) + ": " + $0.1 }
        let modelText = (model.map { "\"\($0.0)\": \($0.1)" } + ["\"vocab\": {" + vocab.joined(separator: ", ") + "}", "\"merges\": " + merges])
            .joined(separator: ", ")
        return """
            {"version": \(version), "truncation": \(truncation), "padding": null, "added_tokens": \(addedTokens),
             "normalizer": \(normalizer), "pre_tokenizer": \(preTokenizer), "post_processor": \(postProcessor),
             "decoder": \(decoder), "model": {\(modelText)}}
            """
    }
}

final class RefusalTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("refusal-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private var path: String { directory.appendingPathComponent("tokenizer.json").path }
    private var configPath: String { directory.appendingPathComponent("tokenizer_config.json").path }

    private func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: directory.appendingPathComponent(name))
    }

    /// The message of loading `mini` (with an optional tokenizer_config.json beside it).
    private func message(_ mini: MiniTokenizerJSON, config: String? = nil) throws -> String {
        try write("tokenizer.json", mini.text)
        if let config { try write("tokenizer_config.json", config) }
        return tokenizerError { try BPETokenizer.load(from: self.directory.appendingPathComponent("tokenizer.json")) }
    }

    private func unsupported(_ key: String, _ found: String, _ supported: String, file: String? = nil) -> String {
        "tokenizer file \(file ?? path): \(key) is \(found), which this tokenizer cannot reproduce exactly (it supports \(supported)); "
            + "use a GPT-2-style byte-level BPE tokenizer"
    }

    private func invalid(_ key: String, _ expected: String, _ found: String, file: String? = nil,
                         fix: String = "fix the file or write it again with save_pretrained") -> String {
        "tokenizer file \(file ?? path): \(key): expected \(expected), found \(found); \(fix)"
    }

    func testMiniFileLoads() throws {
        try write("tokenizer.json", MiniTokenizerJSON().text)
        let tokenizer = try BPETokenizer.load(from: directory.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(tokenizer.vocabSize, 260)
        XCTAssertEqual(tokenizer.encode(" the<|endoftext|>"), [258, 259])
        XCTAssertEqual(tokenizer.eosId, 259)
        XCTAssertEqual(tokenizer.specialTokenRule, .split)
        // A Sequence holding only ByteLevel, a TemplateProcessing that adds nothing, an unknown
        // token (never used: every byte has a token) and dropout 0 are all exact.
        var mini = MiniTokenizerJSON()
        mini.preTokenizer = #"{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]}"#
        mini.postProcessor = #"{"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}}"#
        mini.setModel("unk_token", #""<|endoftext|>""#)
        mini.setModel("dropout", "0.0")
        mini.setModel("continuing_subword_prefix", #""""#)
        XCTAssertEqual(try message(mini), "no error")
    }

    func testRefusedSettings() throws {
        var mini = MiniTokenizerJSON()
        mini.normalizer = #"{"type": "NFC"}"#
        XCTAssertEqual(try message(mini), unsupported("normalizer", #""NFC""#, "null (no normalizer)"))

        mini = MiniTokenizerJSON()
        mini.preTokenizer = #"{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}"#
        XCTAssertEqual(try message(mini), unsupported("pre_tokenizer.add_prefix_space", "true", "add_prefix_space false, as GPT-2"))

        mini.preTokenizer = #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}"#
        XCTAssertEqual(try message(mini), unsupported("pre_tokenizer.use_regex", "false", "use_regex true (GPT-2's pattern)"))

        mini.preTokenizer = #"{"type": "Sequence", "pretokenizers": [{"type": "Split"}, {"type": "ByteLevel", "add_prefix_space": false}]}"#
        XCTAssertEqual(try message(mini), unsupported("pre_tokenizer", #"a Sequence of "Split", "ByteLevel""#,
                                                      "ByteLevel alone, with GPT-2's pattern (use_regex true) and add_prefix_space false"))

        mini.preTokenizer = #"{"type": "Metaspace"}"#
        XCTAssertEqual(try message(mini), unsupported("pre_tokenizer", #""Metaspace""#, "ByteLevel with use_regex true and add_prefix_space false"))

        mini = MiniTokenizerJSON()
        mini.decoder = "null"
        XCTAssertEqual(try message(mini), unsupported("decoder", "null", "ByteLevel"))

        mini = MiniTokenizerJSON()
        mini.postProcessor = #"{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}"#
        XCTAssertEqual(try message(mini), unsupported("post_processor.single", #"a template that adds "<|endoftext|>""#,
                                                      "null, ByteLevel, or a TemplateProcessing whose \"single\" template adds no token"))
        mini.postProcessor = #"{"type": "RobertaProcessing"}"#
        XCTAssertEqual(try message(mini), unsupported("post_processor", #""RobertaProcessing""#,
                                                      "null, ByteLevel, or a TemplateProcessing whose \"single\" template adds no token"))

        mini = MiniTokenizerJSON()
        mini.truncation = #"{"max_length": 1024}"#
        XCTAssertEqual(try message(mini), unsupported("truncation", "an object", "null (no truncation inside the tokenizer: ids are returned whole)"))
    }

    func testRefusedModelSettings() throws {
        let cases: [(String, String, String, String)] = [
            ("type", #""WordPiece""#, #"the string "WordPiece""#, #""BPE""#),
            ("dropout", "0.1", "the number 0.1", "null (no BPE dropout)"),
            ("continuing_subword_prefix", "\"##\"", "the string \"##\"", #"null or """#),
            ("end_of_word_suffix", #""</w>""#, #"the string "</w>""#, #"null or """#),
            ("byte_fallback", "true", "true", "false"),
            ("ignore_merges", "true", "true", "false"),
        ]
        for (key, raw, found, supported) in cases {
            var mini = MiniTokenizerJSON()
            mini.setModel(key, raw)
            XCTAssertEqual(try message(mini), unsupported("model." + key, found, supported))
        }
    }

    func testRefusedVocabularies() throws {
        var mini = MiniTokenizerJSON()
        mini.extraVocab.append(("two words", "260"))
        XCTAssertEqual(try message(mini), unsupported(#"model.vocab["two words"]"#, "a token outside GPT-2's byte-level alphabet",
                                                      "vocabularies spelled in the byte-level alphabet (bytes_to_unicode)"))

        mini = MiniTokenizerJSON()
        mini.dropByte = 0x41
        mini.extraVocab = [("Ġt", "255"), ("he", "256"), ("Ġthe", "257"), ("<|endoftext|>", "258")]
        mini.addedTokens = mini.addedTokens.replacingOccurrences(of: "259", with: "258")
        XCTAssertEqual(try message(mini), unsupported("model.vocab", #"a vocabulary with no token for the byte 0x41 ("A")"#,
                                                      "byte-level vocabularies with a token for each of the 256 bytes"))

        mini = MiniTokenizerJSON()
        mini.extraVocab[3] = ("<|endoftext|>", "300")
        XCTAssertEqual(try message(mini), invalid(#"model.vocab["<|endoftext|>"]"#, "an id below 260 (the ids must be 0...259 without holes)", "300"))

        // With several faults the message names the first in key order, every time.
        mini = MiniTokenizerJSON()
        mini.extraVocab[0] = ("Ġt", "900")
        mini.extraVocab[1] = ("he", "901")
        for _ in 0..<3 {
            XCTAssertEqual(try message(mini), invalid(#"model.vocab["he"]"#, "an id below 260 (the ids must be 0...259 without holes)", "901"))
        }

        mini = MiniTokenizerJSON()
        mini.extraVocab[3] = ("<|endoftext|>", "258")
        XCTAssertEqual(try message(mini), invalid("model.vocab", "each id once", #"id 258 for both "<|endoftext|>" and "Ġthe""#))
    }

    func testRefusedMerges() throws {
        var mini = MiniTokenizerJSON()
        mini.merges = #"["Ġ t", "h e", "Ġt he", "t h"]"#
        XCTAssertEqual(try message(mini), invalid("model.merges[3]", #"the merged token "th" in model.vocab"#, "it missing"))
        mini.merges = #"["Ġ t", "h e", "Ġt hex"]"#
        XCTAssertEqual(try message(mini), invalid("model.merges[2]", "tokens of model.vocab", #""hex", which is not in it"#))
        mini.merges = #"["Ġ t", "h e", "Ġt  he"]"#
        XCTAssertEqual(try message(mini), invalid("model.merges[2]", #""left right" (two tokens and one space) or ["left", "right"]"#, #"the string "Ġt  he""#))
        mini.merges = #"[["Ġ", "t"], ["h"]]"#
        XCTAssertEqual(try message(mini), invalid("model.merges[1]", #"["left", "right"] (two token strings)"#, "an array of 1 items"))
        // Array merges (tokenizers >= 0.20) read as the strings do.
        mini.merges = #"[["Ġ", "t"], ["h", "e"], ["Ġt", "he"]]"#
        XCTAssertEqual(try message(mini), "no error")
    }

    func testRefusedAddedTokens() throws {
        var mini = MiniTokenizerJSON()
        mini.extraVocab.removeLast()
        mini.addedTokens = #"[{"id": 300, "content": "<|endoftext|>", "special": true}]"#
        XCTAssertEqual(try message(mini), invalid("added_tokens[0].id", "the id 259 (the next id after the vocabulary and the added tokens before it, which tokenizers gives it)", "300"))
        mini = MiniTokenizerJSON()
        mini.addedTokens = #"[{"id": 259, "content": "<|endoftext|>", "special": true}, {"id": 260, "content": "<|endoftext|>", "special": true}]"#
        XCTAssertEqual(try message(mini), invalid("added_tokens[1]", "each added token once", #""<|endoftext|>" again (added_tokens[0])"#))
        mini.addedTokens = #"[{"id": 259, "content": "<|endoftext|>", "special": "yes"}]"#
        XCTAssertEqual(try message(mini), invalid("added_tokens[0].special", "true or false", #"the string "yes""#))
        mini.addedTokens = #"[{"id": 259, "content": ""}]"#
        XCTAssertEqual(try message(mini), invalid("added_tokens[0].content", "a non-empty string", #"the string """#))
    }

    func testRefusedConfigs() throws {
        let mini = MiniTokenizerJSON()
        XCTAssertEqual(try message(mini, config: #"{"add_bos_token": true}"#),
                       unsupported("add_bos_token", "true (transformers adds BOS to every encoding)", "false", file: configPath))
        XCTAssertEqual(try message(mini, config: #"{"add_prefix_space": true}"#),
                       unsupported("add_prefix_space", "true (transformers adds a space before the text to every encoding)", "false", file: configPath))
        XCTAssertEqual(try message(mini, config: #"{"split_special_tokens": "yes"}"#),
                       invalid("split_special_tokens", "true or false", #"the string "yes""#, file: configPath))
        XCTAssertEqual(try message(mini, config: #"{"eos_token": "</s>"}"#),
                       invalid("eos_token", "a token among the added_tokens of \(path)", #""</s>", which is not one (transformers would add it as a new token)"#,
                               file: configPath, fix: "add it to added_tokens (tokenizer.add_special_tokens, then save_pretrained) or name another token"))
        XCTAssertEqual(try message(mini, config: #"{"added_tokens_decoder": {"7": {"content": "<|endoftext|>", "special": true}}}"#),
                       invalid(#"added_tokens_decoder["7"]"#, "the id 259 that \(path) gives \"<|endoftext|>\"", "7",
                               file: configPath, fix: "make the two files agree or write them again with save_pretrained"))
        // Flags in tokenizer_config.json win, as in transformers.
        XCTAssertEqual(try message(mini, config: #"{"added_tokens_decoder": {"259": {"content": "<|endoftext|>", "special": true, "lstrip": true}}}"#), "no error")
        let tokenizer = try BPETokenizer.load(directory: directory)
        XCTAssertEqual(tokenizer.addedTokens.first?.lstrip, true)
        XCTAssertEqual(tokenizer.encode(" the <|endoftext|>"), [258, 259])
        XCTAssertEqual(try message(mini, config: #"{"model_max_length": 1000000000000000019884624838656}"#), "no error")
        XCTAssertNil(try BPETokenizer.load(directory: directory).modelMaxLength, "transformers' 10^30 means no limit")
        XCTAssertEqual(try message(mini, config: #"{"model_max_length": -5}"#),
                       invalid("model_max_length", "a positive integer", "the number -5", file: configPath))
        XCTAssertEqual(try message(mini, config: "[]"),
                       "tokenizer file \(configPath): expected a JSON object, found an array; re-run the tokenizer stage or point to a file written by it")
    }

    func testNoEndOfSequenceToken() throws {
        var mini = MiniTokenizerJSON()
        mini.extraVocab.removeLast()
        mini.addedTokens = "[]"
        XCTAssertEqual(try message(mini),
                       invalid("eos_token", "an end-of-sequence token", #"none (no eos_token, and no "<|endoftext|>" in model.vocab)"#,
                               fix: #"set "eos_token" in tokenizer_config.json"#))
        // Named in tokenizer_config.json, any added token serves.
        mini.addedTokens = #"[{"id": 259, "content": "</s>", "special": true}]"#
        XCTAssertEqual(try message(mini), invalid("eos_token", "an end-of-sequence token", #"none (no eos_token, and no "<|endoftext|>" in model.vocab)"#,
                                                  fix: #"set "eos_token" in tokenizer_config.json"#))
        XCTAssertEqual(try message(mini, config: #"{"eos_token": "</s>"}"#), "no error")
        XCTAssertEqual(try BPETokenizer.load(directory: directory).eosId, 259)
    }

    /// Numbers past Int64, huge decimals, fractions and negative ids: one line each, never a trap.
    func testHugeAndBadNumbers() throws {
        let expected = "a token id (an integer from 0 to 16777215)"
        for (raw, found) in [("99999999999999999999999", "the number 99999999999999999999999"), ("1e400", "the number 1e400"),
                             ("-1", "the number -1"), ("1.5", "the number 1.5"), ("259.0", "the number 259.0"),
                             ("-9223372036854775809", "the number -9223372036854775809"), ("true", "true"),
                             ("\"259\"", #"the string "259""#), ("16777216", "the number 16777216")] {
            var mini = MiniTokenizerJSON()
            mini.extraVocab[3] = ("<|endoftext|>", raw)
            let text = try message(mini)
            XCTAssertEqual(text, invalid(#"model.vocab["<|endoftext|>"]"#, expected, found))
            XCTAssertFalse(text.contains("\n"))
        }
        var mini = MiniTokenizerJSON()
        mini.addedTokens = #"[{"id": 1e99999, "content": "<|endoftext|>", "special": true}]"#
        XCTAssertEqual(try message(mini), invalid("added_tokens[0].id", expected, "the number 1e99999"))
        mini = MiniTokenizerJSON()
        mini.setModel("dropout", "1e400")
        XCTAssertEqual(try message(mini), unsupported("model.dropout", "the number 1e400", "null (no BPE dropout)"))
        // A 300-digit id is reported shortened (to the 60 characters every message quotes).
        mini = MiniTokenizerJSON()
        mini.extraVocab[3] = ("<|endoftext|>", String(repeating: "9", count: 300))
        XCTAssertEqual(try message(mini), invalid(#"model.vocab["<|endoftext|>"]"#, expected, "the number " + String(repeating: "9", count: 60) + "…"))
        // The legacy format too.
        let legacy = directory.appendingPathComponent("legacy.json")
        try Data(#"{"format": "rlhf-bpe-v1", "vocab_size": 1e400, "merges": [], "special": {}}"#.utf8).write(to: legacy)
        XCTAssertEqual(tokenizerError { try BPETokenizer.load(from: legacy) },
                       "tokenizer file \(legacy.path): expected \"vocab_size\": 258 (an integer), found the number 1e400; "
                           + "re-run the tokenizer stage or point to a file written by it")
        try Data(#"{"format": "rlhf-bpe-v1", "vocab_size": 259, "merges": [[1, 99999999999999999999]], "special": {}}"#.utf8).write(to: legacy)
        XCTAssertEqual(tokenizerError { try BPETokenizer.load(from: legacy) },
                       "tokenizer file \(legacy.path): expected merges[0] to be a pair of token ids in 0..<256, found an array; "
                           + "re-run the tokenizer stage or point to a file written by it")
    }

    /// Files read through the shared JSON reader: a byte-order mark is accepted, a huge key is
    /// quoted shortened, a key given twice is refused, numbers are read exactly.
    func testSharedReaderInputs() throws {
        let bom = "\u{FEFF}"
        try write("tokenizer.json", bom + MiniTokenizerJSON().text)
        try write("tokenizer_config.json", bom + #"{"model_max_length": 1000000000000000019884624838656, "eos_token": "<|endoftext|>"}"#)
        let loaded = try BPETokenizer.load(directory: directory)
        XCTAssertEqual(loaded.eosId, 259)
        XCTAssertNil(loaded.modelMaxLength)
        try FileManager.default.removeItem(atPath: configPath)
        // A 100,000-character token with a bad id: the message quotes 60 characters of it.
        var mini = MiniTokenizerJSON()
        let long = String(repeating: "Ġ", count: 100_000)
        mini.extraVocab.append((long, "-1"))
        let text = try message(mini)
        XCTAssertEqual(text, invalid("model.vocab[\"" + String(repeating: "Ġ", count: 60) + "…\"]", "a token id (an integer from 0 to 16777215)", "the number -1"))
        // A key given twice: the second is reported where it stands.
        mini = MiniTokenizerJSON()
        mini.extraVocab.append(("he", "257"))
        let line3 = mini.text.components(separatedBy: "\n")[2]
        let column = line3.unicodeScalars.distance(from: line3.startIndex, to: line3.range(of: #""he": 257"#, options: .backwards)!.lowerBound) + 1
        XCTAssertEqual(try message(mini), "tokenizer file \(path): line 3, column \(column): not valid JSON: duplicate key \"he\"; fix the file or write it again")
        // Numbers are read from their text: 259.0 is no id, 1e-400 is no zero dropout (its Double is 0).
        mini = MiniTokenizerJSON()
        mini.extraVocab[3] = ("<|endoftext|>", "259.0")
        XCTAssertEqual(try message(mini), invalid(#"model.vocab["<|endoftext|>"]"#, "a token id (an integer from 0 to 16777215)", "the number 259.0"))
        mini = MiniTokenizerJSON()
        mini.setModel("dropout", "1e-400")
        XCTAssertEqual(try message(mini), unsupported("model.dropout", "the number 1e-400", "null (no BPE dropout)"))
        mini.setModel("dropout", "0.0e5")
        XCTAssertEqual(try message(mini), "no error")
        // A long list in a file is named by its first members.
        mini = MiniTokenizerJSON()
        mini.preTokenizer = #"{"type": "Sequence", "pretokenizers": ["# + Array(repeating: #"{"type": "Split"}"#, count: 1000).joined(separator: ", ") + "]}"
        XCTAssertEqual(try message(mini), unsupported("pre_tokenizer", #"a Sequence of "Split", "Split", "Split", "Split" and 996 more"#,
                                                      "ByteLevel alone, with GPT-2's pattern (use_regex true) and add_prefix_space false"))
    }

    func testVocabAndMergesErrors() throws {
        try BPETokenizer(merges: [(104, 101)]).savePretrained(to: directory, modelMaxLength: 64)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(try BPETokenizer.load(directory: directory).encode("he"), [256])
        let merges = directory.appendingPathComponent("merges.txt")
        try write("merges.txt", "#version: 0.2\nh e\nh e x\n")
        XCTAssertEqual(tokenizerError { try BPETokenizer.load(directory: self.directory) },
                       "tokenizer file \(merges.path): line 3: expected two tokens separated by one space, found \"h e x\"; "
                           + "fix the line or write the files again with save_pretrained")
        try write("merges.txt", "#version: 0.2\nh e\n\n")
        XCTAssertEqual(tokenizerError { try BPETokenizer.load(directory: self.directory) },
                       "tokenizer file \(merges.path): line 3: expected two tokens separated by one space, found \"\"; "
                           + "fix the line or write the files again with save_pretrained")
        try write("merges.txt", "#version: 0.2\r\nh e\r\n")
        XCTAssertEqual(try BPETokenizer.load(directory: directory).encode("he"), [256], "CRLF line ends as Rust's lines() reads them")
        try write("merges.txt", "h q\n")
        XCTAssertEqual(tokenizerError { try BPETokenizer.load(directory: self.directory) },
                       "tokenizer file \(merges.path): line 1: expected the merged token \"hq\" in vocab.json, found it missing; "
                           + "fix the file or write it again with save_pretrained")
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertEqual(tokenizerError { try BPETokenizer.load(directory: empty) },
                       "tokenizer directory \(empty.path): expected tokenizer.json, or vocab.json and merges.txt, found neither; "
                           + "point to a directory written by save_pretrained or by rlhf, or to a tokenizer.json")
        XCTAssertEqual(tokenizerError { try BPETokenizer.load(from: empty) }, tokenizerError { try BPETokenizer.load(directory: empty) })
    }
}

/// Reading and writing stay linear in the number of added tokens: a file naming tens of thousands
/// of them (a few hundred kB) once took seconds to minutes, each token being looked up by a scan
/// of all the others.
final class AddedTokenScaleTests: XCTestCase {
    /// `n` tokens `<tI>` in the vocabulary, each also an added special token, named again in
    /// tokenizer_config.json's added_tokens_decoder and additional_special_tokens; read as
    /// tokenizer.json, written as vocab.json + merges.txt and read back with the same
    /// tokenizer_config.json. Seconds taken.
    private func roundTrip(_ n: Int) throws -> Double {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("added-scale-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let names = (0..<n).map { "<t\($0)>" }
        var mini = MiniTokenizerJSON()
        mini.extraVocab += names.enumerated().map { ($0.element, "\(260 + $0.offset)") }
        let added = [(259, BPETokenizer.eosToken)] + names.enumerated().map { (260 + $0.offset, $0.element) }
        mini.addedTokens = "[" + added.map { #"{"id": \#($0.0), "content": \#(JSONValue.quote($0.1)), "special": true, "normalized": false}"# }
            .joined(separator: ", ") + "]"
        let config = #"{"additional_special_tokens": ["# + names.map(JSONValue.quote).joined(separator: ", ") + #"], "added_tokens_decoder": {"#
            + added.map { #""\#($0.0)": {"content": \#(JSONValue.quote($0.1)), "special": true, "normalized": false}"# }.joined(separator: ", ") + "}}"
        try Data(mini.text.utf8).write(to: directory.appendingPathComponent("tokenizer.json"))
        try Data(config.utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        let pair = directory.appendingPathComponent("pair", isDirectory: true)
        let start = Date()
        let tokenizer = try BPETokenizer.load(from: directory.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(tokenizer.vocabSize, 260 + n)
        try tokenizer.savePretrained(to: pair, modelMaxLength: 1024)
        try FileManager.default.removeItem(at: pair.appendingPathComponent("tokenizer.json"))
        try Data(config.utf8).write(to: pair.appendingPathComponent("tokenizer_config.json"))
        let again = try BPETokenizer.load(directory: pair)
        XCTAssertEqual(again.vocabSize, 260 + n)
        XCTAssertEqual(again.encode("a<t7>b"), tokenizer.encode("a<t7>b"))
        return Date().timeIntervalSince(start)
    }

    func testManyAddedTokensTakeLinearTime() throws {
        // Sixteen times the tokens: at most sixteen times the time when linear (12 measured, fixed
        // costs included), 256 when quadratic (the scans measured 107-138). The best
        // of five runs of the small size and two of the large one, against a bound of 35.
        let small = try (0..<5).map { _ in try roundTrip(1000) }.min()!
        let large = try (0..<2).map { _ in try roundTrip(16000) }.min()!
        XCTAssertLessThan(large / small, 35, "1,000 added tokens in \(small) s, 16,000 in \(large) s")
    }
}
