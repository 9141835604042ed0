#!/usr/bin/env bash
# Time to result across a router, on `vtrace lab up --networks 2 --outside --publish
# 8080:nginx-2:80 --serve`: `ping -c 1 --json` over the routed 6-point path (nginx-1 on docker0 →
# the host namespace routes → nginx-2 on br-net2), to the outside through masquerade (5 points),
# and `--tcp 8080 -c 1` from the outside to the published port (5 points, DNAT read from the host
# namespace's nftables ruleset). Median of RUNS runs by hyperfine; the classic one-bridge ping in
# the same run as the reference. Target: each under 300 ms.
#
# Needs root, hyperfine, jq. Usage: bench/routing.sh [RUNS] (default 10). Creates only the
# namespaces of a lab with prefix bR<pid>- and removes them (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
PREFIX=bR$$-
for tool in hyperfine jq; do
    command -v "$tool" >/dev/null || { echo "bench/routing.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/routing.sh: run as root" >&2; exit 2; }

cargo build --release --quiet
VT=$PWD/target/release/vtrace
mkdir -p bench/out
OUT=bench/out/routing.json
LAB=(--prefix "$PREFIX" --networks 2 --outside --publish 8080:nginx-2:80)
CLASSIC=bC$$-
trap '"$VT" lab down "${LAB[@]}" >/dev/null 2>&1 || true; "$VT" lab down --prefix "$CLASSIC" >/dev/null 2>&1 || true' EXIT
"$VT" lab up "${LAB[@]}" --serve >/dev/null
"$VT" lab up --prefix "$CLASSIC" >/dev/null

A=${PREFIX}nginx-1 B=${PREFIX}nginx-2 O=${PREFIX}vtrace-outside
ROUTED="$VT ping $A $B -c 1 --json"
MASQ="$VT ping $A 198.51.100.2 -c 1 --json"
PUBLISHED="$VT ping $O 198.51.100.1 --tcp 8080 -c 1 --json"
REF="$VT ping ${CLASSIC}nginx-1 ${CLASSIC}nginx-2 -c 1 --json"
# One run each checked for a reachable verdict: timing a failing trace would measure the timeout.
for cmd in "$ROUTED" "$MASQ" "$PUBLISHED" "$REF"; do
    $cmd | jq -e '.verdict.cause == "ok"' >/dev/null \
        || { echo "bench/routing.sh: not reachable: $cmd" >&2; exit 1; }
done

hyperfine --warmup 2 --runs "$RUNS" --export-json "$OUT" --shell=none \
    -n routed "$ROUTED" -n masquerade "$MASQ" -n published "$PUBLISHED" -n one-bridge "$REF" >/dev/null
jq -r '.results[] | "\(.command): median \(.median * 1000 | floor) ms, mean \(.mean * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms over \(.times | length) runs"' "$OUT"
jq -e '[.results[0:3][] | .median < 0.3] | all' "$OUT" >/dev/null \
    && echo "target met: every routed case under 300 ms" \
    || { echo "target missed: a routed case took 300 ms or more" >&2; exit 1; }
