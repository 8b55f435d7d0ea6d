import Tokenizer
import XCTest

final class PreTokenizerTests: XCTestCase {
    func testSplitsLikeGPT2() {
        XCTAssertEqual(
            BPETokenizer.preTokenize("Hello world, it's 2024!  ok\n\nbye"),
            ["Hello", " world", ",", " it", "'s", " 2024", "!", " ", " ok", "\n", "\n", "bye"]
        )
    }

    func testContractionsDigitsAndPunctuation() {
        XCTAssertEqual(BPETokenizer.preTokenize("they're x'll abc123 a--b"),
                       ["they", "'re", " x", "'ll", " abc", "123", " a", "--", "b"])
    }

    func testUnicodeLettersAndSymbols() {
        XCTAssertEqual(BPETokenizer.preTokenize("café 日本語 🎉🎉 x"), ["café", " 日本語", " 🎉🎉", " x"])
        // U+3000 (ideographic space) is whitespace and U+00A0 too; neither is glued as a leading space.
        XCTAssertEqual(BPETokenizer.preTokenize("a\u{3000}b\u{A0}c"), ["a", "\u{3000}", "b", "\u{A0}", "c"])
    }

    func testWhitespaceRuns() {
        XCTAssertEqual(BPETokenizer.preTokenize("end   "), ["end", "   "])
        XCTAssertEqual(BPETokenizer.preTokenize("    indented"), ["   ", " indented"])
        XCTAssertEqual(BPETokenizer.preTokenize("a \n\tb"), ["a", " \n", "\t", "b"])
        XCTAssertEqual(BPETokenizer.preTokenize(""), [])
    }

    func testChunksConcatenateToInput() {
        let text = Fixtures.corpus(sentences: 50).joined()
        XCTAssertEqual(BPETokenizer.preTokenize(text).joined(), text)
    }
}
