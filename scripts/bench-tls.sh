#!/usr/bin/env bash
# TLS figures next to nginx (see scripts/bench-tls.py): sets up, builds (ws-echo, classbench), runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
command -v nginx >/dev/null || apt-get install -y -qq nginx-light >/dev/null
swift build -c release --product ws-echo
swift build -c release --product classbench
exec .venv/bin/python scripts/bench-tls.py "$@"
