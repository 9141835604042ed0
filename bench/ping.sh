#!/usr/bin/env bash
# Benchmark of live tracing on a lab: time to result of `vtrace ping A B -c 1 --json` (discovery, path, five captures opened in
# their namespaces, one echo, its journeys settled, report written), median of RUNS runs by
# hyperfine. Target: under 150 ms wall in total (issue 17). The same for `--tcp 80 -c 1` (a
# connect to the lab's HTTP server): target under 200 ms. And the first with `netns:` prefixes,
# which asks no container runtime about the names. What capturing costs under load
# (`ping -f`) against tcpdump, and how soon a lone echo is reported: bench/capture.sh.
#
# Needs root, hyperfine, jq. Usage: bench/ping.sh [RUNS] (default 10).
# Creates only the namespaces of a lab with prefix bP<pid>- and removes them (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
PREFIX=bP$$-

for tool in hyperfine jq; do
    command -v "$tool" >/dev/null || { echo "bench/ping.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/ping.sh: run as root (captures need CAP_NET_RAW)" >&2; exit 2; }

cargo build --release --quiet
VT=$PWD/target/release/vtrace
mkdir -p bench/out
OUT=bench/out/ping.json

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$VT" lab down --prefix "$PREFIX" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$VT" lab up --prefix "$PREFIX" --serve >/dev/null
# One run checked for a reachable verdict: timing a failing trace would measure the timeout.
"$VT" ping "${PREFIX}nginx-1" "${PREFIX}nginx-2" -c 1 --json | jq -e '.verdict.reachable' >/dev/null \
    || { echo "bench/ping.sh: the lab is not reachable; nothing to time" >&2; exit 1; }

"$VT" ping "${PREFIX}nginx-1" "${PREFIX}nginx-2" --tcp 80 -c 1 --json | jq -e '.verdict.cause == "ok"' >/dev/null \
    || { echo "bench/ping.sh: the lab's port 80 does not answer; nothing to time" >&2; exit 1; }

hyperfine --warmup 2 --runs "$RUNS" --export-json "$OUT" --shell=none \
    "$VT ping ${PREFIX}nginx-1 ${PREFIX}nginx-2 -c 1 --json" \
    "$VT ping ${PREFIX}nginx-1 ${PREFIX}nginx-2 --tcp 80 -c 1 --json" \
    "$VT ping netns:${PREFIX}nginx-1 netns:${PREFIX}nginx-2 -c 1 --json" >/dev/null

jq -r '.results[0] | "time to result: median \(.median * 1000 | floor) ms, mean \(.mean * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms over \(.times | length) runs (target < 150 ms)"' "$OUT"
jq -r '.results[1] | "time to result --tcp 80: median \(.median * 1000 | floor) ms, mean \(.mean * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms over \(.times | length) runs (target < 200 ms)"' "$OUT"
# The same with netns: prefixes: no runtime is asked about the names (a bare name is asked of
# every runtime installed, to refuse one that is ambiguous; `podman inspect` takes ~70-100 ms).
jq -r '.results[2] | "time to result, netns: prefixes (no runtime asked): median \(.median * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms"' "$OUT"
MEDIAN_OK=$(jq -r '.results[0].median < 0.15' "$OUT")

[ "$MEDIAN_OK" = true ] || { echo "bench/ping.sh: median over 150 ms" >&2; exit 1; }
