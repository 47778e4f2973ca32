#!/usr/bin/env bash
# The whole test suite: Rust unit, property and SDK tests, then the boto3 black-box suite
# against a freshly built server. Creates .venv (boto3, pytest) on first use.
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
