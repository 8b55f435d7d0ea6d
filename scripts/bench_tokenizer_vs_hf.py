#!/usr/bin/env python3
"""Helper of scripts/bench_tokenizer_vs_hf.sh (needs the tokenizers package: pip install tokenizers).

    bench_tokenizer_vs_hf.py text --out PATH [--mb 8] [--seed 1]
        Writes varied UTF-8 text: a Zipf-distributed lexicon of ~120,000 made-up words plus common
        English words, contractions, numbers, punctuation, some non-Latin scripts and emoji, and
        paragraphs ending in "<|endoftext|>" (every ~40 lines).
    bench_tokenizer_vs_hf.py train --text PATH --out tokenizer.json [--merges 50000]
        Trains with `tokenizers` a byte-level BPE of that many merges with GPT-2's settings and
        layout (vocabulary 256 + merges, then <|endoftext|> as the last id and an added special
        token): the stand-in for GPT-2's tokenizer.json.
    bench_tokenizer_vs_hf.py measure --tokenizer tokenizer.json --text PATH [--repeats 3]
        Encodes the whole text with Tokenizer.encode on one thread (run it with
        RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false): the first call (cold BPE cache) and the
        best of the next calls (warm cache), and `encode_batch` of its lines, in MB/s of UTF-8,
        plus the number of ids of the whole-text call and their
        CRC-32 (the same checksum `rlhf bench --tokenizer` prints), as one JSON line.
"""
import argparse
import array
import json
import random
import sys
import time
import zlib

try:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
except ImportError:
    sys.exit("bench_tokenizer_vs_hf.py: needs the tokenizers package; pip install tokenizers "
             "(or set PYTHON to a python that has it)")

COMMON = ("the of and to a in is it that for was on are with as I his they be at one have this from or had by "
          "not word but what some we can out other were all there when up use your how said an each she which do "
          "their time if will way about many then them write would like so these her long make thing see him two "
          "has look more day could go come did number sound no most people my over know water than call first who "
          "may down side been now find reward model policy preference summary post relationship friend advice").split()
CONTRACTIONS = ["it's", "don't", "I'm", "they're", "we've", "you'll", "she'd", "can't", "won't", "isn't", "He's", "DON'T"]
FOREIGN = ["数据", "模型", "学习", "مرحبا", "كتاب", "नमस्ते", "भाषा", "Привет", "модель", "данные", "안녕하세요", "모델",
           "こんにちは", "東京", "Ελλάδα", "café", "naïve", "Zürich", "São", "Ağustos"]
EMOJI = ["🎉", "👍", "❤️", "🙂", "👩‍💻", "🇫🇷", "👍🏽"]
SYLLABLES = [c + v for c in ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
                             "br", "ch", "st", "tr", "sh", "th", "pl", "gr"]
             for v in ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"]]


def make_text(out, mb, seed):
    rng = random.Random(seed)
    lexicon = set()
    while len(lexicon) < 120000:
        lexicon.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) + rng.choice(["", "", "s", "ed", "ing", "er"]))
    lexicon = sorted(lexicon)
    rng.shuffle(lexicon)
    # Zipf weights over the made-up lexicon: a few hundred frequent words, a long tail.
    weights = [1.0 / (rank + 10) for rank in range(len(lexicon))]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    target = int(mb * 1_000_000)
    size = 0
    lines = []
    line_count = 0
    while size < target:
        words = []
        for _ in range(rng.randint(4, 30)):
            r = rng.random()
            if r < 0.45:
                word = rng.choice(COMMON)
            elif r < 0.88:
                word = lexicon[bisect(cumulative, rng.random() * total)]
            elif r < 0.92:
                word = rng.choice(CONTRACTIONS)
            elif r < 0.955:
                word = str(rng.randint(0, 10 ** rng.randint(1, 7)))
            elif r < 0.985:
                word = rng.choice(FOREIGN)
            else:
                word = rng.choice(EMOJI)
            if rng.random() < 0.12:
                word = word.capitalize()
            if rng.random() < 0.1:
                word += rng.choice([",", ".", "!", "?", ";", ":", "...", ")", "\""])
            words.append(word)
        line = " ".join(words) + rng.choice([".", ".", "!", "?", ""])
        line_count += 1
        if line_count % 40 == 0:
            line += "<|endoftext|>"
        line += rng.choice(["\n", "\n", "\n\n", " ", "  \n"])
        lines.append(line)
        size += len(line.encode("utf-8"))
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(lines))


def bisect(cumulative, x):
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def train(text_path, out, merges):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + merges, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    with open(text_path, encoding="utf-8") as f:
        lines = f.read().replace("<|endoftext|>", "").splitlines(keepends=True)
    tok.train_from_iterator(lines, trainer)
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    eos = len(vocab)
    vocab["<|endoftext|>"] = eos
    spec["added_tokens"] = [{"id": eos, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True}]
    spec["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
    check = Tokenizer.from_file(out)
    print(json.dumps({"vocab_size": check.get_vocab_size(with_added_tokens=True), "merges": len(spec["model"]["merges"])}))


def crc32_of_ids(ids):
    """CRC-32 (zlib's) of the ids as little-endian 32-bit integers, as `rlhf bench --tokenizer` prints it."""
    packed = array.array("i", ids)
    if sys.byteorder == "big":
        packed.byteswap()
    return zlib.crc32(packed.tobytes())


def measure(tokenizer_path, text_path, repeats):
    tok = Tokenizer.from_file(tokenizer_path)
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    size = len(text.encode("utf-8"))
    start = time.perf_counter()
    ids = tok.encode(text).ids
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        tok.encode(text)
        warm.append(time.perf_counter() - start)
    # The same text as one batch of lines (encode_batch, on the one thread RAYON_NUM_THREADS allows):
    # HF's speed on document-sized inputs, where one huge string's bookkeeping does not weigh in.
    lines = text.splitlines(keepends=True)
    start = time.perf_counter()
    tok.encode_batch(lines)
    batch = time.perf_counter() - start
    print(json.dumps({"hf_encode_mb_per_s_cold": size / 1e6 / cold,
                      "hf_encode_mb_per_s_warm": size / 1e6 / min(warm) if warm else None,
                      "hf_encode_batch_lines_mb_per_s": size / 1e6 / batch,
                      "text_mb": size / 1e6, "tokens": len(ids), "ids_crc32": "%08x" % crc32_of_ids(ids)}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("text")
    t.add_argument("--out", required=True)
    t.add_argument("--mb", type=float, default=8)
    t.add_argument("--seed", type=int, default=1)
    r = sub.add_parser("train")
    r.add_argument("--text", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--merges", type=int, default=50000)
    m = sub.add_parser("measure")
    m.add_argument("--tokenizer", required=True)
    m.add_argument("--text", required=True)
    m.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.command == "text":
        make_text(args.out, args.mb, args.seed)
    elif args.command == "train":
        train(args.text, args.out, args.merges)
    else:
        measure(args.tokenizer, args.text, args.repeats)


if __name__ == "__main__":
    main()
