import Tokenizer
import XCTest

final class SpecialTokenTests: XCTestCase {
    func testSpecialIdsAreDistinctAndAfterMerges() {
        let tokenizer = Fixtures.trained()
        XCTAssertEqual(BPETokenizer.eosToken, "<|endoftext|>")
        XCTAssertEqual(BPETokenizer.padToken, "<|pad|>")
        XCTAssertNotEqual(tokenizer.eosId, tokenizer.padId)
        XCTAssertEqual(Int(tokenizer.eosId), 256 + tokenizer.merges.count)
        XCTAssertEqual(Int(tokenizer.padId), tokenizer.vocabSize - 1)
    }

    func testLiteralSpecialStringsAreOrdinaryText() {
        // Even a tokenizer trained on text full of the literal markers never emits the specials.
        let corpus = Array(repeating: "<|endoftext|> hello <|pad|> world <|endoftext|>", count: 50)
        let tokenizer = BPETokenizer.train(corpus: corpus, vocabSize: 300)
        let text = "before<|endoftext|>after <|pad|>"
        let ids = tokenizer.encode(text)
        XCTAssertFalse(ids.contains(tokenizer.eosId))
        XCTAssertFalse(ids.contains(tokenizer.padId))
        XCTAssertGreaterThan(ids.count, 2)
        XCTAssertEqual(tokenizer.decode(ids), text)
    }

    func testDecodingSpecials() {
        let tokenizer = Fixtures.trained()
        let ids = tokenizer.encode("the model")
        XCTAssertEqual(tokenizer.decode(ids + [tokenizer.eosId]), "the model<|endoftext|>")
        XCTAssertEqual(tokenizer.decode(ids + [tokenizer.eosId, tokenizer.padId, tokenizer.padId]), "the model<|endoftext|>")
        XCTAssertEqual(tokenizer.decode([tokenizer.padId]), "")
        XCTAssertEqual(tokenizer.decodeBytes([tokenizer.padId]), [])
        XCTAssertEqual(tokenizer.decodeBytes([tokenizer.eosId]), Array("<|endoftext|>".utf8))
    }
}
