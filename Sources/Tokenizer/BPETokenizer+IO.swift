import Files
import Foundation
import JSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BPETokenizer {
    // MARK: - Loading

    /// Reads a tokenizer file or directory:
    /// - a Hugging Face `tokenizer.json` (with the `tokenizer_config.json` and
    ///   `special_tokens_map.json` beside it, when they exist);
    /// - the project's older `{"format": "rlhf-bpe-v1", ...}` file (loads exactly as before);
    /// - a directory: see `load(directory:)`.
    public static func load(from url: URL) throws -> BPETokenizer {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenizerError.fileNotFound(path: path)
        }
        if isDirectory.boolValue { return try load(directory: url) }
        let json = try readJSONFile(url)
        guard let object = json.dictionaryValue else {
            throw TokenizerError.invalidJSON(path: path, found: json.kind)
        }
        if let format = object["format"] {
            guard let tag = format.stringValue else { throw TokenizerError.wrongFormat(path: path, found: format.kind) }
            guard tag == TokenizerError.formatTag else { throw TokenizerError.wrongFormat(path: path, found: JSONValue.excerpt(tag)) }
            return try readLegacy(object, path: path)
        }
        guard object["model"] != nil else {
            let keys = object.keys.sorted().prefix(4).map { JSONValue.excerpt($0) }.joined(separator: ", ")
            throw TokenizerError.unknownFormat(path: path, found: object.isEmpty ? "an empty object" : "an object with the keys \(keys)")
        }
        let settings = try HFSettings.read(directory: url.deletingLastPathComponent(), includeAddedTokensFile: false)
        return try readTokenizerJSON(object, path: path, settings: settings)
    }

    /// Reads a model directory as transformers' `AutoTokenizer.from_pretrained` does:
    /// `tokenizer.json` when present, else `vocab.json` + `merges.txt` (+ `added_tokens.json`),
    /// with `tokenizer_config.json` (eos/pad/bos tokens, `split_special_tokens`,
    /// `model_max_length`, `added_tokens_decoder`) and `special_tokens_map.json` when present.
    public static func load(directory: URL) throws -> BPETokenizer {
        let fm = FileManager.default
        let tokenizerJSON = directory.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: tokenizerJSON.path) { return try load(from: tokenizerJSON) }
        let vocab = directory.appendingPathComponent("vocab.json")
        let merges = directory.appendingPathComponent("merges.txt")
        guard fm.fileExists(atPath: vocab.path) && fm.fileExists(atPath: merges.path) else {
            throw TokenizerError.noTokenizerFiles(directory: directory.path)
        }
        let settings = try HFSettings.read(directory: directory, includeAddedTokensFile: true)
        return try readVocabAndMerges(vocabURL: vocab, mergesURL: merges, settings: settings)
    }

    // MARK: - The project's older format

    /// `{"format": "rlhf-bpe-v1", "vocab_size": N, "merges": [[a, b], ...], "special": {...}}`,
    /// checked for consistent merges, vocabulary size and special ids.
    static func readLegacy(_ object: [String: JSONValue], path: String) throws -> BPETokenizer {
        func invalid(_ expected: String, _ found: String) -> TokenizerError {
            .invalidContents(path: path, expected: expected, found: found)
        }
        func integer(_ value: JSONValue?) -> Int? {
            guard let value, case let .value(v) = value.integer(allowDecimal: true) else { return nil }
            return Int(v)
        }
        if let unknown = object.keys.filter({ !["format", "vocab_size", "merges", "special"].contains($0) }).sorted().first {
            throw invalid("only the keys \"format\", \"vocab_size\", \"merges\" and \"special\"", JSONValue.excerpt(unknown))
        }
        guard let rawMerges = object["merges"]?.arrayValue else {
            throw invalid("\"merges\" to be an array of [left, right] id pairs", object["merges"]?.kind ?? "no \"merges\" key")
        }
        var merges: [(left: Int32, right: Int32)] = []
        merges.reserveCapacity(rawMerges.count)
        // Training never merges a pair twice; a repeated pair would make its later token unreachable.
        var seen: [Int64: Int] = [:]
        for (rank, rawPair) in rawMerges.enumerated() {
            let limit = byteTokenCount + rank
            let expected = "merges[\(rank)] to be a pair of token ids in 0..<\(limit)"
            guard let pair = rawPair.arrayValue, pair.count == 2, let left = integer(pair[0]), let right = integer(pair[1]) else {
                throw invalid(expected, rawPair.kind)
            }
            guard (0..<limit).contains(left), (0..<limit).contains(right) else {
                throw invalid(expected, "[\(left), \(right)]")
            }
            if let first = seen.updateValue(rank, forKey: Int64(left) << 32 | Int64(right)) {
                throw invalid("merges[\(rank)] to differ from every earlier merge", "[\(left), \(right)] again (merges[\(first)])")
            }
            merges.append((Int32(left), Int32(right)))
        }

        let expectedSize = byteTokenCount + merges.count + 2
        guard let vocabSize = integer(object["vocab_size"]) else {
            throw invalid("\"vocab_size\": \(expectedSize) (an integer)", object["vocab_size"]?.kind ?? "no \"vocab_size\" key")
        }
        guard vocabSize == expectedSize else {
            throw invalid("\"vocab_size\": \(expectedSize) (256 bytes + \(merges.count) merges + 2 special tokens)", "\(vocabSize)")
        }
        guard let special = object["special"]?.dictionaryValue else {
            throw invalid("\"special\" to be an object of special token ids", object["special"]?.kind ?? "no \"special\" key")
        }
        let expectedIds = [(eosToken, expectedSize - 2), (padToken, expectedSize - 1)]
        for (name, expectedId) in expectedIds {
            let id = integer(special[name])
            guard id == expectedId else {
                throw invalid("\"special\" id of \(name) to be \(expectedId)", id.map(String.init) ?? special[name]?.kind ?? "no such key")
            }
        }
        if let extra = special.keys.filter({ $0 != eosToken && $0 != padToken }).sorted().first {
            throw invalid("only \(eosToken) and \(padToken) in \"special\"", JSONValue.excerpt(extra))
        }
        return BPETokenizer(merges: merges)
    }

    // MARK: - Writing

    /// Writes the tokenizer as a Hugging Face `tokenizer.json` at `url` (loadable by
    /// `tokenizers.Tokenizer.from_file`, giving the same ids) and a `tokenizer_config.json` beside
    /// it recording the special-token rule (`split_special_tokens`) and the special tokens, so
    /// that `AutoTokenizer.from_pretrained` of the directory encodes as this tokenizer does and
    /// `load(from: url)` gives it back. In the project's own layout byte `b` is id `b` (spelled in
    /// the byte-level alphabet), merge `r` is `256 + r`, and `<|endoftext|>` and `<|pad|>` are added
    /// special tokens. Merges are written as `"left right"` strings, which every version of
    /// `tokenizers` reads.
    ///
    /// Each file is replaced whole (`DurableFile`): readers never see a half-written file, and a
    /// failure is a `FileWriteError` naming the file. Missing parent directories are created.
    public func save(to url: URL) throws {
        let keys = try vocabularyKeys(path: url.path)
        try DurableFile.write(tokenizerJSON(keys: keys), to: url)
        try DurableFile.write(tokenizerConfigJSON(modelMaxLength: modelMaxLength),
                                 to: url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json"))
    }

    /// Writes the files transformers' `save_pretrained` writes for a GPT-2 tokenizer into
    /// `directory`: `tokenizer.json`, `vocab.json`, `merges.txt`, `tokenizer_config.json`
    /// (`tokenizer_class` GPT2Tokenizer, `model_max_length`, the special tokens, `add_prefix_space`
    /// and `clean_up_tokenization_spaces` false, `split_special_tokens` per the rule) and
    /// `special_tokens_map.json`. Use `addingPadToken()` first when the exported model needs a pad
    /// id distinct from EOS.
    public func savePretrained(to directory: URL, modelMaxLength: Int) throws {
        let keys = try vocabularyKeys(path: directory.appendingPathComponent("tokenizer.json").path)
        try DurableFile.write(tokenizerJSON(keys: keys), to: directory.appendingPathComponent("tokenizer.json"))
        var vocab = "{"
        for (id, key) in keys.enumerated() {
            vocab += (id == 0 ? "" : ",") + JSONValue.quote(key) + ":\(id)"
        }
        vocab += "}"
        try DurableFile.write(vocab, to: directory.appendingPathComponent("vocab.json"))
        var mergesText = "#version: 0.2\n"
        for merge in merges {
            mergesText += keys[Int(merge.left)] + " " + keys[Int(merge.right)] + "\n"
        }
        try DurableFile.write(mergesText, to: directory.appendingPathComponent("merges.txt"))
        try DurableFile.write(tokenizerConfigJSON(modelMaxLength: modelMaxLength), to: directory.appendingPathComponent("tokenizer_config.json"))
        var map: [(String, String)] = []
        for (name, id) in [("bos_token", bosId), ("eos_token", eosId), ("unk_token", unkId), ("pad_token", hasPadToken ? padId : nil)] {
            guard let id, let token = addedTokens.first(where: { $0.id == id }) else { continue }
            map.append((name, addedTokenObject(token, withId: false)))
        }
        try DurableFile.write("{\n" + map.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n",
                                 to: directory.appendingPathComponent("special_tokens_map.json"))
    }

    /// This tokenizer with a pad token of its own, for an exported model that needs a pad id
    /// distinct from EOS (transformers' `add_special_tokens({"pad_token": content})`): `content`
    /// becomes a special added token (id `vocabSize`, unless it already is a token) and `padId`.
    /// A tokenizer that already has a pad token is returned unchanged.
    public func addingPadToken(_ content: String = BPETokenizer.padToken) -> BPETokenizer {
        if hasPadToken { return self }
        var parts = self.parts
        let id: Int32
        if let index = parts.addedTokens.firstIndex(where: { $0.content == content }) {
            id = parts.addedTokens[index].id
            parts.addedTokens[index].special = true
        } else {
            id = tokenId(content) ?? Int32(vocabSize)
            parts.addedTokens.append(AddedToken(content: content, id: id, special: true))
        }
        parts.padId = id
        return BPETokenizer(parts)
    }

    /// The parts this tokenizer was built from.
    var parts: Parts {
        Parts(byteIds: byteIds, merges: merges, mergeResults: mergeResults,
              modelTokenBytes: (0..<modelVocabSize).map { bytes(ofToken: Int32($0)) }, addedTokens: addedTokens,
              eosId: eosId, padId: hasPadToken ? padId : nil, bosId: bosId, unkId: unkId, rule: specialTokenRule,
              modelMaxLength: modelMaxLength)
    }

    /// The Hugging Face vocabulary key of every model id: an added token's content, else the
    /// token's bytes in the byte-level alphabet. Fails when two ids would get one key (the HF
    /// vocabulary maps strings to ids) or an added token's content is another token's key.
    func vocabularyKeys(path: String) throws -> [String] {
        var keys: [String] = []
        keys.reserveCapacity(modelVocabSize)
        var idOfKey: [String: Int] = [:]
        var addedContent: [Int32: String] = [:]
        for token in addedTokens where addedContent[token.id] == nil { addedContent[token.id] = token.content }
        for id in 0..<modelVocabSize {
            let key = addedContent[Int32(id)] ?? ByteLevel.string(of: bytes(ofToken: Int32(id)))
            if let other = idOfKey.updateValue(id, forKey: key) {
                throw TokenizerError.notRepresentable(path: path, reason: "tokens \(other) and \(id) are both \(JSONValue.excerpt(key)), which a Hugging Face vocabulary cannot hold")
            }
            keys.append(key)
        }
        for token in addedTokens where Int(token.id) >= modelVocabSize {
            if let other = idOfKey[token.content] {
                throw TokenizerError.notRepresentable(path: path, reason: "added token \(token.id) \(JSONValue.excerpt(token.content)) is also token \(other) of the vocabulary")
            }
        }
        return keys
    }

    private func addedTokenObject(_ token: AddedToken, withId: Bool) -> String {
        (withId ? "{\"id\": \(token.id), " : "{") + "\"content\": \(JSONValue.quote(token.content)), \"single_word\": \(token.singleWord), "
            + "\"lstrip\": \(token.lstrip), \"rstrip\": \(token.rstrip), \"normalized\": \(token.normalized), \"special\": \(token.special)}"
    }

    /// tokenizer.json in the layout `tokenizers` writes (GPT-2's settings).
    private func tokenizerJSON(keys: [String]) -> String {
        var json = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        for (i, token) in addedTokens.enumerated() {
            json += (i == 0 ? "\n    " : ",\n    ") + addedTokenObject(token, withId: true)
        }
        json += addedTokens.isEmpty ? "],\n" : "\n  ],\n"
        json += """
              "normalizer": null,
              "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
              "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
              "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
              "model": {
                "type": "BPE",
                "dropout": null,
                "unk_token": null,
                "continuing_subword_prefix": null,
                "end_of_word_suffix": null,
                "fuse_unk": false,
                "byte_fallback": false,
                "ignore_merges": false,
                "vocab": {
            """
        for (id, key) in keys.enumerated() {
            json += (id == 0 ? "\n      " : ",\n      ") + JSONValue.quote(key) + ": \(id)"
        }
        json += keys.isEmpty ? "},\n" : "\n    },\n"
        json += "    \"merges\": ["
        for (rank, merge) in merges.enumerated() {
            json += (rank == 0 ? "\n      " : ",\n      ") + JSONValue.quote(keys[Int(merge.left)] + " " + keys[Int(merge.right)])
        }
        json += merges.isEmpty ? "]\n" : "\n    ]\n"
        json += "  }\n}\n"
        return json
    }

    /// tokenizer_config.json as transformers writes it for GPT-2, with this tokenizer's special
    /// tokens and rule.
    private func tokenizerConfigJSON(modelMaxLength: Int?) -> String {
        func tokenValue(_ id: Int32?) -> String {
            guard let id, let token = addedTokens.first(where: { $0.id == id }) else { return "null" }
            return JSONValue.quote(token.content)
        }
        var lines: [String] = []
        lines.append("\"add_prefix_space\": false")
        var decoder = "\"added_tokens_decoder\": {"
        for (i, token) in addedTokens.enumerated() {
            decoder += (i == 0 ? "\n    " : ",\n    ") + "\"\(token.id)\": " + addedTokenObject(token, withId: false)
        }
        decoder += addedTokens.isEmpty ? "}" : "\n  }"
        lines.append(decoder)
        lines.append("\"bos_token\": " + tokenValue(bosId))
        lines.append("\"clean_up_tokenization_spaces\": false")
        lines.append("\"eos_token\": " + tokenValue(eosId))
        lines.append("\"errors\": \"replace\"")
        if let modelMaxLength { lines.append("\"model_max_length\": \(modelMaxLength)") }
        lines.append("\"pad_token\": " + tokenValue(hasPadToken ? padId : nil))
        lines.append("\"split_special_tokens\": \(specialTokenRule == .bytes)")
        lines.append("\"tokenizer_class\": \"GPT2Tokenizer\"")
        lines.append("\"unk_token\": " + tokenValue(unkId))
        return "{\n  " + lines.joined(separator: ",\n  ") + "\n}\n"
    }

    static func describe(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return nsError.localizedDescription
    }
}
