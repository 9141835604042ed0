#!/usr/bin/env bash
# Benchmarks of live tracing on a lab:
# 1. time to result of `vtrace ping A B -c 1 --json` (discovery, path, five captures opened in
#    their namespaces, one echo, its journeys settled, report written), median of RUNS runs by
#    hyperfine. Target: under 300 ms wall in total. The same for `--tcp 80 -c 1` (a connect to
#    the lab's HTTP server): target under 200 ms.
# 2. load: `ping -f` from A to B for LOAD_SECS seconds while `vtrace watch A B` captures the five
#    points and, in the same run, five `tcpdump -w /dev/null` capture the same points with the
#    same filter, kernel buffer and snapshot length (vtrace's defaults; netfilter tracing off
#    unless NETFILTER=1). Targets: vtrace's kernel drops 0 (and no more than tcpdump's),
#    >= 99.9 % of the echoes traced complete; prints vtrace's CPU seconds per million captured
#    packets.
#
# Needs root, hyperfine, jq, tcpdump, GNU time. Usage: bench/ping.sh [RUNS] [LOAD_SECS]
# (defaults 10 and 10).
# Creates only the namespaces of a lab with prefix bP<pid>- and removes them (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
LOAD_SECS=${2:-10}
PREFIX=bP$$-

for tool in hyperfine jq tcpdump /usr/bin/time; do
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
    "$VT ping ${PREFIX}nginx-1 ${PREFIX}nginx-2 --tcp 80 -c 1 --json" >/dev/null

jq -r '.results[0] | "time to result: median \(.median * 1000 | floor) ms, mean \(.mean * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms over \(.times | length) runs (target < 300 ms)"' "$OUT"
jq -r '.results[1] | "time to result --tcp 80: median \(.median * 1000 | floor) ms, mean \(.mean * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms over \(.times | length) runs (target < 200 ms)"' "$OUT"
MEDIAN_OK=$(jq -r '.results[0].median < 0.3' "$OUT")

# 2. Load.
A=${PREFIX}nginx-1
B=${PREFIX}nginx-2
HOSTNS=${PREFIX}vtrace-host
FILTER="(arp or icmp) and (host 172.18.0.2 or host 172.18.0.3)"
POINTS=$("$VT" topo "$A" "$B" --json | jq -r '.paths[0].points[] | "\(.netns) \(.ifname)"')
[ "$(wc -l <<<"$POINTS")" = 5 ] || { echo "bench/ping.sh: expected 5 points, got: $POINTS" >&2; exit 1; }
WORK=$(mktemp -d)
# The capture path alone: netfilter tracing makes trace events for every packet of a flood
# (NETFILTER=1 keeps it on).
NF="--no-netfilter --no-drop-reasons"
[ "${NETFILTER:-0}" = 1 ] && NF=""
/usr/bin/time -f "%U %S" -o "$WORK/watch.time" "$VT" watch "$A" "$B" --json $NF \
    --duration "$((LOAD_SECS + 4))s" >"$WORK/watch.json" 2>"$WORK/watch.err" &
PIDS+=($!)
WATCH=$!
i=0
while read -r ns ifname; do
    ip netns exec "$ns" tcpdump -i "$ifname" -w /dev/null -B 4096 -s 1920 --immediate-mode "$FILTER" \
        2>"$WORK/tcpdump.$i.err" &
    PIDS+=($!)
    i=$((i + 1))
done <<<"$POINTS"
sleep 2
ip netns exec "$A" ping -f -q -w "$LOAD_SECS" 172.18.0.3 >"$WORK/ping.out" 2>&1 || true
sleep 0.5
for pid in "${PIDS[@]}"; do [ "$pid" = "$WATCH" ] || kill -INT "$pid" 2>/dev/null || true; done
wait "$WATCH" || true
sleep 0.5
TCPDUMP_DROPS=0
for f in "$WORK"/tcpdump.*.err; do
    d=$(sed -n 's/^\([0-9]*\) packets dropped by kernel$/\1/p' "$f")
    TCPDUMP_DROPS=$((TCPDUMP_DROPS + ${d:-0}))
done
read -r USER_S SYS_S < <(tail -n 1 "$WORK/watch.time")
jq -r --arg user "$USER_S" --arg sys "$SYS_S" --arg tcpdump "$TCPDUMP_DROPS" '
    ([.points[].captured] | add) as $captured
    | ([.points[].kernel_drops] | add) as $drops
    | "load: \(.verdict.received)/\(.verdict.sent) echoes complete (\(if .verdict.sent > 0 then (.verdict.received * 100000 / .verdict.sent | floor) / 1000 else 0 end) %), \($captured) packets captured on 5 points, vtrace kernel drops \($drops), tcpdump kernel drops \($tcpdump), vtrace CPU \((($user | tonumber) + ($sys | tonumber)) * 100 | floor / 100) s = \(if $captured > 0 then (((($user | tonumber) + ($sys | tonumber)) * 1e6 / $captured) * 100 | floor / 100) else 0 end) CPU s per million packets"
' "$WORK/watch.json"
grep -E "packets transmitted" "$WORK/ping.out" || true
jq -c .verdict "$WORK/watch.json"
rm -rf "$WORK"
[ "$MEDIAN_OK" = true ] || { echo "bench/ping.sh: median over 300 ms" >&2; exit 1; }
