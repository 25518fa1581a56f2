# Sourced by the ratio benchmarks (bench-ops.sh, bench-xks-ratio.sh). Measures two wrk targets in
# alternating windows — A then B in odd rounds, B then A in even ones, since the second of two
# back-to-back windows runs measurably slower on a small machine even when A and B are identical —
# and prints each round's requests/s, the server's CPU per request (from /proc/PID/stat), the
# ratio B/A, the median ratio and the ratio of the summed requests/s. WARMUP (seconds, default 2)
# is the unrecorded run before each window; WARMUP=0 with many 1 s rounds pairs the windows
# closely, so that drifts of the machine's speed cancel out better. A run must end within 5
# minutes of signing its requests.
#
# compare ROUNDS SECONDS LABEL_A URL_A LUA_A PID_A LABEL_B URL_B LUA_B PID_B

# cpu_ticks PID: user + system clock ticks of a process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# window URL LUA PID SECONDS: "requests/s CPU-µs-per-request" (fails on any non-2xx answer).
window() {
  local out t0 t1 n
  if [ "${WARMUP:-2}" != 0 ]; then wrk -t1 -c8 -d"${WARMUP:-2}s" -s "$2" "$1/" >/dev/null; fi
  t0=$(cpu_ticks "$3")
  out=$(wrk -t1 -c8 -d"$4s" -s "$2" "$1/")
  t1=$(cpu_ticks "$3")
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers: $out" >&2; return 1; fi
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" -v ticks=$((t1 - t0)) -v n="$n" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f %.1f", rps, ticks / hz * 1e6 / n}'
}

compare() {
  local rounds=$1 secs=$2 la=$3 ua=$4 sa=$5 pa=$6 lb=$7 ub=$8 sb=$9 pb=${10} r a b ratios=()
  local sum_a=0 sum_b=0
  # The replayed requests are signed once, and a signature is refused 5 minutes after its time
  # (as AWS does), so a run must end before then.
  if ((rounds * 2 * (secs + ${WARMUP:-2}) > 270)); then
    echo "$rounds rounds of ${secs} s windows (+${WARMUP:-2} s warm-up) outlast the signed requests (5 minutes)" >&2
    return 1
  fi
  echo "| round | $la (req/s) | $la server CPU µs/req | $lb (req/s) | $lb server CPU µs/req | ratio |"
  echo "|---|---|---|---|---|---|"
  for r in $(seq 1 "$rounds"); do
    if ((r % 2)); then
      a=$(window "$ua" "$sa" "$pa" "$secs") && b=$(window "$ub" "$sb" "$pb" "$secs") || return 1
    else
      b=$(window "$ub" "$sb" "$pb" "$secs") && a=$(window "$ua" "$sa" "$pa" "$secs") || return 1
    fi
    set -- $a $b
    ratios+=("$(awk -v a="$1" -v b="$3" 'BEGIN {printf "%.2f", b / a}')")
    sum_a=$((sum_a + $1)) sum_b=$((sum_b + $3))
    echo "| $r | $1 | $2 | $3 | $4 | ${ratios[-1]} |"
  done
  printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median ratio over %d rounds: %.2f (min %.2f, max %.2f)\n", NR, m, v[1], v[NR]}'
  awk -v a="$sum_a" -v b="$sum_b" 'BEGIN {printf "ratio of the summed requests/s: %.3f\n", b / a}'
}
