#!/usr/bin/env bash
# The main job: installs what is missing, builds the release binary, runs the quickstart
# experiment (tokenizer -> pretrain -> SFT -> preferences -> reward model -> PPO and DPO -> eval)
# and prints the PPO-vs-DPO comparison table. Run it again to continue an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The package's own builds: native-CPU code and no exclusivity checks (Package.swift).
export RLHF_NATIVE="${RLHF_NATIVE-1}"
scripts/setup.sh
swift build -c release --product rlhf
if [ -f runs/quickstart/state.json ]; then
  .build/release/rlhf resume runs/quickstart
else
  .build/release/rlhf run configs/quickstart.json
fi
