# Shared by the offline benchmarks (bench/analyze.sh, bench/clocks.sh): source it after setting
# RUNS, OUT and TIME (GNU time, or empty for no RSS figures).

# run NAME CMD...: best wall-clock seconds of $RUNS runs in BEST, largest peak RSS (KiB) in RSS.
# The command's stdout goes to /dev/null; its exit status may be 0 or 1 (vtrace: losses found).
run() {
    local name=$1; shift
    BEST= RSS=0
    for _ in $(seq "$RUNS"); do
        local t0 t1 rss=0 rc=0
        t0=$(date +%s%N)
        if [ -n "$TIME" ]; then
            "$TIME" -f '%M' -o "$OUT/time.txt" "$@" >/dev/null 2>"$OUT/stderr.txt" || rc=$?
            rss=$(tail -n1 "$OUT/time.txt")
        else
            "$@" >/dev/null 2>"$OUT/stderr.txt" || rc=$?
        fi
        t1=$(date +%s%N)
        if [ "$rc" -gt 1 ]; then
            echo "$0: $name failed (exit $rc):" >&2
            cat "$OUT/stderr.txt" >&2
            exit 2
        fi
        local s
        s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
        if [ -z "$BEST" ] || awk -v a="$s" -v b="$BEST" 'BEGIN { exit !(a < b) }'; then BEST=$s; fi
        [ "$rss" -gt "$RSS" ] && RSS=$rss
    done
    printf '  %-58s %8.3f s  peak RSS %6.1f MB\n' "$name" "$BEST" "$(awk -v k="$RSS" 'BEGIN { print k / 1024 }')"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
