#!/usr/bin/env python3
"""Large-set row: the cost of one item holding a 40,000-member string set (issue 13, case 3).

  bench/large-set.py [--bin target/release/flywheel] [--members 40000] [--rounds 5] [--in-memory]

Starts Flywheel on a free loopback port (durable, in a temporary data directory, unless
--in-memory), creates a table, then for each round: PutItem of the item (a new key), PutItem of
the same item again (an overwrite, which compares the old and new item under the partition's
writer), and PutItem with `ConditionExpression: s = :same`, where :same holds the members in
reverse order (a set comparison in a condition). Prints the median milliseconds of each step and
stops the server. Bounded by counts (rounds), stdlib only; the Authorization header is a fixed one,
which Flywheel's default (permissive) mode accepts.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from preload import Client  # noqa: E402


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/flywheel")
    ap.add_argument("--members", type=int, default=40_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--in-memory", action="store_true")
    args = ap.parse_args()

    port = free_port()
    data = tempfile.mkdtemp(prefix="flywheel-large-set-")
    store = ["--in-memory"] if args.in_memory else ["--data-dir", os.path.join(data, "data")]
    server = subprocess.Popen([args.bin, "--listen", f"127.0.0.1:{port}", *store, "--log-level", "warn"])
    try:
        client = Client(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                status, _ = client.call("ListTables", {})
                if status == 200:
                    break
            except RuntimeError:
                pass
            time.sleep(0.05)
        table = "large_set"
        status, r = client.call("CreateTable", {
            "TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
        assert status == 200, r
        members = [f"m{i:05}" for i in range(args.members)]
        timings = {"put new": [], "put again": [], "conditional put": []}

        def timed(step, body):
            start = time.perf_counter()
            status, r = client.call("PutItem", body)
            timings[step].append((time.perf_counter() - start) * 1000)
            assert status == 200, (step, status, r)

        for round_ in range(args.rounds):
            item = {"pk": {"S": f"k{round_}"}, "s": {"SS": members}}
            timed("put new", {"TableName": table, "Item": item})
            timed("put again", {"TableName": table, "Item": item})
            timed("conditional put", {
                "TableName": table, "Item": item, "ConditionExpression": "s = :same",
                "ExpressionAttributeValues": {":same": {"SS": members[::-1]}}})
        mode = "in-memory" if args.in_memory else "durable"
        print(f"| {args.members:,}-member SS, {mode}, median of {args.rounds} (ms) | "
              + " | ".join(f"{step} {statistics.median(ms):.1f}" for step, ms in timings.items()) + " |")
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", data], check=False)


if __name__ == "__main__":
    main()
