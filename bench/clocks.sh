#!/usr/bin/env bash
# Benchmark: `vtrace analyze n1.pcapng n2.pcapng --json` (two node files, each on its own clock:
# the clock offsets are measured by a first pass, then the files are merged on one clock)
# against `vtrace analyze whole.pcapng --json` (the same packets in one file, one clock).
# Target: two node files ≤ 2× one file. See bench/README.md.
#
# Usage (from anywhere): bench/clocks.sh [RUNS]   (default 3; each figure is the best of RUNS)
# Needs: cargo; GNU time at /usr/bin/time for peak RSS (optional). Installs nothing. Writes
# only under bench/out/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-3}
OUT=bench/out
mkdir -p "$OUT"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench/clocks.sh: $TIME missing (apt-get install time); no RSS figures" >&2; TIME=; }

cargo build --release --quiet --example gen_capture --example split_capture --bin vtrace
GEN=target/release/examples/gen_capture
SPLIT=target/release/examples/split_capture
VT=target/release/vtrace

# 2 M frames over the five points, split by point: node 1 = nginx-1/eth0, its veth and the
# bridge (interfaces 0-2, ~1.2 M frames), node 2 = the other veth and nginx-2/eth0 (3-4, ~0.8 M),
# node 2's clock 3.2 s ahead.
WHOLE=$OUT/clocks-whole.pcapng N1=$OUT/clocks-n1.pcapng N2=$OUT/clocks-n2.pcapng
if [ ! -s "$WHOLE" ] || [ "$GEN" -nt "$WHOLE" ] || [ "$SPLIT" -nt "$N2" ]; then
    rm -f "$WHOLE" "$N1" "$N2"
    "$GEN" --packets 2000000 --out "$WHOLE"
    "$SPLIT" "$WHOLE" --node 3,4 --shift 3200000000 --out "$N1" --out "$N2" >"$OUT/clocks-split.txt"
fi

# run NAME CMD… (best of RUNS in BEST, peak RSS in RSS) and ratio A B.
# shellcheck source=bench/lib.sh
source bench/lib.sh

cat "$WHOLE" "$N1" "$N2" >/dev/null # into the page cache
echo "best of $RUNS runs, wall clock:"
run "vtrace analyze clocks-whole.pcapng --json (2 M frames)" "$VT" analyze "$WHOLE" --json
ONE=$BEST ONE_RSS=$RSS
run "vtrace analyze clocks-n1.pcapng clocks-n2.pcapng --json" "$VT" analyze "$N1" "$N2" --json
TWO=$BEST TWO_RSS=$RSS
# The clocks come after the exchanges, near the end of the report.
offset=$("$VT" analyze "$N1" "$N2" --json | tail -c 8192 |
    grep -o '"offset_ns":[-0-9]*,"uncertainty_ns":[0-9a-z]*' | tail -n1 || true)

echo
echo "results (targets in brackets):"
echo "  $(paste -sd ',' "$OUT/clocks-split.txt" | sed 's/,/, /')"
echo "  node 2's clock as measured: $offset (shifted by 3200000000)"
echo "  two node files / one file time ratio $(ratio "$TWO" "$ONE") [<= 2.0]"
if [ -n "$TIME" ]; then
    echo "  peak RSS: one file $(ratio "$ONE_RSS" 1024) MB, two node files $(ratio "$TWO_RSS" 1024) MB [< 64]"
fi
rm -f "$OUT/time.txt" "$OUT/stderr.txt"
