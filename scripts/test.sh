#!/usr/bin/env bash
# The test command: installs what is missing, builds in release mode (the numeric tests are
# 10-50x slower in debug) with testing enabled, runs every test target, then checks that another
# package can depend on this one by URL (scripts/check_dependency.sh) and runs every fuzz target
# for a few seconds from its committed seeds (scripts/fuzz.sh; a finding fails the command).
set -euo pipefail
cd "$(dirname "$0")/.."
# The package's own builds: native-CPU code and no exclusivity checks (Package.swift).
export RLHF_NATIVE="${RLHF_NATIVE-1}"
scripts/setup.sh
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release --skip-build --disable-swift-testing -Xswiftc -enable-testing "$@"
# Only for the whole suite: a filtered run (scripts/test.sh --filter X) is a developer's quick check.
if [ $# -eq 0 ]; then
    scripts/check_dependency.sh
    scripts/fuzz.sh all --smoke 5
fi
