#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer or ThreadSanitizer (debug builds, which also check
# every BLAS operand against its buffer). The engine works on raw pointers and its own thread
# splits: this is where such bugs would hide.
#
#   scripts/sanitize.sh address|thread [swift test options, e.g. --filter EngineTests]
#
# Each sanitizer builds in its own directory (.build-address, .build-thread); the first build
# takes several minutes. Debug code is 10-50x slower than release: the whole suite takes long.
set -euo pipefail
cd "$(dirname "$0")/.."
# The package's own builds: native-CPU code and no exclusivity checks (Package.swift).
export RLHF_NATIVE="${RLHF_NATIVE-1}"
kind="${1:-}"
case "$kind" in
    address|thread) shift ;;
    *) echo "sanitize.sh: expected 'address' or 'thread' as the first argument" >&2; exit 2 ;;
esac
scripts/setup.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
swift build --build-tests --sanitize="$kind" --scratch-path ".build-$kind"
swift test --skip-build --sanitize="$kind" --scratch-path ".build-$kind" --disable-swift-testing "$@"
