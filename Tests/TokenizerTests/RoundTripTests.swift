import Foundation
import Tokenizer
import XCTest

final class RoundTripTests: XCTestCase {
    private static let tokenizer = Fixtures.trained()

    func testSpecialByteStringsRoundTrip() {
        let tokenizer = Self.tokenizer
        let cases: [[UInt8]] = [
            [],
            Array("hello world".utf8),
            [0xFF, 0xFE, 0x80, 0x00],                  // never valid in UTF-8
            [0xE2, 0x82],                              // truncated 3-byte sequence
            [0xED, 0xA0, 0x80],                        // encoded surrogate
            [0xC0, 0xAF, 0xF5, 0x80, 0x80, 0x80],      // overlong form, lead byte above U+10FFFF
            Array("👩‍👩‍👧 🎉🎉 emoji".utf8),
            Array("日本語のテキスト、中文字符".utf8),
            Array("the model\u{0}\u{1}\r\n\t ".utf8),
            Array("it's 2024 " .utf8) + [0xF0, 0x9F] + Array(" cut emoji".utf8),
            [UInt8](repeating: UInt8(ascii: "="), count: 500),   // one long chunk (heap merge path)
            [UInt8](repeating: UInt8(ascii: " "), count: 300),
            Array(String(repeating: "reward", count: 40).utf8),  // long letter run
            Array("<|endoftext|><|pad|>".utf8),
        ]
        for bytes in cases {
            let ids = tokenizer.encode(bytes: bytes)
            XCTAssertEqual(tokenizer.decodeBytes(ids), bytes, "round trip failed for \(bytes.prefix(16))")
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.eosId })
        }
        XCTAssertEqual(tokenizer.encode(bytes: []), [])
    }

    func testRandomByteStringsRoundTrip() {
        let tokenizer = Self.tokenizer
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<200 {
            let bytes = Fixtures.randomBytes(count: Int.random(in: 0...300, using: &rng), using: &rng)
            XCTAssertEqual(tokenizer.decodeBytes(tokenizer.encode(bytes: bytes)), bytes)
        }
    }

    func testTextRoundTrip() {
        let tokenizer = Self.tokenizer
        for text in Fixtures.corpus(sentences: 50, seed: 99) + ["", "🎉", "a\u{3000}b", "x" + String(repeating: "!?", count: 100)] {
            let ids = tokenizer.encode(text)
            XCTAssertEqual(tokenizer.decodeBytes(ids), Array(text.utf8))
            XCTAssertEqual(tokenizer.decode(ids), text)
            XCTAssertEqual(tokenizer.encode(bytes: Array(text.utf8)), ids)
        }
    }

    /// The optimized encoder (short-chunk loop, long-chunk heap, chunk memo) must give exactly
    /// what plain BPE gives, including on chunks longer than 64 bytes.
    func testEncodeMatchesReferenceBPE() {
        let tokenizer = Self.tokenizer
        var texts = Fixtures.corpus(sentences: 40, seed: 5)
        texts.append(String(repeating: "the", count: 30) + " " + String(repeating: "model reward ", count: 10))
        texts.append(String(repeating: "=-", count: 70) + String(repeating: "  ", count: 50) + "x")
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<20 {
            // Long letter runs built from corpus words: many merges apply inside one chunk.
            let run = (0..<Int.random(in: 5...40, using: &rng)).map { _ in
                ["the", "model", "reward", "policy", "token"].randomElement(using: &rng)!
            }.joined()
            texts.append(" " + run)
        }
        for text in texts {
            XCTAssertEqual(tokenizer.encode(text), referenceEncode(text, tokenizer: tokenizer), "mismatch for \(text.prefix(40))")
            // Twice: the second call is served from the chunk memo.
            XCTAssertEqual(tokenizer.encode(text), referenceEncode(text, tokenizer: tokenizer))
        }
    }

    /// Concurrent callers share one tokenizer: one of them uses the shared chunk memo, the
    /// others private ones; all must agree with the reference.
    func testConcurrentEncodingAgrees() {
        let tokenizer = Fixtures.trained()
        let texts = (0..<8).map { Fixtures.corpus(sentences: 40, seed: UInt64(100 + $0)).joined() }
        let expected = texts.map { referenceEncode($0, tokenizer: tokenizer) }
        let lock = NSLock()
        var mismatches = 0
        DispatchQueue.concurrentPerform(iterations: 32) { i in
            let ids = tokenizer.encode(texts[i % texts.count])
            if ids != expected[i % texts.count] {
                lock.lock()
                mismatches += 1
                lock.unlock()
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testDecodeRepairsInvalidUTF8() {
        let tokenizer = Self.tokenizer
        XCTAssertEqual(tokenizer.decode([0x66, 0xFF, 0x67]), "f\u{FFFD}g")
        XCTAssertEqual(tokenizer.decode([0xE2, 0x82]), "\u{FFFD}")
        XCTAssertEqual(tokenizer.decodeBytes([0xE2, 0x82]), [0xE2, 0x82])
        // Ids outside the vocabulary show up as U+FFFD rather than vanishing.
        XCTAssertEqual(tokenizer.decode([0x61, Int32(tokenizer.vocabSize), -1]), "a\u{FFFD}\u{FFFD}")
    }

    func testTokenStringForDisplay() {
        let tokenizer = Self.tokenizer
        XCTAssertEqual(tokenizer.tokenString(0x61), "a")
        XCTAssertEqual(tokenizer.tokenString(0x0A), "\\n")
        XCTAssertEqual(tokenizer.tokenString(0xFF), "<0xFF>")
        XCTAssertEqual(tokenizer.tokenString(tokenizer.eosId), "<|endoftext|>")
        XCTAssertEqual(tokenizer.tokenString(tokenizer.padId), "<|pad|>")
        XCTAssertEqual(tokenizer.tokenString(-3), "<unk:-3>")
        let theId = tokenizer.encode(" the")
        XCTAssertEqual(theId.count, 1)
        XCTAssertEqual(tokenizer.tokenString(theId[0]), " the")
    }
}
