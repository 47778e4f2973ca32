"""Concurrent writers on one item: each UpdateItem is atomic, and a condition is checked against
the item as it is when the write applies. Sixteen threads, each with its own boto3 client (clients
are not shared across threads), hammer a single counter.

- Optimistic concurrency: `SET n = n + :one` guarded by `n = :expected`; a writer that loses the
  race gets ConditionalCheckFailedException, re-reads and tries again. Every success is exactly
  one increment, so the successes counted by the clients equal the final value.
- Unconditional `ADD n :one`: every acknowledged ADD is applied exactly once.
"""

import threading

from botocore.exceptions import ClientError

from support import make_client

THREADS = 16
ATTEMPTS_PER_THREAD = 50  # conditional attempts; 800 in all
ADDS_PER_THREAD = 50  # 800 ADDs in all
KEY = {"pk": {"S": "counter"}}


def run_threads(work):
    """Runs work(index) on THREADS threads started together; re-raises the first error."""
    errors = []
    barrier = threading.Barrier(THREADS)

    def body(index):
        try:
            barrier.wait()
            work(index)
        except BaseException as e:  # noqa: BLE001 - reported to the main thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a writer thread hung"
    if errors:
        raise errors[0]


def read_counter(client, table):
    item = client.get_item(TableName=table, Key=KEY, ConsistentRead=True)["Item"]
    return int(item["n"]["N"])


def test_conditional_increments_never_lose_an_update(ddb, endpoint, table):
    # A conditional write is checked and applied atomically: of racing writers that read the
    # same value, exactly one succeeds. So the count of successful responses is the final value.
    ddb.put_item(TableName=table, Item={**KEY, "n": {"N": "0"}})
    successes = [0] * THREADS
    failures = [0] * THREADS

    def work(index):
        client = make_client(endpoint)
        expected = read_counter(client, table)
        for _ in range(ATTEMPTS_PER_THREAD):
            try:
                client.update_item(
                    TableName=table, Key=KEY, UpdateExpression="SET n = n + :one",
                    ConditionExpression="n = :expected",
                    ExpressionAttributeValues={":one": {"N": "1"},
                                               ":expected": {"N": str(expected)}})
                successes[index] += 1
                expected += 1
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                failures[index] += 1
                expected = read_counter(client, table)

    run_threads(work)
    final = read_counter(ddb, table)
    assert sum(successes) + sum(failures) == THREADS * ATTEMPTS_PER_THREAD
    assert sum(successes) == final
    assert final >= ATTEMPTS_PER_THREAD  # someone made progress every round


def test_concurrent_adds_are_all_applied(ddb, endpoint, table):
    # ADD is an atomic read-modify-write: every acknowledged ADD shows in the final value.
    ddb.put_item(TableName=table, Item={**KEY, "n": {"N": "0"}})
    acknowledged = [0] * THREADS

    def work(index):
        client = make_client(endpoint)
        for _ in range(ADDS_PER_THREAD):
            client.update_item(TableName=table, Key=KEY, UpdateExpression="ADD n :one",
                               ExpressionAttributeValues={":one": {"N": "1"}})
            acknowledged[index] += 1

    run_threads(work)
    assert sum(acknowledged) == THREADS * ADDS_PER_THREAD
    assert read_counter(ddb, table) == sum(acknowledged)


def test_concurrent_adds_to_a_set_keep_every_member(ddb, endpoint, table):
    # ADD to a set is atomic too: each thread's distinct members all end up in the set.
    ddb.put_item(TableName=table, Item={**KEY, "s": {"SS": ["seed"]}})

    def work(index):
        client = make_client(endpoint)
        for j in range(10):
            client.update_item(TableName=table, Key=KEY, UpdateExpression="ADD s :m",
                               ExpressionAttributeValues={":m": {"SS": [f"t{index}-{j}"]}})

    run_threads(work)
    members = ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True)["Item"]["s"]["SS"]
    assert sorted(members) == sorted(["seed"] + [f"t{i}-{j}" for i in range(THREADS)
                                                 for j in range(10)])
