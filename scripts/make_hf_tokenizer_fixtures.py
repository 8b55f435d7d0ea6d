#!/usr/bin/env python3
"""Writes the Hugging Face tokenizer fixtures of Tests/TokenizerTests/Fixtures/hf.

Needs the Python packages `tokenizers` and `transformers` (pip install tokenizers transformers);
the Swift tests read only the files written here and never run Python.

    ${PYTHON:-python3} scripts/make_hf_tokenizer_fixtures.py [--out Tests/TokenizerTests/Fixtures/hf]

What it writes:
  tokenizer.json          a byte-level BPE trained by `tokenizers` on generated text (GPT-2's
                          settings), laid out like GPT-2: `<|endoftext|>` is the last vocabulary
                          entry and a special added token; `<|sep|>` (special, lstrip + rstrip) and
                          `[NEWS]` (not special, single_word, normalized) are added after it.
                          Merges as [a, b] arrays (tokenizers >= 0.20).
  tokenizer_legacy.json   the same with merges as "a b" strings (older tokenizers).
  vocab.json, merges.txt  the same model in the older pair of files, with
  pair_tokenizer_config.json, special_tokens_map.json
                          the settings transformers needs for the pair (copied as
                          tokenizer_config.json beside them by the tests).
  own_merges.json         merges in the project's own id layout (byte b = id b, merge r = 256 + r).
  expected.json           for every test string: the ids of `tokenizers` (tokenizer.json and
                          tokenizer_legacy.json), of transformers' AutoTokenizer on a directory
                          with tokenizer.json, with vocab.json + merges.txt, and with
                          tokenizer.json + `"split_special_tokens": true`; the decoded text with
                          and without special tokens; the ids HF gives the project's own layout
                          written as tokenizer.json (raw tokenizers, and AutoTokenizer with
                          split_special_tokens); and GPT-2 pre-tokenization of random strings.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile

try:
    import tokenizers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
except ImportError:
    sys.exit("make_hf_tokenizer_fixtures.py: needs the tokenizers package; pip install tokenizers transformers")
try:
    import transformers
    from transformers import AutoTokenizer
except ImportError:
    sys.exit("make_hf_tokenizer_fixtures.py: needs the transformers package; pip install tokenizers transformers")

transformers.logging.set_verbosity_error()

WORDS = ("the model reward policy preference token learning human feedback gradient optimizer chosen "
         "rejected sample batch value loss step summary post subreddit relationship advice friend "
         "it's don't we'll they're I'm you'd she's we've can't won't isn't").split()
FOREIGN = ["你好", "世界", "مرحبا", "नमस्ते", "Привет", "мир", "안녕하세요", "こんにちは", "café", "naïve", "Ελλάδα"]
PUNCT = [".", ",", "!", "?", "...", ";", ":", " -", "--", "(", ")", "\"", "'"]


def training_text(seed=1234, lines=6000):
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        n = rng.randint(3, 18)
        words = []
        for _ in range(n):
            r = rng.random()
            if r < 0.78:
                words.append(rng.choice(WORDS))
            elif r < 0.86:
                words.append(str(rng.randint(0, 10 ** rng.randint(1, 6))))
            elif r < 0.93:
                words.append(rng.choice(FOREIGN))
            else:
                words.append(rng.choice(["🎉", "👍", "❤️", "🙂"]))
        line = " ".join(words)
        line = line[:1].upper() + line[1:] + rng.choice(PUNCT[:4]) + rng.choice(["", "", " ", "\n", "\n\n", "  "])
        out.append(line)
    return out


STRINGS = [
    "", "hello world", "Hello World", " hello", "hello ", "  hello  ",
    # contractions
    "it's", "don't", "they're", "we've", "I'm", "you'll", "he'd", "IT'S", "DON'T", "It'S", "it’s", "don’t",
    "'s", "'", "''", "'''s", "x's's", " 's", "rock'n'roll", "'ll've'd", "'S 'T 'RE", "the model's reward's",
    # whitespace
    "a  b", "a   b", "  leading", "trailing  ", "   ", " ", "\n", "\n\n", "a\n\nb", "a \n b", "\t\ta", "a\t \tb",
    "a\r\nb", "\u3000x", "a\u00a0b", "end.  \n", " \n \n ", "x\u2028y", "x\u0085y", "word\u200bword",
    # digits
    "2024", "12345678901234567890", "3.14159", "1,000,000", "a1b2c3", "٣٤٥", "½ ⅓", "Ⅻ", "x²", " 42 is 6*7",
    # punctuation
    "!!!", "...", "?!?!", "---", "a--b", "(hello)", "\"quoted\"", "@user #tag $100 %50 ^&*", "<<>>", "<|", "|>",
    "<|endoftext", "endoftext|>", "[NEWS", "NEWS]",
    # scripts
    "你好，世界", "مرحبا بالعالم", "नमस्ते दुनिया", "Привет, мир", "안녕하세요 세계", "こんにちは世界", "עברית", "ελληνικά",
    # emoji
    "🎉", "👍🏽", "👩‍👩‍👧‍👦", "🇫🇷🇩🇪", "❤️", "a🎉b", " 🎉 🎉", "🙂🙂🙂",
    # combining marks
    "e\u0301", "cafe\u0301", "a\u0300\u0301\u0302", "\u0301alone", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗̻",
    # special tokens
    "<|endoftext|>", "a<|endoftext|>b", "a <|endoftext|> b", "<|endoftext|><|endoftext|>", " <|endoftext|>",
    "<|endoftext|> ", "text<|endoftext|>", "<|endoftext|>text", "<|endoftext|>\n\nNext", "<|endoftext|><|pad|>",
    "<|<|endoftext|>|>", "<|endoftext|>'s",
    # lstrip / rstrip
    "a <|sep|> b", "a  \n <|sep|>  \t b", "<|sep|>", "x<|sep|>y", "  <|sep|>  ", "<|sep|><|sep|>",
    "<|sep|> <|endoftext|> <|sep|>", "a\u3000<|sep|>\u00a0b",
    # single_word
    "[NEWS] today", "the [NEWS]", "x[NEWS]", "[NEWS]x", "([NEWS])", "[NEWS][NEWS]", "é[NEWS]", "_[NEWS]", "1[NEWS]",
    "[NEWS]", " [NEWS] ", "-[NEWS]-", "e\u0301[NEWS]", "[NEWS]\u0301",
    # overlaps
    "<|endoftext|>[NEWS]", "[NEWS]<|sep|>", "<|sep|>[NEWS]<|sep|>",
    # near invalid UTF-8 (a Python str cannot hold invalid bytes)
    "\ufffd", "a\ufffdb", "\x00", "\x7f\x80\x9f", "\u00ad", "\uffff", "\U0010ffff", "\ud7ff", "\ue000", "\x01\x02 \x03",
    # long
    "a" * 200, " " * 100 + "x", "=-" * 70, "supercalifragilisticexpialidocious" * 5, "reward" * 40,
    "The policy was trained with PPO against a learned reward model, and DPO on the same preference pairs; "
    "it's 2024, we'll see.\n\nTL;DR: both work (mostly) — 42% vs. 38%!",
]


def random_pretokenize_strings(seed=99, count=400):
    rng = random.Random(seed)
    pool = (list("abcxyzABCXYZ") + list("0123456789") + list("  \t\n\r") + ["\u3000", "\u00a0", "\u2009", "\u0085"]
            + list(".,;:!?-_'\"()[]{}<>|/\\@#$%^&*+=~`") + ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S"]
            + list("éüßøñçÅ") + list("日本語中文") + list("ابت") + list("अआक") + list("абв") + list("한글")
            + ["\u0301", "\u0308", "\u200d", "🎉", "👍🏽", "🇫🇷", "½", "²", "٣", "Ⅻ", "’", "…", "—", "€"])
    out = []
    for _ in range(count):
        out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 24))))
    return out


def train(text):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(text, trainer)
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    eos = len(vocab)
    vocab["<|endoftext|>"] = eos  # GPT-2's layout: the last vocabulary entry is also an added token
    spec["added_tokens"] = [
        {"id": eos, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": eos + 1, "content": "<|sep|>", "single_word": False, "lstrip": True, "rstrip": True, "normalized": False, "special": True},
        {"id": eos + 2, "content": "[NEWS]", "single_word": True, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
    ]
    spec["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    return spec


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def own_layout(spec):
    """The trained merges in the project's own layout, written as our save(to:) writes it."""
    byte_char = bytes_to_unicode()
    char_byte = {c: b for b, c in byte_char.items()}
    ids = {byte_char[b]: b for b in range(256)}
    own_merges = []
    for a, b in spec["model"]["merges"]:
        own_merges.append([ids[a], ids[b]])
        ids[a + b] = 256 + len(own_merges) - 1
    vocab = {key: i for key, i in sorted(ids.items(), key=lambda kv: kv[1])}
    eos = len(vocab)
    own = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [
            {"id": eos, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
            {"id": eos + 1, "content": "<|pad|>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False, "vocab": vocab,
                  "merges": [a + " " + b for a, b in spec["model"]["merges"]]},
    }
    own_config = {"add_prefix_space": False, "bos_token": "<|endoftext|>", "clean_up_tokenization_spaces": False,
                  "eos_token": "<|endoftext|>", "pad_token": "<|pad|>", "split_special_tokens": True,
                  "tokenizer_class": "GPT2Tokenizer", "unk_token": "<|endoftext|>"}
    assert all(char_byte.get(c) is not None for key in vocab for c in key)
    return own_merges, own, own_config


def write_json(path, value, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(value, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "TokenizerTests", "Fixtures", "hf"))
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    spec = train(training_text())
    legacy = json.loads(json.dumps(spec))
    legacy["model"]["merges"] = [a + " " + b for a, b in spec["model"]["merges"]]
    write_json(os.path.join(out, "tokenizer.json"), spec, compact=True)
    write_json(os.path.join(out, "tokenizer_legacy.json"), legacy, compact=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(spec["model"]["vocab"], f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in spec["model"]["merges"]:
            f.write(a + " " + b + "\n")
    decoder = {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
               for t in spec["added_tokens"]}
    pair_config = {"add_prefix_space": False, "added_tokens_decoder": decoder, "bos_token": "<|endoftext|>",
                   "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>", "model_max_length": 1024,
                   "tokenizer_class": "GPT2Tokenizer", "unk_token": "<|endoftext|>"}
    write_json(os.path.join(out, "pair_tokenizer_config.json"), pair_config)
    write_json(os.path.join(out, "special_tokens_map.json"), {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"})
    own_merges, own, own_config = own_layout(spec)
    write_json(os.path.join(out, "own_merges.json"), own_merges, compact=True)

    raw = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    raw_legacy = Tokenizer.from_file(os.path.join(out, "tokenizer_legacy.json"))
    tmp = tempfile.mkdtemp()
    try:
        def directory(name, files):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            for target, source in files.items():
                if isinstance(source, str):
                    shutil.copy(os.path.join(out, source), os.path.join(d, target))
                else:
                    write_json(os.path.join(d, target), source)
            return AutoTokenizer.from_pretrained(d)

        auto_json = directory("json", {"tokenizer.json": "tokenizer.json"})
        auto_pair = directory("pair", {"vocab.json": "vocab.json", "merges.txt": "merges.txt",
                                       "tokenizer_config.json": "pair_tokenizer_config.json",
                                       "special_tokens_map.json": "special_tokens_map.json"})
        auto_split = directory("split", {"tokenizer.json": "tokenizer.json",
                                         "tokenizer_config.json": {"split_special_tokens": True, "eos_token": "<|endoftext|>"}})
        own_dir = os.path.join(tmp, "own")
        os.makedirs(own_dir)
        write_json(os.path.join(own_dir, "tokenizer.json"), own)
        own_raw = Tokenizer.from_file(os.path.join(own_dir, "tokenizer.json"))
        write_json(os.path.join(own_dir, "tokenizer_config.json"), own_config)
        own_auto = AutoTokenizer.from_pretrained(own_dir)

        cases = []
        for s in STRINGS:
            ids = raw.encode(s).ids
            case = {
                "text": s,
                "tokenizers": ids,
                "tokenizers_legacy_merges": raw_legacy.encode(s).ids,
                "auto_json": auto_json.encode(s),
                "auto_pair": auto_pair.encode(s),
                "auto_split": auto_split.encode(s),
                "decoded": raw.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": raw.decode(ids, skip_special_tokens=True),
                "own_tokenizers": own_raw.encode(s).ids,
                "own_auto": own_auto.encode(s),
            }
            cases.append(case)
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        pretokenized = []
        for s in random_pretokenize_strings():
            pieces = byte_level.pre_tokenize_str(s)
            pretokenized.append({"text": s, "chunks": [s[a:b] for _, (a, b) in pieces]})
        expected = {
            "generated_by": "scripts/make_hf_tokenizer_fixtures.py with tokenizers %s, transformers %s"
                            % (tokenizers.__version__, transformers.__version__),
            "vocab_size": raw.get_vocab_size(with_added_tokens=True),
            "cases": cases,
            "pretokenize": pretokenized,
        }
        # One case per line: small, and a regenerated file diffs line by line.
        with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
            f.write('{"generated_by": %s,\n "vocab_size": %d,\n "cases": [\n' % (json.dumps(expected["generated_by"]), expected["vocab_size"]))
            f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases))
            f.write('\n ],\n "pretokenize": [\n')
            f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in pretokenized))
            f.write("\n ]\n}\n")
    finally:
        shutil.rmtree(tmp)
    disagreements = [c["text"] for c in cases if not (c["tokenizers"] == c["tokenizers_legacy_merges"] == c["auto_json"] == c["auto_pair"])]
    print("wrote %s: %d strings, %d pre-tokenization cases, vocabulary %d; strings where the libraries disagree: %r"
          % (out, len(cases), len(pretokenized), expected["vocab_size"], disagreements))


if __name__ == "__main__":
    main()
