# Shared by the offline benchmarks (bench/analyze.sh, bench/clocks.sh): source it after setting
# RUNS, OUT and TIME (GNU time, or empty for no RSS figures).

# once NAME CMD...: one run; its wall-clock seconds in S, its peak RSS (KiB) in R and its CPU
# seconds (user + system) in C (0 and empty without TIME).
# The command's stdout goes to /dev/null; its exit status may be 0 or 1 (vtrace: losses found).
once() {
    local name=$1; shift
    local t0 t1 rc=0
    R=0 C=
    t0=$(date +%s%N)
    if [ -n "$TIME" ]; then
        "$TIME" -f '%M %U %S' -o "$OUT/time.txt" "$@" >/dev/null 2>"$OUT/stderr.txt" || rc=$?
        read -r R C < <(tail -n1 "$OUT/time.txt" | awk '{ print $1, $2 + $3 }')
    else
        "$@" >/dev/null 2>"$OUT/stderr.txt" || rc=$?
    fi
    t1=$(date +%s%N)
    if [ "$rc" -gt 1 ]; then
        echo "$0: $name failed (exit $rc):" >&2
        cat "$OUT/stderr.txt" >&2
        exit 2
    fi
    S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
}

# show NAME SECONDS RSS_KIB: one line of results.
show() {
    printf '  %-58s %8.3f s  peak RSS %6.1f MB\n' "$1" "$2" "$(awk -v k="$3" 'BEGIN { print k / 1024 }')"
}

# least A B: the smaller number.
least() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }

# run NAME CMD...: best wall-clock seconds of $RUNS runs in BEST, largest peak RSS (KiB) in RSS.
run() {
    local name=$1; shift
    BEST= RSS=0
    for _ in $(seq "$RUNS"); do
        once "$name" "$@"
        BEST=$(least "$S" "$BEST")
        [ "$R" -gt "$RSS" ] && RSS=$R
    done
    show "$name" "$BEST" "$RSS"
}

# race NAME_A NAME_B -- CMD_A... -- CMD_B...: $RUNS rounds, each running A then B, so both meet
# the same machine (on a shared host its speed drifts from minute to minute). Best seconds in
# BEST_A and BEST_B, peak RSS (KiB) of A in RSS_A, the median over the rounds of A's time over
# B's in MEDIAN_RATIO, and the least CPU seconds of each in CPU_A and CPU_B (empty without TIME).
race() {
    local name_a=$1 name_b=$2; shift 3
    local a=() b=()
    while [ "$1" != -- ]; do a+=("$1"); shift; done
    shift
    b=("$@")
    BEST_A= BEST_B= RSS_A=0 CPU_A= CPU_B=
    local ratios=() rss_b=0
    for _ in $(seq "$RUNS"); do
        once "$name_a" "${a[@]}"
        local sa=$S
        BEST_A=$(least "$S" "$BEST_A")
        [ -n "$C" ] && CPU_A=$(least "$C" "$CPU_A")
        [ "$R" -gt "$RSS_A" ] && RSS_A=$R
        once "$name_b" "${b[@]}"
        BEST_B=$(least "$S" "$BEST_B")
        [ -n "$C" ] && CPU_B=$(least "$C" "$CPU_B")
        [ "$R" -gt "$rss_b" ] && rss_b=$R
        ratios+=("$(awk -v a="$sa" -v b="$S" 'BEGIN { printf "%.4f", a / b }')")
    done
    MEDIAN_RATIO=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END {
        printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    show "$name_a" "$BEST_A" "$RSS_A"
    show "$name_b" "$BEST_B" "$rss_b"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
