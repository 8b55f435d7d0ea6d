import Foundation
@testable import Tokenizer
import JSON
import XCTest

/// Ids against the ones Hugging Face `tokenizers` and transformers' `AutoTokenizer` gave for the
/// same files (Fixtures/hf, written by scripts/make_hf_tokenizer_fixtures.py).
final class HuggingFaceFixtureTests: XCTestCase {
    private var cleanup: [URL] = []

    override func tearDown() {
        for url in cleanup { try? FileManager.default.removeItem(at: url) }
    }

    private func directory(copying files: [String: String] = [:], writing texts: [String: String] = [:]) throws -> URL {
        let dir = try HFFixtures.directory(copying: files, writing: texts)
        cleanup.append(dir)
        return dir
    }

    func testFixturesAreThere() {
        XCTAssertGreaterThan(HFFixtures.cases.count, 100)
        XCTAssertGreaterThan(HFFixtures.pretokenized.count, 100)
    }

    func testTokenizerJSONGivesHuggingFaceIds() throws {
        let dir = try directory(copying: ["tokenizer.json": "tokenizer.json"])
        let tokenizer = try BPETokenizer.load(from: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(tokenizer.vocabSize, HFFixtures.expected["vocab_size"] as? Int)
        XCTAssertEqual(tokenizer.specialTokenRule, .split)
        XCTAssertEqual(tokenizer.tokenString(tokenizer.eosId), "<|endoftext|>")
        XCTAssertEqual(Int(tokenizer.eosId), tokenizer.modelVocabSize - 1, "GPT-2's layout: EOS is the last vocabulary entry")
        XCTAssertFalse(tokenizer.hasPadToken)
        XCTAssertEqual(tokenizer.padId, tokenizer.eosId)
        XCTAssertFalse(tokenizer.isProjectLayout)
        for c in HFFixtures.cases {
            XCTAssertEqual(c.tokenizers, c.autoJSON, "the fixture's two libraries disagree on \(JSONValue.quote(c.text))")
            XCTAssertEqual(tokenizer.encode(c.text), c.tokenizers, "ids for \(JSONValue.quote(c.text))")
            XCTAssertEqual(tokenizer.encode(bytes: Array(c.text.utf8)), c.tokenizers)
        }
    }

    func testLegacyMergeStringsGiveTheSameIds() throws {
        let dir = try directory(copying: ["tokenizer.json": "tokenizer_legacy.json"])
        let tokenizer = try BPETokenizer.load(directory: dir)
        for c in HFFixtures.cases {
            XCTAssertEqual(tokenizer.encode(c.text), c.tokenizersLegacyMerges, "ids for \(JSONValue.quote(c.text))")
        }
    }

    func testVocabAndMergesGiveAutoTokenizerIds() throws {
        let dir = try directory(copying: ["vocab.json": "vocab.json", "merges.txt": "merges.txt",
                                          "tokenizer_config.json": "pair_tokenizer_config.json",
                                          "special_tokens_map.json": "special_tokens_map.json"])
        let tokenizer = try BPETokenizer.load(directory: dir)
        XCTAssertEqual(tokenizer.vocabSize, HFFixtures.expected["vocab_size"] as? Int)
        XCTAssertEqual(tokenizer.modelMaxLength, 1024)
        XCTAssertEqual(tokenizer.bosId, tokenizer.eosId)
        XCTAssertEqual(tokenizer.addedTokens.map(\.content), ["<|endoftext|>", "<|sep|>", "[NEWS]"])
        let sep = tokenizer.addedTokens[1], news = tokenizer.addedTokens[2]
        XCTAssertTrue(sep.special && sep.lstrip && sep.rstrip && !sep.normalized)
        XCTAssertTrue(!news.special && news.singleWord && news.normalized)
        for c in HFFixtures.cases {
            XCTAssertEqual(tokenizer.encode(c.text), c.autoPair, "ids for \(JSONValue.quote(c.text))")
        }
    }

    func testSplitSpecialTokensInConfigGivesTheBytesRule() throws {
        let dir = try directory(copying: ["tokenizer.json": "tokenizer.json"],
                                writing: ["tokenizer_config.json": #"{"split_special_tokens": true, "eos_token": "<|endoftext|>"}"#])
        let tokenizer = try BPETokenizer.load(directory: dir)
        XCTAssertEqual(tokenizer.specialTokenRule, .bytes)
        var sawDifference = false
        for c in HFFixtures.cases {
            XCTAssertEqual(tokenizer.encode(c.text), c.autoSplit, "ids for \(JSONValue.quote(c.text))")
            sawDifference = sawDifference || c.autoSplit != c.tokenizers
        }
        XCTAssertTrue(sawDifference, "the fixture should show the two rules differ")
        // load(from:) of the tokenizer.json reads the tokenizer_config.json beside it.
        XCTAssertEqual(try BPETokenizer.load(from: dir.appendingPathComponent("tokenizer.json")).specialTokenRule, .bytes)
    }

    func testDecodeAsHuggingFace() throws {
        let tokenizer = try BPETokenizer.load(from: HFFixtures.directory(copying: ["tokenizer.json": "tokenizer.json"]).appendingPathComponent("tokenizer.json"))
        for c in HFFixtures.cases {
            XCTAssertEqual(tokenizer.decode(c.tokenizers), c.decoded, "decode of \(JSONValue.quote(c.text))")
            XCTAssertEqual(tokenizer.decode(c.tokenizers, skipSpecialTokens: true), c.decodedSkipSpecial, "decode of \(JSONValue.quote(c.text))")
        }
        // Without added tokens to strip whitespace, decoding gives the text back.
        let plain = HFFixtures.cases.filter { !$0.text.contains("<|sep|>") }
        XCTAssertGreaterThan(plain.count, 100)
        for c in plain { XCTAssertEqual(tokenizer.decode(tokenizer.encode(c.text)), c.text) }
    }

    func testPreTokenizerMatchesByteLevelPattern() {
        var mismatches: [String] = []
        for (text, chunks) in HFFixtures.pretokenized where BPETokenizer.preTokenize(text) != chunks {
            mismatches.append(JSONValue.quote(text))
        }
        XCTAssertEqual(mismatches, [])
        for c in HFFixtures.cases {
            XCTAssertEqual(BPETokenizer.preTokenize(c.text).joined(), c.text)
        }
    }

    /// The project's own layout (here with the fixture's merges) means the same to Hugging Face:
    /// AutoTokenizer with split_special_tokens gives our ids, and tokenizers alone gives ours
    /// under the split rule.
    func testOwnLayoutAgreesWithHuggingFace() throws {
        let own = BPETokenizer(merges: HFFixtures.ownMerges)
        XCTAssertTrue(own.isProjectLayout)
        XCTAssertEqual(own.specialTokenRule, .bytes)
        let dir = try directory()
        let url = dir.appendingPathComponent("tokenizer.json")
        try own.save(to: url)
        let reloaded = try BPETokenizer.load(from: url)
        XCTAssertEqual(reloaded.specialTokenRule, .bytes)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("tokenizer_config.json"))
        let split = try BPETokenizer.load(from: url)
        XCTAssertEqual(split.specialTokenRule, .split)
        XCTAssertEqual(split.padId, own.padId, "an added special <|pad|> is the pad token when no config names one")
        for c in HFFixtures.cases {
            XCTAssertEqual(own.encode(c.text), c.ownAuto, "bytes rule, \(JSONValue.quote(c.text))")
            XCTAssertEqual(reloaded.encode(c.text), c.ownAuto, "bytes rule after save/load, \(JSONValue.quote(c.text))")
            XCTAssertEqual(split.encode(c.text), c.ownTokenizers, "split rule, \(JSONValue.quote(c.text))")
        }
    }

    /// What `save(to:)` writes for a tokenizer read from Hugging Face files reads back equal.
    func testSaveOfHuggingFaceTokenizerReadsBackEqual() throws {
        let source = try directory(copying: ["vocab.json": "vocab.json", "merges.txt": "merges.txt",
                                             "tokenizer_config.json": "pair_tokenizer_config.json"])
        let original = try BPETokenizer.load(directory: source)
        let dir = try directory()
        try original.save(to: dir.appendingPathComponent("tokenizer.json"))
        let loaded = try BPETokenizer.load(directory: dir)
        assertSameTokenizer(loaded, original)
        for c in HFFixtures.cases { XCTAssertEqual(loaded.encode(c.text), c.autoPair) }
    }

    func testSavePretrainedWritesEveryFileAndAddsAPad() throws {
        let original = try BPETokenizer.load(from: HFFixtures.directory(copying: ["tokenizer.json": "tokenizer.json"]).appendingPathComponent("tokenizer.json"))
        XCTAssertFalse(original.hasPadToken)
        let padded = original.addingPadToken()
        XCTAssertTrue(padded.hasPadToken)
        XCTAssertEqual(Int(padded.padId), original.vocabSize)
        XCTAssertEqual(padded.vocabSize, original.vocabSize + 1)
        XCTAssertEqual(padded.tokenString(padded.padId), "<|pad|>")
        XCTAssertTrue(padded.addingPadToken() === padded)

        let dir = try directory()
        try padded.savePretrained(to: dir, modelMaxLength: 128)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(files, ["merges.txt", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json"))) as! [String: Any]
        XCTAssertEqual(config["tokenizer_class"] as? String, "GPT2Tokenizer")
        XCTAssertEqual(config["model_max_length"] as? Int, 128)
        XCTAssertEqual(config["pad_token"] as? String, "<|pad|>")
        XCTAssertEqual(config["eos_token"] as? String, "<|endoftext|>")
        XCTAssertEqual(config["split_special_tokens"] as? Bool, false)
        XCTAssertEqual(config["add_prefix_space"] as? Bool, false)
        XCTAssertEqual(config["clean_up_tokenization_spaces"] as? Bool, false)
        let merges = try String(contentsOf: dir.appendingPathComponent("merges.txt"), encoding: .utf8)
        XCTAssertTrue(merges.hasPrefix("#version: 0.2\n"))
        XCTAssertEqual(merges.split(separator: "\n").count, original.merges.count + 1)

        let viaJSON = try BPETokenizer.load(directory: dir)
        assertSameTokenizer(viaJSON, padded)
        XCTAssertEqual(viaJSON.modelMaxLength, 128)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("tokenizer.json"))
        let viaPair = try BPETokenizer.load(directory: dir)
        assertSameTokenizer(viaPair, padded)
        for c in HFFixtures.cases where !c.text.contains("<|pad|>") {
            XCTAssertEqual(viaPair.encode(c.text), c.tokenizers, "ids for \(JSONValue.quote(c.text))")
        }
        XCTAssertEqual(viaPair.encode("<|pad|>"), [padded.padId])
    }
}

/// Same vocabulary, merges, added tokens, special ids and rule.
func assertSameTokenizer(_ a: BPETokenizer, _ b: BPETokenizer, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.vocabSize, b.vocabSize, file: file, line: line)
    XCTAssertEqual(a.modelVocabSize, b.modelVocabSize, file: file, line: line)
    XCTAssertEqual(a.byteIds, b.byteIds, file: file, line: line)
    XCTAssertEqual(a.merges.map { [$0.left, $0.right] }, b.merges.map { [$0.left, $0.right] }, file: file, line: line)
    XCTAssertEqual(a.mergeResults, b.mergeResults, file: file, line: line)
    XCTAssertEqual(a.addedTokens, b.addedTokens, file: file, line: line)
    XCTAssertEqual(a.eosId, b.eosId, file: file, line: line)
    XCTAssertEqual(a.padId, b.padId, file: file, line: line)
    XCTAssertEqual(a.hasPadToken, b.hasPadToken, file: file, line: line)
    XCTAssertEqual(a.bosId, b.bosId, file: file, line: line)
    XCTAssertEqual(a.specialTokenRule, b.specialTokenRule, file: file, line: line)
    XCTAssertEqual(a.isProjectLayout, b.isProjectLayout, file: file, line: line)
    for id in 0..<Int32(max(a.vocabSize, b.vocabSize)) where a.bytes(ofToken: id) != b.bytes(ofToken: id) {
        XCTFail("token \(id) differs", file: file, line: line)
        return
    }
}
