#!/usr/bin/env bash
# Time to result through a VXLAN overlay, on `vtrace lab up --overlay`: `ping -c 1 --json` from
# nginx-1 on node-1 to nginx-2 on node-2 (10 points: two of them on the underlay, where the
# packet is inside the tunnel's UDP), and the same with `-s 1472 --df` (the MTU failure: the
# verdict waits for the timeout, 1 s by default, so it measures the timeout plus the trace).
# The classic one-bridge ping (5 points) in the same run is the reference. Target: the overlay
# ping under 300 ms and under 1.5 × the classic one.
#
# Needs root, hyperfine, jq. Usage: bench/overlay.sh [RUNS] (default 10). Creates only the
# namespaces of two labs with prefixes bO<pid>- and bC<pid>- and removes them (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
PREFIX=bO$$-
CLASSIC=bC$$-
for tool in hyperfine jq; do
    command -v "$tool" >/dev/null || { echo "bench/overlay.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/overlay.sh: run as root" >&2; exit 2; }

cargo build --release --quiet
VT=$PWD/target/release/vtrace
mkdir -p bench/out
OUT=bench/out/overlay.json
trap '"$VT" lab down --overlay --prefix "$PREFIX" >/dev/null 2>&1 || true; "$VT" lab down --prefix "$CLASSIC" >/dev/null 2>&1 || true' EXIT
"$VT" lab up --overlay --prefix "$PREFIX" >/dev/null
"$VT" lab up --prefix "$CLASSIC" >/dev/null

OVERLAY="$VT ping ${PREFIX}nginx-1 ${PREFIX}nginx-2 -c 1 --json"
MTU="$VT ping ${PREFIX}nginx-1 ${PREFIX}nginx-2 -c 1 -s 1472 --df --json"
REF="$VT ping ${CLASSIC}nginx-1 ${CLASSIC}nginx-2 -c 1 --json"
# Checked once: the overlay reachable over its 10 points, the big packet stopped by the MTU.
$OVERLAY | jq -e '.verdict.cause == "ok" and (.points | length) == 10' >/dev/null \
    || { echo "bench/overlay.sh: not reachable over 10 points: $OVERLAY" >&2; exit 1; }
{ $MTU || true; } | jq -e '.verdict.cause == "mtu"' >/dev/null \
    || { echo "bench/overlay.sh: no mtu verdict: $MTU" >&2; exit 1; }
$REF | jq -e '.verdict.cause == "ok"' >/dev/null \
    || { echo "bench/overlay.sh: not reachable: $REF" >&2; exit 1; }

hyperfine --warmup 2 --runs "$RUNS" --export-json "$OUT" --shell=none -i \
    -n overlay "$OVERLAY" -n overlay-mtu "$MTU" -n one-bridge "$REF" >/dev/null
jq -r '.results[] | "\(.command): median \(.median * 1000 | floor) ms, mean \(.mean * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms over \(.times | length) runs"' "$OUT"
jq -r '"overlay / one-bridge: \(.results[0].median / .results[2].median * 100 | floor / 100)×"' "$OUT"
jq -e '.results[0].median < 0.3 and .results[0].median < 1.5 * .results[2].median' "$OUT" >/dev/null \
    && echo "target met: the overlay ping under 300 ms and under 1.5× the one-bridge one" \
    || { echo "target missed" >&2; exit 1; }
