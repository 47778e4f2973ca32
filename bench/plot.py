#!/usr/bin/env python3
"""Plots for docs/benchmarks.md from harness results (bench/results/<stamp>.json).

  bench/.venv/bin/pip install matplotlib==3.10.9
  bench/.venv/bin/python bench/plot.py item-size itemsize-100 itemsize-1000 ... > docs/item-size.png
  bench/.venv/bin/python bench/plot.py table-size tablesize-1000 tablesize-10000 ...

Each plot is written to the path given with --out (default: docs/<kind>.png).
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)

def load(stamp):
    with open(os.path.join(BENCH, "results", stamp + ".json")) as f:
        return json.load(f)


def workload(run, system, wid):
    r = next(x for x in run["results"] if x["system"] == system)
    return r["workloads"][wid]


def item_size(stamps, out):
    sizes, put, get, put_p99, get_p99 = [], [], [], [], []
    for stamp in stamps:
        size = int(stamp.rsplit("-", 1)[1])
        run = load(stamp)
        w1, w2 = workload(run, "flywheel", "W1"), workload(run, "flywheel", "W2")
        sizes.append(size)
        put.append(w1["rps"])
        get.append(w2["rps"])
        put_p99.append(w1["p99_ms"])
        get_p99.append(w2["p99_ms"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(sizes, get, "o-", label="GetItem (W2)")
    a.plot(sizes, put, "s-", label="PutItem (W1), durable")
    a.set(xscale="log", yscale="log", xlabel="item value size (bytes)", ylabel="requests/s",
          title="Throughput by item size (16 connections)")
    a.legend()
    a.grid(True, which="both", alpha=0.3)
    b.plot(sizes, get_p99, "o-", label="GetItem p99")
    b.plot(sizes, put_p99, "s-", label="PutItem p99")
    b.set(xscale="log", yscale="log", xlabel="item value size (bytes)", ylabel="ms", title="p99 latency by item size")
    b.legend()
    b.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def table_size(stamps, out):
    # One run per table size: the durable server's W4 (Query of bench2, PARTS x 10 items) and
    # W2 (GetItem of bench).
    points = []
    for stamp in stamps:
        run = load(stamp)
        r = next(x for x in run["results"] if x["system"] == "flywheel")
        points.append((r["parts"] * 10, r["workloads"]["W4"], r["workloads"]["W2"]))
    points.sort(key=lambda p: p[0])
    items = [p[0] for p in points]
    fig, a = plt.subplots(figsize=(6, 4))
    a.plot(items, [p[1]["p50_ms"] for p in points], "o-", label="Query p50")
    a.plot(items, [p[1]["p99_ms"] for p in points], "s-", label="Query p99")
    a.plot(items, [p[2]["p99_ms"] for p in points], "^-", label="GetItem p99")
    a.set(xscale="log", xlabel="items in the queried table", ylabel="ms", ylim=(0, 4),
          title="Latency by table size (durable, 16 connections)")
    a.legend()
    a.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["item-size", "table-size"])
    ap.add_argument("stamps", nargs="*")
    ap.add_argument("--out")
    a = ap.parse_args()
    out = a.out or os.path.join(ROOT, "docs", f"{a.kind}.png")
    if a.kind == "item-size":
        item_size(a.stamps, out)
    else:
        table_size(a.stamps, out)
    print(out)


if __name__ == "__main__":
    main()
