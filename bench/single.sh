#!/usr/bin/env bash
# One Flywheel server, one workload: the quick loop for A/B runs and profiles (bench/run.sh is
# the full comparison). From the repo root:
#
#   bench/single.sh disk|mem put|get|mixed|query|update|batch|scan [perf|sched]
#
# Starts target/dist/flywheel (or $BIN) on loopback, preloads KEYS items (default 20,000)
# with bench/preload.py, runs wrk for DUR seconds (default 8) with 16 connections, prints wrk's
# RESULT line and the journal sync histograms from /metrics, and stops the server.
#   perf   also records a CPU profile of the server to $OUT/perf.data (perf report -i ...)
#   sched  also records scheduler events to $OUT/sched.data (perf sched latency -i ...)
# Extra server flags go in $FLAGS (e.g. FLAGS="--memtable-mb 16"). A/B: run it alternately
# with BIN=old and BIN=new, several times each; one run varies by about ±10% on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?disk or mem}
WL=${2:?workload}
PROF=${3:-}
BIN=${BIN:-target/dist/flywheel}
KEYS=${KEYS:-20000}
DUR=${DUR:-8}
OUT=${OUT:-bench/results/single}
PORT=${PORT:-18123}
ADMIN=${ADMIN:-18124}
mkdir -p "$OUT"
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA"' EXIT
if [ "$MODE" = mem ]; then STORE=(--in-memory); else STORE=(--data-dir "$DATA/data"); fi
# shellcheck disable=SC2086
"$BIN" --listen 127.0.0.1:$PORT "${STORE[@]}" --admin-listen 127.0.0.1:$ADMIN --log-level warn ${FLAGS:-} &
PID=$!
for _ in $(seq 100); do curl -s -o /dev/null 127.0.0.1:$ADMIN/healthz && break; sleep 0.05; done
python3 bench/preload.py http://127.0.0.1:$PORT --keys "$KEYS" --parts 1000 >/dev/null
sleep 1
case "$PROF" in
  perf) perf record -F 999 -g -p $PID -o "$OUT/perf.data" -- sleep "$DUR" 2>/dev/null & PP=$! ;;
  sched) perf sched record -g -o "$OUT/sched.data" -- sleep "$DUR" 2>/dev/null & PP=$! ;;
  *) PP= ;;
esac
wrk -t2 -c16 -d"${DUR}s" --latency -s bench/dynamo.lua http://127.0.0.1:$PORT/ -- "$WL" "$KEYS" 1000 1000 \
  | grep -E "^RESULT"
if [ -n "$PP" ]; then wait "$PP" || true; fi
curl -s 127.0.0.1:$ADMIN/metrics | grep -E "^flywheel_fsync_(duration_seconds|commits)_(sum|count)" || true
