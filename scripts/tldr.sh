#!/usr/bin/env bash
# The papers' TL;DR pipeline from a pretrained GPT-2 on the released data (configs/tldr/): SFT, the
# reward model, an independent judge (a reward model trained on the other comparisons split), PPO
# and DPO against the reward model, both evaluated by the judge; then one comparison report. Each
# run resumes where it stopped, so the script can be interrupted and started again.
#
#   scripts/tldr.sh --model DIR --data DIR [--set KEY=VALUE ...]
#
# --model: a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer files);
# --data: a directory with train.jsonl, valid.jsonl, test.jsonl (TL;DR filtered) and
# comparisons_train.jsonl, comparisons_valid.jsonl (see README.md, "Start from GPT-2").
# Further --set options apply to every stage's config (e.g. --set sft.steps=200).
set -euo pipefail
cd "$(dirname "$0")/.."
# The package's own builds: native-CPU code and no exclusivity checks (Package.swift).
export RLHF_NATIVE="${RLHF_NATIVE-1}"
model="" data="" sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$(realpath "$2"); shift 2 ;;
    --data) data=$(realpath "$2"); shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    *) echo "error: unknown argument '$1'; expected --model DIR, --data DIR or --set KEY=VALUE" >&2; exit 2 ;;
  esac
done
[ -n "$model" ] && [ -n "$data" ] || { echo "error: give --model DIR (a Hugging Face GPT-2) and --data DIR (the TL;DR files)" >&2; exit 2; }
scripts/setup.sh
swift build -c release --product rlhf
bin=.build/release/rlhf
common=(--set "model.hf=$model")
for f in sft_train:train sft_valid:valid test:test; do common+=(--set "data.${f%%:*}=$data/${f#*:}.jsonl"); done
run() {
  local cfg=configs/tldr/$1.json name=$2 extra=("${@:3}")
  if [ -f "runs/$name/state.json" ]; then $bin resume "runs/$name"
  else $bin run "$cfg" "${common[@]}" "${extra[@]}" ${sets[@]+"${sets[@]}"}; fi
}
train=(--set "data.preferences_train=$data/comparisons_train.jsonl" --set "data.preferences_valid=$data/comparisons_valid.jsonl")
held=(--set "data.preferences_train=$data/comparisons_valid.jsonl" --set "data.preferences_valid=$data/comparisons_train.jsonl")
run sft tldr-sft "${train[@]}"
run reward_model tldr-rm "${train[@]}"
run judge tldr-judge "${held[@]}"
run ppo tldr-ppo "${train[@]}"
run dpo tldr-dpo "${train[@]}"
$bin compare runs/tldr-ppo runs/tldr-dpo --out runs/tldr-report
