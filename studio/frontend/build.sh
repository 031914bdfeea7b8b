#!/usr/bin/env sh
# Rebuild the studio's browser bundle (studio/bundle/index.js + index.css)
# from the locked npm dependencies. Needs node >= 18 and npm; run from anywhere.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node build.mjs
