#!/usr/bin/env bash
# Sets up and runs every test of classctl:
#   1. Swift unit and integration tests (Swift Testing, real loopback sockets)
#   2. end-to-end tests in Python (real clients, the CLI, headless Chromium)
#   3. the Autobahn|Testsuite WebSocket conformance run against ws-echo
#   4. each libFuzzer target for a bounded time
# Environment: AUTOBAHN_EXCLUDE (default: 12.x.10-18 and 13.x.10-18, the permessage-deflate cases with
# the nine largest message sizes, which take 11 of the full run's 13 minutes on 2 cores; set it
# to '' for all 517 cases), FUZZ_SECONDS (default 30).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test || exit 1

status=0
summary=()
step() { echo; echo "=== $*"; }

step "build (release binaries for the end-to-end tests)"
if ! swift build -c release 2>&1 | tail -3; then echo "release build failed"; exit 1; fi
[ -x .build/release/classctl ] || { echo "release build failed"; exit 1; }

step "swift test"
# The churn test counts this process's descriptors and memory, so it runs alone in a
# process of its own; everything else runs in parallel in the first one.
swift test --skip ChurnTests 2>&1 | tee /tmp/classctl-swift-test.log | grep -E '✘|error:|Test run with|passed after [0-9.]+ seconds\.$' | grep -vE '^✔ Test ' | tail -60
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] || status=1
summary+=("swift test: $(grep -E 'Test run with [0-9]+ tests' /tmp/classctl-swift-test.log | tail -1)")
swift test --skip-build --filter ChurnTests 2>&1 | tee /tmp/classctl-swift-churn.log | grep -E '✘|✔|churn:|Test run with' | tail -20
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] || status=1
summary+=("swift test (churn): $(grep -E 'Test run with [0-9]+ tests?' /tmp/classctl-swift-churn.log | tail -1)")

step "web unit tests (node --test)"
# The pages' modules (view model, formatters, clock sync, state scheduling) in Node, no browser.
node --test --test-reporter=tap Tests/web/*.test.mjs 2>&1 | tee /tmp/classctl-node-test.log | grep -E '^not ok|^# (tests|pass|fail) '
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] || status=1
summary+=("node --test: $(grep -E '^# (pass|fail) ' /tmp/classctl-node-test.log | tr -d '#' | xargs)")

step "end-to-end tests (pytest)"
CLASSCTL_BIN=.build/release .venv/bin/python -m pytest -q Tests/e2e 2>&1 | tee /tmp/classctl-pytest.log | tail -40
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] || status=1
summary+=("pytest: $(tail -1 /tmp/classctl-pytest.log)")

step "Autobahn|Testsuite against ws-echo"
AB=../shared/tools/autobahn/run-fuzzingclient
if [ -x "$AB" ] || [ -f "$AB" ]; then
  .build/release/ws-echo --port 0 > /tmp/classctl-ws-echo.log 2>&1 &
  echo_pid=$!
  for _ in $(seq 50); do grep -q listening /tmp/classctl-ws-echo.log && break; sleep 0.1; done
  port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' /tmp/classctl-ws-echo.log | head -1)
  args=()
  big=$(for g in 12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7; do for n in $(seq 10 18); do printf '%s.%s,' "$g" "$n"; done; done)
  exclude=${AUTOBAHN_EXCLUDE-${big%,}}
  [ -n "$exclude" ] && args+=(--exclude "$exclude")
  bash "$AB" "ws://127.0.0.1:$port" --out /tmp/classctl-autobahn "${args[@]}" 2>&1 | tail -5 | tee /tmp/classctl-autobahn.log
  rc=${PIPESTATUS[0]}
  kill "$echo_pid" 2>/dev/null; wait "$echo_pid" 2>/dev/null
  [ $rc -eq 0 ] || status=1
  summary+=("$(grep -E '^autobahn:' /tmp/classctl-autobahn.log | tail -1)")
else
  echo "no ../shared/tools/autobahn: skipped"; summary+=("autobahn: skipped (../shared missing)"); status=1
fi

step "fuzzing (${FUZZ_SECONDS:-30} s per target)"
if scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-30}" 2>&1 | tail -15; then
  summary+=("fuzz: no crash")
else
  status=1; summary+=("fuzz: FAILED")
fi

echo
echo "=== summary"
for s in "${summary[@]}"; do echo "$s"; done
exit $status
