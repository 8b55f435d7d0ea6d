// MARK: - Quoting

extension JSONValue {
    /// How many characters (Unicode scalars) of user text a message quotes before cutting it
    /// with an ellipsis: a 100,000-character key or value is never printed whole.
    public static let excerptLength = 60

    /// A JSON string literal, for writing files: quotes, backslashes and control characters
    /// escaped (`\b \f \n \r \t`, else `\u00XX`), everything else written as UTF-8, as
    /// serde_json (Hugging Face's writer) writes it.
    public static func quote(_ s: String) -> String {
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) { return "\"" + s + "\"" }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 { out += unicodeEscape(u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// User text as a message quotes it: a JSON string literal of at most `limit` characters
    /// (Unicode scalars, so that no grapheme cluster, however long, escapes the cut) followed by
    /// `…` when longer, with every control, format and line-separator character escaped, so the
    /// message stays one visible line.
    public static func excerpt(_ s: String, limit: Int = excerptLength) -> String {
        var out = "\""
        var count = 0
        for u in s.unicodeScalars {
            if count == limit { return out + "…\"" }
            count += 1
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if needsEscapeInMessage(u) {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        out += unicodeEscape(0xD800 + (v >> 10)) + unicodeEscape(0xDC00 + (v & 0x3FF))
                    } else {
                        out += unicodeEscape(u.value)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// The text itself when it is at most `limit` characters with nothing to escape (a key, a
    /// file name: `ppo.kl_coef`, `configs/base.json`); else its quoted `excerpt`.
    public static func plainExcerpt(_ s: String, limit: Int = excerptLength) -> String {
        var count = 0
        for u in s.unicodeScalars {
            count += 1
            if count > limit || u == "\"" || u == "\\" || needsEscapeInMessage(u) { return excerpt(s, limit: limit) }
        }
        return s
    }

    /// Controls (C0, DEL, C1), format characters (bidirectional overrides, zero-width joiners,
    /// the byte-order mark) and line or paragraph separators: invisible, or breaking the line.
    static func needsEscapeInMessage(_ u: Unicode.Scalar) -> Bool {
        if u.value < 0x20 || (0x7F...0x9F).contains(u.value) { return true }
        if u.value < 0xA0 { return false }
        switch u.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    static func unicodeEscape(_ v: UInt32) -> String {
        let hex = String(v, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
