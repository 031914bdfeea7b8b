#!/usr/bin/env bash
# Install haysay with its test extras and run the whole test suite.
# Browser tests need Debian's chromium; as root this script installs it, otherwise they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e ".[dev]"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python3 -m pytest -q "$@"
