#!/usr/bin/env bash
# Memory of live tracing feeding the interactive view (issue 6: under 100 MB while `watch` feeds
# the TUI a million packets; issue 8: flat over an hour-equivalent replay).
#
# 1. Replay through the live path at full speed (VTRACE_REPLAY, the live session's debug input):
#    two captures from examples/gen_capture.rs, 2 M frames spanning 20 s and 6 M frames spanning
#    an hour, each fed to `vtrace watch A B` once in the TUI (in tmux) and once with --json.
#    Prints the peak RSS (VmHWM) of each run; the two files must give about the same figure.
# 2. Real traffic: PINGS parallel `ping -f` from A to B for LOAD_SECS seconds while
#    `vtrace watch A B --duration …` shows them in the TUI (in tmux), and five `tcpdump -w
#    /dev/null` capture the same points with the same filter, kernel buffer and snapshot length
#    (1920, vtrace's default) in the same run. Once the trace has ended (the TUI stays open), prints vtrace's VmHWM, its capture
#    drops and the echoes it traced (each echo is 10 frames: request and reply on 5 points), and
#    tcpdump's packets, drops and summed peak RSS.
#
# Netfilter tracing and drop reasons are off (--no-netfilter --no-drop-reasons: under a flood
# every packet makes trace events, and the tracing's own listeners cost ~17 MB); NETFILTER=1
# leaves them on.
#
# Needs root, tmux, tcpdump, GNU time. Usage: bench/tui.sh [LOAD_SECS] [PINGS] [BUFFER_MIB]
# (defaults 10, 1, 4). Creates only the namespaces of a lab with prefix bT<pid>- and removes them
# (also on failure); writes under bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

LOAD_SECS=${1:-10}
PINGS=${2:-1}
BUF=${3:-4}
PREFIX=bT$$-
A=${PREFIX}nginx-1
B=${PREFIX}nginx-2

for tool in tmux tcpdump /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench/tui.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/tui.sh: run as root (captures need CAP_NET_RAW)" >&2; exit 2; }

cargo build --release --quiet --bin vtrace --example gen_capture
VT=$PWD/target/release/vtrace
GEN=$PWD/target/release/examples/gen_capture
mkdir -p bench/out
WORK=$(mktemp -d)
SOCK=vtrace-bench-tui-$$
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    wait 2>/dev/null || true
    "$VT" lab down --prefix "$PREFIX" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$VT" lab up --prefix "$PREFIX" >/dev/null
tmux -L "$SOCK" new-session -d -s b -x 120 -y 40 "env TERM=xterm-256color bash --norc --noprofile"

hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Run `vtrace ARGS…` in the TUI in tmux (env VARS first), wait until `ready` (a shell test) holds,
# print its VmHWM in kB, quit it with q.
tui_run() {
    local ready=$1 env=$2
    shift 2
    rm -f "$WORK/pid" "$WORK/err" "$WORK/pane"
    tmux -L "$SOCK" send-keys -t b \
        "sh -c 'echo \$\$ > $WORK/pid; exec env $env $VT $* 2>$WORK/err'" Enter
    for _ in $(seq 1 600); do
        if [ -s "$WORK/pid" ] && eval "$ready"; then break; fi
        sleep 0.5
    done
    sleep 0.5
    local pid
    pid=$(cat "$WORK/pid")
    hwm "$pid"
    tmux -L "$SOCK" capture-pane -p -t b >"$WORK/pane"
    tmux -L "$SOCK" send-keys -t b q
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
}

NF="--no-netfilter --no-drop-reasons"
[ "${NETFILTER:-0}" = 1 ] && NF=""

# 1. Replay.
[ "${SKIP_REPLAY:-0}" = 1 ] && REPLAYS=() || REPLAYS=("2000000 100 20s" "6000000 6000 1h")
for spec in "${REPLAYS[@]}"; do
    read -r n gap span <<<"$spec"
    file=bench/out/replay-$n-$gap.pcapng
    [ -s "$file" ] || "$GEN" --packets "$n" --gap-us "$gap" --out "$file" >/dev/null
    kb=$(tui_run "grep -q replay: $WORK/err" "VTRACE_REPLAY=$PWD/$file" watch "$A" "$B" $NF)
    line=$(grep replay: "$WORK/err" || true)
    json=$(env VTRACE_REPLAY="$PWD/$file" /usr/bin/time -f %M "$VT" watch "$A" "$B" --json $NF \
        2>&1 >/dev/null | tail -n 1 || true)
    echo "replay $n frames over $span: TUI peak RSS $((kb / 1024)) MiB, --json peak RSS $((json / 1024)) MiB (${line#vtrace: })"
done

# 2. Real traffic.
FILTER="(arp or icmp) and (host 172.18.0.2 or host 172.18.0.3)"
POINTS=$("$VT" topo "$A" "$B" --json | jq -r '.paths[0].points[] | "\(.netns) \(.ifname)"')
i=0
while read -r ns ifname; do
    /usr/bin/time -f %M -o "$WORK/tcpdump.$i.rss" ip netns exec "$ns" tcpdump -i "$ifname" \
        -w /dev/null -B "$((BUF * 1024))" -s 1920 --immediate-mode "$FILTER" 2>"$WORK/tcpdump.$i.err" &
    PIDS+=($!)
    i=$((i + 1))
done <<<"$POINTS"
(
    sleep 2
    for _ in $(seq 1 "$PINGS"); do
        ip netns exec "$A" ping -f -q -w "$LOAD_SECS" 172.18.0.3 >/dev/null 2>&1 &
    done
    wait
) &
PIDS+=($!)
kb=$(tui_run "grep -q verdict $WORK/pane 2>/dev/null || { tmux -L $SOCK capture-pane -p -t b >$WORK/pane; false; }" \
    "${VT_ENV:-X=1}" watch "$A" "$B" --buffer-size "$BUF" --duration "$((LOAD_SECS + 4))s" $NF)
for pid in "${PIDS[@]}"; do pkill -INT -P "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()
sed -n '1,3p' "$WORK/pane" >bench/out/tui-pane.txt
drops=$(grep -o 'capture drops [0-9]*' "$WORK/pane" | grep -o '[0-9]*$' || echo '?')
echoes=$(grep -o 'echoes [0-9]*/[0-9]*' "$WORK/pane" | head -n 1 || echo 'echoes ?')
TD_PKTS=0 TD_DROPS=0 TD_RSS=0
for f in "$WORK"/tcpdump.*.err; do
    p=$(sed -n 's/^\([0-9]*\) packets captured$/\1/p' "$f")
    d=$(sed -n 's/^\([0-9]*\) packets dropped by kernel$/\1/p' "$f")
    TD_PKTS=$((TD_PKTS + ${p:-0}))
    TD_DROPS=$((TD_DROPS + ${d:-0}))
done
for f in "$WORK"/tcpdump.*.rss; do TD_RSS=$((TD_RSS + $(tail -n 1 "$f"))); done
echo "ping -f x$PINGS for ${LOAD_SECS}s, $BUF MiB kernel buffers: vtrace watch $NF (TUI) peak RSS $((kb / 1024)) MiB, capture drops $drops, $echoes answered (x10 frames); tcpdump x5: $TD_PKTS packets, drops $TD_DROPS, peak RSS $((TD_RSS / 1024)) MiB summed"
