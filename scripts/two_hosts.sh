#!/bin/sh
# Two simulated hosts on this machine for MPI runs: network namespaces NAME-a (10.211.0.1) and
# NAME-b (10.211.0.2) joined by a veth pair, nothing else reachable from either (needs root, or
# CAP_SYS_ADMIN and CAP_NET_ADMIN). With MBITS, each end of the pair sends at most MBITS Mbit/s
# (tc's token bucket, tbf, with 1 ms of traffic as its burst: this machine's kernel has no netem).
#
#   scripts/two_hosts.sh up NAME [MBITS]
#   printf 'NAME-a slots=1\nNAME-b slots=1\n' > hosts
#   ip netns exec NAME-a mpirun --quiet --allow-run-as-root -np 2 --hostfile hosts \
#       --mca plm_rsh_agent scripts/netns_agent.sh --mca btl self,tcp \
#       --mca btl_tcp_if_include 10.211.0.0/24 --mca oob_tcp_if_include 10.211.0.0/24 \
#       .build/release/rlhf run CONFIG
#   scripts/two_hosts.sh down NAME
#
# mpirun runs in NAME-a and starts a daemon in each namespace through the agent (hostfile names
# that are not this machine's are remote hosts to mpirun), so the ranks talk over the veth only.
set -eu
usage() { echo "usage: scripts/two_hosts.sh up NAME [MBITS] | down NAME" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd="$1"; name="$2"; mbits="${3-}"
case "$mbits" in ""|*[!0-9]*) [ -z "$mbits" ] || usage ;; esac
down() {
    # Processes left in the namespaces (the ranks of a failed job) are ended first.
    for end in a b; do
        pids="$(ip netns pids "$name-$end" 2>/dev/null || true)"
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
        ip netns del "$name-$end" 2>/dev/null || true
    done
}
case "$cmd" in
up)
    ip netns add "$name-a"
    trap down EXIT
    ip netns add "$name-b"
    ip link add veth-a netns "$name-a" type veth peer name veth-b netns "$name-b"
    ip -n "$name-a" addr add 10.211.0.1/24 dev veth-a
    ip -n "$name-b" addr add 10.211.0.2/24 dev veth-b
    for end in a b; do
        ip -n "$name-$end" link set lo up
        ip -n "$name-$end" link set "veth-$end" up
        if [ -n "$mbits" ]; then
            ip netns exec "$name-$end" tc qdisc add dev "veth-$end" root tbf rate "${mbits}mbit" burst "$((mbits * 125 > 1600 ? mbits * 125 : 1600))" latency 100ms
        fi
    done
    trap - EXIT
    ;;
down) down ;;
*) usage ;;
esac
