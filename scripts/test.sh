#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, builds both targets, runs
# every suite: native ctest (shared + backend unit + service tests against a real webhookd), the
# shared tests again as WebAssembly under node, the browser tests in headless Chromium, and then
# the native suites again under ASan+UBSan and TSan (scripts/sanitize.sh, in their own build dirs;
# any sanitizer report fails). Exits non-zero when anything fails; runs every suite even after a
# failure.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || { echo "setup failed" >&2; exit 1; }
scripts/build.sh all || { echo "build failed" >&2; exit 1; }

failed=()
failed_tests=""  # ctest's own list of what failed, repeated at the end where CI's excerpt shows it
run() {
  local name=$1
  shift
  echo
  echo "==== $name"
  local log
  log=$(mktemp)
  if ! "$@" 2>&1 | tee "$log"; then
    failed+=("$name")
    failed_tests+="$(sed -n '/The following tests FAILED/,/^$/p' "$log" | head -n 20)"$'\n'
  fi
  rm -f "$log"
}

run "native tests (ctest build/)" ctest --test-dir build --output-on-failure -j 2 --timeout 300
run "wasm shared tests under node (ctest build-web/)" ctest --test-dir build-web --output-on-failure -j 2 --timeout 300
if compgen -G "tests/browser/*.test.mjs" >/dev/null; then
  run "browser tests (headless chromium)" env MAMBO_WEB_ROOT="$PWD/build-web/web" \
    MAMBO_BUILD_DIR="$PWD/build" node --test --test-concurrency=1 tests/browser/
fi
run "asan+ubsan build and native tests (build-asan/)" scripts/sanitize.sh asan
run "tsan build and threaded tests (build-tsan/)" scripts/sanitize.sh tsan
# Every fuzz target briefly (scripts/fuzz.sh for longer runs): a crash or sanitizer report fails.
run "fuzz targets, ${MAMBO_FUZZ_SECONDS:-10} s each (build-fuzz/)" scripts/fuzz.sh "${MAMBO_FUZZ_SECONDS:-10}"

echo
# The shared tests run in both builds: the same count proves the browser and the backend run the
# same checks. A difference (a test compiled out of one build) fails the run.
native=$(ctest --test-dir build -N | sed -n 's/^Total Tests: //p')
native_shared=$(ctest --test-dir build -N -L shared 2>/dev/null | sed -n 's/^Total Tests: //p')
wasm=$(ctest --test-dir build-web -N | sed -n 's/^Total Tests: //p')
echo "shared test count: native $native_shared, wasm $wasm (all native suites: $native)"
if [ -z "$native_shared" ] || [ "$native_shared" != "$wasm" ]; then
  echo "the native and WebAssembly shared test counts differ ($native_shared vs $wasm)" >&2
  failed+=("shared test counts")
fi
if [ ${#failed[@]} -gt 0 ]; then
  printf '%s' "$failed_tests"
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "ALL TEST SUITES PASSED"
