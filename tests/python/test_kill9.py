"""Durability: a write DynamoDB acknowledged is never lost. These tests run their own Flywheel on a
data directory (`--data-dir`), kill it with SIGKILL in the middle of a write burst or stop it
with SIGTERM, start it again on the same directory, and check every acknowledged write.

They need to own the server process, so they are skipped when DYNAMO_ENDPOINT points the suite
elsewhere; a missing Flywheel binary fails them like every other test."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from support import (
    composite_table_spec,
    hash_table_spec,
    make_client,
    unique_table_name,
    wait_active,
    wait_gone,
)

pytestmark = pytest.mark.durability

WRITER_THREADS = 8
# The kill comes once this many unique writes are acknowledged (a count, so a slow machine only
# takes longer), while the writers are still sending.
ACKED_BEFORE_KILL = 1000


def writer(endpoint, table, thread_id, stop, acked, attempted):
    """Writes unique keys as fast as it can, plus a per-thread counter item it overwrites, until
    told to stop or the server goes away. Records what was acknowledged and what was tried."""
    # One attempt only: a retry could land on a restarted server and blur "acknowledged".
    client = make_client(endpoint, retries=1, read_timeout=10)
    n = 0
    while not stop.is_set():
        key = f"t{thread_id}-{n}"
        # Values of varying size, so writes straddle pages and log blocks differently.
        value = f"{key}:" + "v" * ((n * 37) % 3000)
        counter = f"counter-{thread_id}"
        try:
            attempted[counter] = n
            client.put_item(
                TableName=table,
                Item={"pk": {"S": key}, "v": {"S": value}},
            )
            acked[key] = value
            client.put_item(TableName=table, Item={"pk": {"S": counter}, "n": {"N": str(n)}})
            acked[counter] = n
        except (ClientError, BotoCoreError, OSError):
            return  # the server is gone
        n += 1


def read_all(client, table, keys):
    def read(key):
        item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return key, item.get("Item")

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(read, keys))


def test_acknowledged_writes_survive_sigkill(durable_server):
    # The guarantee behind every PutItem response: once acknowledged, the write survives a crash
    # of the process at any instant, here a SIGKILL while eight clients are mid-burst.
    server = durable_server()
    client = make_client(server.endpoint)
    table = unique_table_name("fw_kill9")
    client.create_table(**hash_table_spec(table))
    wait_active(client, table)

    stop = threading.Event()
    acked = [dict() for _ in range(WRITER_THREADS)]
    attempted = [dict() for _ in range(WRITER_THREADS)]
    threads = [
        threading.Thread(
            target=writer, args=(server.endpoint, table, i, stop, acked[i], attempted[i]), daemon=True
        )
        for i in range(WRITER_THREADS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 300
    while sum(len(a) for a in acked) < ACKED_BEFORE_KILL + WRITER_THREADS:
        assert all(t.is_alive() for t in threads), "a writer stopped before the kill:\n" + server.log_tail()
        assert time.monotonic() < deadline, "the writers were not acknowledged:\n" + server.log_tail()
        time.sleep(0.01)
    assert all(t.is_alive() for t in threads), "a writer stopped before the kill:\n" + server.log_tail()
    server.kill()  # mid-burst: writers are still sending
    stop.set()
    for t in threads:
        t.join(timeout=120)

    unique = {k: v for a in acked for k, v in a.items() if not k.startswith("counter-")}
    assert len(unique) >= ACKED_BEFORE_KILL, f"only {len(unique)} writes were acknowledged"

    restarted = durable_server()
    client = make_client(restarted.endpoint)
    wait_active(client, table)
    stored = read_all(client, table, list(unique))
    lost = [k for k, item in stored.items() if item is None]
    wrong = [k for k, item in stored.items() if item is not None and item["v"]["S"] != unique[k]]
    assert not lost, f"{len(lost)} of {len(unique)} acknowledged writes lost, e.g. {lost[:5]}"
    assert not wrong, f"{len(wrong)} acknowledged writes changed, e.g. {wrong[:5]}"

    # An overwritten item holds the last acknowledged value or a later one that was sent but
    # not yet acknowledged when the process died; never an older one.
    counters = [f"counter-{i}" for i in range(WRITER_THREADS)]
    stored = read_all(client, table, counters)
    for i, name in enumerate(counters):
        if name not in acked[i]:
            continue
        value = int(stored[name]["n"]["N"])
        assert acked[i][name] <= value <= attempted[i][name], (name, acked[i][name], value)


def test_table_changes_survive_sigkill(durable_server):
    # Acknowledged control-plane changes are durable too: a created table exists after a crash,
    # a deleted one stays deleted, and so does a deleted item.
    server = durable_server()
    client = make_client(server.endpoint)
    kept, dropped = unique_table_name("fw_kept"), unique_table_name("fw_dropped")
    client.create_table(**composite_table_spec(kept))
    client.create_table(**hash_table_spec(dropped))
    wait_active(client, kept)
    wait_active(client, dropped)
    client.put_item(TableName=kept, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}})
    client.put_item(TableName=kept, Item={"pk": {"S": "a"}, "sk": {"S": "2"}, "v": {"N": "2"}})
    client.delete_item(TableName=kept, Key={"pk": {"S": "a"}, "sk": {"S": "2"}})
    client.delete_table(TableName=dropped)
    table_id = client.describe_table(TableName=kept)["Table"]["TableId"]
    server.kill()

    client = make_client(durable_server().endpoint)
    assert wait_active(client, kept)["TableId"] == table_id
    # DeleteTable promised the deletion; a crash may interrupt it but not undo it.
    wait_gone(client, dropped)
    get = lambda sk: client.get_item(
        TableName=kept, Key={"pk": {"S": "a"}, "sk": {"S": sk}}, ConsistentRead=True
    )
    assert get("1")["Item"]["v"] == {"N": "1"}
    assert "Item" not in get("2")


def test_clean_restart_keeps_tables_and_items(durable_server):
    # SIGTERM is an orderly shutdown: the process exits 0 promptly, and a restart on the same
    # directory serves the same tables (identity and settings) and items of every type.
    server = durable_server()
    client = make_client(server.endpoint)
    name = unique_table_name("fw_restart")
    spec = composite_table_spec(name, sort_type="N")
    spec["BillingMode"] = "PROVISIONED"
    spec["ProvisionedThroughput"] = {"ReadCapacityUnits": 4, "WriteCapacityUnits": 2}
    spec["DeletionProtectionEnabled"] = True
    client.create_table(**spec)
    before = wait_active(client, name)
    items = [
        {
            "pk": {"S": "p"},
            "sk": {"N": str(i)},
            "s": {"S": "x" * i},
            "b": {"B": bytes([i % 256]) * 3},
            "m": {"M": {"l": {"L": [{"N": str(i)}, {"BOOL": i % 2 == 0}, {"NULL": True}]}}},
            "ss": {"SS": [f"m{i}", "shared"]},
        }
        for i in range(50)
    ]
    for item in items:
        client.put_item(TableName=name, Item=item)

    assert server.terminate(timeout=10) == 0, server.log_tail()

    client = make_client(durable_server().endpoint)
    after = wait_active(client, name)
    for field in ("TableId", "TableArn", "KeySchema", "CreationDateTime", "DeletionProtectionEnabled"):
        assert after[field] == before[field], field
    assert after["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
    assert after["ProvisionedThroughput"]["WriteCapacityUnits"] == 2
    for item in items:
        key = {"pk": item["pk"], "sk": item["sk"]}
        got = client.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]
        got["ss"]["SS"] = sorted(got["ss"]["SS"])
        assert got == {**item, "ss": {"SS": sorted(item["ss"]["SS"])}}
