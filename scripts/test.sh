#!/usr/bin/env bash
# The whole test suite, runnable on a fresh Debian machine with only Rust installed:
#   1. installs what is missing besides Rust (python3-venv, Node.js and npm, Chromium) with
#      apt-get, as root or through sudo; skipped when everything is present;
#   2. rustfmt and clippy (warnings are errors);
#   3. the Rust unit, property and SDK tests;
#   4. the boto3 black-box suite against the freshly built server, in .venv (created here);
#   5. the web console in headless Chromium (playwright-core in tests/console/node_modules).
# Everything builds once, with the release profile that the README's run command uses, so
# running the server afterwards compiles nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
stage() { echo "==> $1 (at $((SECONDS - started)) s)"; }

# --- 1. system packages --------------------------------------------------------------------------
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ -x "$CHROMIUM" ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  stage "installing ${missing[*]} with apt-get"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "scripts/test.sh needs ${missing[*]}: run it as root, or install them (apt-get install ${missing[*]})" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "rustc: $(rustc --version); python: $(python3 --version); node: $(node --version); cores: $(nproc)"

# --- 2. formatting and lints (cheap: clippy checks what the build below compiles anyway) -------
stage "cargo fmt --check"
cargo fmt --all -- --check
stage "cargo clippy"
cargo clippy --workspace --all-targets --release -- -D warnings

# --- 3. Rust tests; this also builds target/release/flywheel for the suites below ---------------
stage "cargo test"
cargo test --workspace --release
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/flywheel"

# --- 4. the boto3 suite ------------------------------------------------------------------------
stage "pytest tests/python"
if [ ! -x .venv/bin/pytest ] || ! cmp -s tests/python/requirements.txt .venv/requirements.txt; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt .venv/requirements.txt
fi
FLYWHEEL_BIN="$BIN" .venv/bin/pytest tests/python -q -p no:cacheprovider

# --- 5. the web console in Chromium ------------------------------------------------------------
# Its screenshots go under the target directory here, so a test run leaves docs/ as committed;
# run the test directly (tests/console/README.md) to refresh docs/console-*.png.
stage "console test"
if ! cmp -s tests/console/package-lock.json tests/console/node_modules/.installed-package-lock.json; then
  npm ci --prefix tests/console --no-audit --no-fund
  cp tests/console/package-lock.json tests/console/node_modules/.installed-package-lock.json
fi
FLYWHEEL_BIN="$BIN" CHROMIUM="$CHROMIUM" \
  CONSOLE_SCREENSHOT_DIR="${CARGO_TARGET_DIR:-$PWD/target}/console-screenshots" \
  node tests/console/console.test.mjs

stage "all passed"
