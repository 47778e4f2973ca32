"""TTL's cost and promptness, against a Flywheel binary (FLYWHEEL_BIN) on a fresh data directory.

    FLYWHEEL_BIN=target/debug/flywheel python bench/ttl_expiry.py [ITEMS]

1. Idle: ITEMS items that expire tomorrow, TTL on; the server's CPU time over 20 one-second sweep
   ticks (the sweeper reads only the expiry index's due entries, so this stays near zero
   whatever ITEMS is), then how long one item written already expired stays.
2. Burst: ITEMS items written already expired before UpdateTimeToLive; the time from enabling TTL
   until ItemCount is 0 (expiry-index backfill, then the sweep).

Bounded by ITEMS (default 5,000); the server stops at the end."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
import support  # noqa: E402


def fill(ddb, name, count, exp):
    batch = []
    for i in range(count):
        batch.append({"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "exp": {"N": exp}}}})
        if len(batch) == 25 or i == count - 1:
            while batch:
                out = ddb.batch_write_item(RequestItems={name: batch})
                batch = out.get("UnprocessedItems", {}).get(name, [])


def enable(ddb, name):
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    server = support.Server(data_dir=tempfile.mkdtemp()).start()
    try:
        ddb = support.make_client(server.endpoint)
        idle, burst = "ttl_idle", "ttl_burst"
        for name in (idle, burst):
            ddb.create_table(**support.hash_table_spec(name))
            support.wait_active(ddb, name)
        enable(ddb, idle)
        fill(ddb, idle, count, str(int(time.time()) + 86_400))
        time.sleep(3)
        before = cpu_seconds(server.process.pid)
        time.sleep(20)
        print(f"idle: {count} items, server CPU over 20 s of sweeps: {cpu_seconds(server.process.pid) - before:.2f} s")
        ddb.put_item(TableName=idle, Item={"pk": {"S": "due"}, "exp": {"N": str(int(time.time()) - 1)}})
        start = time.monotonic()
        while "Item" in ddb.get_item(TableName=idle, Key={"pk": {"S": "due"}}, ConsistentRead=True):
            time.sleep(0.05)
        print(f"idle: an expired item was deleted {time.monotonic() - start:.2f} s after it was written")
        fill(ddb, burst, count, str(int(time.time()) - 60))
        start = time.monotonic()
        enable(ddb, burst)
        while ddb.describe_table(TableName=burst)["Table"]["ItemCount"] > 0:
            time.sleep(0.2)
        print(f"burst: {count} expired items deleted {time.monotonic() - start:.1f} s after enabling TTL")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
