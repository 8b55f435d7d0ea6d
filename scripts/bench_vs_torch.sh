#!/usr/bin/env bash
# Runs `rlhf bench` and the peers' PyTorch benchmark (torch_bench.py: PyTorch eager + Hugging Face
# GPT-2) on the same shapes, one right after the other, and prints both side by side with ratios.
# This machine's speed drifts by 10-30% from minute to minute, so only figures measured in the
# same minutes are compared; `--rounds N` alternates the two programs N times, keeps each one's
# best figure per metric, and prints each round's pairing beside it.
#
#   scripts/bench_vs_torch.sh [--peer PATH/torch_bench.py] [--venv DIR] [--rounds N] [--shapes tiny,small,gpt2]
#
# gpt2 is GPT-2 (124M) at 1,024 positions: PyTorch needs ~15 GB and ~6 minutes a round, rlhf ~6 GB.
#
# The virtual environment (default ~/.cache/rlhf-peer-venv, outside the repository) is created on
# first use with `pip install torch transformers`: several GB of wheels, a few minutes.
set -euo pipefail

usage="expected --peer PATH, --venv DIR, --rounds N or --shapes LIST"
repo="$(cd "$(dirname "$0")/.." && pwd)"
# The package's own builds: native-CPU code and no exclusivity checks (Package.swift).
export RLHF_NATIVE="${RLHF_NATIVE-1}"
peer="$repo/../shared/peers/torch_bench.py"
venv="${HOME}/.cache/rlhf-peer-venv"
rounds=1
shapes="tiny,small"
while [ $# -gt 0 ]; do
    case "$1" in
        --peer|--venv|--rounds|--shapes)
            if [ $# -lt 2 ]; then echo "bench_vs_torch.sh: $1 needs a value; $usage" >&2; exit 2; fi
            case "$1" in
                --peer) peer="$2" ;;
                --venv) venv="$2" ;;
                --rounds) rounds="$2" ;;
                --shapes) shapes="$2" ;;
            esac
            shift 2 ;;
        *) echo "bench_vs_torch.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
    esac
done
if [ ! -f "$peer" ]; then
    echo "bench_vs_torch.sh: $peer not found; pass the peers' torch_bench.py with --peer PATH" >&2
    exit 2
fi
# Paths given relative to the caller's directory stay valid after the cd below.
peer="$(cd "$(dirname "$peer")" && pwd)/$(basename "$peer")"
case "$venv" in /*) ;; *) venv="$(pwd)/$venv" ;; esac
case "$rounds" in ''|*[!0-9]*) rounds=0 ;; esac
if [ $((10#$rounds)) -lt 1 ]; then
    echo "bench_vs_torch.sh: --rounds: expected a positive integer" >&2
    exit 2
fi
rounds=$((10#$rounds))
for shape in ${shapes//,/ }; do
    case "$shape" in
        tiny|small|gpt2) ;;
        *) echo "bench_vs_torch.sh: --shapes: unknown shape '$shape'; expected a comma-separated list of tiny, small, gpt2" >&2; exit 2 ;;
    esac
done
cd "$repo"

scripts/setup.sh
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, transformers" 2>/dev/null; then
    echo "Creating $venv with torch and transformers (several GB, a few minutes)..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch transformers
fi
swift build -c release >&2

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for shape in ${shapes//,/ }; do
    case "$shape" in
        tiny) targs=(--layers 4 --embd 128 --heads 4 --vocab 2048 --ctx 128 --batch 16 --steps 10) ;;
        small) targs=(--layers 6 --embd 384 --heads 6 --vocab 8192 --ctx 256 --batch 8 --steps 5) ;;
        gpt2) targs=(--layers 12 --embd 768 --heads 12 --vocab 50257 --ctx 1024 --batch 4 --steps 2
                     --gen-batch 16 --gen-prompt 512 --gen-new 64 --dpo-pairs 4 --dpo-completion 64) ;;
    esac
    steps=6; [ "$shape" = gpt2 ] && steps=2
    for r in $(seq 1 "$rounds"); do
        echo "[$shape, round $r/$rounds] PyTorch..." >&2
        if ! "$venv/bin/python" "$peer" "${targs[@]}" > "$out/peer.out" 2> "$out/peer.err"; then
            echo "bench_vs_torch.sh: $peer failed; its last lines:" >&2
            tail -n 5 "$out/peer.err" >&2
            exit 1
        fi
        tail -n 1 "$out/peer.out" | sed "s/^{/{\"shape\": \"$shape\", /" >> "$out/torch.jsonl"
        echo "[$shape, round $r/$rounds] rlhf bench..." >&2
        .build/release/rlhf bench --shapes "$shape" --steps "$steps" --parts train,generate,dpo | grep '"shape"' >> "$out/rlhf.jsonl"
    done
done

python3 - "$out/rlhf.jsonl" "$out/torch.jsonl" <<'PY'
import json, sys
def best(path):
    rows = {}
    for line in open(path):
        d = json.loads(line)
        b = rows.setdefault(d["shape"], {})
        for k, v in d.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            lower_is_better = (k.endswith("_s") and not k.endswith("_per_s")) or k.endswith("_mb")   # seconds and memory, not rates
            if k not in b or (v < b[k] if lower_is_better else v > b[k]):
                b[k] = v
    return rows
ours, theirs = best(sys.argv[1]), best(sys.argv[2])
fractions = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "train_fraction_of_sgemm" in d:
        fractions.setdefault(d["shape"], []).append(d["train_fraction_of_sgemm"])
print("| shape | metric | rlhf | PyTorch + HF | rlhf / PyTorch |")
print("|---|---|---|---|---|")
for shape in ours:
    o, t = ours[shape], theirs.get(shape, {})
    for key, name, higher in [("train_tokens_per_s", "train tokens/s", True),
                              ("generate_new_tokens_per_s", "generate new tokens/s", True),
                              ("dpo_step_s", "DPO step (s)", False),
                              ("peak_rss_mb", "peak memory (MB)", False)]:
        if key in o and key in t:
            ratio = o[key] / t[key] if higher else t[key] / o[key]
            fmt = (lambda v: f"{v:,.0f}") if higher or key.endswith("_mb") else (lambda v: f"{v:.3f}")
            better, worse = ("less", "more") if key.endswith("_mb") else ("faster", "slower")
            print(f"| {shape} | {name} | {fmt(o[key])} | {fmt(t[key])} | {ratio:.2f}x {better if ratio >= 1 else worse} |")
    # Round by round: the pairings the rounds made, each rlhf run against the PyTorch run just before it.
    mine = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["shape"] == shape]
    peer = [json.loads(l) for l in open(sys.argv[2]) if json.loads(l)["shape"] == shape]
    if len(mine) > 1:
        for key, name, higher in [("train_tokens_per_s", "train", True), ("generate_new_tokens_per_s", "generate", True),
                                  ("dpo_step_s", "DPO step", False)]:
            pairs = [(a[key], b[key]) for a, b in zip(mine, peer) if key in a and key in b]
            if pairs:
                fmt = (lambda v: f"{v:,.0f}") if higher else (lambda v: f"{v:.3f}")
                each = ", ".join(f"{(a / b if higher else b / a):.2f}x ({fmt(a)} / {fmt(b)})" for a, b in pairs)
                print(f"| {shape} | {name}, rlhf / PyTorch in each round | {each} | | |")
    shares = fractions.get(shape, [])
    if shares:
        each = ", ".join(f"{f:.0%}" for f in shares)
        print(f"| {shape} | training GFLOP/s as a share of sgemm GFLOP/s timed beside each step (rlhf, each round) | {each} | | |")
PY
