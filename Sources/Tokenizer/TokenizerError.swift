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
    /// The file is not valid JSON: where, and what the reader expected there.
    case syntax(path: String, line: Int, column: Int, message: String)
    /// A JSON object that is neither a Hugging Face tokenizer.json nor an rlhf-bpe-v1 file.
    case unknownFormat(path: String, found: String)
    /// A key of a Hugging Face file holds a wrong or inconsistent value. `key` is a JSON path
    /// (`model.merges[12]`), `fix` says what to do.
    case invalidField(path: String, key: String, expected: String, found: String, fix: String)
    /// A Hugging Face setting that this encoder does not reproduce exactly; refused rather than
    /// approximated. `supported` names what is accepted.
    case unsupported(path: String, key: String, found: String, supported: String)
    /// A line of a text file (merges.txt) is malformed.
    case invalidLine(path: String, line: Int, expected: String, found: String)
    /// A directory holds no tokenizer files.
    case noTokenizerFiles(directory: String)
    /// The tokenizer has no Hugging Face form (two ids with the same bytes, say).
    case notRepresentable(path: String, reason: String)

    /// The format tag written into (and required from) every tokenizer file.
    public static let formatTag = "rlhf-bpe-v1"

    static let regenerateHint = "re-run the tokenizer stage or point to a file written by it"
    /// What to do about an inconsistent Hugging Face file.
    static let rewriteHint = "fix the file or write it again with save_pretrained"

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
        case let .syntax(path, line, column, message):
            text = "tokenizer file \(path): line \(line), column \(column): not valid JSON: \(message); "
                + "fix the file or write it again"
        case let .unknownFormat(path, found):
            text = "tokenizer file \(path): expected a Hugging Face tokenizer.json (with a \"model\" key) or an rlhf "
                + "tokenizer file (\"format\": \"\(Self.formatTag)\"), found \(found); point to a tokenizer.json, "
                + "a directory with tokenizer.json or vocab.json + merges.txt, or re-run the tokenizer stage"
        case let .invalidField(path, key, expected, found, fix):
            text = "tokenizer file \(path): \(key): expected \(expected), found \(found); \(fix)"
        case let .unsupported(path, key, found, supported):
            text = "tokenizer file \(path): \(key) is \(found), which this tokenizer cannot reproduce exactly "
                + "(it supports \(supported)); use a GPT-2-style byte-level BPE tokenizer"
        case let .invalidLine(path, line, expected, found):
            text = "tokenizer file \(path): line \(line): expected \(expected), found \(found); "
                + "fix the line or write the files again with save_pretrained"
        case let .notRepresentable(path, reason):
            text = "tokenizer file \(path): cannot be written as a Hugging Face tokenizer (\(reason)); "
                + "training never makes such a vocabulary, so build the tokenizer again (train it or read it from its files)"
        case let .noTokenizerFiles(directory):
            text = "tokenizer directory \(directory): expected tokenizer.json, or vocab.json and merges.txt, found neither; "
                + "point to a directory written by save_pretrained or by rlhf, or to a tokenizer.json"
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
