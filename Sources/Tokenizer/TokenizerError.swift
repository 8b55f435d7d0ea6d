import Foundation

/// Errors raised while reading or writing a tokenizer file.
///
/// Every `description` is a single line of the form
/// `tokenizer file <path>: <what was expected / found>; <how to fix it>`.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// Nothing exists at the path.
    case fileNotFound(path: String)
    /// The file exists but could not be read (permissions, it is a directory, I/O error).
    case unreadable(path: String, reason: String)
    /// The file is not JSON, or its top level is not a JSON object. `found` says what was there.
    case invalidJSON(path: String, found: String)
    /// The `"format"` key is missing or names another format. `found` is already rendered
    /// (a quoted string, or a phrase such as `no "format" key`).
    case wrongFormat(path: String, found: String)
    /// The format tag is right but a field is missing or inconsistent.
    case invalidContents(path: String, expected: String, found: String)
    /// Writing the file (or moving the temporary file into place) failed.
    case writeFailed(path: String, reason: String)

    /// The format tag written into (and required from) every tokenizer file.
    public static let formatTag = "rlhf-bpe-v1"

    static let regenerateHint = "re-run the tokenizer stage or point to a file written by it"

    public var description: String {
        let text: String
        switch self {
        case let .fileNotFound(path):
            text = "tokenizer file \(path): not found, expected a JSON file written by the tokenizer stage; "
                + "run the tokenizer stage first or fix the path"
        case let .unreadable(path, reason):
            text = "tokenizer file \(path): could not be read (\(reason)), expected a readable JSON file; "
                + "check the path and its permissions or re-run the tokenizer stage"
        case let .invalidJSON(path, found):
            text = "tokenizer file \(path): expected a JSON object, found \(found); \(Self.regenerateHint)"
        case let .wrongFormat(path, found):
            text = "tokenizer file \(path): expected \"format\": \"\(Self.formatTag)\", found \(found); "
                + Self.regenerateHint
        case let .invalidContents(path, expected, found):
            text = "tokenizer file \(path): expected \(expected), found \(found); \(Self.regenerateHint)"
        case let .writeFailed(path, reason):
            text = "tokenizer file \(path): could not be written (\(reason)); "
                + "check that the directory exists, is writable and has free space"
        }
        return Self.singleLine(text)
    }

    /// Collapses any line breaks that slipped in through system error messages.
    static func singleLine(_ s: String) -> String {
        guard s.contains(where: { $0.isNewline }) else { return s }
        return s.split(whereSeparator: { $0.isNewline }).joined(separator: " ")
    }
}

extension TokenizerError: LocalizedError {
    public var errorDescription: String? { description }
}
