import Tokenizer
import XCTest

final class TrainingTests: XCTestCase {
    private func pairs(_ tokenizer: BPETokenizer) -> [[Int32]] {
        tokenizer.merges.map { [$0.left, $0.right] }
    }

    /// Chunks: "hug" x1, " hug" x2, " pug" x1.
    /// Pair counts: (u,g)=4, (h,u)=3, (' ',h)=2, (' ',p)=1, (p,u)=1, so:
    ///   256 = u+g (4), 257 = h+ug (3), 258 = ' '+hug (2),
    ///   then (' ',p) and (p,ug) tie at 1 and the smaller left id wins: 259 = ' '+p, 260 = ' p'+ug.
    func testHandCheckedMerges() {
        let space: Int32 = 32, g: Int32 = 103, h: Int32 = 104, p: Int32 = 112, u: Int32 = 117
        let tokenizer = BPETokenizer.train(corpus: ["hug hug hug pug"], vocabSize: 263)
        XCTAssertEqual(pairs(tokenizer), [[u, g], [h, 256], [space, 257], [space, p], [259, 256]])
        XCTAssertEqual(tokenizer.vocabSize, 263)
        XCTAssertEqual(tokenizer.eosId, 261)
        XCTAssertEqual(tokenizer.padId, 262)
        XCTAssertEqual(tokenizer.encode("hug pug hug"), [257, 260, 258])
        XCTAssertEqual(tokenizer.encode("ugh"), [256, h])
        XCTAssertEqual(tokenizer.tokenString(258), " hug")

        // Asking for fewer tokens keeps the first merges; asking for more stops when pairs run out.
        XCTAssertEqual(pairs(BPETokenizer.train(corpus: ["hug hug hug pug"], vocabSize: 260)), [[u, g], [h, 256]])
        let exhausted = BPETokenizer.train(corpus: ["hug hug hug pug"], vocabSize: 1000)
        XCTAssertEqual(pairs(exhausted), pairs(tokenizer))
        XCTAssertEqual(exhausted.vocabSize, 263)
    }

    func testTieBreakAndCorpusElementsAreSeparate() {
        // All pairs occur once; the smallest (left, right) ids win in order.
        let tokenizer = BPETokenizer.train(corpus: ["ab", "cd"], vocabSize: 260)
        XCTAssertEqual(pairs(tokenizer), [[97, 98], [99, 100]])
        // "b" ends one corpus element and "c" starts the next: (b,c) is never counted.
        XCTAssertEqual(BPETokenizer.train(corpus: ["ab", "cd"], vocabSize: 300).merges.count, 2)
    }

    func testMinimumVocabulary() {
        let tokenizer = BPETokenizer.train(corpus: ["aaaa"], vocabSize: 10)
        XCTAssertEqual(tokenizer.merges.count, 0)
        XCTAssertEqual(tokenizer.vocabSize, 258)
        XCTAssertEqual(tokenizer.encode("aaaa"), [97, 97, 97, 97])
        XCTAssertEqual(BPETokenizer.train(corpus: [], vocabSize: 300).vocabSize, 258)
    }

    func testRepeatedPairsMergeLeftToRight() {
        // "aaaaa": (a,a) counted 4 times; merging left to right gives [aa, aa, a].
        let tokenizer = BPETokenizer.train(corpus: ["aaaaa"], vocabSize: 259)
        XCTAssertEqual(pairs(tokenizer), [[97, 97]])
        XCTAssertEqual(tokenizer.encode("aaaaa"), [256, 256, 97])
    }

    func testCompressesTrainingTextAndIsDeterministic() {
        let corpus = Fixtures.corpus()
        let first = BPETokenizer.train(corpus: corpus, vocabSize: 400)
        let second = BPETokenizer.train(corpus: corpus, vocabSize: 400)
        XCTAssertEqual(first.vocabSize, 400)
        XCTAssertEqual(pairs(first), pairs(second))

        let text = corpus.joined()
        let bytes = text.utf8.count
        let tokens = first.encode(text).count
        XCTAssertLessThan(Double(tokens), 0.5 * Double(bytes), "\(tokens) tokens for \(bytes) bytes")
        XCTAssertTrue(first.decodeBytes(first.encode(text)) == Array(text.utf8), "training text does not round trip")
    }
}
