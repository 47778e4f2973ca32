"""Paging at scale: a 50,000-item table read completely through boto3's own paginators (Query,
Scan, parallel Scan with 4 and 7 segments). Every item must come back exactly once, Query pages
in sort-key order (both directions), and Scan must keep each partition key's items together and
in sort-key order, as DynamoDB does.

The table is loaded once per module with BatchWriteItem from 8 threads (about 75 bytes an item by
DynamoDB's size rules, 3.7 MB in all, so unlimited pages also stop at DynamoDB's 1 MB). The module
takes 17-27 s on 2 cores (6-11 s of it loading)."""

import threading
import time
from collections import Counter

import pytest

import support

HOT = ["hot0", "hot1", "hot2"]
HOT_ITEMS = 15_000  # per hot partition key: 45,000 of the 50,000 items
COLD = 5_000  # one item each under its own partition key
TOTAL = len(HOT) * HOT_ITEMS + COLD
PAD = "p" * 60
THREADS = 8


def all_items():
    for pk in HOT:
        for i in range(HOT_ITEMS):
            yield {"pk": {"S": pk}, "sk": {"N": str(i)}, "pad": {"S": PAD}}
    for i in range(COLD):
        yield {"pk": {"S": f"cold{i:05}"}, "sk": {"N": "0"}, "pad": {"S": PAD}}


def load(endpoint, table, items):
    """BatchWriteItem in 25s from one thread, resubmitting anything unprocessed."""
    client = support.make_client(endpoint)
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while request:
            request = client.batch_write_item(RequestItems=request)["UnprocessedItems"]


@pytest.fixture(scope="module")
def big_table(endpoint, ddb):
    name = support.unique_table_name("fw_50k")
    ddb.create_table(**support.composite_table_spec(name, sort_type="N"))
    support.wait_active(ddb, name)
    items = list(all_items())
    started = time.monotonic()
    threads = [threading.Thread(target=load, args=(endpoint, name, items[n::THREADS])) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"loaded {TOTAL} items in {time.monotonic() - started:.1f} s")
    try:
        yield name
    finally:
        ddb.delete_table(TableName=name)


def identity(item):
    return item["pk"]["S"], int(item["sk"]["N"])


def paged(ddb, operation, **kwargs):
    """(pages, items) from boto3's paginator for `operation`."""
    pages = list(ddb.get_paginator(operation).paginate(**kwargs))
    return pages, [item for page in pages for item in page["Items"]]


def assert_exactly_once(ids, expected):
    counts = Counter(ids)
    duplicated = [k for k, n in counts.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} items returned more than once, e.g. {duplicated[:3]}"
    missing = expected - counts.keys()
    assert not missing, f"{len(missing)} items never returned, e.g. {sorted(missing)[:3]}"
    assert len(ids) == len(expected)


def assert_partitions_together_in_order(ids):
    """Each partition key's items form one run, ascending by sort key."""
    runs = []
    for pk, sk in ids:
        if runs and runs[-1][0] == pk:
            assert sk > runs[-1][1], f"{pk}: sort key {sk} after {runs[-1][1]}"
            runs[-1][1] = sk
        else:
            runs.append([pk, sk])
    pks = [r[0] for r in runs]
    assert len(pks) == len(set(pks)), "a partition key's items were split into separate runs"


EVERYTHING = {identity(i) for i in all_items()}


def hot_ids(pk):
    return [(pk, i) for i in range(HOT_ITEMS)]


@pytest.mark.parametrize("page_size", [None, 997])
def test_query_paginator_returns_each_partition_once_in_order(ddb, big_table, page_size):
    # A hot partition of 15,000 items pages through in ascending sort-key order, each item once:
    # by the 1 MB page alone, and with Limit (PageSize) 997.
    config = {"PaginationConfig": {"PageSize": page_size}} if page_size else {}
    for pk in HOT:
        pages, items = paged(ddb, "query", TableName=big_table, KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": {"S": pk}}, **config)
        assert [identity(i) for i in items] == hot_ids(pk)
        assert len(pages) >= 2
        if page_size:
            assert all(p["Count"] == page_size for p in pages[:-1])


def test_query_paginator_backwards(ddb, big_table):
    # ScanIndexForward=false pages from the top sort key down.
    _, items = paged(ddb, "query", TableName=big_table, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "hot1"}}, ScanIndexForward=False,
                     PaginationConfig={"PageSize": 1500})
    assert [identity(i) for i in items] == hot_ids("hot1")[::-1]


def test_query_paginator_with_a_sort_key_range(ddb, big_table):
    # Paging a BETWEEN range returns exactly that range.
    _, items = paged(ddb, "query", TableName=big_table,
                     KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
                     ExpressionAttributeValues={":p": {"S": "hot2"}, ":lo": {"N": "1234"}, ":hi": {"N": "9876"}},
                     PaginationConfig={"PageSize": 500})
    assert [identity(i) for i in items] == [("hot2", i) for i in range(1234, 9877)]


def test_scan_paginator_returns_every_item_once(ddb, big_table):
    # A full Scan (1 MB pages, no Limit) returns all 50,000 items exactly once, each partition
    # key's items together and in sort-key order.
    pages, items = paged(ddb, "scan", TableName=big_table)
    ids = [identity(i) for i in items]
    assert_exactly_once(ids, EVERYTHING)
    assert_partitions_together_in_order(ids)
    assert len(pages) >= 4, "3.7 MB of items takes at least four 1 MB pages"
    assert sum(p["ScannedCount"] for p in pages) == TOTAL


@pytest.mark.parametrize("total_segments", [4, 7])
def test_parallel_scan_paginators_cover_the_table_once(ddb, big_table, total_segments):
    # Each segment paged to the end; segments are disjoint, their union is the table, and each
    # segment keeps partition keys together and in sort-key order.
    segments = []
    for segment in range(total_segments):
        _, items = paged(ddb, "scan", TableName=big_table, Segment=segment, TotalSegments=total_segments,
                         PaginationConfig={"PageSize": 2500})
        ids = [identity(i) for i in items]
        assert_partitions_together_in_order(ids)
        segments.append(ids)
    assert_exactly_once([i for s in segments for i in s], EVERYTHING)
    owners = {}
    for n, ids in enumerate(segments):
        for pk, _ in ids:
            assert owners.setdefault(pk, n) == n, f"{pk} appears in two segments"
