import Foundation
import JSON

/// Reading of Hugging Face tokenizer files: `tokenizer.json` (what `tokenizers`' `Tokenizer.save`
/// and transformers' `save_pretrained` write), the older `vocab.json` + `merges.txt`, and the
/// settings beside them (`tokenizer_config.json`, `special_tokens_map.json`, `added_tokens.json`).
///
/// Only what the encoder computes exactly is accepted: a BPE model over GPT-2's byte-level
/// alphabet, the ByteLevel pre-tokenizer with GPT-2's pattern and no prefix space, no normalizer,
/// the ByteLevel decoder, and post-processors that add no tokens. Anything else is refused with
/// one line naming the file and the key; nothing is approximated.
extension BPETokenizer {
    /// Largest vocabulary read (ids must fit the Int32 token ids with room to spare).
    static let maxVocabularySize = 1 << 24
    /// Largest tokenizer file read.
    static let maxFileBytes: Int64 = 1 << 30

    /// A model as `tokenizers` builds it before added tokens: vocabulary keys by id, merges by rank.
    struct HFModel {
        var vocab: [String: Int]
        var merges: [(left: String, right: String)]
        /// Where each merge came from, for messages (`model.merges[3]`, `line 5`).
        var mergeOrigins: [String]
        var vocabKey: String  // "model.vocab" or "vocab.json"
        var path: String
        var mergesPath: String
    }

    // MARK: - tokenizer.json

    static func readTokenizerJSON(_ root: [String: JSONValue], path: String, settings: HFSettings) throws -> BPETokenizer {
        func unsupported(_ key: String, _ found: String, _ supported: String) -> TokenizerError {
            .unsupported(path: path, key: key, found: found, supported: supported)
        }
        func invalid(_ key: String, _ expected: String, _ found: String) -> TokenizerError {
            .invalidField(path: path, key: key, expected: expected, found: found, fix: TokenizerError.rewriteHint)
        }
        if let version = root["version"], version.stringValue != "1.0" {
            throw invalid("version", "\"1.0\"", version.kind)
        }
        for key in ["truncation", "padding"] {
            if let value = root[key], !value.isNull {
                throw unsupported(key, value.kind, "null (no \(key) inside the tokenizer: ids are returned whole)")
            }
        }
        // normalizer
        if let normalizer = root["normalizer"], !normalizer.isNull {
            let isEmptySequence = normalizer["type"]?.stringValue == "Sequence" && normalizer["normalizers"]?.arrayValue?.isEmpty == true
            if !isEmptySequence {
                throw unsupported("normalizer", typeName(normalizer), "null (no normalizer)")
            }
        }
        // pre_tokenizer: ByteLevel, alone or as the only member of a Sequence.
        let preKey: String
        let byteLevel: JSONValue
        switch root["pre_tokenizer"] {
        case let value? where value["type"]?.stringValue == "ByteLevel":
            preKey = "pre_tokenizer"
            byteLevel = value
        case let value? where value["type"]?.stringValue == "Sequence":
            let members = value["pretokenizers"]?.arrayValue ?? []
            guard members.count == 1, members[0]["type"]?.stringValue == "ByteLevel" else {
                // The first few members: a message stays one short line whatever the file holds.
                let shown = members.prefix(4).map(typeName).joined(separator: ", ") + (members.count > 4 ? " and \(members.count - 4) more" : "")
                throw unsupported("pre_tokenizer", "a Sequence of " + shown,
                                  "ByteLevel alone, with GPT-2's pattern (use_regex true) and add_prefix_space false")
            }
            preKey = "pre_tokenizer.pretokenizers[0]"
            byteLevel = members[0]
        case let value:
            throw unsupported("pre_tokenizer", value.map(typeName) ?? "missing", "ByteLevel with use_regex true and add_prefix_space false")
        }
        switch byteLevel["add_prefix_space"] {
        case .bool(false)?: break
        case .bool(true)?:
            throw unsupported(preKey + ".add_prefix_space", "true", "add_prefix_space false, as GPT-2")
        case let value:
            throw invalid(preKey + ".add_prefix_space", "false", value?.kind ?? "no such key")
        }
        switch byteLevel["use_regex"] {
        case nil, .bool(true)?: break
        case .bool(false)?: throw unsupported(preKey + ".use_regex", "false", "use_regex true (GPT-2's pattern)")
        case let value?: throw invalid(preKey + ".use_regex", "true or false", value.kind)
        }
        // decoder
        let decoder = root["decoder"]
        let decoderOK = decoder?["type"]?.stringValue == "ByteLevel"
            || (decoder?["type"]?.stringValue == "Sequence" && decoder?["decoders"]?.arrayValue?.count == 1
                && decoder?["decoders"]?.arrayValue?[0]["type"]?.stringValue == "ByteLevel")
        if !decoderOK {
            throw unsupported("decoder", decoder.map(typeName) ?? "missing", "ByteLevel")
        }
        // post_processor: nothing that adds tokens to a single sequence.
        if let post = root["post_processor"], !post.isNull {
            try checkPostProcessor(post, key: "post_processor", path: path)
        }
        // model
        guard let model = root["model"]?.dictionaryValue else {
            throw invalid("model", "an object with \"type\": \"BPE\"", root["model"]?.kind ?? "no such key")
        }
        if let type = model["type"], type.stringValue != "BPE" {
            throw unsupported("model.type", type.kind, "\"BPE\"")
        }
        if let dropout = model["dropout"], !dropout.isNull {
            guard case .number = dropout else { throw invalid("model.dropout", "null or a number", dropout.kind) }
            if dropout.integer(in: 0...0, allowDecimal: true) != .value(0) {
                throw unsupported("model.dropout", dropout.kind, "null (no BPE dropout)")
            }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key], !value.isNull, value.stringValue != "" {
                throw unsupported("model." + key, value.kind, "null or \"\"")
            }
        }
        // unk_token is accepted: every byte has a token, so the BPE model never emits it.
        if let unk = model["unk_token"], !unk.isNull, unk.stringValue == nil {
            throw invalid("model.unk_token", "null or a string", unk.kind)
        }
        for key in ["byte_fallback", "ignore_merges", "fuse_unk"] {
            switch model[key] {
            case nil, .null?, .bool(false)?: break
            case .bool(true)?:
                if key == "fuse_unk" { break }  // only matters with an unknown token, which never occurs
                throw unsupported("model." + key, "true", "false")
            case let value?: throw invalid("model." + key, "true or false", value.kind)
            }
        }
        guard let rawVocab = model["vocab"]?.objectValue else {
            throw invalid("model.vocab", "an object of token -> id", model["vocab"]?.kind ?? "no such key")
        }
        let vocab = try readVocabulary(rawVocab, key: { "model.vocab[\(JSONValue.excerpt($0))]" }, path: path)
        guard let rawMerges = model["merges"]?.arrayValue else {
            throw invalid("model.merges", "an array of merges", model["merges"]?.kind ?? "no such key")
        }
        var merges: [(left: String, right: String)] = []
        merges.reserveCapacity(rawMerges.count)
        for (rank, item) in rawMerges.enumerated() {
            switch item {
            case let .string(line):
                let parts = line.unicodeScalars.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw invalid("model.merges[\(rank)]", "\"left right\" (two tokens and one space) or [\"left\", \"right\"]", item.kind)
                }
                merges.append((String(parts[0]), String(parts[1])))
            case let .array(pair):
                guard pair.count == 2, let left = pair[0].stringValue, let right = pair[1].stringValue else {
                    throw invalid("model.merges[\(rank)]", "[\"left\", \"right\"] (two token strings)", "an array of \(pair.count) " + (pair.count == 2 ? "non-strings" : "items"))
                }
                merges.append((left, right))
            default:
                throw invalid("model.merges[\(rank)]", "\"left right\" or [\"left\", \"right\"]", item.kind)
            }
        }
        // added_tokens
        var added: [AddedToken] = []
        let rawAdded = root["added_tokens"]?.arrayValue ?? []
        if let value = root["added_tokens"], value.arrayValue == nil, !value.isNull {
            throw invalid("added_tokens", "an array", value.kind)
        }
        for (i, item) in rawAdded.enumerated() {
            added.append(try readAddedToken(item, key: "added_tokens[\(i)]", path: path, idRequired: true))
        }
        let hf = HFModel(vocab: vocab, merges: merges, mergeOrigins: merges.indices.map { "model.merges[\($0)]" },
                         vocabKey: "model.vocab", path: path, mergesPath: path)
        let merged = try settings.mergedAddedTokens(added, tokenizerPath: path)
        let located = merged.enumerated().map { i, token in
            i < added.count && added[i].content == token.content
                ? LocatedToken(token: token, key: "added_tokens[\(i)]", path: path)
                : LocatedToken(token: token, key: "added_tokens_decoder[\"\(token.id)\"]", path: settings.configPath ?? path)
        }
        return try build(hf, added: located, settings: settings)
    }

    private static func typeName(_ value: JSONValue) -> String {
        if let type = value["type"]?.stringValue { return JSONValue.excerpt(type) }
        return value.kind
    }

    private static func checkPostProcessor(_ post: JSONValue, key: String, path: String) throws {
        let supported = "null, ByteLevel, or a TemplateProcessing whose \"single\" template adds no token"
        switch post["type"]?.stringValue {
        case "ByteLevel"?:
            return
        case "TemplateProcessing"?:
            let single = post["single"]?.arrayValue ?? []
            for piece in single where piece["Sequence"] == nil {
                throw TokenizerError.unsupported(path: path, key: key + ".single", found: "a template that adds "
                    + (piece["SpecialToken"]?["id"]?.stringValue.map { JSONValue.excerpt($0) } ?? "a token"), supported: supported)
            }
        case "Sequence"?:
            for (i, member) in (post["processors"]?.arrayValue ?? []).enumerated() {
                try checkPostProcessor(member, key: key + ".processors[\(i)]", path: path)
            }
        default:
            throw TokenizerError.unsupported(path: path, key: key, found: typeName(post), supported: supported)
        }
    }

    /// A vocabulary object's ids; on a bad id the entries are read again in key order, so that
    /// the message names the same entry every time.
    static func readVocabulary(_ raw: [(String, JSONValue)], key: (String) -> String, path: String) throws -> [String: Int] {
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(raw.count)
        do {
            for (token, value) in raw { vocab[token] = try readId(value, key: key(token), path: path) }
        } catch {
            for (token, value) in raw.sorted(by: { $0.0 < $1.0 }) { _ = try readId(value, key: key(token), path: path) }
        }
        return vocab
    }

    /// A token id: an integer in 0..<2^24 (checked before any conversion).
    static func readId(_ value: JSONValue, key: String, path: String) throws -> Int {
        let expected = "a token id (an integer from 0 to \(maxVocabularySize - 1))"
        guard case let .value(v) = value.integer(in: 0...Int64(maxVocabularySize - 1)) else {
            throw TokenizerError.invalidField(path: path, key: key, expected: expected, found: value.kind, fix: TokenizerError.rewriteHint)
        }
        return Int(v)
    }

    /// One added token as tokenizers and transformers serialize it (`AddedToken` fields).
    static func readAddedToken(_ item: JSONValue, key: String, path: String, idRequired: Bool, id: Int? = nil) throws -> AddedToken {
        guard let object = item.dictionaryValue else {
            throw TokenizerError.invalidField(path: path, key: key, expected: "an object with \"content\" and \"id\"", found: item.kind, fix: TokenizerError.rewriteHint)
        }
        guard let content = object["content"]?.stringValue, !content.isEmpty else {
            throw TokenizerError.invalidField(path: path, key: key + ".content", expected: "a non-empty string", found: object["content"]?.kind ?? "no such key", fix: TokenizerError.rewriteHint)
        }
        var tokenId = id ?? -1
        if idRequired {
            guard let raw = object["id"] else {
                throw TokenizerError.invalidField(path: path, key: key + ".id", expected: "a token id", found: "no such key", fix: TokenizerError.rewriteHint)
            }
            tokenId = try readId(raw, key: key + ".id", path: path)
        }
        func flag(_ name: String, _ fallback: Bool) throws -> Bool {
            switch object[name] {
            case nil, .null?: return fallback
            case let .bool(b)?: return b
            case let value?:
                throw TokenizerError.invalidField(path: path, key: key + "." + name, expected: "true or false", found: value.kind, fix: TokenizerError.rewriteHint)
            }
        }
        let special = try flag("special", false)
        return AddedToken(content: content, id: Int32(tokenId), special: special, lstrip: try flag("lstrip", false),
                          rstrip: try flag("rstrip", false), singleWord: try flag("single_word", false),
                          normalized: try flag("normalized", !special))
    }

    // MARK: - Building

    /// Checks a Hugging Face model plus its added tokens and settings, and builds the tokenizer.
    /// `added` are in file order with the ids the file gives them; each must have the id
    /// `tokenizers` would give it (its id in the vocabulary, else the next id after it).
    /// An added token with where it was read, for messages.
    struct LocatedToken {
        var token: AddedToken
        var key: String
        var path: String
    }

    static func build(_ hf: HFModel, added inputAdded: [LocatedToken], settings: HFSettings) throws -> BPETokenizer {
        let path = hf.path
        func invalid(_ key: String, _ expected: String, _ found: String, at file: String? = nil) -> TokenizerError {
            .invalidField(path: file ?? path, key: key, expected: expected, found: found, fix: TokenizerError.rewriteHint)
        }
        let count = hf.vocab.count
        guard count <= maxVocabularySize else {
            throw invalid(hf.vocabKey, "at most \(maxVocabularySize) tokens", "\(count)")
        }
        // Ids 0..<count without holes (on a fault, the entries are checked again in key order so
        // that the message names the same entry every time).
        var keyOfId = [String?](repeating: nil, count: count)
        func checkIds<S: Sequence>(_ entries: S) throws where S.Element == (key: String, value: Int) {
            keyOfId = [String?](repeating: nil, count: count)
            for (token, id) in entries {
                guard id < count else {
                    throw invalid(hf.vocabKey + "[\(JSONValue.excerpt(token))]", "an id below \(count) (the ids must be 0...\(count - 1) without holes)", "\(id)")
                }
                if let other = keyOfId[id] {
                    let (a, b) = other < token ? (other, token) : (token, other)
                    throw invalid(hf.vocabKey, "each id once", "id \(id) for both \(JSONValue.excerpt(a)) and \(JSONValue.excerpt(b))")
                }
                keyOfId[id] = token
            }
        }
        do {
            try checkIds(hf.vocab)
        } catch {
            try checkIds(hf.vocab.sorted { $0.key < $1.key })
        }

        // Added tokens get the id tokenizers gives them.
        var added: [AddedToken] = []
        var nextId = count
        var seen: [String: Int] = [:]
        for (i, located) in inputAdded.enumerated() {
            let token = located.token
            if let first = seen[token.content] {
                throw invalid(located.key, "each added token once", "\(JSONValue.excerpt(token.content)) again (\(inputAdded[first].key))", at: located.path)
            }
            seen[token.content] = i
            let expectedId: Int
            if let id = hf.vocab[token.content] {
                expectedId = id
            } else {
                expectedId = nextId
                nextId += 1
            }
            if token.id >= 0 && Int(token.id) != expectedId {
                let why = hf.vocab[token.content] != nil ? "its id in \(hf.vocabKey)" : "the next id after the vocabulary and the added tokens before it"
                throw invalid(located.key + (located.key.hasPrefix("added_tokens[") ? ".id" : ""),
                              "the id \(expectedId) (\(why), which tokenizers gives it)", "\(token.id)", at: located.path)
            }
            var fixed = token
            fixed.id = Int32(expectedId)
            added.append(fixed)
        }
        guard nextId <= maxVocabularySize else {
            throw invalid("added_tokens", "at most \(maxVocabularySize) tokens in all", "\(nextId)")
        }
        let addedContents = Set(added.map(\.content))

        // Bytes of every model token.
        var tokenBytes: [[UInt8]] = []
        tokenBytes.reserveCapacity(count)
        for id in 0..<count {
            let key = keyOfId[id]!
            if let bytes = ByteLevel.bytes(of: key) {
                tokenBytes.append(bytes)
            } else if addedContents.contains(key) {
                tokenBytes.append(Array(key.utf8))  // reached only as an added token; decodes as tokenizers does
            } else {
                throw TokenizerError.unsupported(path: path, key: hf.vocabKey + "[\(JSONValue.excerpt(key))]",
                                                 found: "a token outside GPT-2's byte-level alphabet",
                                                 supported: "vocabularies spelled in the byte-level alphabet (bytes_to_unicode)")
            }
        }
        var byteIds = [Int32](repeating: 0, count: byteTokenCount)
        for b in 0..<byteTokenCount {
            let key = String(ByteLevel.scalarOfByte[b])
            guard let id = hf.vocab[key] else {
                throw TokenizerError.unsupported(path: path, key: hf.vocabKey, found: "a vocabulary with no token for the byte 0x"
                    + String(format: "%02X", b) + " (\(JSONValue.excerpt(key)))", supported: "byte-level vocabularies with a token for each of the 256 bytes")
            }
            byteIds[b] = Int32(id)
        }

        // Merges: (left id, right id) -> id of the concatenation.
        var merges: [(left: Int32, right: Int32)] = []
        var results: [Int32] = []
        merges.reserveCapacity(hf.merges.count)
        results.reserveCapacity(hf.merges.count)
        for (rank, merge) in hf.merges.enumerated() {
            let key = hf.mergeOrigins[rank]
            guard let left = hf.vocab[merge.left] else {
                throw invalid(key, "tokens of \(hf.vocabKey)", "\(JSONValue.excerpt(merge.left)), which is not in it", at: hf.mergesPath)
            }
            guard let right = hf.vocab[merge.right] else {
                throw invalid(key, "tokens of \(hf.vocabKey)", "\(JSONValue.excerpt(merge.right)), which is not in it", at: hf.mergesPath)
            }
            guard let result = hf.vocab[merge.left + merge.right] else {
                throw invalid(key, "the merged token \(JSONValue.excerpt(merge.left + merge.right)) in \(hf.vocabKey)", "it missing", at: hf.mergesPath)
            }
            merges.append((Int32(left), Int32(right)))
            results.append(Int32(result))
        }

        // Special tokens and settings.
        func idOf(_ content: String) -> Int32? {
            if let token = added.first(where: { $0.content == content }) { return token.id }
            return hf.vocab[content].map { Int32($0) }
        }
        let special = try settings.resolve(added: added, idOf: idOf, vocabKey: hf.vocabKey, tokenizerPath: hf.path)
        let parts = Parts(byteIds: byteIds, merges: merges, mergeResults: results, modelTokenBytes: tokenBytes,
                          addedTokens: added, eosId: special.eos, padId: special.pad, bosId: special.bos, unkId: special.unk,
                          rule: settings.splitSpecialTokens == true ? .bytes : .split, modelMaxLength: settings.modelMaxLength)
        return BPETokenizer(parts)
    }

    // MARK: - vocab.json + merges.txt

    /// Reads the older pair of files, with the settings and added tokens of the files beside them,
    /// as transformers' GPT2Tokenizer builds them.
    static func readVocabAndMerges(vocabURL: URL, mergesURL: URL, settings: HFSettings) throws -> BPETokenizer {
        let vocabPath = vocabURL.path
        let vocabJSON = try readJSONFile(vocabURL)
        guard let rawVocab = vocabJSON.objectValue else {
            throw TokenizerError.invalidJSON(path: vocabPath, found: vocabJSON.kind)
        }
        let vocab = try readVocabulary(rawVocab, key: { JSONValue.excerpt($0) }, path: vocabPath)
        let mergesPath = mergesURL.path
        let text = try readFile(mergesURL)
        var merges: [(left: String, right: String)] = []
        var origins: [String] = []
        // As Rust's BufRead::lines: split at "\n", drop one "\r" before it, no empty last line.
        var lines = text.split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        for (index, rawLine) in lines.enumerated() {
            let bytes = rawLine.last == 0x0D ? rawLine.dropLast() : rawLine
            guard let line = String(validating: bytes, as: UTF8.self) else {
                throw TokenizerError.invalidLine(path: mergesPath, line: index + 1, expected: "text in UTF-8", found: "bytes that are not UTF-8")
            }
            if line.hasPrefix("#version") { continue }
            let parts = line.unicodeScalars.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.invalidLine(path: mergesPath, line: index + 1, expected: "two tokens separated by one space",
                                                 found: JSONValue.excerpt(String(line.prefix(60))))
            }
            merges.append((String(parts[0]), String(parts[1])))
            origins.append("line \(index + 1)")
        }
        let hf = HFModel(vocab: vocab, merges: merges, mergeOrigins: origins, vocabKey: "vocab.json", path: vocabPath, mergesPath: mergesPath)
        let (added, addedKeys, addedPath) = try settings.addedTokensForPair(vocabPath: vocabPath)
        let located = added.indices.map { LocatedToken(token: added[$0], key: addedKeys[$0], path: addedPath) }
        return try build(hf, added: located, settings: settings)
    }

    // MARK: - Files

    static func readFile(_ url: URL) throws -> [UInt8] {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenizerError.fileNotFound(path: path)
        }
        if isDirectory.boolValue { throw TokenizerError.unreadable(path: path, reason: "it is a directory") }
        // Bounded before reading: GPT-2's files are ~1 MB, the largest vocabularies ~30 MB.
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber,
           size.int64Value > maxFileBytes {
            throw TokenizerError.unreadable(path: path, reason: "it has \(size.int64Value) bytes, more than the \(maxFileBytes >> 20) MiB a tokenizer file may have")
        }
        do {
            return [UInt8](try Data(contentsOf: url))
        } catch {
            throw TokenizerError.unreadable(path: path, reason: describe(error))
        }
    }

    static func readJSONFile(_ url: URL) throws -> JSONValue {
        let bytes = try readFile(url)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw TokenizerError.invalidJSON(path: url.path, found: "an empty file")
        }
        do {
            return try JSONParser.parse(bytes: bytes)
        } catch let error as JSONParseError {
            throw TokenizerError.syntax(path: url.path, line: error.line, column: error.column, message: error.message)
        }
    }
}
