"""Scan: whole-table reads, Limit paging, FilterExpression, parallel scan with Segment and
TotalSegments, their validation, the legacy ScanFilter, Select, and the 1 MB page.

Sources for the messages: the DynamoDB API Reference (Scan), dynalite's validations/scan.js and
test/scan.js (written against live DynamoDB), moto's aws_verified Select tests, and issue threads
quoting live responses; each test names the one it relies on."""

import pytest
from botocore.exceptions import ClientError

from support import assert_error, composite_table_spec, unique_table_name

KB = 1024


def scan_all(ddb, **kwargs):
    """Every page of a Scan, following LastEvaluatedKey by hand; returns the list of pages."""
    pages = []
    while True:
        page = ddb.scan(**kwargs)
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        assert len(pages) < 10000, "paging does not terminate"


def keys_of(items):
    return [(i["pk"]["S"], i["sk"]["N"]) if "sk" in i else i["pk"]["S"] for i in items]


@pytest.fixture
def hundred(ddb, table):
    """A hash-keyed table of 100 items pk = k00..k99 with n = their number."""
    for i in range(100):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i:02}"}, "n": {"N": str(i)}})
    return table


@pytest.fixture
def grouped(ddb, make_table):
    """A composite table (sk is N): 12 partition keys of 10 items each."""
    name = make_table(**composite_table_spec(unique_table_name(), sort_type="N"))["TableName"]
    for p in range(12):
        for s in [7, 3, 9, 0, 5, 1, 8, 2, 6, 4]:
            ddb.put_item(TableName=name, Item={"pk": {"S": f"p{p}"}, "sk": {"N": str(s)}})
    return name


ALL_HUNDRED = sorted(f"k{i:02}" for i in range(100))


# ---- Whole table, Limit paging -----------------------------------------------------------------


def test_scan_returns_every_item(ddb, hundred):
    # A Scan without Limit over a small table returns every item on one page.
    response = ddb.scan(TableName=hundred, ConsistentRead=True)
    assert sorted(keys_of(response["Items"])) == ALL_HUNDRED
    assert response["Count"] == response["ScannedCount"] == 100
    assert "LastEvaluatedKey" not in response


def test_scan_of_an_empty_table(ddb, table):
    # An empty table scans to an empty page with no LastEvaluatedKey.
    response = ddb.scan(TableName=table)
    assert response["Items"] == []
    assert response["Count"] == 0
    assert "LastEvaluatedKey" not in response


def test_limit_paging_returns_every_item_once(ddb, hundred):
    # Limit pages: each page holds at most Limit items, LastEvaluatedKey is the key of its last
    # item, and following it visits every item exactly once.
    pages = scan_all(ddb, TableName=hundred, Limit=7)
    seen = [k for p in pages for k in keys_of(p["Items"])]
    assert sorted(seen) == ALL_HUNDRED
    assert all(p["Count"] <= 7 for p in pages)
    for p in pages[:-1]:
        assert p["Count"] == 7
        assert p["LastEvaluatedKey"] == {"pk": p["Items"][-1]["pk"]}


def test_a_page_that_ends_exactly_at_the_end_still_has_last_evaluated_key(ddb, hundred):
    # Reaching Limit always yields LastEvaluatedKey; with Limit = table size the second page is
    # empty and final.
    first = ddb.scan(TableName=hundred, Limit=100)
    assert first["Count"] == 100
    assert "LastEvaluatedKey" in first
    second = ddb.scan(TableName=hundred, Limit=100, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert second["Items"] == []
    assert "LastEvaluatedKey" not in second


def test_scan_keeps_a_partition_together_in_sort_key_order(ddb, grouped):
    # Scan walks partitions one after another, each in sort-key order: the items of one
    # partition key are contiguous and ascending, with or without paging.
    for limit in [None, 4]:
        kwargs = {"Limit": limit} if limit else {}
        items = [i for p in scan_all(ddb, TableName=grouped, **kwargs) for i in p["Items"]]
        assert len(items) == 120
        order = [(i["pk"]["S"], int(i["sk"]["N"])) for i in items]
        partitions = [pk for n, (pk, _) in enumerate(order) if n == 0 or order[n - 1][0] != pk]
        assert sorted(partitions) == sorted(f"p{p}" for p in range(12)), "a partition was split"
        for pk in partitions:
            assert [s for p, s in order if p == pk] == list(range(10))


# ---- FilterExpression --------------------------------------------------------------------------


def test_filter_expression(ddb, hundred):
    # The filter drops items after they are read: Count counts survivors, ScannedCount all read.
    response = ddb.scan(TableName=hundred, FilterExpression="n < :x", ExpressionAttributeValues={":x": {"N": "10"}})
    assert sorted(keys_of(response["Items"])) == [f"k{i:02}" for i in range(10)]
    assert response["Count"] == 10
    assert response["ScannedCount"] == 100


def test_filter_may_name_key_attributes_in_a_scan(ddb, hundred):
    # Unlike Query, a Scan filter may use the primary key.
    response = ddb.scan(TableName=hundred, FilterExpression="begins_with(pk, :p)",
                        ExpressionAttributeValues={":p": {"S": "k9"}})
    assert sorted(keys_of(response["Items"])) == [f"k9{i}" for i in range(10)]


def test_filter_applies_after_limit(ddb, hundred):
    # Limit bounds items read; a filter that matches nothing yields empty pages that still carry
    # LastEvaluatedKey until the table is exhausted.
    pages = scan_all(ddb, TableName=hundred, Limit=25, FilterExpression="n > :x",
                     ExpressionAttributeValues={":x": {"N": "1000"}})
    assert len(pages) == 5
    for p in pages[:4]:
        assert p["Items"] == [] and p["Count"] == 0 and p["ScannedCount"] == 25
        assert "LastEvaluatedKey" in p
    assert sum(p["ScannedCount"] for p in pages) == 100


def test_select_count_and_projection(ddb, hundred):
    # Select=COUNT returns no Items; ProjectionExpression returns only the named attributes.
    counted = ddb.scan(TableName=hundred, Select="COUNT")
    assert "Items" not in counted and counted["Count"] == 100
    projected = ddb.scan(TableName=hundred, ProjectionExpression="n")
    assert sorted(int(i["n"]["N"]) for i in projected["Items"]) == list(range(100))
    assert all(set(i) == {"n"} for i in projected["Items"])


def test_legacy_scan_filter(ddb, hundred):
    # ScanFilter conditions, joined by ConditionalOperator, with AttributesToGet.
    response = ddb.scan(
        TableName=hundred,
        ScanFilter={
            "n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "10"}, {"N": "12"}]},
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "k50"}]},
        },
        ConditionalOperator="OR",
        AttributesToGet=["pk"],
    )
    assert sorted(keys_of(response["Items"])) == ["k10", "k11", "k12", "k50"]
    assert all(set(i) == {"pk"} for i in response["Items"])
    both = ddb.scan(
        TableName=hundred,
        ScanFilter={
            "n": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "95"}]},
            "pk": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "k97"}]},
        },
    )
    assert sorted(keys_of(both["Items"])) == ["k95", "k96", "k98", "k99"]


def test_legacy_scan_filter_operators(ddb, hundred):
    # IN, CONTAINS on a string, NOT_NULL and NULL behave as documented for ScanFilter.
    def run(filters):
        return sorted(keys_of(ddb.scan(TableName=hundred, ScanFilter=filters)["Items"]))

    assert run({"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "3"}, {"N": "33"}]}}) == ["k03", "k33"]
    assert run({"pk": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "77"}]}}) == ["k77"]
    assert len(run({"n": {"ComparisonOperator": "NOT_NULL"}})) == 100
    assert run({"n": {"ComparisonOperator": "NULL"}}) == []


def test_consumed_capacity_of_a_scan(ddb, table):
    # A Scan is charged on the total size read, rounded up to 4 KB; eventually consistent halves.
    for i in range(3):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "pad": {"S": "x" * 5000}})
    strong = ddb.scan(TableName=table, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    eventual = ddb.scan(TableName=table, ReturnConsumedCapacity="TOTAL")
    assert strong["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 4.0}
    assert eventual["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 2.0}


def test_a_scan_page_stops_at_one_megabyte(ddb, table):
    # A Scan reads at most 1 MB per call: fifteen ~100 KB items take two pages.
    pad = "x" * (100 * KB)
    for i in range(15):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"big{i:02}"}, "pad": {"S": pad}})
    pages = scan_all(ddb, TableName=table)
    assert 9 <= pages[0]["Count"] <= 11
    assert "LastEvaluatedKey" in pages[0]
    assert sorted(keys_of([i for p in pages for i in p["Items"]])) == [f"big{i:02}" for i in range(15)]


# ---- Parallel scan -----------------------------------------------------------------------------


@pytest.mark.parametrize("total", [4, 7])
def test_parallel_scan_segments_are_disjoint_and_cover_the_table(ddb, hundred, total):
    # Each segment is a disjoint slice of the table; together they are every item exactly once.
    segments = []
    for segment in range(total):
        pages = scan_all(ddb, TableName=hundred, Segment=segment, TotalSegments=total)
        segments.append([k for p in pages for k in keys_of(p["Items"])])
    flat = [k for s in segments for k in s]
    assert len(flat) == len(set(flat)), "an item appeared in two segments"
    assert sorted(flat) == ALL_HUNDRED


@pytest.mark.parametrize("total", [4, 7])
def test_parallel_scan_segments_page_with_limit(ddb, grouped, total):
    # Paging inside a segment stays inside it, and a partition key belongs to one segment.
    owner = {}
    seen = []
    for segment in range(total):
        for page in scan_all(ddb, TableName=grouped, Segment=segment, TotalSegments=total, Limit=3):
            for item in page["Items"]:
                pk = item["pk"]["S"]
                assert owner.setdefault(pk, segment) == segment, f"{pk} split across segments"
                seen.append((pk, item["sk"]["N"]))
    assert sorted(seen) == sorted((f"p{p}", str(s)) for p in range(12) for s in range(10))


def test_one_segment_is_the_whole_table(ddb, hundred):
    # TotalSegments=1, Segment=0 is an ordinary scan.
    response = ddb.scan(TableName=hundred, Segment=0, TotalSegments=1)
    assert sorted(keys_of(response["Items"])) == ALL_HUNDRED


def test_segment_must_be_below_total_segments(ddb, hundred):
    # dynalite validations/scan.js (live-verified wording).
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=hundred, Segment=4, TotalSegments=4)
    assert_error(e, "ValidationException",
                 "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
                 "Segment: 4 is not less than TotalSegments: 4")


def test_segment_without_total_segments(ddb, hundred):
    # dynalite validations/scan.js.
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=hundred, Segment=0)
    assert_error(e, "ValidationException",
                 "The TotalSegments parameter is required but was not present in the request when Segment "
                 "parameter is present")


def test_total_segments_without_segment(ddb, hundred):
    # dynalite validations/scan.js.
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=hundred, TotalSegments=4)
    assert_error(e, "ValidationException",
                 "The Segment parameter is required but was not present in the request when parameter "
                 "TotalSegments is present")


@pytest.mark.parametrize("field, value, constraint", [
    ("TotalSegments", 0, "greater than or equal to 1"),
    ("TotalSegments", 1000001, "less than or equal to 1000000"),
    ("Segment", -1, "greater than or equal to 0"),
])
def test_segment_ranges(ddb_raw, hundred, field, value, constraint):
    # API Reference, Scan: TotalSegments is 1..1000000 and Segment 0..999999.
    other = {"TotalSegments": 2} if field == "Segment" else {"Segment": 0}
    with pytest.raises(ClientError) as e:
        ddb_raw.scan(TableName=hundred, **{field: value}, **other)
    path = field[0].lower() + field[1:]
    assert_error(e, "ValidationException",
                 f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: "
                 f"Member must have value {constraint}")


def test_exclusive_start_key_from_another_segment(ddb, hundred):
    # A start key must lie in the segment being scanned; live DynamoDB's message is quoted by a
    # ScyllaDB maintainer in scylladb/scylladb#9270.
    segment0 = [k for p in scan_all(ddb, TableName=hundred, Segment=0, TotalSegments=2) for k in keys_of(p["Items"])]
    assert segment0, "segment 0 of 100 items is not empty"
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=hundred, Segment=1, TotalSegments=2, ExclusiveStartKey={"pk": {"S": segment0[0]}})
    assert_error(e, "ValidationException",
                 "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey "
                 "with correct Segment. TotalSegments: 2 Segment: 1")


# ---- Other refusals ----------------------------------------------------------------------------


def test_exclusive_start_key_not_matching_the_schema(ddb, hundred):
    # Scan's message carries the reason (baopham/laravel-dynamodb#200 quoting live DynamoDB).
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=hundred, ExclusiveStartKey={"nope": {"S": "x"}})
    assert_error(e, "ValidationException",
                 "The provided starting key is invalid: The provided key element does not match the schema")


def test_scan_of_a_missing_table(ddb):
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=unique_table_name())
    assert_error(e, "ResourceNotFoundException", "Requested resource not found")


def test_scan_with_a_missing_index(ddb, hundred):
    # An IndexName the table does not have.
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=hundred, IndexName="nosuch")
    assert_error(e, "ValidationException", "The table does not have the specified index: nosuch")


def test_scan_select_specific_attributes_without_projection(ddb, hundred):
    # moto's aws_verified test: Scan sends this one bare (Query wraps it); the 2026 envelope may
    # reach it.
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=hundred, Select="SPECIFIC_ATTRIBUTES")
    assert_error(e, "ValidationException",
                 "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
                 optional_envelope=True)


def test_scan_select_count_with_projection(ddb, hundred):
    # moto's aws_verified test_projection_expression_rejected_for_non_specific_select (Scan: bare).
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=hundred, Select="COUNT", ProjectionExpression="n")
    assert_error(e, "ValidationException",
                 "Cannot specify the ProjectionExpression when choosing to get only the Count", optional_envelope=True)


def test_scan_limit_must_be_positive(ddb_raw, hundred):
    # Limit has a minimum of 1.
    with pytest.raises(ClientError) as e:
        ddb_raw.scan(TableName=hundred, Limit=0)
    assert_error(e, "ValidationException",
                 "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
                 "Member must have value greater than or equal to 1")
