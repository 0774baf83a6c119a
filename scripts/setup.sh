#!/usr/bin/env bash
# Installs what classctl needs on Debian 12 (as root, or with sudo):
#   scripts/setup.sh          build dependencies (zlib, OpenSSL headers, pkg-config)
#   scripts/setup.sh --redis  plus redis-server (the Swift Redis and cluster tests start their own)
#   scripts/setup.sh --test   plus what the tests use (Chromium and its driver, curl,
#                             openssl CLI, iproute2, redis-server, a colour emoji font,
#                             Node.js if there is no `node`) and a Python venv with the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

pkgs=(pkg-config zlib1g-dev libssl-dev)
if [ "${1:-}" = "--redis" ]; then pkgs+=(redis-server); fi
if [ "${1:-}" = "--test" ]; then
  pkgs+=(chromium chromium-driver curl openssl iproute2)
  # Emoji in names and labels render in the browser tests' screenshots (and are measured as drawn).
  pkgs+=(fonts-noto-color-emoji)
  # The Redis client's tests start their own redis-server (Debian's, 7.x) on a free loopback port.
  pkgs+=(redis-server)
  # The cluster tests put a real nginx in front of three nodes (config/cluster/nginx.conf).
  pkgs+=(nginx)
  # The page modules' unit tests (Tests/web) run on Node's built-in test runner.
  command -v node >/dev/null || pkgs+=(nodejs)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
  echo "setup: no Swift toolchain on PATH (Swift 6.0 or newer is needed: https://www.swift.org/install/)" >&2
  exit 1
fi

if [ "${1:-}" = "--test" ]; then
  # Rebuilt whenever Tests/e2e/requirements.txt changes (its hash is kept in the venv).
  want=$(sha256sum Tests/e2e/requirements.txt | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements.sha 2>/dev/null)" != "$want" ]; then
    echo "setup: creating the Python test venv in .venv"
    PY=$(command -v python3)
    rm -rf .venv
    "$PY" -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r Tests/e2e/requirements.txt
    echo "$want" > .venv/.requirements.sha
  fi
fi
