#!/usr/bin/env bash
# Write throughput with 0, 1 and 5 global secondary indexes and with a stream, for every
# selected system, in one run: bench/run.sh once per table shape (W1 PutItem and W6
# BatchWriteItem by default), then one combined table of req/s and ratios.
#
#   bench/index-writes.sh
#   BENCH_SYSTEMS=flywheel,dynalite BENCH_DURATION=5 bench/index-writes.sh
#
# GSIs are keyed by pk and project ALL (every write writes each index's full copy); the
# stream is NEW_AND_OLD_IMAGES. Knobs of bench/run.sh apply (BENCH_KEYS defaults to 20,000
# here so that the five preloads stay short).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH_SYSTEMS=${BENCH_SYSTEMS:-flywheel,flywheel-mem,dynalite,moto}
export BENCH_WORKLOADS=${BENCH_WORKLOADS:-W1,W6}
export BENCH_KEYS=${BENCH_KEYS:-20000}
export BENCH_PARTS=${BENCH_PARTS:-100}
STAMP=$(date +%Y%m%d-%H%M%S)
STAMPS=()
for shape in "0 0" "1 0" "5 0" "0 1"; do
  set -- $shape
  export BENCH_GSIS=$1 BENCH_STREAM=$2 BENCH_STAMP="$STAMP-gsi$1-stream$2"
  "$BENCH_DIR/run.sh" >/dev/null
  STAMPS+=("$BENCH_STAMP")
  export BENCH_SKIP_BUILD=1
done
python3 - "$BENCH_DIR/results" "${STAMPS[@]}" <<'PY'
import json, os, sys
results_dir, stamps = sys.argv[1], sys.argv[2:]
labels = {"gsi0-stream0": "no index", "gsi1-stream0": "1 GSI", "gsi5-stream0": "5 GSIs", "gsi0-stream1": "stream"}
runs = [(labels[s.split("-", 2)[2]], json.load(open(os.path.join(results_dir, s + ".json")))) for s in stamps]
systems = [r["system"] for r in runs[0][1]["results"]]
workloads = sorted({w for _, run in runs for r in run["results"] for w in r["workloads"]})
print(f"# Write throughput with indexes and streams ({stamps[0].rsplit('-', 2)[0]})\n")
print("req/s (p99 ms); `failed` where the system did not complete the workload with valid answers.\n")
for w in workloads:
    print(f"### {w}\n")
    print("| system | " + " | ".join(label for label, _ in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for name in systems:
        cells = []
        for _, run in runs:
            r = next(x for x in run["results"] if x["system"] == name)
            m = r["workloads"].get(w, {})
            cells.append(f"{m['rps']:,.0f} ({m['p99_ms']:.1f})" if m.get("valid") else "failed")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    base = {label: next(x for x in run["results"] if x["system"] == "flywheel") for label, run in runs}
    for peer in [s for s in systems if s != "flywheel"]:
        ratios = []
        for label, run in runs:
            p = next(x for x in run["results"] if x["system"] == peer)["workloads"].get(w, {})
            f = base[label]["workloads"].get(w, {})
            ratios.append(f"{f['rps'] / p['rps']:.1f}x" if p.get("valid") and f.get("valid") and p["rps"] else "n/a")
        print(f"- flywheel / {peer}: " + ", ".join(f"{label} {r}" for (label, _), r in zip(runs, ratios)))
    print()
PY
