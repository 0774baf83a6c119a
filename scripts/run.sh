#!/usr/bin/env bash
# Sets up, builds and starts classctl on its embedded defaults: the built-in class plan,
# plain HTTP on 127.0.0.1:8080. Extra arguments go to `classctl start`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product classctl
exec .build/release/classctl start "$@"
