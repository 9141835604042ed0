#!/usr/bin/env bash
# What live capture costs, against tcpdump, on a lab (all in one run):
# 1. flood: `ping -f` from A to B for LOAD_SECS seconds under each capturer in turn, on the five
#    points of the path, with the same filter, 4 MiB kernel buffers and 1920-byte snapshots:
#      - vtrace watch A B --json, netfilter and drop-reason tracing off, its JSON into a tmpfs file
#      - the same with its JSON to /dev/null, as the tcpdumps' -w /dev/null (vtrace writes about
#        1 kB of JSON per echo, the tcpdumps nothing): the like-for-like figure. Its packets
#        captured are 10 per echo (a request and a reply at five points, as the kept run counts
#        them); its drops and completeness are not known (the run above tells them)
#      - vtrace watch A B --json, netfilter and drop-reason tracing on
#      - five tcpdump -w /dev/null (libpcap's default mode: TPACKET_V3 blocks, 1 s timeout)
#      - five tcpdump -w /dev/null --immediate-mode (a wakeup per packet)
#    Prints for each: echoes in LOAD_SECS (ping's "received"), kernel drops, packets captured,
#    CPU seconds (user + system of the capturers) per million captured packets, and vtrace's
#    journeys complete; then each vtrace run's CPU by thread as its flood ended (session,
#    capture, netfilter and drop-reason readers). Targets: vtrace (tracing off) <= 0.3 CPU s per
#    million, its flood >= 80 % of the flood under the default-mode tcpdumps, 0 kernel drops,
#    >= 99.9 % of echoes complete.
# 2. latency: PINGS echoes 100 ms apart under `vtrace watch A B --json` (tracing off); for each,
#    the time from the request's capture timestamp (its first hop) to the moment its exchange's
#    line is read from vtrace's stdout. Prints median and max. Target: max < 50 ms.
#
# Needs root, jq, tcpdump, GNU time. Usage: bench/capture.sh [LOAD_SECS] [PINGS]
# (defaults 10 and 100). VTRACE=BINARY measures that binary instead of building this tree's
# (another commit's release build, for a before/after). Creates only the namespaces of a lab with prefix bC<pid>- and removes
# them (also on failure). Run it on an otherwise idle machine: the figures are CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."

LOAD_SECS=${1:-10}
PINGS=${2:-100}
PREFIX=bC$$-

for tool in jq tcpdump /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench/capture.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/capture.sh: run as root (captures need CAP_NET_RAW)" >&2; exit 2; }

if [ -n "${VTRACE:-}" ]; then
    VT=$(realpath "$VTRACE")
else
    cargo build --release --quiet
    VT=$PWD/target/release/vtrace
fi
# On tmpfs when there is one: vtrace writes ~1 kB of JSON per echo, and disk writeback would
# be charged to the machine, not to the capturer.
WORK=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$VT" lab down --prefix "$PREFIX" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$VT" lab up --prefix "$PREFIX" >/dev/null
A=${PREFIX}nginx-1
B=${PREFIX}nginx-2
"$VT" ping "$A" "$B" -c 1 --json | jq -e '.verdict.reachable' >/dev/null \
    || { echo "bench/capture.sh: the lab is not reachable; nothing to measure" >&2; exit 1; }
FILTER="(arp or icmp) and (host 172.18.0.2 or host 172.18.0.3)"
POINTS=$("$VT" topo "$A" "$B" --json | jq -r '.paths[0].points[] | "\(.netns) \(.ifname)"')
[ "$(wc -l <<<"$POINTS")" = 5 ] || { echo "bench/capture.sh: expected 5 points, got: $POINTS" >&2; exit 1; }

# flood NAME: ping -f for LOAD_SECS; prints the echoes received.
flood() {
    ip netns exec "$A" ping -f -q -w "$LOAD_SECS" 172.18.0.3 >"$WORK/ping.$1" 2>&1 || true
    sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WORK/ping.$1"
}

# thread_cpu PID: the CPU seconds so far of PID's threads (user and system together: /proc splits
# a thread's time between them by sampling), summed by thread name.
thread_cpu() {
    local hz t name
    hz=$(getconf CLK_TCK)
    for t in /proc/"$1"/task/*; do
        # The main thread runs the session (correlation, report); the others say what they do.
        name=$(cat "$t/comm" 2>/dev/null)
        [ "${t##*/}" = "$1" ] && name=session
        # utime and stime: fields 14 and 15 of stat, 12 and 13 after the name in parentheses.
        printf '%s %s\n' "$name" "$(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{ print $12, $13 }')"
    done | awk -v hz="$hz" 'NF == 3 { u[$1] += $2; s[$1] += $3 }
        END { for (n in u) printf "%s %.2f, ", n, (u[n] + s[n]) / hz }'
}

cpu_per_million() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.3f", c * 1e6 / n; else print "-" }'; }

printf '%-38s %9s %7s %10s %8s %12s %s\n' capturer echoes drops captured "CPU s" "CPU s/M pkt" complete
# vtrace: tracing off (its JSON kept, then discarded), then on.
declare -A ECHOES SPLIT
for mode in off null on; do
    NF="--no-netfilter --no-drop-reasons"
    [ "$mode" = on ] && NF=""
    OUTPUT=$WORK/vt.json
    [ "$mode" = null ] && OUTPUT=/dev/null
    /usr/bin/time -f "%U %S" -o "$WORK/vt.time" "$VT" watch "$A" "$B" --json $NF \
        --duration "$((LOAD_SECS + 3))s" >"$OUTPUT" 2>"$WORK/vt.err" &
    PIDS+=($!)
    VTPID=$!
    sleep 1.5
    echoes=$(flood "vt-$mode")
    # By thread, once the flood is over (vtrace runs on until its --duration).
    threads=$(thread_cpu "$(pgrep -P "$VTPID" | head -n 1)")
    wait "$VTPID" || true
    read -r u s < <(tail -n 1 "$WORK/vt.time")
    cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    SPLIT[vt-$mode]="user $u s, system $s s (by thread, CPU s: ${threads%, })"
    if [ "$mode" = null ]; then
        captured=$((${echoes:-0} * 10)) drops=- complete=-
        label="vtrace watch --json >/dev/null (off)"
    else
        read -r captured drops complete < <(jq -r '
            ([.points[].captured] | add) as $c | ([.points[].kernel_drops] | add) as $d
            | "\($c) \($d) \(.verdict.received)/\(.verdict.sent)"' "$WORK/vt.json")
        label="vtrace watch --json (tracing $mode)"
    fi
    ECHOES[vt-$mode]=$echoes
    printf '%-38s %9s %7s %10s %8s %12s %s\n' "$label" "$echoes" "$drops" \
        "$captured" "$cpu" "$(cpu_per_million "$cpu" "$captured")" "$complete"
done

# Five tcpdumps, default mode then immediate mode.
for mode in default immediate; do
    IMM=""
    [ "$mode" = immediate ] && IMM=--immediate-mode
    TD=()
    i=0
    while read -r ns ifname; do
        /usr/bin/time -f "%U %S" -o "$WORK/td.$i.time" ip netns exec "$ns" tcpdump -i "$ifname" \
            -w /dev/null -B 4096 -s 1920 $IMM "$FILTER" 2>"$WORK/td.$i.err" &
        PIDS+=($!)
        TD+=($!)
        i=$((i + 1))
    done <<<"$POINTS"
    sleep 1.5
    echoes=$(flood "td-$mode")
    sleep 0.5
    for pid in "${TD[@]}"; do
        # `time`'s child is the tcpdump (`ip netns exec` execs it): stop it, not `time`.
        kill -INT "$(pgrep -P "$pid" | head -n 1)" 2>/dev/null || true
    done
    for pid in "${TD[@]}"; do wait "$pid" 2>/dev/null || true; done
    cpu=0 captured=0 drops=0
    for f in "$WORK"/td.*.time; do
        read -r u s < <(tail -n 1 "$f")
        cpu=$(awk -v c="$cpu" -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", c + u + s }')
    done
    for f in "$WORK"/td.*.err; do
        c=$(sed -n 's/^\([0-9]*\) packets captured$/\1/p' "$f")
        d=$(sed -n 's/^\([0-9]*\) packets dropped by kernel$/\1/p' "$f")
        captured=$((captured + ${c:-0}))
        drops=$((drops + ${d:-0}))
    done
    ECHOES[td-$mode]=$echoes
    printf '%-38s %9s %7s %10s %8s %12s %s\n' "5 x tcpdump -w /dev/null ($mode)" "$echoes" "$drops" \
        "$captured" "$cpu" "$(cpu_per_million "$cpu" "$captured")" -
    rm -f "$WORK"/td.*
done
echo "vtrace CPU, tracing off: ${SPLIT[vt-off]}"
echo "vtrace CPU, tracing off, JSON to /dev/null: ${SPLIT[vt-null]}"
echo "vtrace CPU, tracing on: ${SPLIT[vt-on]}"
awk -v v="${ECHOES[vt-off]}" -v t="${ECHOES[td-default]}" \
    'BEGIN { if (t > 0) printf "flood under vtrace (tracing off) / under default-mode tcpdumps: %.0f %% [>= 80 %%]\n", v * 100 / t }'

# 2. Latency of a lone echo: capture timestamp of its request -> its line on vtrace's stdout.
"$VT" watch "$A" "$B" --json --no-netfilter --no-drop-reasons \
    --duration "$((PINGS / 10 + 4))s" 2>"$WORK/lat.err" | while IFS= read -r line; do
    printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"
done >"$WORK/lat.lines" &
PIDS+=($!)
LATPID=$!
sleep 1.5
ip netns exec "$A" ping -i 0.1 -c "$PINGS" -q 172.18.0.3 >/dev/null 2>&1 || true
wait "$LATPID" || true
# Each line: arrival (µs since the epoch) then the exchange (after a leading comma).
while read -r arrived json; do
    t=$(jq -r 'select(.kind == "icmp-echo" and .reply != null) | .request.hops[0].t_ns' <<<"${json#,}" 2>/dev/null) || continue
    [ -n "$t" ] && awk -v a="$arrived" -v t="$t" 'BEGIN { printf "%.3f\n", (a * 1000 - t) / 1e6 }'
done < <(grep '"icmp-echo"' "$WORK/lat.lines") | sort -n >"$WORK/lat.ms"
n=$(wc -l <"$WORK/lat.ms")
if [ "$n" -gt 0 ]; then
    median=$(sed -n "$(((n + 1) / 2))p" "$WORK/lat.ms")
    max=$(tail -n 1 "$WORK/lat.ms")
    echo "latency, capture of a lone echo request -> its exchange on watch --json's stdout, over $n echoes 100 ms apart: median $median ms, max $max ms [max < 50 ms]"
else
    echo "latency: no echo exchange was read from vtrace's output" >&2
    exit 1
fi
