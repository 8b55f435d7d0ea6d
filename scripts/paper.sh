#!/usr/bin/env bash
# The paper-scale set (configs/paper/): SFT + reward model once, then PPO (with the learned and
# the gold reward, and without KL for the over-optimization curve), DPO, and the KL / beta sweeps
# for the reward-KL frontier; then one comparison report. Each run resumes if it exists, so the
# script can be stopped and started again. Measured from a fresh clone on 2 cores (2026-11-26):
# 1 h 30 min including the build; 1 h 8 min at 5c68c4d (sixth session, after engine speed-ups).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product rlhf
bin=.build/release/rlhf
run() {
  local cfg=$1 name
  name=$(sed -n 's/.*"name": *"\([^"]*\)".*/\1/p' "$cfg" | head -1)
  if [ -f "runs/$name/state.json" ]; then $bin resume "runs/$name"; else $bin run "$cfg"; fi
}
run configs/paper/sft.json
for c in ppo dpo ppo_overoptimization ppo_gold ppo_kl_0.02 ppo_kl_0.2 dpo_beta_0.05 dpo_beta_0.25 dpo_beta_0.5; do
  run configs/paper/$c.json
done
$bin compare runs/paper-sft runs/paper-ppo runs/paper-dpo runs/paper-ppo-gold runs/paper-ppo-kl0 runs/paper-ppo-kl0.02 \
  runs/paper-ppo-kl0.2 runs/paper-dpo-beta0.05 runs/paper-dpo-beta0.25 runs/paper-dpo-beta0.5 --out runs/paper-report
