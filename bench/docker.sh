#!/usr/bin/env bash
# Benchmarks of vtrace on real Docker containers (root):
# 1. time to result of `vtrace ping A B -c 1 --json` between two containers on the default
#    bridge (resolution through the docker CLI, discovery, five captures, one echo, netfilter
#    tracing in the root namespace), median of RUNS runs by hyperfine; the same with
#    --no-netfilter; and `docker inspect` alone, the part of it Docker resolution costs.
# 2. `vtrace topo A B --json` (discovery plus `docker ps`/`inspect`/`network inspect`).
#
# Needs root, hyperfine, jq; starts the Docker environment (scripts/docker-env.sh up) if needed.
# Usage: bench/docker.sh [RUNS] (default 10). Creates containers bD<pid>-a/-b and removes them
# (also on failure); writes bench/out/docker-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
A=bD$$-a
B=bD$$-b

for tool in hyperfine jq; do
    command -v "$tool" >/dev/null || { echo "bench/docker.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/docker.sh: run as root" >&2; exit 2; }

scripts/docker-env.sh up
cargo build --release --quiet
VT=$PWD/target/release/vtrace
mkdir -p bench/out

cleanup() { docker rm -f "$A" "$B" >/dev/null 2>&1 || true; }
trap cleanup EXIT
for c in "$A" "$B"; do docker run -d --name "$c" vtrace-busybox >/dev/null; done

"$VT" ping "$A" "$B" -c 1 --json | jq -e '.verdict.reachable' >/dev/null \
    || { echo "bench/docker.sh: $A cannot reach $B; nothing to time" >&2; exit 1; }

report() {
    jq -r --arg what "$1" '.results[0] | "\($what): median \(.median * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms over \(.times | length) runs"' "$2"
}
hyperfine --warmup 2 --runs "$RUNS" --shell=none --export-json bench/out/docker-ping.json \
    "$VT ping $A $B -c 1 --json" >/dev/null
report "vtrace ping -c 1 --json (Docker)" bench/out/docker-ping.json
hyperfine --warmup 2 --runs "$RUNS" --shell=none --export-json bench/out/docker-ping-nonf.json \
    "$VT ping $A $B -c 1 --json --no-netfilter" >/dev/null
report "vtrace ping -c 1 --json --no-netfilter (Docker)" bench/out/docker-ping-nonf.json
hyperfine --warmup 2 --runs "$RUNS" --shell=none --export-json bench/out/docker-inspect.json \
    "docker inspect --type container -- $A" >/dev/null
report "docker inspect (one container)" bench/out/docker-inspect.json
hyperfine --warmup 2 --runs "$RUNS" --shell=none --export-json bench/out/docker-topo.json \
    "$VT topo $A $B --json" >/dev/null
report "vtrace topo A B --json (Docker)" bench/out/docker-topo.json
