#!/usr/bin/env python3
"""Create the benchmark tables and preload them over the DynamoDB JSON protocol
(stdlib only; setup, not the load driver).

  preload.py URL [--keys 100000] [--valsize 1000] [--parts 1000] [--qvalsize 100]
             [--threads 4] [--skip-create] [--gsis N] [--stream] [--json]

Tables: `bench` (pk S) with KEYS items {pk: "user%06d", val: VALSIZE chars};
        `bench2` (pk S, sk N) with PARTS partitions "part%04d" x 10 items (sk 1..10,
        val QVALSIZE chars). Existing tables of those names are deleted first.
Every item gets its own pseudo-random value (seeded, so runs are repeatable): one value
repeated 100,000 times would flatter any store that compresses blocks.
Loads with BatchWriteItem (25 items, retrying UnprocessedItems), then checks samples:
GetItem returns the item with its full value, Query returns 10 items in sort-key order,
PutItem answers 2xx, GetItem of a missing key answers without Item. Exits 1 if the load
or a check fails. The last line of output is "PRELOAD {json}" for bench/harness.py.
"""
import argparse
import base64
import http.client
import json
import random
import sys
import threading
import time
from urllib.parse import urlparse

# One fixed SigV4 header produced by botocore (see sign_once.py / dynamo.lua).
AUTH = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261122/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        "Signature=2801cce5184b91b7d0743103dd33a2f1074d7f3abd3ef7a26aee3e5e5c152737")
AMZ_DATE = "20261122T173741Z"


class Client:
    def __init__(self, url, timeout=120):
        u = urlparse(url)
        self.host, self.port, self.timeout = u.hostname, u.port or 80, timeout
        self.conn = None

    def call(self, op, body):
        data = json.dumps(body, separators=(",", ":")).encode()
        hdrs = {"Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "DynamoDB_20120810." + op,
                "X-Amz-Date": AMZ_DATE, "Authorization": AUTH}
        last = None
        for attempt in range(5):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.request("POST", "/", data, hdrs)
                r = self.conn.getresponse()
                raw = r.read()
                try:
                    parsed = json.loads(raw) if raw else {}
                except ValueError:
                    parsed = {"__raw": raw[:200].decode("utf-8", "replace")}
                return r.status, parsed
            except (OSError, http.client.HTTPException) as e:
                last = e
                self.conn = None
                time.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"{op}: no response ({last})")


def rand_val(n, rng):
    """n printable characters (base64 of random bytes)."""
    return base64.b64encode(rng.randbytes(n * 3 // 4 + 3)).decode()[:n]


def wait_status(c, table, want):
    for _ in range(600):
        st, r = c.call("DescribeTable", {"TableName": table})
        if want is None and st == 400 and "ResourceNotFound" in r.get("__type", ""):
            return
        if want and st == 200 and r.get("Table", {}).get("TableStatus") == want:
            return
        time.sleep(0.05)
    raise RuntimeError(f"table {table} never reached {want or 'deleted'}")


def create(c, table, with_sk, gsis=0, stream=False):
    """`gsis` global secondary indexes gsi1..gsiN (keyed by pk, projecting ALL: every write of an
    item writes N index entries of its full size) and, with `stream`, a NEW_AND_OLD_IMAGES stream."""
    st, r = c.call("DeleteTable", {"TableName": table})
    if st == 200:
        wait_status(c, table, None)
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if with_sk:
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
    spec = {"TableName": table, "AttributeDefinitions": attrs, "KeySchema": keys, "BillingMode": "PAY_PER_REQUEST"}
    if gsis:
        spec["GlobalSecondaryIndexes"] = [
            {"IndexName": f"gsi{i + 1}", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}} for i in range(gsis)]
    if stream:
        spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    st, r = c.call("CreateTable", spec)
    if st != 200:
        raise RuntimeError(f"CreateTable {table}: {st} {str(r)[:200]}")
    wait_status(c, table, "ACTIVE")


def batch_put(url, table, count, item_at, nthreads):
    """Writes items item_at(0) .. item_at(count - 1) in key order, 25 to a BatchWriteItem.
    Items are built as they are sent, so ten million of them need no memory up front."""
    lock, errors = threading.Lock(), []
    state = {"next": 0}

    def worker():
        c = Client(url)
        while True:
            with lock:
                if state["next"] >= count or errors:
                    return
                start, end = state["next"], min(count, state["next"] + 25)
                state["next"] = end
            b = [item_at(i) for i in range(start, end)]
            req = {table: [{"PutRequest": {"Item": it}} for it in b]}
            try:
                for _ in range(200):
                    st, r = c.call("BatchWriteItem", {"RequestItems": req})
                    if st != 200:
                        raise RuntimeError(f"{st} {str(r)[:200]}")
                    req = r.get("UnprocessedItems") or {}
                    if not req:
                        break
                    time.sleep(0.01)
                else:
                    raise RuntimeError("UnprocessedItems never drained")
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(str(e))
                return

    ts = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"BatchWriteItem {table}: {errors[0]}")


def checks(c, a, val_of):
    ok = True
    for k in sorted({0, min(12345, a.keys - 1), a.keys - 1}):
        key = f"user{k:06d}"
        st, r = c.call("GetItem", {"TableName": "bench", "Key": {"pk": {"S": key}}})
        item = r.get("Item", {}) if st == 200 else {}
        good = item.get("pk", {}).get("S") == key and item.get("val", {}).get("S") == val_of(k)
        ok &= good
        print(f"check GetItem {key}: {st} {'OK' if good else 'BAD'} {json.dumps(r)[:90]}...")
    st, r = c.call("PutItem", {"TableName": "bench",
                               "Item": {"pk": {"S": "user000007"}, "val": {"S": val_of(7)}}})
    good = st == 200 and "__type" not in r
    ok &= good
    print(f"check PutItem user000007: {st} {'OK' if good else 'BAD'} {json.dumps(r)[:90]}")
    for p in sorted({0, min(7, a.parts - 1), a.parts - 1}):
        part = f"part{p:04d}"
        st, r = c.call("Query", {"TableName": "bench2", "KeyConditionExpression": "pk = :p",
                                 "ExpressionAttributeValues": {":p": {"S": part}}})
        sks = [int(i["sk"]["N"]) for i in r.get("Items", [])] if st == 200 else []
        good = st == 200 and r.get("Count") == 10 and sks == list(range(1, 11))
        ok &= good
        print(f"check Query {part}: {st} {'OK' if good else 'BAD'} Count={r.get('Count')} sk={sks}"
              + ("" if st == 200 else f" {str(r)[:120]}"))
    st, r = c.call("GetItem", {"TableName": "bench", "Key": {"pk": {"S": "nokey"}}})
    good = st == 200 and "Item" not in r
    ok &= good
    print(f"check GetItem missing key: {st} {'OK' if good else 'BAD'} {json.dumps(r)[:90]}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--valsize", type=int, default=1000)
    ap.add_argument("--parts", type=int, default=1000)
    ap.add_argument("--qvalsize", type=int, default=100)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--skip-create", action="store_true")
    ap.add_argument("--gsis", type=int, default=0, help="global secondary indexes on `bench`")
    ap.add_argument("--stream", action="store_true", help="a stream on `bench`")
    a = ap.parse_args()
    if a.keys < 1 or a.parts < 1:
        ap.error("--keys and --parts must be at least 1")
    out = {"ok": False, "keys": a.keys, "parts": a.parts, "error": ""}
    try:
        rng = random.Random(42)
        vals = [rand_val(a.valsize, rng) for _ in range(a.keys)]
        c = Client(a.url)
        if not a.skip_create:
            create(c, "bench", False, a.gsis, a.stream)
            create(c, "bench2", True)
        t0 = time.time()
        batch_put(a.url, "bench", a.keys, lambda i: {"pk": {"S": f"user{i:06d}"}, "val": {"S": vals[i]}},
                  a.threads)
        t1 = time.time()

        def qitem(i):
            p, s = divmod(i, 10)
            # Seeded per item, so any item's value is the same whichever thread builds it.
            val = rand_val(a.qvalsize, random.Random(i))
            return {"pk": {"S": f"part{p:04d}"}, "sk": {"N": str(s + 1)}, "val": {"S": val}}

        qcount = a.parts * 10
        batch_put(a.url, "bench2", qcount, qitem, a.threads)
        t2 = time.time()
        out.update(bench_s=round(t1 - t0, 2), bench_items_per_s=round(a.keys / max(t1 - t0, 1e-9)),
                   bench2_s=round(t2 - t1, 2), bench2_items=qcount)
        print(f"preload: bench {a.keys} items in {t1 - t0:.1f}s ({a.keys / max(t1 - t0, 1e-9):.0f} items/s), "
              f"bench2 {qcount} items in {t2 - t1:.1f}s")
        out["ok"] = checks(c, a, lambda k: vals[k])
        if not out["ok"]:
            out["error"] = "a sample check failed (see the lines above)"
    except Exception as e:  # noqa: BLE001 - reported as the result
        out["error"] = str(e)[:300]
        print(f"preload failed: {out['error']}")
    print("PRELOAD " + json.dumps(out))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()
