#!/bin/sh
# mpirun's launcher agent for simulated hosts on one machine (--mca plm_rsh_agent PATH, in place of
# ssh): a "host" of the hostfile is a network namespace (scripts/two_hosts.sh makes two), and its
# daemon starts inside it, with the namespace's name as its host name (a UTS namespace of its own:
# Open MPI names its session directory in /tmp after the host, and two daemons of one job under the
# same name race for it). mpirun calls the agent as ssh: HOST COMMAND..., the command being one line
# for a shell on the remote host.
set -eu
if [ $# -lt 2 ]; then
    echo "netns_agent.sh: expected HOST COMMAND..., as mpirun calls its plm_rsh_agent" >&2
    exit 2
fi
host="$1"
shift
if ! ip netns list | awk '{print $1}' | grep -qx -- "$host"; then
    echo "netns_agent.sh: $host is not a network namespace (ip netns list); the hostfile must name namespaces, such as those scripts/two_hosts.sh makes" >&2
    exit 2
fi
exec ip netns exec "$host" unshare --uts /bin/sh -c 'hostname "$1" && eval "$2"' netns_agent "$host" "$*"
