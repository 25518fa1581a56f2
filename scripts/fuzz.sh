#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that take outside input (fuzz/, docs/reliability.md).
#
#   scripts/fuzz.sh                      smoke: every target for SMOKE_SECONDS (5) seconds
#   scripts/fuzz.sh --long SECONDS [T..] each target (or the targets named) for SECONDS
#   scripts/fuzz.sh --merge [T..]        add to the committed corpus (fuzz/corpus/T) the fewest
#                                        inputs runs found (fuzz/work/T) that reach new edges
#
# Every run reads the committed corpus (fuzz/corpus/T, seeds from the test vectors) and keeps
# what it finds in fuzz/work/T (not committed). A crash fails the run; its input is in
# fuzz/artifacts/T/ and becomes a regression test (docs/reliability.md).
#
# The targets build with the default (stable) toolchain: without a sanitizer (`-s none`, our
# code forbids `unsafe`, so AddressSanitizer would watch only C code that cargo-fuzz does not
# instrument anyway) cargo-fuzz needs no nightly. Debug assertions are on, so arithmetic
# overflow is a crash too.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=smoke
seconds=${SMOKE_SECONDS:-5}
case "${1:-}" in
  --long)
    mode=long
    seconds=${2:?"--long needs a number of seconds per target"}
    shift 2
    ;;
  --merge)
    mode=merge
    shift
    ;;
  -h | --help)
    sed -n '2,18p' "$0"
    exit 0
    ;;
  -*)
    echo "fuzz.sh: unknown option $1" >&2
    exit 2
    ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

# The smoke run builds unoptimized (a few minutes less on 2 cores, and enough for seconds of
# fuzzing); long runs and merges build optimized, as cargo-fuzz does by default.
if [ "$mode" = smoke ]; then
  flags=(--sanitizer none --debug-assertions --dev)
else
  flags=(--sanitizer none --debug-assertions --release)
fi
started=$(date +%s)
(cd fuzz && cargo fuzz build "${flags[@]}")
echo "fuzz: built the targets in $(($(date +%s) - started)) s"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi

mkdir -p fuzz/work fuzz/logs
failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/$t" "fuzz/corpus/$t"
  if [ "$mode" = merge ]; then
    (cd fuzz && cargo fuzz run "${flags[@]}" "$t" "corpus/$t" "work/$t" -- \
      -set_cover_merge=1 -use_counters=0) \
      >"fuzz/logs/$t.log" 2>&1 || failed+=("$t")
    echo "fuzz: $t: $(ls "fuzz/corpus/$t" | wc -l) inputs in the committed corpus"
    continue
  fi
  t0=$(date +%s)
  if (cd fuzz && cargo fuzz run "${flags[@]}" "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1) \
    >"fuzz/logs/$t.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/logs/$t.log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "fuzz/logs/$t.log" | tail -1 || true)
    echo "fuzz: $t: ok, ${runs:-?} runs in $(($(date +%s) - t0)) s, ${cov:-cov: ?}"
  else
    failed+=("$t")
    echo "fuzz: $t: FAILED (fuzz/logs/$t.log; the input is in fuzz/artifacts/$t/)"
    tail -n 40 "fuzz/logs/$t.log"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $mode run, $(($(date +%s) - started)) s in all"
