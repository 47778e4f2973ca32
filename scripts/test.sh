#!/usr/bin/env bash
# The whole test suite: Rust unit, property and SDK tests, then the boto3 black-box suite
# against a freshly built server, then the web console in headless Chromium. Creates .venv
# (boto3, pytest) and tests/console/node_modules (playwright-core) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --bins
cargo test --workspace

if [ ! -x .venv/bin/pytest ] || ! cmp -s tests/python/requirements.txt .venv/requirements.txt; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt .venv/requirements.txt
fi
FLYWHEEL_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/flywheel" .venv/bin/pytest tests/python -q -p no:cacheprovider

# The console test drives Debian's Chromium (/usr/bin/chromium; .ci/run installs it). Its
# screenshots go under target/ here, so a test run leaves docs/ as committed; run the test
# directly (tests/console/README.md) to refresh docs/console-*.png.
if ! cmp -s tests/console/package-lock.json tests/console/node_modules/.installed-package-lock.json; then
  npm ci --prefix tests/console --no-audit --no-fund
  cp tests/console/package-lock.json tests/console/node_modules/.installed-package-lock.json
fi
FLYWHEEL_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/flywheel" \
  CONSOLE_SCREENSHOT_DIR="${CARGO_TARGET_DIR:-$PWD/target}/console-screenshots" \
  node tests/console/console.test.mjs
