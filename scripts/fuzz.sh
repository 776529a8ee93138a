#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with -fsanitize=fuzzer,address,undefined) in
# build-fuzz/ and runs each for SECONDS (default 60), starting from the seeds in
# tests/fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/, never into the
# repository. Exits non-zero on the first crash, leak, sanitizer report or timeout; the failing
# input is left in build-fuzz/ (crash-*, leak-*, timeout-*) and named in the output.
# Usage: scripts/fuzz.sh [seconds] [target ...]      (FUZZ_RUNS=N: N runs instead of seconds;
# FUZZ_TIMEOUT=S: an input running longer than S seconds, default 10, is a failure; FUZZ_ASAN_OPTIONS:
# more AddressSanitizer options, below. libFuzzer
# counts wall time, so a run paused with SIGSTOP, e.g. to leave the machine to a benchmark,
# needs a longer one)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_webhook_input fuzz_event_input fuzz_url fuzz_text_parsers
                                     fuzz_receiver_response fuzz_http_request)

if [ ! -f build-fuzz/build.ninja ]; then
  # -O1 -g1 (line tables): the stacks of a report are as good, and the build, which compiles the
  # whole backend for the HTTP target, takes a third less time.
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-O1 -g1" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DMAMBO_FUZZ=ON >/dev/null
fi
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"

# FUZZ_ASAN_OPTIONS is appended (long runs: malloc_context_size=5 makes allocations cheaper; a
# finding is re-run from its input for the full stacks).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1${FUZZ_ASAN_OPTIONS:+:$FUZZ_ASAN_OPTIONS}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  limit=(-max_total_time="$seconds")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
  log="build-fuzz/$t.log"
  # Requests may be large (bodies up to 256 KiB); the other inputs are short, and longer ones
  # only slow the search down.
  max_len=4096
  [ "$t" = fuzz_http_request ] && max_len=65536
  if (cd build-fuzz && "./tests/fuzz/$t" "${limit[@]}" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
        -max_len="$max_len" -print_final_stats=1 "corpus/$t" "../tests/fuzz/corpus/$t") \
      >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "[fuzz] $t: ok, $runs executions, $rate/s"
  else
    echo "[fuzz] $t: FAILED (log: $log)" >&2
    grep -E "ERROR|SUMMARY|Test unit written|runtime error" "$log" | head -20 >&2
    status=1
  fi
done
exit $status
