#!/usr/bin/env bash
# Benchmark of netfilter tracing: what the trace tables, trace listeners and drop-reason monitor
# add to `vtrace ping A B -c 1 --json`, against the same run with --no-netfilter as the baseline
# (and, for reference, with --no-drop-reasons too).
# Median of RUNS runs each (hyperfine). Target: tracing adds at most 50 ms.
#
# With a vtrace that has no --no-netfilter (older builds), it measures the part it can:
# installing and removing vtrace's trace table in the three namespaces of the lab.
#
# Needs root, hyperfine, jq, nft. Usage: bench/netfilter.sh [RUNS] (default 10).
# Creates only the namespaces of a lab with prefix bN<pid>- and removes them (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
PREFIX=bN$$-

for tool in hyperfine jq nft; do
    command -v "$tool" >/dev/null || { echo "bench/netfilter.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/netfilter.sh: run as root" >&2; exit 2; }

cargo build --release --quiet
VT=$PWD/target/release/vtrace
mkdir -p bench/out
OUT=bench/out/netfilter.json

cleanup() { "$VT" lab down --prefix "$PREFIX" >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$VT" lab up --prefix "$PREFIX" >/dev/null
A=${PREFIX}nginx-1
B=${PREFIX}nginx-2

if "$VT" ping --help | grep -q -- '--no-netfilter'; then
    hyperfine --warmup 2 --runs "$RUNS" --export-json "$OUT" --shell=none \
        -n traced "$VT ping $A $B -c 1 --json" \
        -n baseline "$VT ping $A $B -c 1 --json --no-netfilter" \
        -n bare "$VT ping $A $B -c 1 --json --no-netfilter --no-drop-reasons" >/dev/null
    jq -r '
        (.results[] | select(.command == "traced") | .median) as $t
        | (.results[] | select(.command == "baseline") | .median) as $b
        | (.results[] | select(.command == "bare") | .median) as $n
        | "netfilter tracing: median \($t * 1000 | floor) ms vs \($b * 1000 | floor) ms with --no-netfilter, adds \(($t - $b) * 1000 | floor) ms (target <= 50 ms); \($n * 1000 | floor) ms without drop reasons either"' "$OUT"
    jq -e '((.results[] | select(.command == "traced") | .median) - (.results[] | select(.command == "baseline") | .median)) <= 0.05' "$OUT" >/dev/null
    exit $?
fi

echo "vtrace ping has no --no-netfilter yet: timing the trace tables alone" >&2
NSS=("$A" "${PREFIX}vtrace-host" "$B")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; cleanup' EXIT
cat >"$WORK/add.nft" <<'NFT'
table inet vtrace_bench_0 {
	chain pre {
		type filter hook prerouting priority -350; policy accept;
		ip saddr 172.18.0.2 ip daddr 172.18.0.3 meta nftrace set 1
		ip saddr 172.18.0.3 ip daddr 172.18.0.2 meta nftrace set 1
	}
	chain out {
		type filter hook output priority -350; policy accept;
		ip saddr 172.18.0.2 ip daddr 172.18.0.3 meta nftrace set 1
		ip saddr 172.18.0.3 ip daddr 172.18.0.2 meta nftrace set 1
	}
}
table bridge vtrace_bench_0 {
	chain pre {
		type filter hook prerouting priority -350; policy accept;
		ip saddr 172.18.0.2 ip daddr 172.18.0.3 meta nftrace set 1
		ip saddr 172.18.0.3 ip daddr 172.18.0.2 meta nftrace set 1
	}
}
NFT
printf 'delete table inet vtrace_bench_0\ndelete table bridge vtrace_bench_0\n' >"$WORK/del.nft"
CMD=""
for ns in "${NSS[@]}"; do
    CMD+="ip netns exec $ns nft -f $WORK/add.nft && ip netns exec $ns nft -f $WORK/del.nft && "
done
CMD+="true"
hyperfine --warmup 2 --runs "$RUNS" --export-json "$OUT" "$CMD" >/dev/null
jq -r --arg n "${#NSS[@]}" '.results[0] | "install + remove the trace table in \($n) namespaces: median \(.median * 1000 | floor) ms (part of the 50 ms budget)"' "$OUT"
