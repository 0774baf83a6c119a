#!/usr/bin/env bash
# Measures how closely phones switch together (docs/sync.md): prepares the test venv and
# Chromium, builds the release classctl, then runs scripts/sync-bench.py with the arguments
# given here (e.g. --delays 20,80,150 --shifts -7000,3000,12000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
swift build -c release --product classctl
exec .venv/bin/python scripts/sync-bench.py "$@"
