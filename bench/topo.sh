#!/usr/bin/env bash
# Benchmark: `vtrace topo --json` with 50 extra namespaces, each joined by a veth pair to a hub
# namespace (100 veths, 50 peers to resolve across namespaces), timed by hyperfine.
# Target: under 150 ms.
#
# Needs root, hyperfine and iproute2. Usage: bench/topo.sh [RUNS]   (default 30)
# Creates only namespaces named bt<PID>-*, never touches the root namespace, and removes
# everything it made on exit (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-30}
N=50
P=bt$$-

for tool in hyperfine ip; do
    command -v "$tool" >/dev/null || { echo "bench/topo.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/topo.sh: run as root (namespaces need CAP_SYS_ADMIN)" >&2; exit 2; }

cargo build --release --quiet
VT=$PWD/target/release/vtrace
WORK=$(mktemp -d)

cleanup() {
    for ns in $(ip netns list | awk '{print $1}' | grep "^${P}" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Build the namespaces in one `ip -batch` per step (fast, and no per-command process).
HUB=${P}hub
ip netns add "$HUB"
for i in $(seq 1 $N); do echo "netns add ${P}$i"; done | ip -batch -
for i in $(seq 1 $N); do
    echo "link add vb$i type veth peer name eth0 netns ${P}$i"
    echo "link set vb$i up"
done | ip -n "$HUB" -batch -
for i in $(seq 1 $N); do
    ip -n "${P}$i" addr add "10.200.$((i / 250)).$((i % 250 + 1))/16" dev eth0
    ip -n "${P}$i" link set eth0 up
done

count=$("$VT" topo --json | grep -c "\"point\": \"${P}" || true)
echo "vtrace topo sees $count veth peers in the ${P}* namespaces (expect $((2 * N)))"

hyperfine --warmup 3 --runs "$RUNS" --export-json "$WORK/topo.json" \
    -n "vtrace topo --json ($N extra namespaces, $((2 * N)) veths)" \
    "$VT topo --json >/dev/null"

mean_ms=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f\"{r['mean']*1000:.1f} ± {r['stddev']*1000:.1f}\")" "$WORK/topo.json")
echo "vtrace topo --json with $N extra namespaces: ${mean_ms} ms (target < 150 ms)"
