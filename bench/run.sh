#!/usr/bin/env bash
# Flywheel benchmark: one command. Installs what is missing, builds, runs every selected
# system through the wrk workloads and prints a markdown report (also written to
# bench/results/<stamp>.md). See bench/README.md for the knobs.
#
#   bench/run.sh                                   # everything, defaults (~10 min)
#   BENCH_DURATION=3 BENCH_KEYS=5000 BENCH_PARTS=100 BENCH_SYSTEMS=dynalite,ceiling bench/run.sh
#
# A failed install or build does not stop the run: the systems that needed it are
# reported as failed and the others still run. Only a missing wrk or python3 stops it.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
export BENCH_STAMP=${BENCH_STAMP:-$(date +%Y%m%d-%H%M%S)}
SYSTEMS=${BENCH_SYSTEMS:-flywheel,flywheel-mem,dynalite,dynalite-mem,moto,ceiling}
JOBS=${BENCH_BUILD_JOBS:-$(nproc)}
LOGDIR="$BENCH_DIR/results/logs/$BENCH_STAMP"
mkdir -p "$LOGDIR"
FAILURES=""

say() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
# wants NAME: is a system whose name starts with NAME selected?
wants() { [[ ",$SYSTEMS" == *",$1"* ]]; }
fail() { FAILURES="${FAILURES}$1:$2;"; say "setup of $1 failed: $2"; }
last_error() { grep -iE 'error|fail' "$1" | tail -n 1 | cut -c1-200 | tr ';|' ',/'; }

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    $SUDO apt-get update -qq >>"$LOGDIR/setup.log" 2>&1 && APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >>"$LOGDIR/setup.log" 2>&1
}

# --- load driver and setup scripts -------------------------------------------------
if ! command -v wrk >/dev/null; then
  say "installing wrk (apt-get)"
  apt_install wrk || { say "cannot install wrk (see $LOGDIR/setup.log)"; exit 1; }
fi
if ! command -v python3 >/dev/null; then
  say "installing python3 (apt-get)"
  apt_install python3 python3-venv || { say "cannot install python3"; exit 1; }
fi

# --- dynalite (npm, locked by bench/package-lock.json) -------------------------------
if wants dynalite && [ ! -f "$BENCH_DIR/node_modules/dynalite/cli.js" ]; then
  if ! command -v npm >/dev/null; then
    say "installing nodejs and npm (apt-get)"
    apt_install nodejs npm || true
  fi
  if ! command -v npm >/dev/null; then
    fail dynalite "npm not available"
  else
    say "installing dynalite (npm ci)"
    if ! (cd "$BENCH_DIR" && npm ci --no-audit --no-fund) >"$LOGDIR/setup-dynalite.log" 2>&1; then
      fail dynalite "npm ci failed: $(last_error "$LOGDIR/setup-dynalite.log")"
    fi
  fi
fi

# --- moto (pip into bench/.venv, pinned by bench/requirements.txt) -------------------
if wants moto; then
  REQ_SUM=$(sha256sum "$BENCH_DIR/requirements.txt" | cut -d' ' -f1)
  if [ ! -x "$BENCH_DIR/.venv/bin/moto_server" ] || \
     [ "$(cat "$BENCH_DIR/.venv/.requirements.sha256" 2>/dev/null)" != "$REQ_SUM" ]; then
    say "installing moto[server] into bench/.venv (pip)"
    {
      [ -x "$BENCH_DIR/.venv/bin/python" ] || python3 -m venv "$BENCH_DIR/.venv" ||
        { apt_install python3-venv && python3 -m venv "$BENCH_DIR/.venv"; }
    } >"$LOGDIR/setup-moto.log" 2>&1
    if "$BENCH_DIR/.venv/bin/pip" install -q -r "$BENCH_DIR/requirements.txt" >>"$LOGDIR/setup-moto.log" 2>&1; then
      echo "$REQ_SUM" >"$BENCH_DIR/.venv/.requirements.sha256"
    else
      fail moto "pip install failed: $(last_error "$LOGDIR/setup-moto.log")"
    fi
  fi
fi

# --- builds (cargo, release) ---------------------------------------------------------
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  if wants ceiling; then
    say "building ceiling-server (cargo build --release -j $JOBS)"
    if ! (cd "$BENCH_DIR/ceiling-server" && cargo build --release --locked -j "$JOBS") \
        >"$LOGDIR/build-ceiling.log" 2>&1; then
      fail ceiling "cargo build failed: $(last_error "$LOGDIR/build-ceiling.log")"
    fi
  fi
  if wants flywheel; then
    say "building Flywheel (cargo build --profile dist -p flywheel-server -j $JOBS)"
    if ! (cd "$ROOT" && cargo build --profile dist -p flywheel-server -j "$JOBS") \
        >"$LOGDIR/build-flywheel.log" 2>&1; then
      fail flywheel "cargo build -p flywheel-server failed: $(last_error "$LOGDIR/build-flywheel.log")"
    fi
  fi
fi

export BENCH_SETUP_FAILURES="$FAILURES"
exec python3 "$BENCH_DIR/harness.py"
