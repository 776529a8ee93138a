#!/usr/bin/env bash
# Runs the crash scenario (DeliveryServiceTest.CrashWithThousandsInFlightLosesNothing) ROUNDS
# times, two copies at once beside a CPU hog: the slow, contended timing under which its
# deliveries once stalled (issue 17: 2 of 11 ASan runs). A failing run's output is kept in
# build/stress/ with the test's diagnostics (/metrics, the queue by state, webhookd's log).
# Usage: scripts/stress.sh [rounds=10] [build dir=build]  (e.g. build-asan for the ASan build)
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
build=${2:-build}
tests="$build/tests/backend/service_tests"
[ -x "$tests" ] || { echo "stress: $tests not built (scripts/build.sh native)" >&2; exit 2; }
out="$build/stress"
mkdir -p "$out"
yes >/dev/null &
hog=$!
trap 'kill $hog 2>/dev/null' EXIT
failed=0
for round in $(seq 1 "$rounds"); do
  pids=()
  for copy in 1 2; do
    "$tests" --gtest_filter='DeliveryServiceTest.CrashWithThousandsInFlightLosesNothing' \
      >"$out/run-$round-$copy.log" 2>&1 &
    pids+=($!)
  done
  for copy in 1 2; do
    if wait "${pids[$((copy - 1))]}"; then
      rm -f "$out/run-$round-$copy.log"
    else
      echo "stress: round $round copy $copy FAILED: $out/run-$round-$copy.log"
      failed=$((failed + 1))
    fi
  done
done
echo "stress: $((rounds * 2 - failed)) of $((rounds * 2)) crash runs passed"
[ "$failed" -eq 0 ]
