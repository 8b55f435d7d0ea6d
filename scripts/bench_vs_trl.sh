#!/usr/bin/env bash
# Runs `rlhf bench --parts grpo` / `--parts ppo` (tiny shape) and TRL's trainers on the same work
# (the peers' trl_grpo_bench.py: GRPOTrainer of TRL 1.x; trl_ppo_bench.py: PPOTrainer of TRL 0.21,
# the last TRL with PPO), alternated on this machine in the same minutes, and prints a table with
# ratios: ours completions/s ÷ TRL's for GRPO, TRL's seconds per iteration ÷ ours for PPO, the best
# figure of each program over the rounds and each round's pairing beside the load average (`uptime`)
# before and after it. The machine's speed drifts by 10-30% from minute to minute and other
# processes take cores: a pairing whose 1-minute load before it exceeds the core count + 0.5 (the
# benchmarks' own threads included) is marked contended.
#
#   scripts/bench_vs_trl.sh [--peers DIR] [--venv DIR] [--rounds N] [--methods LIST]
#
# --methods: comma-separated, of
#   grpo             8 prompts × G = 8 completions of 32 tokens, beta 0.04, one pass (the peer as written)
#   ppo              32 rollouts of 32 tokens, separate value and reward models, 2 epochs × 4
#                    minibatches of 8: the PPO peer with TRL's batch set to the 32 rollouts of one
#                    iteration (per_device_train_batch_size 32), as `rlhf bench --parts ppo` does
#   ppo-as-written   the PPO peer unchanged: per_device_train_batch_size 8 makes TRL 0.21 sample 8
#                    rollouts per update and train minibatches of 2, so its "iteration" is four
#                    updates of 8 rollouts with 32 optimizer steps (ours: one of 32 with 8 steps)
# (default grpo,ppo,ppo-as-written; 3 rounds)
#
# The virtual environment (default ~/.cache/rlhf-trl-venv, outside the repository) is created on
# first use with `pip install torch transformers trl datasets` (several GB), and TRL 0.21.0's wheel
# unpacked into DIR/trl-0.21.0, put on PYTHONPATH for the PPO peer only.
set -euo pipefail
shopt -s inherit_errexit
# The package's own builds: native-CPU code and no exclusivity checks (Package.swift).
export RLHF_NATIVE="${RLHF_NATIVE-1}"

usage="expected --peers DIR, --venv DIR, --rounds N or --methods LIST"
repo="$(cd "$(dirname "$0")/.." && pwd)"
peers="$repo/../shared/peers"
venv="${HOME}/.cache/rlhf-trl-venv"
rounds=3
methods="grpo,ppo,ppo-as-written"
while [ $# -gt 0 ]; do
    case "$1" in
        --peers|--venv|--rounds|--methods)
            if [ $# -lt 2 ]; then echo "bench_vs_trl.sh: $1 needs a value; $usage" >&2; exit 2; fi
            case "$1" in
                --peers) peers="$2" ;;
                --venv) venv="$2" ;;
                --rounds) rounds="$2" ;;
                --methods) methods="$2" ;;
            esac
            shift 2 ;;
        *) echo "bench_vs_trl.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
    esac
done
for f in trl_grpo_bench.py trl_ppo_bench.py; do
    if [ ! -f "$peers/$f" ]; then
        echo "bench_vs_trl.sh: $peers/$f not found; pass the directory of the peers' trl_grpo_bench.py and trl_ppo_bench.py with --peers DIR" >&2
        exit 2
    fi
done
# Paths given relative to the caller's directory stay valid after the cd below.
peers="$(cd "$peers" && pwd)"
case "$venv" in /*) ;; *) venv="$(pwd)/$venv" ;; esac
case "$rounds" in ''|*[!0-9]*) rounds=0 ;; esac
if [ $((10#$rounds)) -lt 1 ]; then
    echo "bench_vs_trl.sh: --rounds: expected a positive integer" >&2
    exit 2
fi
rounds=$((10#$rounds))
if [ -z "${methods//,/}" ]; then
    echo "bench_vs_trl.sh: --methods: expected a comma-separated list of grpo, ppo, ppo-as-written" >&2
    exit 2
fi
for m in ${methods//,/ }; do
    case "$m" in
        grpo|ppo|ppo-as-written) ;;
        *) echo "bench_vs_trl.sh: --methods: unknown method '$m'; expected a comma-separated list of grpo, ppo, ppo-as-written" >&2; exit 2 ;;
    esac
done
cd "$repo"

scripts/setup.sh
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, transformers, trl, datasets" 2>/dev/null; then
    echo "Creating $venv with torch, transformers, trl and datasets (several GB, a few minutes)..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch transformers trl datasets
fi
trl021="$venv/trl-0.21.0"
if ! PYTHONPATH="$trl021" "$venv/bin/python" -c "import trl; assert trl.__version__ == '0.21.0'" 2>/dev/null; then
    echo "Unpacking TRL 0.21.0 (its PPOTrainer) into $trl021..." >&2
    wheels="$(mktemp -d)"
    "$venv/bin/pip" download -q --no-deps trl==0.21.0 -d "$wheels"
    rm -rf "$trl021"
    "$venv/bin/python" -m zipfile -e "$wheels"/trl-0.21.0-py3-none-any.whl "$trl021"
    rm -rf "$wheels"
fi
swift build -c release >&2

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# TRL's batch at the 32 rollouts of one iteration: the peer's one setting that differs from ours.
sed 's/per_device_train_batch_size=8,/per_device_train_batch_size=32,/' "$peers/trl_ppo_bench.py" > "$out/trl_ppo_bench_matched.py"
if cmp -s "$peers/trl_ppo_bench.py" "$out/trl_ppo_bench_matched.py"; then
    echo "bench_vs_trl.sh: $peers/trl_ppo_bench.py has no 'per_device_train_batch_size=8,' to set to 32; update the ppo method of this script to the peer" >&2
    exit 2
fi

load() { uptime | sed 's/.*load average: //'; }

# Runs one program of a pairing; its figure (the metric compared) goes to stdout.
run_ours() {
    local part="$1" key="$2"
    .build/release/rlhf bench --shapes tiny --parts "$part" > "$out/ours.out"
    python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])[sys.argv[2]])' "$out/ours.out" "$key"
}
run_trl() {
    local script="$1" key="$2" pythonpath="$3"
    if ! PYTHONPATH="$pythonpath" "$venv/bin/python" "$script" > "$out/trl.out" 2> "$out/trl.err"; then
        echo "bench_vs_trl.sh: $script failed; its last lines:" >&2
        tail -n 5 "$out/trl.err" >&2
        exit 1
    fi
    python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])[sys.argv[2]])' "$out/trl.out" "$key"
}

for r in $(seq 1 "$rounds"); do
    for m in ${methods//,/ }; do
        case "$m" in
            grpo) part=grpo; ours_key=grpo_completions_per_s; script="$peers/trl_grpo_bench.py"; trl_key=completions_per_s; pp="" ;;
            ppo) part=ppo; ours_key=ppo_iteration_s; script="$out/trl_ppo_bench_matched.py"; trl_key=iteration_s; pp="$trl021" ;;
            ppo-as-written) part=ppo; ours_key=ppo_iteration_s; script="$peers/trl_ppo_bench.py"; trl_key=iteration_s; pp="$trl021" ;;
        esac
        before="$(load)"
        # Odd rounds run TRL first, even rounds rlhf first: neither always gets the cooler minute.
        if [ $((r % 2)) -eq 1 ]; then
            echo "[$m, round $r/$rounds, load $before] TRL, then rlhf bench..." >&2
            theirs="$(run_trl "$script" "$trl_key" "$pp")"
            ours="$(run_ours "$part" "$ours_key")"
        else
            echo "[$m, round $r/$rounds, load $before] rlhf bench, then TRL..." >&2
            ours="$(run_ours "$part" "$ours_key")"
            theirs="$(run_trl "$script" "$trl_key" "$pp")"
        fi
        after="$(load)"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$r" "$ours" "$theirs" "$before" "$after" >> "$out/rounds.tsv"
    done
done

python3 - "$out/rounds.tsv" "$(nproc)" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
cores = int(sys.argv[2])
spec = {  # method: (label, unit, higher is better, target)
    "grpo": ("GRPO", "completions/s", True, 10),
    "ppo": ("PPO (TRL at 32 rollouts an update)", "s/iteration", False, 4),
    "ppo-as-written": ("PPO (peer as written: TRL updates of 8)", "s/iteration", False, 4),
}
def ratio(m, ours, theirs):
    return ours / theirs if spec[m][2] else theirs / ours
def fmt(m, v):
    return f"{v:.1f}" if spec[m][2] else f"{v:.2f}"
print("| method | metric | rlhf (best) | TRL (best) | ratio of bests | pairings at target | target |")
print("|---|---|---|---|---|---|---|")
for m in spec:
    mine = [r for r in rows if r[0] == m]
    if not mine:
        continue
    ours = [float(r[2]) for r in mine]
    theirs = [float(r[3]) for r in mine]
    pick = max if spec[m][2] else min
    o, t = pick(ours), pick(theirs)
    at = sum(ratio(m, float(r[2]), float(r[3])) >= spec[m][3] for r in mine)
    print(f"| {spec[m][0]} | {spec[m][1]} | {fmt(m, o)} | {fmt(m, t)} | {ratio(m, o, t):.1f}x | {at} of {len(mine)} | >= {spec[m][3]}x |")
print()
print("| method | round | rlhf | TRL | ratio | load average before (1, 5, 15 min) | after |")
print("|---|---|---|---|---|---|---|")
contended = []
for r in rows:
    m = r[0]
    one = float(r[4].split(",")[0])
    mark = ""
    if one > cores + 0.5:
        mark = " (contended)"
        contended.append(f"{m} round {r[1]}")
    print(f"| {spec[m][0]} | {r[1]} | {fmt(m, float(r[2]))} | {fmt(m, float(r[3]))} | {ratio(m, float(r[2]), float(r[3])):.1f}x | {r[4]}{mark} | {r[5]} |")
if contended:
    print(f"\nContended (1-minute load above {cores} cores + 0.5 before the pairing): {', '.join(contended)}.")
PY
