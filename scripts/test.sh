#!/usr/bin/env bash
# The test command: installs what is missing, builds in release mode (the numeric tests are
# 10-50x slower in debug) with testing enabled, and runs every test target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release --skip-build --disable-swift-testing -Xswiftc -enable-testing "$@"
