#!/usr/bin/env bash
# Benchmark: `vtrace analyze big.pcapng --json` against tcpdump and tshark on synthetic lab
# captures (5 Ethernet capture points, ARP + ICMP echo flows, ~1 in 50 requests lost after the
# bridge) of 1 M and 5 M packets. See bench/README.md for the targets.
#
# Usage (from anywhere): bench/analyze.sh [RUNS]   (default 5; each figure is the best of RUNS)
# Needs: cargo, tcpdump, tshark (only the 1 M file), GNU time at /usr/bin/time (apt-get install
# time) for peak RSS. Installs nothing. Writes only under bench/out/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-5}
OUT=bench/out
mkdir -p "$OUT"

for tool in tcpdump tshark; do
    command -v "$tool" >/dev/null || echo "bench/analyze.sh: $tool is not installed; skipping it" >&2
done
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench/analyze.sh: $TIME missing (apt-get install time); no RSS figures" >&2; TIME=; }

cargo build --release --quiet --example gen_capture --bin vtrace
GEN=target/release/examples/gen_capture
VT=target/release/vtrace

# Generate once; the generator is deterministic, so a file newer than it is still valid.
for n in 1000000 5000000; do
    f=$OUT/big-$n.pcapng
    if [ ! -s "$f" ] || [ "$GEN" -nt "$f" ]; then
        rm -f "$f"
        "$GEN" --packets "$n" --out "$f"
    fi
done

# run NAME CMD… (best of RUNS in BEST, peak RSS in RSS), race (A and B in turn) and ratio A B.
# shellcheck source=bench/lib.sh
source bench/lib.sh

echo "best of $RUNS runs, wall clock (vtrace and tcpdump in turn, round after round):"
declare -A VT_S VT_RSS TD_S TD_MEDIAN VT_CPU TD_CPU
for n in 1000000 5000000; do
    f=$OUT/big-$n.pcapng
    cat "$f" >/dev/null # into the page cache, so the first run is not an outlier
    if command -v tcpdump >/dev/null; then
        race "vtrace analyze big-$n.pcapng --json" "tcpdump -r big-$n.pcapng -w /dev/null" \
            -- "$VT" analyze "$f" --json -- tcpdump -r "$f" -w /dev/null
        VT_S[$n]=$BEST_A VT_RSS[$n]=$RSS_A TD_S[$n]=$BEST_B TD_MEDIAN[$n]=$MEDIAN_RATIO
        VT_CPU[$n]=$CPU_A TD_CPU[$n]=$CPU_B
    else
        run "vtrace analyze big-$n.pcapng --json" "$VT" analyze "$f" --json
        VT_S[$n]=$BEST VT_RSS[$n]=$RSS
    fi
done
TS_S=
if command -v tshark >/dev/null; then
    run "tshark -r big-1000000.pcapng -T fields -e ip.id" \
        tshark -r "$OUT/big-1000000.pcapng" -T fields -e ip.id
    TS_S=$BEST
fi

echo
echo "results (targets in brackets):"
for n in 1000000 5000000; do
    pps=$(awk -v n="$n" -v s="${VT_S[$n]}" 'BEGIN { printf "%.2f", n / s / 1e6 }')
    echo "  $n packets: vtrace analyze ${pps} M packets/s [>= 5]"
    if [ -n "${TD_S[$n]:-}" ]; then
        echo "  $n packets: vtrace / tcpdump time ratio $(ratio "${VT_S[$n]}" "${TD_S[$n]}") [<= 1.0]" \
            "(best against best; median of the rounds' ratios ${TD_MEDIAN[$n]})"
        if [ -n "${VT_CPU[$n]:-}" ] && [ -n "${TD_CPU[$n]:-}" ]; then
            # Not a target: on 2 cores the wall-clock ratio leans on the second core, this not.
            echo "  $n packets: CPU seconds (user + system, least of the runs): vtrace ${VT_CPU[$n]}," \
                "tcpdump ${TD_CPU[$n]} (ratio $(ratio "${VT_CPU[$n]}" "${TD_CPU[$n]}"))"
        fi
    fi
done
if [ -n "$TS_S" ]; then
    echo "  1000000 packets: tshark / vtrace time ratio $(ratio "$TS_S" "${VT_S[1000000]}") [>= 30]"
fi
if [ -n "$TIME" ]; then
    echo "  peak RSS: $(ratio "${VT_RSS[1000000]}" 1024) MB at 1 M, $(ratio "${VT_RSS[5000000]}" 1024) MB at 5 M [< 64, flat]"
fi
rm -f "$OUT/time.txt" "$OUT/stderr.txt"
