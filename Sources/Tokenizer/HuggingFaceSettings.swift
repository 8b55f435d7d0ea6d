import Foundation
import JSON

/// The settings transformers keeps beside the vocabulary: `tokenizer_config.json` (special
/// tokens, `split_special_tokens`, `model_max_length`, `added_tokens_decoder`), and the older
/// `special_tokens_map.json` and `added_tokens.json`. All optional.
struct HFSettings {
    /// A special-token setting: not given, given as null, or naming a token.
    enum TokenSetting: Equatable {
        case absent
        case none
        case content(String)
    }

    var eos = TokenSetting.absent
    var bos = TokenSetting.absent
    var unk = TokenSetting.absent
    var pad = TokenSetting.absent
    /// Where each named token setting came from (file path), for messages.
    var origin: [String: String] = [:]
    var additional: [String] = []
    /// The contents of `additional`, for membership (a file may list tens of thousands).
    private var additionalSet: Set<String> = []
    var splitSpecialTokens: Bool?
    var modelMaxLength: Int?
    /// `added_tokens_decoder` of tokenizer_config.json (ids from its keys), in id order.
    var addedTokensDecoder: [AddedToken]?
    /// `added_tokens.json`: content -> id, in id order.
    var addedTokensFile: [(content: String, id: Int)]?
    var addedTokensFilePath: String?
    /// transformers' GPT2Tokenizer names `<|endoftext|>` as bos, eos and unk unless told otherwise.
    var gpt2Defaults = false
    var configPath: String?

    static let specialKeys = ["bos_token", "eos_token", "unk_token", "pad_token"]

    /// Reads the settings files of `directory` that exist.
    static func read(directory: URL, includeAddedTokensFile: Bool) throws -> HFSettings {
        var settings = HFSettings()
        let fm = FileManager.default
        let config = directory.appendingPathComponent("tokenizer_config.json")
        let map = directory.appendingPathComponent("special_tokens_map.json")
        // special_tokens_map.json first: tokenizer_config.json wins where both name a token.
        if fm.fileExists(atPath: map.path) {
            let object = try objectFile(map)
            for key in specialKeys where object[key] != nil {
                try settings.set(key, object[key]!, path: map.path)
            }
            try settings.readAdditional(object, path: map.path)
        }
        if fm.fileExists(atPath: config.path) {
            let object = try objectFile(config)
            let path = config.path
            settings.configPath = path
            for key in specialKeys where object[key] != nil {
                try settings.set(key, object[key]!, path: path)
            }
            try settings.readAdditional(object, path: path)
            switch object["split_special_tokens"] {
            case nil, .null?: break
            case let .bool(b)?: settings.splitSpecialTokens = b
            case let value?:
                throw TokenizerError.invalidField(path: path, key: "split_special_tokens", expected: "true or false", found: value.kind, fix: TokenizerError.rewriteHint)
            }
            if let value = object["model_max_length"], !value.isNull {
                settings.modelMaxLength = try readMaxLength(value, path: path)
            }
            for key in ["add_bos_token", "add_eos_token", "add_prefix_space"] {
                switch object[key] {
                case nil, .null?, .bool(false)?: break
                case .bool(true)?:
                    let what = key == "add_prefix_space" ? "a space before the text" : (key == "add_bos_token" ? "BOS" : "EOS")
                    throw TokenizerError.unsupported(path: path, key: key, found: "true (transformers adds \(what) to every encoding)", supported: "false")
                case let value?:
                    throw TokenizerError.invalidField(path: path, key: key, expected: "true or false", found: value.kind, fix: TokenizerError.rewriteHint)
                }
            }
            if let decoder = object["added_tokens_decoder"], !decoder.isNull {
                guard let entries = decoder.objectValue else {
                    throw TokenizerError.invalidField(path: path, key: "added_tokens_decoder", expected: "an object of id -> token", found: decoder.kind, fix: TokenizerError.rewriteHint)
                }
                var tokens: [AddedToken] = []
                for (idText, item) in entries {
                    let key = "added_tokens_decoder[\(JSONValue.excerpt(idText))]"
                    guard idText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), !idText.isEmpty, idText.utf8.count <= 9,
                          let id = Int(idText), id < BPETokenizer.maxVocabularySize else {
                        throw TokenizerError.invalidField(path: path, key: key, expected: "a token id as the key (\"0\" to \"\(BPETokenizer.maxVocabularySize - 1)\")",
                                                          found: JSONValue.excerpt(idText), fix: TokenizerError.rewriteHint)
                    }
                    tokens.append(try BPETokenizer.readAddedToken(item, key: key, path: path, idRequired: false, id: id))
                }
                settings.addedTokensDecoder = tokens.sorted { $0.id < $1.id }
            }
            if let cls = object["tokenizer_class"]?.stringValue, cls == "GPT2Tokenizer" || cls == "GPT2TokenizerFast" {
                settings.gpt2Defaults = true
            }
        }
        let addedFile = directory.appendingPathComponent("added_tokens.json")
        if includeAddedTokensFile && fm.fileExists(atPath: addedFile.path) {
            // In file order, so that the first bad entry is the one reported.
            var entries: [(content: String, id: Int)] = []
            for (content, value) in try members(addedFile).objectValue! {
                entries.append((content, try BPETokenizer.readId(value, key: JSONValue.excerpt(content), path: addedFile.path)))
            }
            settings.addedTokensFile = entries.sorted { $0.id < $1.id }
            settings.addedTokensFilePath = addedFile.path
        }
        return settings
    }

    private static func objectFile(_ url: URL) throws -> [String: JSONValue] {
        try members(url).dictionaryValue!
    }

    /// A settings file that must be an object.
    private static func members(_ url: URL) throws -> JSONValue {
        let json = try BPETokenizer.readJSONFile(url)
        guard case .object = json else { throw TokenizerError.invalidJSON(path: url.path, found: json.kind) }
        return json
    }

    /// `model_max_length`: a positive integer; transformers writes 10^30 for "no limit", and any
    /// value from 10^18 on is read as that.
    static func readMaxLength(_ value: JSONValue, path: String) throws -> Int? {
        switch value.integer(allowDecimal: true) {
        case let .value(v) where v >= 1: return v >= 1_000_000_000_000_000_000 ? nil : Int(v)
        case .outOfRange:
            if case let .number(d, _) = value, d > 0 { return nil }
            fallthrough
        default:
            throw TokenizerError.invalidField(path: path, key: "model_max_length", expected: "a positive integer", found: value.kind, fix: TokenizerError.rewriteHint)
        }
    }

    private mutating func set(_ key: String, _ value: JSONValue, path: String) throws {
        let setting: TokenSetting
        switch value {
        case .null: setting = .none
        case let .string(s): setting = s.isEmpty ? .none : .content(s)
        case .object:
            guard let content = value["content"]?.stringValue else {
                throw TokenizerError.invalidField(path: path, key: key, expected: "a token string, an object with \"content\", or null", found: value.kind, fix: TokenizerError.rewriteHint)
            }
            setting = .content(content)
        default:
            throw TokenizerError.invalidField(path: path, key: key, expected: "a token string, an object with \"content\", or null", found: value.kind, fix: TokenizerError.rewriteHint)
        }
        switch key {
        case "eos_token": eos = setting
        case "bos_token": bos = setting
        case "unk_token": unk = setting
        default: pad = setting
        }
        origin[key] = path
    }

    private mutating func readAdditional(_ object: [String: JSONValue], path: String) throws {
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            guard let value = object[key], !value.isNull else { continue }
            guard let items = value.arrayValue else {
                if value.objectValue != nil { continue }  // model-specific named tokens (transformers 5): not added as tokens
                throw TokenizerError.invalidField(path: path, key: key, expected: "an array of tokens", found: value.kind, fix: TokenizerError.rewriteHint)
            }
            for (i, item) in items.enumerated() {
                guard let content = item.stringValue ?? item["content"]?.stringValue else {
                    throw TokenizerError.invalidField(path: path, key: "\(key)[\(i)]", expected: "a token string or an object with \"content\"", found: item.kind, fix: TokenizerError.rewriteHint)
                }
                if additionalSet.insert(content).inserted { additional.append(content) }
            }
        }
    }

    /// The named special tokens transformers makes sure exist, in its order (bos, eos, unk, pad, additional).
    private var namedTokens: [(key: String, content: String)] {
        var out: [(String, String)] = []
        for (key, setting) in [("bos_token", bos), ("eos_token", eos), ("unk_token", unk), ("pad_token", pad)] {
            switch setting {
            case let .content(c): out.append((key, c))
            case .absent where gpt2Defaults && key != "pad_token": out.append((key, BPETokenizer.eosToken))
            default: break
            }
        }
        for c in additional { out.append(("additional_special_tokens", c)) }
        return out
    }

    /// tokenizer.json's added tokens after transformers has applied tokenizer_config.json:
    /// `added_tokens_decoder` entries replace the flags of the token with their content (or are
    /// added), and named special tokens must already be added tokens (transformers would add them
    /// and `tokenizers` alone would not, so the ids would depend on the library).
    func mergedAddedTokens(_ fileTokens: [AddedToken], tokenizerPath: String) throws -> [AddedToken] {
        var tokens = fileTokens
        // The first token of each content (lookups by content stay linear in the number of tokens).
        var indexOf: [String: Int] = [:]
        for (i, token) in tokens.enumerated() where indexOf[token.content] == nil { indexOf[token.content] = i }
        for entry in addedTokensDecoder ?? [] {
            let key = "added_tokens_decoder[\"\(entry.id)\"]"
            if let i = indexOf[entry.content] {
                guard tokens[i].id == entry.id else {
                    throw TokenizerError.invalidField(path: configPath ?? tokenizerPath, key: key, expected: "the id \(tokens[i].id) that \(tokenizerPath) gives \(JSONValue.excerpt(entry.content))",
                                                      found: "\(entry.id)", fix: "make the two files agree or write them again with save_pretrained")
                }
                tokens[i] = entry
            } else {
                indexOf[entry.content] = tokens.count
                tokens.append(entry)
            }
        }
        for (key, content) in namedTokens where indexOf[content] == nil {
            let source = origin[key] ?? (configPath ?? tokenizerPath)
            throw TokenizerError.invalidField(path: source, key: key, expected: "a token among the added_tokens of \(tokenizerPath)",
                                              found: "\(JSONValue.excerpt(content)), which is not one (transformers would add it as a new token)",
                                              fix: "add it to added_tokens (tokenizer.add_special_tokens, then save_pretrained) or name another token")
        }
        return tokens
    }

    /// The added tokens of the vocab.json + merges.txt form, as transformers' GPT2Tokenizer adds
    /// them: `added_tokens_decoder` (or else `added_tokens.json`), then the named special tokens
    /// that are not yet added. Returns the tokens (id -1 where the file gives none), a key naming
    /// each for messages, and the file they came from.
    func addedTokensForPair(vocabPath: String) throws -> ([AddedToken], [String], String) {
        var tokens: [AddedToken] = []
        var keys: [String] = []
        var path = configPath ?? vocabPath
        if let decoder = addedTokensDecoder {
            tokens = decoder
            keys = decoder.map { "added_tokens_decoder[\"\($0.id)\"]" }
        } else if let file = addedTokensFile {
            path = addedTokensFilePath ?? path
            let named = Set(namedTokens.map(\.content))
            for entry in file {
                let special = named.contains(entry.content)
                tokens.append(AddedToken(content: entry.content, id: Int32(entry.id), special: special, normalized: !special))
                keys.append(JSONValue.excerpt(entry.content))
            }
        }
        var contents = Set(tokens.map(\.content))
        for (key, content) in namedTokens where contents.insert(content).inserted {
            tokens.append(AddedToken(content: content, id: -1, special: true, normalized: false))
            keys.append(key)
        }
        return (tokens, keys, path)
    }

    /// EOS, PAD and BOS ids. EOS: `eos_token`, else `<|endoftext|>` when it is a token; PAD:
    /// `pad_token`, else an added special `<|pad|>` when `pad_token` is not given at all, else none
    /// (then `padId == eosId`); BOS and UNK: `bos_token`, `unk_token` (GPT2Tokenizer's default
    /// `<|endoftext|>`), else none.
    func resolve(added: [AddedToken], idOf: (String) -> Int32?, vocabKey: String, tokenizerPath: String) throws -> (eos: Int32, pad: Int32?, bos: Int32?, unk: Int32?) {
        func lookup(_ key: String, _ setting: TokenSetting) throws -> Int32? {
            guard case let .content(content) = setting else { return nil }
            guard let id = idOf(content) else {
                throw TokenizerError.invalidField(path: origin[key] ?? configPath ?? tokenizerPath, key: key, expected: "a token of the vocabulary",
                                                  found: "\(JSONValue.excerpt(content)), which is not one", fix: "add the token to the tokenizer or name another one")
            }
            return id
        }
        var eos = try lookup("eos_token", eos)
        if eos == nil { eos = idOf(BPETokenizer.eosToken) }
        guard let eosId = eos else {
            throw TokenizerError.invalidField(path: configPath ?? tokenizerPath, key: "eos_token", expected: "an end-of-sequence token",
                                              found: "none (no eos_token, and no \"<|endoftext|>\" in \(vocabKey))",
                                              fix: "set \"eos_token\" in tokenizer_config.json")
        }
        var padId = try lookup("pad_token", pad)
        if pad == .absent, let token = added.first(where: { $0.content == BPETokenizer.padToken && $0.special }) {
            padId = token.id
        }
        var bosId = try lookup("bos_token", bos)
        if bos == .absent && gpt2Defaults { bosId = idOf(BPETokenizer.eosToken) }
        var unkId = try lookup("unk_token", unk)
        if unk == .absent && gpt2Defaults { unkId = idOf(BPETokenizer.eosToken) }
        return (eosId, padId, bosId, unkId)
    }
}
