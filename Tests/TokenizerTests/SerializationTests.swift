import Foundation
import Tokenizer
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

    func testSaveLoadGivesIdenticalTokenizer() throws {
        let original = Fixtures.trained()
        let url = try file("nested/dir/tokenizer.json")
        try original.save(to: url)
        let loaded = try BPETokenizer.load(from: url)

        XCTAssertEqual(loaded.vocabSize, original.vocabSize)
        XCTAssertEqual(loaded.eosId, original.eosId)
        XCTAssertEqual(loaded.padId, original.padId)
        XCTAssertEqual(loaded.merges.map { [$0.left, $0.right] }, original.merges.map { [$0.left, $0.right] })
        let text = Fixtures.corpus(sentences: 30, seed: 3).joined()
        XCTAssertEqual(loaded.encode(text), original.encode(text))
        for id in 0..<Int32(original.vocabSize) {
            XCTAssertEqual(loaded.decodeBytes([id]), original.decodeBytes([id]))
        }

        // The documented layout, and no temporary file left behind.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        XCTAssertEqual(json?["format"] as? String, "rlhf-bpe-v1")
        XCTAssertEqual(json?["vocab_size"] as? Int, 400)
        XCTAssertEqual((json?["merges"] as? [Any])?.count, 142)
        XCTAssertEqual((json?["special"] as? [String: Any])?["<|endoftext|>"] as? Int, 398)
        XCTAssertEqual((json?["special"] as? [String: Any])?["<|pad|>"] as? Int, 399)
        let siblings = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        XCTAssertEqual(siblings, ["tokenizer.json"])

        // Saving again replaces the file in place.
        let small = BPETokenizer.train(corpus: ["hug hug hug pug"], vocabSize: 263)
        try small.save(to: url)
        XCTAssertEqual(try BPETokenizer.load(from: url).vocabSize, 263)
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
                       "tokenizer file \(url.path): expected a JSON object, found text that is not valid JSON; "
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
                       "tokenizer file \(noFormat.path): expected \"format\": \"rlhf-bpe-v1\", found no \"format\" key; "
                           + "re-run the tokenizer stage or point to a file written by it")
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

    func testSaveIntoUnwritableLocationThrows() throws {
        let blocker = try file("blocker", contents: "a regular file")
        let url = blocker.appendingPathComponent("tokenizer.json")
        XCTAssertThrowsError(try Fixtures.trained(vocabSize: 260).save(to: url)) { error in
            let description = (error as? TokenizerError)?.description ?? ""
            XCTAssertTrue(description.hasPrefix("tokenizer file \(url.path): could not be written ("), description)
            XCTAssertFalse(description.contains("\n"))
        }
    }
}
