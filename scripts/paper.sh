#!/usr/bin/env bash
# The paper-scale sets (configs/paper/), each run resumed where it stopped when the script is
# started again:
#
#   scripts/paper.sh [main]           SFT + reward model once; PPO (learned and gold reward, no KL,
#                                     the KL sweep), DPO (and its beta sweep), GRPO (DAPO and
#                                     Dr. GRPO losses), RLOO, online DPO, best-of-N; one report
#   scripts/paper.sh replicates       the headline (PPO, GRPO, RLOO, DPO) with seeds 1, 2 and 3
#                                     from the same SFT and reward model; verdicts across seeds
#   scripts/paper.sh overoptimization reward models from 500, 1,500 and 4,000 labels, each against
#                                     best-of-N (N = 1..64), PPO without and with a KL penalty,
#                                     GRPO and RLOO; one report with Gao et al.'s fits
#   scripts/paper.sh all              all three
#
# The main set before GRPO, RLOO, online DPO and best-of-N joined it took 1 h 8 min on this
# machine's 2 cores; each of those adds about as much as a PPO run. The over-optimisation set
# (three reward models, each against best-of-N, PPO with and without a KL penalty, GRPO and RLOO)
# took 1 h 44 min with builds beside it: about 25-50 minutes a reward model. The replicated headline is
# three seeds of four methods with their evals: about 45 minutes on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# The package's own builds: native-CPU code and no exclusivity checks (Package.swift).
export RLHF_NATIVE="${RLHF_NATIVE-1}"
set_name=${1:-main}
case "$set_name" in
  main|replicates|overoptimization|all) ;;
  *) echo "paper.sh: unknown set '$set_name'; expected main, replicates, overoptimization or all" >&2; exit 2 ;;
esac
scripts/setup.sh
swift build -c release --product rlhf
bin=.build/release/rlhf
run() {
  local cfg=$1 name
  name=$(sed -n 's/.*"name": *"\([^"]*\)".*/\1/p' "$cfg" | head -1)
  if [ -f "runs/$name/state.json" ]; then $bin resume "runs/$name"; else $bin run "$cfg"; fi
}
run configs/paper/sft.json
if [ "$set_name" = main ] || [ "$set_name" = all ]; then
  for c in ppo dpo grpo grpo_dr rloo online_dpo bon ppo_overoptimization ppo_gold ppo_kl_0.02 ppo_kl_0.2 \
           dpo_beta_0.05 dpo_beta_0.25 dpo_beta_0.5; do
    run configs/paper/$c.json
  done
  $bin compare runs/paper-sft runs/paper-ppo runs/paper-dpo runs/paper-grpo runs/paper-grpo-dr runs/paper-rloo \
    runs/paper-online-dpo runs/paper-bon runs/paper-ppo-gold runs/paper-ppo-kl0 runs/paper-ppo-kl0.02 runs/paper-ppo-kl0.2 \
    runs/paper-dpo-beta0.05 runs/paper-dpo-beta0.25 runs/paper-dpo-beta0.5 --out runs/paper-report
fi
if [ "$set_name" = replicates ] || [ "$set_name" = all ]; then
  run configs/paper/replicates.json
fi
if [ "$set_name" = overoptimization ] || [ "$set_name" = all ]; then
  for n in 500 1500 4000; do
    run configs/paper/overoptimization/rm_labels_$n.json
    run configs/paper/overoptimization/rm_labels_${n}_kl.json
  done
  $bin compare runs/paper-oo-labels500 runs/paper-oo-labels500-kl runs/paper-oo-labels1500 runs/paper-oo-labels1500-kl \
    runs/paper-oo-labels4000 runs/paper-oo-labels4000-kl --out runs/paper-overoptimization-report
fi
