#!/usr/bin/env bash
# What endpoint resolution through each runtime costs (root):
#   `vtrace ping A B -c 1 --json`, median of RUNS runs by hyperfine, between
#   - two namespaces of a netns lab (`vtrace lab up --prefix bR<pid>-`): the reference (by bare
#     name, which asks every runtime too, and by netns:NAME, which asks none);
#   - two Podman containers on Podman's default network (by bare name, and by podman:NAME);
#   - two containerd containers (`ctr run` in namespaces joined by a bridge in a namespace of
#     its own, as the tests build them; by containerd:ID and by bare id);
#   - two pods (containerd k8s.io containers with the kubelet's labels; by pod:default/NAME);
#   each also with --no-netfilter (the lab and the containerd/pod paths trace in namespaces of
#   their own, Podman's in the root namespace, whose netfilter ruleset is larger), and each
#   runtime's own lookup alone (`podman inspect`, `ctr tasks ls`). Target: every runtime within
#   100 ms of the lab.
#
# Needs root, hyperfine, jq; prepares Podman and containerd with scripts/runtimes-env.sh up.
# Usage: bench/runtimes.sh [RUNS] (default 10). Creates the lab bR<pid>-*, Podman containers
# bR<pid>-p*, containerd containers and namespaces bR<pid>-c*/k* and removes them (also on
# failure); writes bench/out/runtimes-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
T=bR$$
for tool in hyperfine jq ip; do
    command -v "$tool" >/dev/null || { echo "bench/runtimes.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/runtimes.sh: run as root" >&2; exit 2; }

scripts/runtimes-env.sh up
export CONTAINERD_ADDRESS
CONTAINERD_ADDRESS=$(scripts/runtimes-env.sh address)
cargo build --release --quiet
VT=$PWD/target/release/vtrace
mkdir -p bench/out
IMAGE=localhost/vtrace-busybox:latest
CTRS=()
NETNS=()

ctr_() { ctr --address "$CONTAINERD_ADDRESS" "$@"; }
cleanup() {
    "$VT" lab down --prefix "$T-" >/dev/null 2>&1 || true
    podman rm -f -t 0 "$T-pa" "$T-pb" >/dev/null 2>&1 || true
    local c
    for c in "${CTRS[@]}"; do
        ctr_ -n "${c%%:*}" tasks rm -f "${c#*:}" >/dev/null 2>&1 || true
        ctr_ -n "${c%%:*}" containers rm "${c#*:}" >/dev/null 2>&1 || true
    done
    for c in "${NETNS[@]}"; do ip netns del "$c" 2>/dev/null || true; done
}
trap cleanup EXIT

# A bridge br0 in namespace $1, and namespaces $2 $3 on it with eth0 at 10.238.N.2/.3.
bridged() {
    local host=$1 n=$2 i=2 ns
    ip netns add "$host" && NETNS+=("$host")
    ip -n "$host" link add br0 type bridge && ip -n "$host" link set br0 up
    for ns in "${@:3}"; do
        ip netns add "$ns" && NETNS+=("$ns")
        ip -n "$ns" link set lo up
        ip -n "$host" link add "veth-$i" type veth peer name eth0 netns "$ns"
        ip -n "$host" link set "veth-$i" master br0 up
        ip -n "$ns" addr add "10.238.$n.$i/24" dev eth0 && ip -n "$ns" link set eth0 up
        i=$((i + 1))
    done
}

# ctr run NAMESPACE ID NETNS [LABEL…]
run_ctr() {
    local ns=$1 id=$2 netns=$3 labels=() l
    for l in "${@:4}"; do labels+=(--label "$l"); done
    CTRS+=("$ns:$id")
    ctr_ -n "$ns" run -d --with-ns "network:/run/netns/$netns" "${labels[@]}" "$IMAGE" "$id" \
        /bin/busybox httpd -f -p 80 -h /www >/dev/null
}

"$VT" lab up --prefix "$T-" --subnet 10.237.0.0/16 >/dev/null
for c in pa pb; do
    podman run -d --name "$T-$c" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        vtrace-busybox >/dev/null
done
bridged "$T-ch" 1 "$T-cna" "$T-cnb"
run_ctr default "$T-ca" "$T-cna"
run_ctr default "$T-cb" "$T-cnb"
bridged "$T-kh" 2 "cni-$T-1" "cni-$T-2"
for p in 1 2; do
    run_ctr k8s.io "$T-k$p" "cni-$T-$p" io.cri-containerd.kind=sandbox \
        "io.kubernetes.pod.name=$T-k$p" io.kubernetes.pod.namespace=default
done

declare -A PAIRS=(
    [lab]="$T-nginx-1 $T-nginx-2"
    [lab-prefixed]="netns:$T-nginx-1 netns:$T-nginx-2"
    [podman]="$T-pa $T-pb"
    [podman-prefixed]="podman:$T-pa podman:$T-pb"
    [containerd-prefixed]="containerd:$T-ca containerd:$T-cb"
    [containerd]="$T-ca $T-cb"
    [pod-prefixed]="pod:default/$T-k1 pod:default/$T-k2"
)
ORDER=(lab lab-prefixed podman podman-prefixed containerd-prefixed containerd pod-prefixed)
for k in "${ORDER[@]}"; do
    "$VT" ping ${PAIRS[$k]} -c 1 --json | jq -e '.verdict.reachable' >/dev/null ||
        { echo "bench/runtimes.sh: $k: ${PAIRS[$k]} not reachable; nothing to time" >&2; exit 1; }
done

median() { jq -r '.results[0].median * 1000 | floor' "$1"; }
declare -A MED
for flags in "" "--no-netfilter"; do
    suffix=${flags:+-nonf}
    for k in "${ORDER[@]}"; do
        out=bench/out/runtimes-$k$suffix.json
        hyperfine --warmup 2 --runs "$RUNS" --shell=none --export-json "$out" \
            "$VT ping ${PAIRS[$k]} -c 1 --json $flags" >/dev/null
        MED[$k$suffix]=$(median "$out")
    done
    ref=${MED[lab$suffix]}
    echo "vtrace ping A B -c 1 --json $flags (median of $RUNS):"
    for k in "${ORDER[@]}"; do
        d=$((MED[$k$suffix] - ref))
        verdict=$([ "$d" -le 100 ] && echo "within 100 ms" || echo "OVER 100 ms")
        printf '  %-20s %5d ms  (%+d ms vs the lab: %s)\n' "$k" "${MED[$k$suffix]}" "$d" "$verdict"
    done
done

hyperfine --warmup 2 --runs "$RUNS" --shell=none --export-json bench/out/runtimes-podman-inspect.json \
    "podman inspect --type container -- $T-pa" >/dev/null
hyperfine --warmup 2 --runs "$RUNS" --shell=none --export-json bench/out/runtimes-ctr-tasks.json \
    "ctr --address $CONTAINERD_ADDRESS -n default tasks ls" >/dev/null
echo "the runtimes' own lookups (median of $RUNS):"
echo "  podman inspect (one container)  $(median bench/out/runtimes-podman-inspect.json) ms"
echo "  ctr tasks ls                    $(median bench/out/runtimes-ctr-tasks.json) ms"
