import Files
import Foundation
@testable import Tokenizer
import XCTest

final class SerializationTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tokenizer-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func file(_ name: String, contents: String? = nil) throws -> URL {
        let url = directory.appendingPathComponent(name)
        if let contents { try Data(contents.utf8).write(to: url) }
        return url
    }

    private func loadError(_ url: URL) -> String? {
        do {
            _ = try BPETokenizer.load(from: url)
            return nil
        } catch let error as TokenizerError {
            return error.description
        } catch {
            return "unexpected error type: \(error)"
        }
    }

    /// The legacy rlhf-bpe-v1 file of a tokenizer, as the old `save(to:)` wrote it.
    static func legacyJSON(_ tokenizer: BPETokenizer) -> String {
        var json = "{\n  \"format\": \"rlhf-bpe-v1\",\n  \"vocab_size\": \(tokenizer.vocabSize),\n  \"merges\": ["
        for (index, merge) in tokenizer.merges.enumerated() {
            json += (index == 0 ? "\n    " : ",\n    ") + "[\(merge.left), \(merge.right)]"
        }
        json += tokenizer.merges.isEmpty ? "],\n" : "\n  ],\n"
        json += "  \"special\": {\"<|endoftext|>\": \(tokenizer.eosId), \"<|pad|>\": \(tokenizer.padId)}\n}\n"
        return json
    }

    func testSaveLoadGivesIdenticalTokenizer() throws {
        let original = Fixtures.trained()
        let url = try file("nested/dir/tokenizer.json")
        try original.save(to: url)
        let loaded = try BPETokenizer.load(from: url)

        assertSameTokenizer(loaded, original)
        XCTAssertEqual(loaded.specialTokenRule, .bytes)
        XCTAssertTrue(loaded.isProjectLayout)
        let text = Fixtures.corpus(sentences: 30, seed: 3).joined() + "<|endoftext|> and <|pad|>"
        XCTAssertEqual(loaded.encode(text), original.encode(text))
        XCTAssertFalse(loaded.encode(text).contains(loaded.eosId))
        XCTAssertEqual(loaded.decode([loaded.eosId, loaded.padId]), "<|endoftext|>")

        // The documented layout: a Hugging Face tokenizer.json and a tokenizer_config.json, no
        // temporary file left behind.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        let model = json?["model"] as? [String: Any]
        XCTAssertEqual(model?["type"] as? String, "BPE")
        let vocab = model?["vocab"] as? [String: Int]
        XCTAssertEqual(vocab?.count, 398)
        XCTAssertEqual(vocab?["Ġ"], 32)
        XCTAssertEqual(vocab?["a"], 97)
        XCTAssertEqual(vocab?["Ā"], 0)
        XCTAssertEqual((model?["merges"] as? [String])?.count, 142)
        let added = json?["added_tokens"] as? [[String: Any]]
        XCTAssertEqual(added?.map { $0["content"] as? String }, ["<|endoftext|>", "<|pad|>"])
        XCTAssertEqual(added?.map { $0["id"] as? Int }, [398, 399])
        XCTAssertEqual(added?.map { $0["special"] as? Bool }, [true, true])
        XCTAssertEqual((json?["pre_tokenizer"] as? [String: Any])?["add_prefix_space"] as? Bool, false)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json"))) as? [String: Any]
        XCTAssertEqual(config?["split_special_tokens"] as? Bool, true)
        XCTAssertEqual(config?["eos_token"] as? String, "<|endoftext|>")
        XCTAssertEqual(config?["pad_token"] as? String, "<|pad|>")
        let siblings = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path).sorted()
        XCTAssertEqual(siblings, ["tokenizer.json", "tokenizer_config.json"])

        // Saving again replaces the file in place.
        let small = BPETokenizer.train(corpus: ["hug hug hug pug"], vocabSize: 263)
        try small.save(to: url)
        XCTAssertEqual(try BPETokenizer.load(from: url).vocabSize, 263)
    }

    /// Runs from before the Hugging Face format keep their rlhf-bpe-v1 tokenizer files.
    func testLegacyFileLoadsAsBefore() throws {
        let original = Fixtures.trained()
        let url = try file("legacy.json", contents: Self.legacyJSON(original))
        // A tokenizer_config.json beside a legacy file changes nothing.
        _ = try file("tokenizer_config.json", contents: #"{"split_special_tokens": false}"#)
        let loaded = try BPETokenizer.load(from: url)
        assertSameTokenizer(loaded, original)
        XCTAssertEqual(loaded.specialTokenRule, .bytes)
        let text = Fixtures.corpus(sentences: 30, seed: 4).joined() + "<|endoftext|>"
        XCTAssertEqual(loaded.encode(text), original.encode(text))
        XCTAssertEqual(loaded.decode([loaded.eosId, loaded.padId]), "<|endoftext|>")
    }

    /// Without its tokenizer_config.json an own tokenizer.json is read as Hugging Face would read
    /// it: the split rule, so special-token text becomes the special id.
    func testOwnTokenizerJSONWithoutConfigUsesTheSplitRule() throws {
        let url = try file("tokenizer.json")
        let original = Fixtures.trained()
        try original.save(to: url)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("tokenizer_config.json"))
        let loaded = try BPETokenizer.load(from: url)
        XCTAssertEqual(loaded.specialTokenRule, .split)
        XCTAssertEqual(loaded.eosId, original.eosId)
        XCTAssertEqual(loaded.padId, original.padId)
        let before = loaded.encode("the model")
        XCTAssertEqual(loaded.encode("the model<|endoftext|><|pad|>"), before + [loaded.eosId, loaded.padId])
        let asText = original.encode("the model<|endoftext|>")
        XCTAssertGreaterThan(asText.count, before.count + 2, "bytes rule: <|endoftext|> is text")
        XCTAssertFalse(asText.contains(original.eosId))
    }

    func testMissingFile() throws {
        let url = try file("missing.json")
        XCTAssertEqual(loadError(url),
                       "tokenizer file \(url.path): not found, expected a JSON file written by the tokenizer stage; "
                           + "run the tokenizer stage first or fix the path")
    }

    func testNonJSONFile() throws {
        let url = try file("notjson.json", contents: "merges: 1 2\n")
        XCTAssertEqual(loadError(url),
                       "tokenizer file \(url.path): line 1, column 1: not valid JSON: unexpected character 'm', expected a value; "
                           + "fix the file or write it again")
        let cut = try file("cut.json", contents: "{\n  \"model\": {\"vocab\": {\"a\": 1,\n")
        XCTAssertEqual(loadError(cut),
                       "tokenizer file \(cut.path): line 3, column 1: not valid JSON: unexpected end of file inside an object; "
                           + "fix the file or write it again")
        let empty = try file("empty.json", contents: "")
        XCTAssertEqual(loadError(empty),
                       "tokenizer file \(empty.path): expected a JSON object, found an empty file; "
                           + "re-run the tokenizer stage or point to a file written by it")
        let array = try file("array.json", contents: "[1, 2]")
        XCTAssertEqual(loadError(array),
                       "tokenizer file \(array.path): expected a JSON object, found an array; "
                           + "re-run the tokenizer stage or point to a file written by it")
    }

    func testWrongFormat() throws {
        let url = try file("foo.json", contents: #"{"format": "foo", "vocab_size": 258, "merges": [], "special": {}}"#)
        XCTAssertEqual(loadError(url),
                       "tokenizer file \(url.path): expected \"format\": \"rlhf-bpe-v1\", found \"foo\"; "
                           + "re-run the tokenizer stage or point to a file written by it")
        let noFormat = try file("noformat.json", contents: #"{"vocab_size": 258}"#)
        XCTAssertEqual(loadError(noFormat),
                       "tokenizer file \(noFormat.path): expected a Hugging Face tokenizer.json (with a \"model\" key) or an rlhf "
                           + "tokenizer file (\"format\": \"rlhf-bpe-v1\"), found an object with the keys \"vocab_size\"; point to a "
                           + "tokenizer.json, a directory with tokenizer.json or vocab.json + merges.txt, or re-run the tokenizer stage")
    }

    func testInconsistentContents() throws {
        let special = #""special": {"<|endoftext|>": 257, "<|pad|>": 258}"#
        let badSize = try file("size.json", contents: #"{"format": "rlhf-bpe-v1", "vocab_size": 300, "merges": [[1, 2]], "# + special + "}")
        XCTAssertEqual(loadError(badSize),
                       "tokenizer file \(badSize.path): expected \"vocab_size\": 259 (256 bytes + 1 merges + 2 special tokens), "
                           + "found 300; re-run the tokenizer stage or point to a file written by it")
        let forward = try file("forward.json", contents: #"{"format": "rlhf-bpe-v1", "vocab_size": 259, "merges": [[1, 256]], "# + special + "}")
        XCTAssertEqual(loadError(forward),
                       "tokenizer file \(forward.path): expected merges[0] to be a pair of token ids in 0..<256, "
                           + "found [1, 256]; re-run the tokenizer stage or point to a file written by it")
        let badEOS = try file("eos.json", contents: #"{"format": "rlhf-bpe-v1", "vocab_size": 259, "merges": [[1, 2]], "special": {"<|endoftext|>": 5, "<|pad|>": 258}}"#)
        XCTAssertEqual(loadError(badEOS),
                       "tokenizer file \(badEOS.path): expected \"special\" id of <|endoftext|> to be 257, "
                           + "found 5; re-run the tokenizer stage or point to a file written by it")
        let twice = try file("twice.json", contents: #"{"format": "rlhf-bpe-v1", "vocab_size": 260, "merges": [[1, 2], [1, 2]], "special": {"<|endoftext|>": 258, "<|pad|>": 259}}"#)
        XCTAssertEqual(loadError(twice),
                       "tokenizer file \(twice.path): expected merges[1] to differ from every earlier merge, "
                           + "found [1, 2] again (merges[0]); re-run the tokenizer stage or point to a file written by it")
        let extra = try file("extra.json", contents: #"{"format": "rlhf-bpe-v1", "vocab_size": 259, "merges": [[1, 2]], "vocab": {}, "# + special + "}")
        XCTAssertEqual(loadError(extra),
                       "tokenizer file \(extra.path): expected only the keys \"format\", \"vocab_size\", \"merges\" and \"special\", "
                           + "found \"vocab\"; re-run the tokenizer stage or point to a file written by it")
        let good = try file("good.json", contents: #"{"format": "rlhf-bpe-v1", "vocab_size": 259, "merges": [[1, 2]], "# + special + "}")
        XCTAssertEqual(try BPETokenizer.load(from: good).merges.map { [$0.left, $0.right] }, [[1, 2]])
    }

    /// Two ids with the same bytes (possible only by building merges by hand) have no Hugging
    /// Face form: one line, and nothing written.
    func testVocabularyWithRepeatedTokenIsNotWritten() throws {
        let a: Int32 = 97, b: Int32 = 98, c: Int32 = 99
        let tokenizer = BPETokenizer(merges: [(a, b), (256, c), (b, c), (a, 258)])
        XCTAssertEqual(tokenizer.bytes(ofToken: 257), tokenizer.bytes(ofToken: 259))
        let url = try file("repeated/tokenizer.json")
        XCTAssertEqual(tokenizerError { try tokenizer.save(to: url) },
                       "tokenizer file \(url.path): cannot be written as a Hugging Face tokenizer (tokens 257 and 259 are both \"abc\", "
                           + "which a Hugging Face vocabulary cannot hold); training never makes such a vocabulary, so build the tokenizer "
                           + "again (train it or read it from its files)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    func testSaveIntoUnwritableLocationThrows() throws {
        let blocker = try file("blocker", contents: "a regular file")
        let url = blocker.appendingPathComponent("tokenizer.json")
        XCTAssertThrowsError(try Fixtures.trained(vocabSize: 260).save(to: url)) { error in
            XCTAssertEqual((error as? FileWriteError)?.description, "\(blocker.path): cannot write (Not a directory)")
        }
    }
}
