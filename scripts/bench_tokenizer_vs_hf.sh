#!/usr/bin/env bash
# Tokenizer encoding speed, ours against Hugging Face `tokenizers`, on one thread, on the same
# GPT-2-sized tokenizer file and the same text.
#
#   scripts/bench_tokenizer_vs_hf.sh [--rounds N] [--mb M] [--merges K] [--work DIR] [--rlhf PATH]
#
# 1. generates varied text (M MB, default 8: a Zipf lexicon of made-up words, English, numbers,
#    punctuation, other scripts, emoji, "<|endoftext|>" between paragraphs);
# 2. trains with `tokenizers` a byte-level BPE of K merges (default 50,000: GPT-2's vocabulary of
#    50,257 with <|endoftext|> last), the stand-in for GPT-2's tokenizer.json;
# 3. alternates N rounds (default 3) of
#      HF:   Tokenizer.encode(whole text), RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
#            (first call, cold BPE cache; best later call, warm cache), and encode_batch of the
#            text's lines (HF's speed on document-sized inputs)
#      ours: rlhf bench --parts tokenizer --tokenizer FILE --text FILE (one thread, cold chunk memo)
#    and prints each round and the medians, in MB/s of UTF-8, and whether the ids are identical
#    (count and CRC-32 of all ids).
#
# Python: $PYTHON (default python3) with the tokenizers package: pip install tokenizers
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# The package's own builds: native-CPU code and no exclusivity checks (Package.swift).
export RLHF_NATIVE="${RLHF_NATIVE-1}"
PYTHON="${PYTHON:-python3}"
rounds=3
mb=8
merges=50000
work=""
rlhf=""
usage="expected --rounds N, --mb M, --merges K, --work DIR or --rlhf PATH"

fail() { echo "bench_tokenizer_vs_hf.sh: $1" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --rounds|--mb|--merges|--work|--rlhf)
            [ $# -ge 2 ] || fail "$1 needs a value; $usage"
            case "$1" in
                --rounds) rounds="$2" ;;
                --mb) mb="$2" ;;
                --merges) merges="$2" ;;
                --work) work="$2" ;;
                --rlhf) rlhf="$2" ;;
            esac
            shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) fail "unknown argument '$1'; $usage" ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || fail "--rounds: expected a positive integer"
[[ "$merges" =~ ^[1-9][0-9]*$ ]] || fail "--merges: expected a positive integer"
[[ "$mb" =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "--mb: expected a positive number"

"$PYTHON" -c "import tokenizers" 2>/dev/null \
    || fail "$PYTHON cannot import tokenizers; pip install tokenizers, or set PYTHON to a python that has it"

if [ -z "$rlhf" ]; then
    echo "building rlhf (swift build -c release --product rlhf) ..." >&2
    (cd "$repo" && swift build -c release --product rlhf >&2)
    rlhf="$repo/.build/release/rlhf"
fi
[ -x "$rlhf" ] || fail "$rlhf is not an executable; build it or pass --rlhf PATH"

if [ -z "$work" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
helper="$here/bench_tokenizer_vs_hf.py"
text="$work/text.txt"
tok="$work/tokenizer.json"

if [ ! -s "$text" ]; then
    echo "generating $mb MB of text ..." >&2
    "$PYTHON" "$helper" text --out "$text" --mb "$mb"
fi
if [ ! -s "$tok" ]; then
    echo "training a byte-level BPE of $merges merges with tokenizers ..." >&2
    RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$PYTHON" "$helper" train --text "$text" --out "$tok" --merges "$merges" >&2
fi

field() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$1"; }

hf_cold=(); hf_warm=(); hf_lines=(); ours=(); same=yes
for r in $(seq 1 "$rounds"); do
    hf="$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$PYTHON" "$helper" measure --tokenizer "$tok" --text "$text")"
    us="$("$rlhf" bench --parts tokenizer --tokenizer "$tok" --text "$text")"
    echo "round $r: hf $hf" >&2
    echo "round $r: rlhf $us" >&2
    hf_cold+=("$(field "$hf" hf_encode_mb_per_s_cold)")
    hf_warm+=("$(field "$hf" hf_encode_mb_per_s_warm)")
    hf_lines+=("$(field "$hf" hf_encode_batch_lines_mb_per_s)")
    ours+=("$(field "$us" tokenizer_encode_mb_per_s)")
    if [ "$(field "$hf" tokens)" != "$(field "$us" tokens)" ] || [ "$(field "$hf" ids_crc32)" != "$(field "$us" ids_crc32)" ]; then
        same=no
    fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_cold="$(median "${hf_cold[@]}")"; m_warm="$(median "${hf_warm[@]}")"; m_lines="$(median "${hf_lines[@]}")"; m_ours="$(median "${ours[@]}")"
best_hf="$(printf '%s\n' "$m_cold" "$m_warm" "$m_lines" | sort -g | tail -1)"
printf '{"rounds": %d, "text_mb": %s, "merges": %d, "hf_encode_mb_per_s_cold": %.3f, "hf_encode_mb_per_s_warm": %.3f, "hf_encode_batch_lines_mb_per_s": %.3f, "rlhf_encode_mb_per_s": %.3f, "speedup_vs_best_hf": %.1f, "ids_identical": %s}\n' \
    "$rounds" "$mb" "$merges" "$m_cold" "$m_warm" "$m_lines" "$m_ours" "$(awk -v a="$m_ours" -v b="$best_hf" 'BEGIN { print a / b }')" \
    "$([ "$same" = yes ] && echo true || echo false)"
[ "$same" = yes ] || { echo "bench_tokenizer_vs_hf.sh: the ids differ from Hugging Face's" >&2; exit 1; }
