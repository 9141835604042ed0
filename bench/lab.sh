#!/usr/bin/env bash
# Benchmark: `vtrace lab up && vtrace lab down` against an iproute2 script doing the same steps
# (3 namespaces, a bridge with an explicit MAC, 2 veth pairs created with the peer inside the
# container namespace, addrgenmode none, links up, addresses, default routes, then the namespaces
# deleted), timed by hyperfine in the same run. Prints both means and the ratio (target ≥ 5×).
#
# Needs root, hyperfine and jq. Usage: bench/lab.sh [RUNS]   (default 20)
# Creates only namespaces named bX-* and bY-*, and removes them (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-20}
VP=bX-   # vtrace's prefix
IP=bY-   # the iproute2 script's prefix

for tool in hyperfine jq ip; do
    command -v "$tool" >/dev/null || { echo "bench/lab.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/lab.sh: run as root (namespaces need CAP_SYS_ADMIN)" >&2; exit 2; }

cargo build --release --quiet
VT=$PWD/target/release/vtrace
WORK=$(mktemp -d)
SCRIPT=$WORK/iproute2-lab.sh

cleanup() {
    "$VT" lab down --prefix "$VP" >/dev/null 2>&1 || true
    for ns in "${IP}vtrace-host" "${IP}nginx-1" "${IP}nginx-2"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# The same lab as `vtrace lab up` (same names, MACs, addresses), built and removed with `ip`.
# Host veth names: whatever vtrace derives does not matter for timing; use fixed ones.
cat >"$SCRIPT" <<EOF
set -e
H=${IP}vtrace-host
ip netns add \$H
ip netns add ${IP}nginx-1
ip netns add ${IP}nginx-2
ip -n \$H link set lo up
ip -n \$H link add docker0 address 02:42:ac:12:00:01 type bridge
ip -n \$H link set docker0 addrgenmode none
ip -n \$H link set docker0 up
ip -n \$H addr add 172.18.0.1/16 dev docker0
for i in 1 2; do
    N=${IP}nginx-\$i
    V=vethbench\$i
    ip -n \$H link add \$V address 06:42:ac:12:00:0\$((i + 1)) master docker0 type veth \
        peer name eth0 address 02:42:ac:12:00:0\$((i + 1)) netns \$N
    ip -n \$H link set \$V addrgenmode none
    ip -n \$N link set eth0 addrgenmode none
    ip -n \$H link set \$V up
    ip -n \$N link set eth0 up
    ip -n \$N link set lo up
    ip -n \$N addr add 172.18.0.\$((i + 1))/16 dev eth0
    ip -n \$N route add default via 172.18.0.1
done
ip netns del ${IP}nginx-1
ip netns del ${IP}nginx-2
ip netns del \$H
EOF

# Both must work before they are timed.
"$VT" lab up --prefix "$VP" >/dev/null
ip netns exec "${VP}nginx-1" ping -c1 -W1 172.18.0.3 >/dev/null
"$VT" lab down --prefix "$VP" >/dev/null
bash "$SCRIPT"

# Pass 1, as specified: back to back. The kernel destroys a deleted namespace later, in a
# workqueue that holds the rtnl lock, so each run also pays for the previous run's teardown —
# which weighs more on the faster tool, whose runs follow each other more closely.
# Pass 2: the same, with a 200 ms pause (untimed, --prepare) so that each run starts on a
# settled kernel: the latency a user sees.
pass() {
    local label=$1
    shift
    echo "== $label"
    hyperfine --warmup 2 --runs "$RUNS" "$@" --export-json "$WORK/result.json" \
        -n vtrace "$VT lab up --prefix $VP >/dev/null && $VT lab down --prefix $VP >/dev/null" \
        -n iproute2 "bash $SCRIPT"
    jq -r --arg name "$label" '
      def ms: . * 10000 | round / 10;
      def x: . * 10 | round / 10;
      (.results | map({(.command): .}) | add) as $r
      | "\($name): means vtrace \($r.vtrace.mean | ms) ms, iproute2 \($r.iproute2.mean | ms) ms: \($r.iproute2.mean / $r.vtrace.mean | x)x faster; medians \($r.vtrace.median | ms) ms vs \($r.iproute2.median | ms) ms: \($r.iproute2.median / $r.vtrace.median | x)x (target >= 5x)"
    ' "$WORK/result.json" | tee -a "$WORK/summary"
}

pass "back to back"
pass "settled kernel" --prepare "sleep 0.2"
echo
cat "$WORK/summary"
