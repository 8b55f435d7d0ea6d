#!/usr/bin/env bash
# Fuzzing of the readers with libFuzzer.
#
# Each Fuzz/NAME.swift is one target: it defines LLVMFuzzerTestOneInput, checks its reader's
# contract (a value or the reader's user-facing error, never a trap; bounded time and memory;
# messages on one line of bounded length), and names the package modules it imports on its first
# line ("// modules: JSON Tokenizer"). Its seed corpus is Fuzz/corpus/NAME/. Fuzz/Support/*.swift
# (temporary files, the message contract) is compiled into every target. A new target is one
# such file and one corpus directory; nothing here changes.
#
#   scripts/fuzz.sh --list                    # the targets
#   scripts/fuzz.sh json                      # 60 seconds
#   scripts/fuzz.sh json --time 600           # 10 minutes
#   scripts/fuzz.sh json --runs 1000000       # a number of executions
#   scripts/fuzz.sh all --time 120            # every target in turn
#   scripts/fuzz.sh json --build-only
#   scripts/fuzz.sh all --smoke 5             # 5 seconds each from the committed seeds (scripts/test.sh)
#   scripts/fuzz.sh json -- -max_len=200000   # further libFuzzer flags after --
#
# The modules are compiled with swiftc -sanitize=fuzzer,address into .build-fuzz/ (their
# dependencies read from Package.swift), apart from `swift build` and scripts/test.sh, which never
# need the fuzzer runtime. New corpus entries go to .build-fuzz/corpus/NAME/ (the committed seeds
# stay as they are), a finding to .build-fuzz/findings/NAME-*; reproduce one with
# SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 .build-fuzz/bin/fuzz-NAME FILE.
# The exit code is non-zero on a finding. A smoke run (--smoke SECONDS) starts from the committed
# seeds alone, keeps no new corpus entry, and prints one line a target (libFuzzer's output goes to
# .build-fuzz/logs/smoke-NAME.log, whose end is shown on a finding).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/.build-fuzz

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

targets() { for f in Fuzz/*.swift; do basename "$f" .swift; done; }

[[ $# -ge 1 ]] || usage 2
case "$1" in
    -h|--help) usage 0 ;;
    --list) targets; exit 0 ;;
esac
NAME=$1; shift
MODE=time; AMOUNT=60; BUILD_ONLY=0; SMOKE=0; EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --time) MODE=time; AMOUNT=$2; shift 2 ;;
        --runs) MODE=runs; AMOUNT=$2; shift 2 ;;
        --smoke) MODE=time; AMOUNT=$2; SMOKE=1; shift 2 ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "fuzz.sh: unknown option $1 (see scripts/fuzz.sh --help)" >&2; exit 2 ;;
    esac
done

SANITIZE=(-sanitize=fuzzer,address)
SWIFTFLAGS=(-O -swift-version 5 -parse-as-library -enforce-exclusivity=unchecked -I "$OUT/modules"
            -I "$ROOT/Modules/COpenBLAS")
[[ $(uname -m) == x86_64 ]] && SWIFTFLAGS+=(-Xcc -march=native)
mkdir -p "$OUT/modules" "$OUT/lib" "$OUT/bin" "$OUT/logs" "$OUT/findings" "$OUT/corpus"

# The dependencies of a package target, from its `.target(name: "X", dependencies: [...])` line.
deps_of() {
    local line
    line=$(grep -E "\.target\(name: \"$1\"" Package.swift || true)
    [[ -n $line ]] || { [[ -d Modules/$1 ]] && return 0; echo "fuzz.sh: no target $1 in Package.swift" >&2; exit 2; }
    sed -n 's/.*dependencies: \[\([^]]*\)\].*/\1/p' <<<"$line" | tr -d '" ' | tr ',' ' '
}

# Modules in build order (dependencies first), each once.
ORDER=()
visit() {
    local m d
    for d in "${ORDER[@]:-}"; do [[ $d == "$1" ]] && return 0; done
    for d in $(deps_of "$1"); do visit "$d"; done
    ORDER+=("$1")
}

build_module() {
    local m=$1 lib="$OUT/lib/lib$1.a" d stale=0
    if [[ -d Modules/$m ]]; then return 0; fi  # a system library (COpenBLAS): headers and -l flags only
    [[ -d Sources/$m/include ]] && SWIFTFLAGS+=(-I "$OUT/cmodules/$m")
    [[ -f $lib ]] || stale=1
    [[ $stale == 1 ]] || [[ -z $(find "Sources/$m" -newer "$lib" -print -quit) ]] || stale=1
    # Stale when a dependency's library is newer (rebuilt since): compared by time, not by what
    # this invocation rebuilt, so that `all` compiles each module once for every target.
    for d in $(deps_of "$m"); do [[ -f $OUT/lib/lib$d.a && $OUT/lib/lib$d.a -nt $lib ]] && stale=1; done
    [[ $stale == 1 ]] || return 0
    echo "fuzz.sh: compiling $m" >&2
    if [[ -d Sources/$m/include ]]; then  # a C target
        local header
        header=$(ls "Sources/$m/include/"*.h | head -1)
        mkdir -p "$OUT/cmodules/$m"
        printf 'module %s {\n    header "%s"\n    export *\n}\n' "$m" "$ROOT/$header" >"$OUT/cmodules/$m/module.modulemap"
        clang -O2 -fsanitize=fuzzer-no-link,address -I "Sources/$m/include" -c Sources/"$m"/*.c -o "$OUT/lib/$m.o"
        ar rcs "$lib" "$OUT/lib/$m.o"
    else
        local sources=()
        while IFS= read -r f; do sources+=("$f"); done < <(find "Sources/$m" -name '*.swift' | sort)
        swiftc "${SWIFTFLAGS[@]}" "${SANITIZE[@]}" -emit-library -static -emit-module -module-name "$m" \
            -emit-module-path "$OUT/modules/$m.swiftmodule" "${sources[@]}" -o "$lib" >"$OUT/logs/$m.log" 2>&1 \
            || { cat "$OUT/logs/$m.log" >&2; exit 1; }
    fi
}

build_target() {
    local name=$1 file="Fuzz/$1.swift" m libs=() link=()
    [[ -f $file ]] || { echo "fuzz.sh: no target $name (targets: $(targets | tr '\n' ' '))" >&2; exit 2; }
    ORDER=()
    for m in $(sed -n '1s#^// modules:##p' "$file"); do visit "$m"; done
    for m in "${ORDER[@]}"; do build_module "$m"; done
    # Static libraries: dependents before their dependencies.
    for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
        m=${ORDER[i]}
        [[ -f $OUT/lib/lib$m.a ]] && libs+=("$OUT/lib/lib$m.a")
        [[ $m == COpenBLAS ]] && link+=(-lopenblas -llapacke)
    done
    local bin="$OUT/bin/fuzz-$name"
    local relink=0 l
    [[ -f $bin ]] || relink=1
    for l in "${libs[@]}"; do [[ $l -nt $bin ]] && relink=1; done
    [[ -z $(find "$file" Fuzz/Support -newer "$bin" -print -quit 2>/dev/null) ]] || relink=1
    if [[ $relink == 1 ]]; then
        echo "fuzz.sh: linking fuzz-$name" >&2
        swiftc "${SWIFTFLAGS[@]}" "${SANITIZE[@]}" "$file" Fuzz/Support/*.swift "${libs[@]}" "${link[@]}" -o "$bin" >"$OUT/logs/fuzz-$name.log" 2>&1 \
            || { cat "$OUT/logs/fuzz-$name.log" >&2; exit 1; }
    fi
}

# Bounded time and memory per input: a slower or larger one is a finding. (Leaks are not
# checked: Foundation keeps caches for the life of the process. Swift's own crash handler is
# off: libFuzzer reports the crash and saves the input.)
fuzz() {
    local name=$1; shift
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS} "$OUT/bin/fuzz-$name" "$@" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -detect_leaks=0 -print_final_stats=1 \
        -artifact_prefix="$OUT/findings/$name-" "${EXTRA[@]}"
}

run_target() {
    local name=$1 limit
    build_target "$name"
    [[ $BUILD_ONLY == 1 ]] && return 0
    mkdir -p "$OUT/corpus/$name" "Fuzz/corpus/$name"
    if [[ $MODE == runs ]]; then limit=(-runs="$AMOUNT"); else limit=(-max_total_time="$AMOUNT"); fi
    if [[ $SMOKE == 1 ]]; then
        local scratch log="$OUT/logs/smoke-$name.log" status=0
        scratch=$(mktemp -d)
        fuzz "$name" "${limit[@]}" "$scratch" "Fuzz/corpus/$name" >"$log" 2>&1 || status=$?
        rm -rf "$scratch"
        if [[ $status != 0 ]]; then
            tail -n 40 "$log" >&2
            echo "fuzz.sh: smoke run of fuzz-$name failed (exit $status; log $log, input in .build-fuzz/findings/)" >&2
            exit 1
        fi
        echo "fuzz.sh: smoke fuzz-$name: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") executions in $AMOUNT s from Fuzz/corpus/$name, no finding" >&2
        return 0
    fi
    echo "fuzz.sh: fuzz-$name ${limit[*]} (seeds Fuzz/corpus/$name, corpus .build-fuzz/corpus/$name)" >&2
    fuzz "$name" "${limit[@]}" "$OUT/corpus/$name" "Fuzz/corpus/$name"
}

if [[ $NAME == all ]]; then
    for t in $(targets); do run_target "$t"; done
else
    run_target "$NAME"
fi
