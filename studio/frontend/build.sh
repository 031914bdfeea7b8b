#!/usr/bin/env sh
# Rebuild the browser bundles from the locked npm dependencies: the studio's
# (studio/bundle/index.js + index.css) and the notebook canvas widget's
# (studio/bundle/notebook_canvas.js). Needs node >= 18 and npm; run from anywhere.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node build.mjs
