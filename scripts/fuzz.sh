#!/usr/bin/env bash
# Fuzz vtrace's parsers with cargo fuzz (libFuzzer): the pcap/pcapng reader (pcapfile), the
# packet decoder (decode), the nftables trace decoder (nftrace), the tracefs kfree_skb
# parser (dropmon), and the whole offline path from capture bytes to rendered report (analyze).
#
#   scripts/fuzz.sh [TARGET...]          every target when none is named
#   FUZZ_SECONDS=600 scripts/fuzz.sh     time per target (default 600)
#   FUZZ_NO_BUILD=1 scripts/fuzz.sh      run the binaries already built
#
# Seeds: the capture corpora under ../shared/corpora are read where they are (pcapfile), and
# fuzz/src/bin/seeds.rs writes decode/nftrace/dropmon seeds into fuzz/corpus/ (gitignored).
# Stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo fuzz use the sanitizer flags. Runs under
# nice -n 19 (the machine is shared). A crash stops its target and leaves the input in
# fuzz/artifacts/TARGET/; keep it as a regression test (tests/fuzz_regressions.rs).
# The last lines of each log (fuzz/logs/TARGET.log) give the figures: `#N ... cov: ft:`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here/fuzz"
corpora="$(cd "$here/../shared/corpora" && pwd)"
secs="${FUZZ_SECONDS:-600}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pcapfile decode nftrace dropmon analyze)
export RUSTC_BOOTSTRAP=1
# FUZZ_NO_BUILD=1 reuses the binaries of the last build.
[ -n "${FUZZ_NO_BUILD:-}" ] || nice -n 19 cargo fuzz build -O --debug-assertions
bin="target/x86_64-unknown-linux-gnu/release"
"$bin/seeds" "$corpora" corpus
mkdir -p logs
for t in "${targets[@]}"; do
  case "$t" in
    pcapfile) extra=("$corpora/wf" "$corpora/mal"); max_len=262144 ;;
    analyze) extra=("$corpora/wf"); max_len=65536 ;;
    decode) extra=(); max_len=4096 ;;
    nftrace) extra=(); max_len=4096 ;;
    dropmon) extra=(); max_len=16384 ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t: ${secs}s" >&2
  status=0
  # The binaries built above, run directly: `cargo fuzz run` would rebuild whenever the tree
  # changes (a shared tree changes all the time).
  nice -n 19 "$bin/$t" "corpus/$t" "${extra[@]}" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 >"logs/$t.log" 2>&1 || status=$?
  grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "logs/$t.log" | tail -1 >&2 || true
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "logs/$t.log" >&2 || true
  if [ "$status" -ne 0 ]; then
    echo "$t: crash or error (exit $status), see fuzz/logs/$t.log and fuzz/artifacts/$t/" >&2
  fi
done
