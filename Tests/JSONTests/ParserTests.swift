import Foundation
import JSON
import XCTest

/// The one JSON reader: strict grammar, exact numbers, bounded messages, a byte-order mark.
final class ParserTests: XCTestCase {
    func parseError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        parseError(bytes: Array(text.utf8), file: file, line: line)
    }

    func parseError(bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let v = try JSONParser.parse(bytes: bytes)
            XCTFail("no error, parsed \(v)", file: file, line: line)
            return ""
        } catch let e as JSONParseError {
            return e.description
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
            return ""
        }
    }

    // MARK: - Values

    func testValuesAndOrder() throws {
        let v = try JSONParser.parse(#" {"b": [1, -2.5, 1E+3, true, false, null], "a": {"x": "y\u00e9\ud83d\ude00\n\/"}} "#)
        XCTAssertEqual(v.objectValue?.map(\.0), ["b", "a"])
        XCTAssertEqual(v["b"], .array([.number(1, isInteger: true), .number(-2.5, isInteger: false), .number(1000, isInteger: false),
                                        .bool(true), .bool(false), .null]))
        XCTAssertEqual(v["a"]?["x"]?.stringValue, "yé😀\n/")
        XCTAssertEqual(v.dictionaryValue?.keys.sorted(), ["a", "b"])
        XCTAssertNil(v["b"]?.dictionaryValue)
        XCTAssertTrue(v["b"]?.arrayValue?.last?.isNull == true)
        // Numbers keep their text and whether they were written as integers.
        guard case let .number(d, syntax)? = v["b"]?.arrayValue?[2] else { return XCTFail() }
        XCTAssertEqual(d, 1000)
        XCTAssertEqual(syntax, JSONNumberSyntax(isInteger: false, text: "1E+3"))
        XCTAssertEqual(try JSONParser.parse("-0").kind, "the number -0")
    }

    func testByteOrderMarkAtTheStartIsSkipped() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        XCTAssertEqual(try JSONParser.parse(bytes: bom + Array(#"{"a": 1}"#.utf8)), .object([("a", .number(1, isInteger: true))]))
        XCTAssertEqual(try JSONParser.parse("\u{FEFF}[true]"), .array([.bool(true)]))
        XCTAssertEqual(try JSONParser.parse(Substring("\u{FEFF} 3")), .number(3, isInteger: true))
        // Positions count from after the mark; a mark anywhere else is an error.
        XCTAssertEqual(parseError(bytes: bom + Array("{\n  ]".utf8)), "line 2, column 3: expected a key in double quotes")
        XCTAssertEqual(parseError("[1, \u{FEFF}2]"), "line 1, column 5: unexpected character U+FEFF, expected a value")
        XCTAssertEqual(parseError(bytes: bom + bom + Array("1".utf8)), "line 1, column 1: unexpected character U+FEFF, expected a value")
        XCTAssertEqual(parseError(bytes: bom), "line 1, column 1: unexpected end of file, expected a value")
    }

    // MARK: - Strictness

    func testStringsAreStrict() {
        XCTAssertEqual(parseError(#"["a\x"]"#), #"line 1, column 4: invalid escape \x in a string; JSON's escapes are \" \\ \/ \b \f \n \r \t \uXXXX"#)
        XCTAssertEqual(parseError("[\"a\tb\"]"), #"line 1, column 4: control character U+0009 inside a string; write it as an escape (\n, \t, \u00XX)"#)
        XCTAssertEqual(parseError(bytes: Array("[\"ab".utf8) + [0xFF] + Array("\"]".utf8)),
                       "line 1, column 5: invalid UTF-8 (byte 0xFF) inside a string; save the file as UTF-8")
        // Overlong forms and encoded surrogates are not UTF-8 either.
        XCTAssertTrue(parseError(bytes: [0x22, 0xC0, 0xAF, 0x22]).hasSuffix("invalid UTF-8 (byte 0xC0) inside a string; save the file as UTF-8"))
        XCTAssertTrue(parseError(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22]).hasSuffix("invalid UTF-8 (byte 0xED) inside a string; save the file as UTF-8"))
        XCTAssertEqual(parseError(#""\ud83d""#), #"line 1, column 2: invalid \u escape: \uD83D is the first half of a surrogate pair, and no second half (\uDC00 to \uDFFF) follows"#)
        XCTAssertEqual(parseError(#""\ud83d\u0041""#), #"line 1, column 2: invalid \u escape: \uD83D is the first half of a surrogate pair, and no second half (\uDC00 to \uDFFF) follows"#)
        XCTAssertEqual(parseError(#""x\ude00""#), #"line 1, column 3: invalid \u escape: \uDE00 is the second half of a surrogate pair without its first half"#)
        XCTAssertEqual(parseError(#""\u12g4""#), #"line 1, column 2: invalid \u escape, expected four hex digits after \u"#)
        XCTAssertEqual(parseError("\"abc"), "line 1, column 5: unterminated string")
        XCTAssertEqual(parseError("\"abc\\"), "line 1, column 6: unterminated string")
    }

    func testStructureErrors() {
        XCTAssertEqual(parseError("{\"a\": 1,\n"), "line 2, column 1: unexpected end of file inside an object")
        XCTAssertEqual(parseError("{\"a\" 1}"), #"line 1, column 6: expected ':' after key "a""#)
        XCTAssertEqual(parseError("{\"a\": 1 \"b\": 2}"), "line 1, column 9: expected ',' or '}' in an object")
        XCTAssertEqual(parseError("[1 2]"), "line 1, column 4: expected ',' or ']' in an array")
        XCTAssertEqual(parseError("[1,"), "line 1, column 4: unexpected end of file, expected a value")
        XCTAssertEqual(parseError("[1"), "line 1, column 3: unexpected end of file inside an array")
        XCTAssertEqual(parseError("tru"), "line 1, column 1: invalid literal, expected true")
        XCTAssertEqual(parseError("nul1"), "line 1, column 1: invalid literal, expected null")
        XCTAssertEqual(parseError("1 2"), "line 1, column 3: unexpected text after the JSON value")
        XCTAssertEqual(parseError("[é]"), "line 1, column 2: unexpected character 'é' (U+00E9), expected a value")
        XCTAssertEqual(parseError(bytes: [0x5B, 0x80, 0x5D]), "line 1, column 2: unexpected byte 0x80, expected a value")
        // Columns count characters, not bytes.
        XCTAssertEqual(parseError(#"{"é": x}"#), "line 1, column 7: unexpected character 'x', expected a value")
        // A duplicate key is reported where it stands (second occurrence), small objects and large.
        XCTAssertEqual(parseError("{\"a\": 1,\n \"a\": 2}"), #"line 2, column 2: duplicate key "a""#)
        let many = (0..<40).map { "\"k\($0)\": \($0)" }.joined(separator: ", ")
        XCTAssertEqual(parseError("{\(many), \"k7\": 0}"), #"line 1, column 422: duplicate key "k7""#)
        // Nesting is bounded.
        XCTAssertEqual(parseError(String(repeating: "[", count: 300)), "line 1, column 257: arrays and objects nested deeper than 256 levels")
        XCTAssertNoThrow(try JSONParser.parse(String(repeating: "{\"a\":", count: 256) + "1" + String(repeating: "}", count: 256)))
    }

    // MARK: - Numbers

    func testNumbersBeyondEveryRangeNeverTrap() throws {
        let huge = String(repeating: "9", count: 400)
        for text in ["1e400", "-1e400", huge, "-" + huge, "0." + huge, huge + "." + huge + "e999999999999",
                     "99999999999999999999999", "-9223372036854775809", "9223372036854775808", "1e99999999999999999999"] {
            let v = try JSONParser.parse("[\(text)]").arrayValue![0]
            // Shown as written (cut to 60 characters), never read as an integer or an infinite Double.
            XCTAssertEqual(v.kind, "the number " + (text.count > 60 ? String(text.prefix(60)) + "…" : text))
            XCTAssertLessThanOrEqual(v.describe.count, 61)
            XCTAssertEqual(v.typeName, "a number")
            if case .value = v.integer(in: Int64.min + 1...Int64.max, allowDecimal: true) { XCTFail(text) }
            _ = v.intValue  // its Double, maybe rounded (-2^63, 1), never a trap
            if let d = v.doubleValue { XCTAssertTrue(d.isFinite) }
            _ = v.serialized()
        }
        XCTAssertNil(try JSONParser.parse("1e400").doubleValue)
        XCTAssertEqual(try JSONParser.parse("1e-400").doubleValue, 0)
        XCTAssertEqual(try JSONParser.parse("[1e400]").serialized(pretty: false), "[null]")
        // describe (config and checkpoint messages) shows long integers by their Double, kind as written.
        XCTAssertEqual(try JSONParser.parse("99999999999999999999999").describe, "1e+23")
        XCTAssertEqual(try JSONParser.parse("1e400").describe, "1e400")
        XCTAssertEqual(try JSONParser.parse("2.50").describe, "2.50")
        XCTAssertEqual(try JSONParser.parse("-0").describe, "0")
    }

    func testIntegerReadingIsExact() throws {
        func reading(_ text: String, in range: ClosedRange<Int64> = Int64.min...Int64.max, allowDecimal: Bool = false) throws -> JSONValue.IntegerReading {
            try JSONParser.parse(text).integer(in: range, allowDecimal: allowDecimal)
        }
        XCTAssertEqual(try reading("9007199254740993"), .value(9_007_199_254_740_993))  // 2^53 + 1: a Double would say 2^53
        XCTAssertEqual(try JSONParser.parse("9007199254740993").intValue, 9_007_199_254_740_992)  // intValue reads the Double
        XCTAssertEqual(try reading("9223372036854775807"), .value(Int64.max))
        XCTAssertEqual(try reading("-9223372036854775808"), .value(Int64.min))
        XCTAssertEqual(try reading("9223372036854775808"), .outOfRange)
        XCTAssertEqual(try reading("-9223372036854775809"), .outOfRange)
        XCTAssertEqual(try reading("-0"), .value(0))
        XCTAssertEqual(try reading("12", in: 0...11), .outOfRange)
        XCTAssertEqual(try reading("-1", in: 0...11), .outOfRange)
        XCTAssertEqual(try reading("3.0"), .notAnInteger)
        XCTAssertEqual(try reading("3.0", allowDecimal: true), .value(3))
        XCTAssertEqual(try reading("1e3", allowDecimal: true), .value(1000))
        XCTAssertEqual(try reading("2.5", allowDecimal: true), .notAnInteger)
        // Decimals are read from their digits too, not from a Double that rounds them.
        XCTAssertEqual(try reading("1e-400", allowDecimal: true), .notAnInteger)
        XCTAssertEqual(try reading("0." + String(repeating: "9", count: 400), allowDecimal: true), .notAnInteger)
        XCTAssertEqual(try reading("9007199254740993.0", allowDecimal: true), .value(9_007_199_254_740_993))
        XCTAssertEqual(try reading("12.50e1", allowDecimal: true), .value(125))
        XCTAssertEqual(try reading("-0.0e7", allowDecimal: true), .value(0))
        XCTAssertEqual(try reading("1e16", allowDecimal: true), .value(10_000_000_000_000_000))
        XCTAssertEqual(try reading("9.223372036854775807e18", allowDecimal: true), .value(Int64.max))
        XCTAssertEqual(try reading("9.223372036854775808e18", allowDecimal: true), .outOfRange)
        XCTAssertEqual(try reading("1e19", allowDecimal: true), .outOfRange)
        XCTAssertEqual(try reading("1e400", allowDecimal: true), .outOfRange)
        XCTAssertEqual(try reading("1" + String(repeating: "0", count: 100_000) + "e-100000", allowDecimal: true), .value(1))
        XCTAssertEqual(try reading("1e-99999999999999999999", allowDecimal: true), .notAnInteger)
        XCTAssertEqual(try reading("\"3\""), .notANumber)
        XCTAssertEqual(try reading("true"), .notANumber)
        XCTAssertEqual(try JSONParser.parse("3.0").intValue, 3)
        XCTAssertNil(try JSONParser.parse("2.5").intValue)
        // Integers of every length up to 20 digits, both signs, at the edges of each length and at
        // random, read as Swift's own Int64 parser reads them (short ones take a path of their own).
        var rng = SystemRandomNumberGenerator()
        for length in 1...20 {
            var texts = [String(repeating: "9", count: length), "1" + String(repeating: "0", count: length - 1)]
            for _ in 0..<20 { texts.append(String(Int.random(in: 1...9, using: &rng)) + String((1..<length).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })) }
            if length == 1 { texts.append("0") }
            for text in texts + texts.map({ "-" + $0 }) {
                XCTAssertEqual(try reading(text), Int64(text).map { .value($0) } ?? .outOfRange, text)
                XCTAssertEqual(try reading(text, in: 0...999), Int64(text).map { (0...999).contains($0) ? .value($0) : .outOfRange } ?? .outOfRange, text)
            }
        }
        // Numbers made in code follow the same rules.
        XCTAssertEqual(JSONValue.number(42, isInteger: true).integer(), .value(42))
        XCTAssertEqual(JSONValue.number(1e300, isInteger: true).integer(), .outOfRange)
        XCTAssertEqual(JSONValue.number(.infinity, isInteger: false).integer(allowDecimal: true), .outOfRange)
        XCTAssertEqual(JSONValue.number(.nan, isInteger: false).integer(allowDecimal: true), .notAnInteger)
        XCTAssertEqual(JSONValue.number(12, isInteger: true).describe, "12")
        XCTAssertEqual(JSONValue.number(0.5, isInteger: false).describe, "0.5")
    }

    func testNumberGrammar() {
        XCTAssertEqual(parseError("01"), #"line 1, column 1: invalid number "01": leading zeros are not allowed in JSON"#)
        XCTAssertEqual(parseError("-"), #"line 1, column 1: invalid number "-": expected a digit after '-'"#)
        XCTAssertEqual(parseError("[1.]"), #"line 1, column 2: invalid number "1.": expected a digit after '.'"#)
        XCTAssertEqual(parseError("1e+"), #"line 1, column 1: invalid number "1e+": expected a digit in the exponent"#)
        XCTAssertEqual(parseError("+1"), "line 1, column 1: unexpected character '+', expected a value")
        XCTAssertEqual(parseError("NaN"), "line 1, column 1: unexpected character 'N', expected a value")
        // A long bad number is quoted shortened.
        XCTAssertEqual(parseError("0" + String(repeating: "1", count: 100_000)),
                       "line 1, column 1: invalid number \"0" + String(repeating: "1", count: 59) + "…\": leading zeros are not allowed in JSON")
    }

    // MARK: - Messages quote at most 60 characters

    func testLongTextInMessagesIsCut() {
        let long = String(repeating: "k", count: 100_000)
        let cut = "\"" + String(repeating: "k", count: 60) + "…\""
        XCTAssertEqual(parseError("{\"\(long)\" 1}"), "line 1, column 100005: expected ':' after key \(cut)")
        XCTAssertEqual(parseError("{\"\(long)\": 1, \"\(long)\": 2}"), "line 1, column 100009: duplicate key \(cut)")
        XCTAssertEqual(JSONValue.string(long).describe, cut)
        XCTAssertEqual(JSONValue.string(long).kind, "the string " + cut)
        XCTAssertEqual(JSONValue.excerpt(long), cut)
        XCTAssertEqual(JSONValue.plainExcerpt(long), cut)
        XCTAssertEqual(JSONValue.plainExcerpt("ppo.kl_coef"), "ppo.kl_coef")
        XCTAssertEqual(JSONValue.plainExcerpt("a\nb"), #""a\nb""#)
        // One grapheme cluster of 100,001 scalars is cut too (the cut counts scalars).
        let cluster = "a" + String(repeating: "\u{301}", count: 100_000)
        XCTAssertEqual(JSONValue.excerpt(cluster).unicodeScalars.count, 63)
        // Invisible and line-breaking characters are escaped, so a message stays one visible line.
        XCTAssertEqual(JSONValue.excerpt("a\u{2028}b\u{202E}c\u{7F}\u{85}\u{FEFF}\u{E0001}é"), #""a\u2028b\u202ec\u007f\u0085\ufeff\udb40\udc01é""#)
    }

    func testQuoteWritesAsSerdeJSON() throws {
        XCTAssertEqual(JSONValue.quote("a\"b\\c\n\r\t\u{08}\u{0C}\u{1F}\u{7F}é/"), #""a\"b\\c\n\r\t\b\f\u001f"# + "\u{7F}é/\"")
        XCTAssertEqual(JSONValue.quote("plain"), "\"plain\"")
        for s in ["", "a\u{0}b", "\u{10FFFF}", "Ġthe", "\\u0041"] {
            XCTAssertEqual(try JSONParser.parse(JSONValue.quote(s)).stringValue, s)
        }
    }

    // MARK: - Speed

    /// GPT-2's vocabulary is one object of 50,257 keys: it must parse in well under a second.
    func testLargeObjectParsesFast() throws {
        var text = "{"
        for i in 0..<50_257 { text += (i == 0 ? "" : ",") + JSONValue.quote("Ġtok\(i)é") + ":\(i)" }
        text += "}"
        let start = Date()
        let v = try JSONParser.parse(text)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(v.objectValue?.count, 50_257)
        XCTAssertEqual(v.dictionaryValue?["Ġtok50256é"]?.intValue, 50_256)
        XCTAssertLessThan(seconds, 0.5, "50,257 keys took \(seconds) s")
    }
}
