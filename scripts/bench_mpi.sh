#!/usr/bin/env bash
# The data-parallel training step (`rlhf bench` under mpirun) in the configurations of
# docs/PERFORMANCE.md ("Data-parallel training"), alternated round by round so that every figure
# of a round comes from the same minutes (this machine's speed drifts and its cores are shared):
#   1x1     mpirun -np 1, 1 thread       (the baseline: the same code path, one process)
#   2x1     mpirun -np 2, 1 thread each
#   1x2     mpirun -np 1, 2 threads
#   veth-M  mpirun -np 2, 1 thread each, across two network namespaces whose veth sends at most
#           M Mbit/s (scripts/two_hosts.sh; needs root), for each M of --mbits
# Every rank runs unbound (--bind-to none): a daemon in each namespace would otherwise bind its
# one rank to the same first core. Prints each configuration's JSON line prefixed by its name and
# round. RLHF_BIN=PATH measures that binary instead of building .build/release/rlhf.
#
#   scripts/bench_mpi.sh [--rounds N] [--shapes small] [--steps 4] [--mbits 1000,10000]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export RLHF_NATIVE="${RLHF_NATIVE-1}"
rounds=2; shapes=small; steps=4; mbits="1000,10000"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds|--shapes|--steps|--mbits)
            [ $# -ge 2 ] || { echo "bench_mpi.sh: $1 needs a value" >&2; exit 2; }
            case "$1" in --rounds) rounds="$2" ;; --shapes) shapes="$2" ;; --steps) steps="$2" ;; --mbits) mbits="$2" ;; esac
            shift 2 ;;
        *) echo "bench_mpi.sh: unknown argument $1; expected --rounds N, --shapes LIST, --steps N or --mbits LIST" >&2; exit 2 ;;
    esac
done
cd "$repo"
bin="${RLHF_BIN-}"
if [ -z "$bin" ]; then swift build -c release >/dev/null; bin="$repo/.build/release/rlhf"; fi
mpi=(mpirun --quiet --allow-run-as-root --bind-to none)
bench=(bench --shapes "$shapes" --steps "$steps")
name="rlhf-bench-$$"
tmp="$(mktemp -d)"
trap 'scripts/two_hosts.sh down "$name" 2>/dev/null || true; rm -rf "$tmp"' EXIT
printf '%s-a slots=1\n%s-b slots=1\n' "$name" "$name" > "$tmp/hosts"
for r in $(seq 1 "$rounds"); do
    "${mpi[@]}" -np 1 "$bin" "${bench[@]}" --threads 1 | sed "s/^/1x1 round $r: /"
    "${mpi[@]}" -np 2 "$bin" "${bench[@]}" --threads 1 | sed "s/^/2x1 round $r: /"
    "${mpi[@]}" -np 1 "$bin" "${bench[@]}" --threads 2 | sed "s/^/1x2 round $r: /"
    for m in ${mbits//,/ }; do
        scripts/two_hosts.sh up "$name" "$m"
        ip netns exec "$name-a" "${mpi[@]}" -np 2 --hostfile "$tmp/hosts" --mca plm_rsh_agent "$repo/scripts/netns_agent.sh" \
            --mca btl self,tcp --mca btl_tcp_if_include 10.211.0.0/24 --mca oob_tcp_if_include 10.211.0.0/24 \
            "$bin" "${bench[@]}" --threads 1 | sed "s/^/veth-$m round $r: /"
        scripts/two_hosts.sh down "$name"
    done
done
