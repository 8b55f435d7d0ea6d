#!/usr/bin/env bash
# Checks that another package can use this one's libraries through SwiftPM by URL: SwiftPM refuses
# a dependency fetched by URL whose targets carry unsafe flags, so Package.swift must keep its
# native-CPU flags to builds of this package itself. Clones the committed HEAD into a temporary,
# tagged git repository, builds a small package that depends on it with
# .package(url: "file://...", from: "1.0.0") and runs it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# As a package that depends on rlhf builds it: without the variables of the project's own builds.
unset RLHF_NATIVE RLHF_PORTABLE
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
git clone -q "$repo" "$tmp/rlhf"
git -C "$tmp/rlhf" -c user.name=check -c user.email=check@localhost tag 1.0.0
mkdir -p "$tmp/consumer/Sources/consumer"
cat > "$tmp/consumer/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "consumer",
    dependencies: [.package(url: "file://$tmp/rlhf", from: "1.0.0")],
    targets: [.executableTarget(name: "consumer", dependencies: [.product(name: "GPT", package: "rlhf")])]
)
SWIFT
cat > "$tmp/consumer/Sources/consumer/main.swift" <<'SWIFT'
import Engine
import GPT

// A GPT-2 of this project, used from another package: its parameter count and a forward pass.
let config = GPTConfig(vocabSize: 64, context: 16, nLayer: 2, nHead: 2, nEmbd: 32)
let model = GPT(config: config, seed: 1)
let ws = GPTWorkspace(config: config, maxB: 1, maxT: 4)
let tokens: [Int32] = [1, 2, 3, 4]
tokens.withUnsafeBufferPointer { model.forward(tokens: $0.baseAddress!, B: 1, T: 4, ws: ws) }
print("parameters \(model.parameterCount), first logit \(model.logits(ws: ws, rows: [3])[0].isFinite ? "finite" : "not finite")")
SWIFT
cd "$tmp/consumer"
if ! swift build > "$tmp/build.log" 2>&1; then
    echo "check_dependency.sh: a package depending on rlhf by URL does not build; the last lines:" >&2
    tail -n 15 "$tmp/build.log" >&2
    exit 1
fi
out="$(.build/debug/consumer)"
expected="parameters 28032, first logit finite"
if [ "$out" != "$expected" ]; then
    echo "check_dependency.sh: expected '$expected', got '$out'" >&2
    exit 1
fi
echo "check_dependency.sh: a package depending on rlhf by URL builds and runs ($out)"
