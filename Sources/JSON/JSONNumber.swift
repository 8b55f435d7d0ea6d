/// How a number was written.
///
/// A number read from a document keeps its text, so that messages quote it as written (`1e400`,
/// a 300-digit integer) and integers are read exactly at any length (see `JSONValue.integer`);
/// its Double (the second view of the same text) may be rounded or infinite. Numbers made in code
/// have no text: `.number(3, isInteger: true)`.
public struct JSONNumberSyntax: Hashable, Sendable {
    /// Written without a fraction or an exponent (`3`, `-12`), as opposed to `3.0` or `1e3`.
    public var isInteger: Bool
    /// The number as it stood in the document; nil for numbers made in code.
    public var text: String?

    public init(isInteger: Bool, text: String? = nil) {
        self.isInteger = isInteger
        self.text = text
    }
}

extension JSONValue {
    /// A number made in code (no document text).
    public static func number(_ value: Double, isInteger: Bool) -> JSONValue {
        .number(value, JSONNumberSyntax(isInteger: isInteger))
    }

    /// The outcome of reading a value as an integer.
    public enum IntegerReading: Equatable, Sendable {
        case value(Int64)
        /// Not a number at all (a string, a boolean, null, an array, an object).
        case notANumber
        /// A number with a fraction (`2.5`), or, unless decimals are allowed, written with a
        /// fraction or exponent (`3.0`, `1e3`).
        case notAnInteger
        /// An integer outside the range asked for, or beyond Int64.
        case outOfRange
    }

    /// Reads the value as an integer in `range`, exactly and with no conversion that can trap.
    ///
    /// A number read from a document is read from its text, not its Double: `9007199254740993`
    /// is itself (a Double would round it to 2^53), a 300-digit integer or `1e400` is
    /// `.outOfRange` (never rounded, never infinite), and `0.` followed by 400 nines is
    /// `.notAnInteger` (its Double is 1). Written with a fraction or an exponent (`3.0`, `1e3`),
    /// a number counts only with `allowDecimal`, and then when its value is integral. A number
    /// made in code (no text) is read from its Double, which is then its exact value.
    public func integer(in range: ClosedRange<Int64> = Int64.min...Int64.max, allowDecimal: Bool = false) -> IntegerReading {
        guard case let .number(d, syntax) = self else { return .notANumber }
        if !syntax.isInteger && !allowDecimal { return .notAnInteger }
        let reading: IntegerReading
        if let text = syntax.text {
            reading = JSONValue.shortInteger(text, isInteger: syntax.isInteger) ?? JSONValue.exactInteger(text)
        } else if d != d.rounded() {
            reading = .notAnInteger
        } else if let v = Int64(exactly: d) {
            reading = .value(v)
        } else {
            reading = .outOfRange
        }
        if case let .value(v) = reading, !range.contains(v) { return .outOfRange }
        return reading
    }

    /// An integer written as at most 18 characters of digits (and a leading minus), which Int64
    /// holds whatever the digits: read directly, with no allocation (a vocabulary is tens of
    /// thousands of such ids). Nil for any other text, which `exactInteger` reads.
    static func shortInteger(_ text: String, isInteger: Bool) -> IntegerReading? {
        guard isInteger, text.utf8.count <= 18 else { return nil }
        var value: Int64 = 0, negative = false, digits = 0
        for b in text.utf8 {
            if b == UInt8(ascii: "-") && digits == 0 && !negative {
                negative = true
            } else if b >= 48 && b <= 57 {
                value = value * 10 + Int64(b - 48)
                digits += 1
            } else {
                return nil
            }
        }
        guard digits > 0 else { return nil }
        return .value(negative ? -value : value)
    }

    /// The integer a number of JSON's grammar (`-?int(.frac)?(e[+-]?exp)?`) denotes, from its
    /// digits: `.notAnInteger` when its value has a fraction, `.outOfRange` past Int64.
    static func exactInteger(_ text: String) -> IntegerReading {
        var digits: [UInt8] = []  // significant digits of the mantissa, leading zeros dropped
        var fractionDigits = 0    // how many digits (dropped zeros included) follow the point
        var exponent = 0
        var negative = false, inFraction = false
        var utf8 = text.utf8.makeIterator()
        while let b = utf8.next() {
            switch b {
            case UInt8(ascii: "-"): negative = true
            case UInt8(ascii: "."): inFraction = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                var expNegative = false
                while let e = utf8.next() {
                    if e == UInt8(ascii: "-") { expNegative = true; continue }
                    if e == UInt8(ascii: "+") { continue }
                    // Saturates: past a billion, every nonzero mantissa is out of range or a fraction.
                    if exponent < 1_000_000_000 { exponent = exponent * 10 + Int(e - 48) }
                }
                if expNegative { exponent = -exponent }
            default:
                if inFraction { fractionDigits += 1 }
                if b != 48 || !digits.isEmpty { digits.append(b - 48) }
            }
        }
        // Trailing zeros of the mantissa only scale it.
        var scale = exponent - fractionDigits
        while digits.last == 0 {
            digits.removeLast()
            scale += 1
        }
        if digits.isEmpty { return .value(0) }
        if scale < 0 { return .notAnInteger }
        if digits.count + scale > 19 { return .outOfRange }
        // Accumulated negatively when negative, so that Int64.min itself is reachable.
        var value: Int64 = 0
        for digit in digits + [UInt8](repeating: 0, count: scale) {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times10.subtractingReportingOverflow(Int64(digit))
                                      : times10.addingReportingOverflow(Int64(digit))
            if o1 || o2 { return .outOfRange }
            value = next
        }
        return .value(value)
    }

    /// The number's Double as an Int when it is integral and within Int's range; nil for other
    /// values, fractions, and numbers too large to convert (converting those would trap). Exact
    /// below 2^53, which holds every range the project's readers accept; past it the Double is
    /// rounded (`9007199254740993` reads as 9007199254740992), so a reader whose range reaches
    /// 2^53 uses `integer(in:)`, which is exact at any size.
    public var intValue: Int? {
        guard case let .number(d, _) = self, d.isFinite else { return nil }
        return Int(exactly: d)
    }

    /// The number as a Double when it is finite; nil for other values and for numbers beyond
    /// Double's range (`1e400`, read as infinity).
    public var doubleValue: Double? {
        if case let .number(d, _) = self, d.isFinite { return d }
        return nil
    }

    /// The number as written (its document text, else made from its Double), for messages and output.
    var numberText: String {
        guard case let .number(d, syntax) = self else { return "" }
        if let text = syntax.text { return text }
        if syntax.isInteger, abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}
