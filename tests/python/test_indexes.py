"""Local and global secondary indexes: definition and its validation, Query and Scan on an index
(projections, sparse indexes, ordering, paging with base and index keys), index maintenance on
every kind of write, online creation and deletion of a global index, ItemCollectionMetrics, and
indexes surviving a restart.
"""

import time

import pytest

import support
from support import assert_error, unique_table_name

S = "S"


def attr(name, kind=S):
    return {"AttributeName": name, "AttributeType": kind}


def key(*names):
    return [{"AttributeName": n, "KeyType": k} for n, k in zip(names, ("HASH", "RANGE"))]


def gsi(name, *names, projection="ALL", include=None):
    p = {"ProjectionType": projection}
    if include is not None:
        p["NonKeyAttributes"] = include
    return {"IndexName": name, "KeySchema": key(*names), "Projection": p}


def orders_spec(**extra):
    """Orders keyed by customer and order id, with a GSI by status (sorted by date), a KEYS_ONLY
    GSI by region, an INCLUDE GSI by sku, and a local index by date."""
    spec = dict(
        TableName=unique_table_name(),
        KeySchema=key("customer", "order"),
        AttributeDefinitions=[attr(a) for a in ("customer", "order", "status", "date", "region", "sku")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            gsi("byStatus", "status", "date"),
            gsi("byRegion", "region", projection="KEYS_ONLY"),
            gsi("bySku", "sku", projection="INCLUDE", include=["qty"]),
        ],
        LocalSecondaryIndexes=[gsi("byDate", "customer", "date", projection="INCLUDE", include=["total"])],
    )
    spec.update(extra)
    return spec


@pytest.fixture
def orders(make_table):
    return make_table(**orders_spec())["TableName"]


def order(customer, oid, **attrs):
    item = {"customer": {"S": customer}, "order": {"S": oid}}
    for k, v in attrs.items():
        item[k] = {"N": str(v)} if isinstance(v, int) else {"S": v}
    return item


def put(ddb, table, *items):
    for item in items:
        ddb.put_item(TableName=table, Item=item)


def query_index(ddb, table, index, cond, values, **kw):
    return ddb.query(
        TableName=table,
        IndexName=index,
        KeyConditionExpression=cond,
        ExpressionAttributeValues={k: {"S": v} for k, v in values.items()},
        **kw,
    )


def ids(response):
    return [(i["customer"]["S"], i["order"]["S"]) for i in response["Items"]]


# ---------------------------------------------------------------- definition


def test_describe_table_shows_indexes(ddb, orders):
    # DescribeTable lists each index with its key schema, projection, ARN, size and count;
    # global ones also with status and throughput.
    table = ddb.describe_table(TableName=orders)["Table"]
    globals_ = {g["IndexName"]: g for g in table["GlobalSecondaryIndexes"]}
    assert set(globals_) == {"byStatus", "byRegion", "bySku"}
    status = globals_["byStatus"]
    assert status["KeySchema"] == key("status", "date")
    assert status["Projection"] == {"ProjectionType": "ALL"}
    assert status["IndexStatus"] == "ACTIVE"
    assert status["IndexArn"] == table["TableArn"] + "/index/byStatus"
    assert status["ItemCount"] == 0 and status["IndexSizeBytes"] == 0
    assert globals_["bySku"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["qty"]}
    [local] = table["LocalSecondaryIndexes"]
    assert local["IndexName"] == "byDate"
    assert local["KeySchema"] == key("customer", "date")
    assert "IndexStatus" not in local


def test_indexes_are_created_with_the_table(ddb, make_table):
    # CreateTable's answer shows the new table's global indexes CREATING along with it; once the
    # table is ACTIVE, so are they.
    created = make_table(wait=False, **orders_spec())
    assert {g["IndexStatus"] for g in created["GlobalSecondaryIndexes"]} == {"CREATING"}
    table = support.wait_active(ddb, created["TableName"])
    assert {g["IndexStatus"] for g in table["GlobalSecondaryIndexes"]} == {"ACTIVE"}


def test_index_counts_follow_writes(ddb, orders):
    # ItemCount of an index counts only items that have its key (a sparse index).
    put(
        ddb,
        orders,
        order("c1", "o1", status="open", date="2026-01-01", region="eu"),
        order("c1", "o2", status="open", date="2026-01-02"),
        order("c2", "o3", region="us"),
    )
    table = ddb.describe_table(TableName=orders)["Table"]
    counts = {g["IndexName"]: g["ItemCount"] for g in table["GlobalSecondaryIndexes"]}
    assert counts == {"byStatus": 2, "byRegion": 2, "bySku": 0}
    assert table["LocalSecondaryIndexes"][0]["ItemCount"] == 2
    assert table["GlobalSecondaryIndexes"][0]["IndexSizeBytes"] > 0


def create_error(ddb, **spec):
    spec.setdefault("TableName", unique_table_name())
    with pytest.raises(Exception) as e:
        ddb.create_table(**spec)
    return e


INVALID = "One or more parameter values were invalid: "


def test_lsi_needs_a_table_range_key(ddb):
    e = create_error(
        ddb,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk"), attr("d")],
        BillingMode="PAY_PER_REQUEST",
        LocalSecondaryIndexes=[gsi("lsi", "pk", "d")],
    )
    assert_error(
        e,
        "ValidationException",
        INVALID + "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
    )


def test_lsi_must_share_the_hash_key(ddb):
    e = create_error(
        ddb,
        KeySchema=key("pk", "sk"),
        AttributeDefinitions=[attr("pk"), attr("sk"), attr("x"), attr("d")],
        BillingMode="PAY_PER_REQUEST",
        LocalSecondaryIndexes=[gsi("lsi", "x", "d")],
    )
    assert_error(
        e,
        "ValidationException",
        INVALID
        + "Index KeySchema does not have the same leading hash key as table KeySchema for index: lsi. "
        "index hash key: x, table hash key: pk",
    )


def test_lsi_needs_a_range_key(ddb):
    e = create_error(
        ddb,
        KeySchema=key("pk", "sk"),
        AttributeDefinitions=[attr("pk"), attr("sk")],
        BillingMode="PAY_PER_REQUEST",
        LocalSecondaryIndexes=[gsi("lsi", "pk")],
    )
    assert_error(e, "ValidationException", INVALID + "Index KeySchema does not have a range key for index: lsi")


def test_duplicate_index_names(ddb):
    e = create_error(
        ddb,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk"), attr("a")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[gsi("gsi", "a"), gsi("gsi", "a")],
    )
    assert_error(e, "ValidationException", INVALID + "Duplicate index name: gsi")


def test_include_needs_non_key_attributes(ddb):
    e = create_error(
        ddb,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk"), attr("a")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[gsi("gsi", "a", projection="INCLUDE")],
    )
    assert_error(e, "ValidationException", INVALID + "ProjectionType is INCLUDE, but NonKeyAttributes is not specified")


def test_non_key_attributes_only_with_include(ddb):
    e = create_error(
        ddb,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk"), attr("a")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[gsi("gsi", "a", projection="KEYS_ONLY", include=["x"])],
    )
    assert_error(e, "ValidationException", INVALID + "ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified")


def test_index_key_must_be_defined(ddb):
    e = create_error(
        ddb,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[gsi("gsi", "a")],
    )
    assert_error(
        e,
        "ValidationException",
        INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
        "Keys: [a], AttributeDefinitions: [pk]",
    )


def test_unused_attribute_definitions_with_indexes(ddb):
    e = create_error(
        ddb,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk"), attr("a"), attr("unused")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[gsi("gsi", "a")],
    )
    assert_error(
        e,
        "ValidationException",
        INVALID + "Some AttributeDefinitions are not used. AttributeDefinitions: [pk, a, unused], keys used: [pk, a]",
    )


def test_gsi_throughput_rules(ddb):
    # A provisioned table's GSI needs its own throughput; an on-demand table's may not have one.
    e = create_error(
        ddb,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk"), attr("a")],
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        GlobalSecondaryIndexes=[gsi("gsi", "a")],
    )
    assert_error(e, "ValidationException", INVALID + "ProvisionedThroughput is not specified for index: gsi")
    spec = gsi("gsi", "a")
    spec["ProvisionedThroughput"] = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    e = create_error(
        ddb,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk"), attr("a")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[spec],
    )
    assert_error(
        e,
        "ValidationException",
        INVALID + "ProvisionedThroughput should not be specified for index: gsi when BillingMode is PAY_PER_REQUEST",
    )


def test_at_most_five_local_indexes(ddb):
    names = [f"d{i}" for i in range(6)]
    e = create_error(
        ddb,
        KeySchema=key("pk", "sk"),
        AttributeDefinitions=[attr("pk"), attr("sk")] + [attr(n) for n in names],
        BillingMode="PAY_PER_REQUEST",
        LocalSecondaryIndexes=[gsi(f"lsi{n}", "pk", n) for n in names],
    )
    assert_error(e, "ValidationException", INVALID + "Number of LocalSecondaryIndexes exceeds per-table limit of 5")


def test_empty_index_lists(ddb_raw):
    e = create_error(
        ddb_raw,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[],
    )
    assert_error(e, "ValidationException", INVALID + "List of GlobalSecondaryIndexes is empty")


def test_index_member_constraints(ddb_raw):
    # Missing index members are reported with the request-shape constraint messages.
    e = create_error(
        ddb_raw,
        KeySchema=key("pk"),
        AttributeDefinitions=[attr("pk")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": key("pk")}],
    )
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value null at 'globalSecondaryIndexes.1.member.projection' "
        "failed to satisfy constraint: Member must not be null",
    )


# ---------------------------------------------------------------- reads


def test_query_gsi_sorted_by_its_range_key(ddb, orders):
    put(
        ddb,
        orders,
        order("c1", "o1", status="open", date="2026-03-01"),
        order("c2", "o2", status="open", date="2026-01-01"),
        order("c3", "o3", status="shipped", date="2026-02-01"),
        order("c4", "o4", status="open", date="2026-02-01"),
    )
    r = query_index(ddb, orders, "byStatus", "#s = :s", {":s": "open"}, ExpressionAttributeNames={"#s": "status"})
    assert ids(r) == [("c2", "o2"), ("c4", "o4"), ("c1", "o1")]
    r = query_index(
        ddb,
        orders,
        "byStatus",
        "#s = :s AND #d >= :d",
        {":s": "open", ":d": "2026-02-01"},
        ExpressionAttributeNames={"#s": "status", "#d": "date"},
        ScanIndexForward=False,
    )
    assert ids(r) == [("c1", "o1"), ("c4", "o4")]


def test_sort_key_conditions_on_an_index(ddb, orders):
    # Every sort-key operator selects index entries by their index sort key, even when many
    # entries share it.
    dates = ["2026-01-01", "2026-01-02", "2026-01-02", "2026-01-03"]
    for i, d in enumerate(dates):
        put(ddb, orders, order(f"c{i}", f"o{i}", status="open", date=d))
    names = {"#s": "status", "#d": "date"}

    def count(cond, **values):
        values[":s"] = "open"
        return query_index(ddb, orders, "byStatus", "#s = :s AND " + cond, values, ExpressionAttributeNames=names)[
            "Count"
        ]

    assert count("#d = :d", **{":d": "2026-01-02"}) == 2
    assert count("#d < :d", **{":d": "2026-01-02"}) == 1
    assert count("#d <= :d", **{":d": "2026-01-02"}) == 3
    assert count("#d > :d", **{":d": "2026-01-02"}) == 1
    assert count("#d >= :d", **{":d": "2026-01-02"}) == 3
    assert count("#d BETWEEN :a AND :b", **{":a": "2026-01-02", ":b": "2026-01-02"}) == 2
    assert count("begins_with(#d, :p)", **{":p": "2026-01-0"}) == 4


def test_sparse_index_has_only_items_with_its_key(ddb, orders):
    put(ddb, orders, order("c1", "o1", region="eu"), order("c1", "o2"), order("c2", "o3", region="eu"))
    r = ddb.scan(TableName=orders, IndexName="byRegion")
    assert sorted(ids(r)) == [("c1", "o1"), ("c2", "o3")]


def test_projections(ddb, orders):
    # KEYS_ONLY holds the table and index keys; INCLUDE adds the named attributes; ALL holds all.
    item = order("c1", "o1", status="open", date="2026-01-01", region="eu", sku="s1", qty=3, note="n")
    put(ddb, orders, item)
    r = query_index(ddb, orders, "byRegion", "#r = :r", {":r": "eu"}, ExpressionAttributeNames={"#r": "region"})
    assert r["Items"] == [{k: item[k] for k in ("customer", "order", "region")}]
    r = query_index(ddb, orders, "bySku", "sku = :s", {":s": "s1"})
    assert r["Items"] == [{k: item[k] for k in ("customer", "order", "sku", "qty")}]
    r = query_index(ddb, orders, "byStatus", "#s = :s", {":s": "open"}, ExpressionAttributeNames={"#s": "status"})
    assert r["Items"] == [item]


def test_gsi_rejects_consistent_read(ddb, orders):
    with pytest.raises(Exception) as e:
        query_index(ddb, orders, "byRegion", "#r = :r", {":r": "eu"}, ExpressionAttributeNames={"#r": "region"}, ConsistentRead=True)
    assert_error(e, "ValidationException", "Consistent reads are not supported on global secondary indexes")


def test_lsi_allows_consistent_read(ddb, orders):
    put(ddb, orders, order("c1", "o1", date="2026-01-01"))
    r = query_index(ddb, orders, "byDate", "customer = :c", {":c": "c1"}, ConsistentRead=True)
    assert r["Count"] == 1


def test_unknown_index(ddb, orders):
    with pytest.raises(Exception) as e:
        query_index(ddb, orders, "nope", "a = :a", {":a": "x"})
    assert_error(e, "ValidationException", "The table does not have the specified index: nope")
    with pytest.raises(Exception) as e:
        ddb.scan(TableName=orders, IndexName="nope")
    assert_error(e, "ValidationException", "The table does not have the specified index: nope")


def test_gsi_select_all_attributes_needs_all_projection(ddb, orders):
    with pytest.raises(Exception) as e:
        query_index(ddb, orders, "byRegion", "#r = :r", {":r": "eu"}, ExpressionAttributeNames={"#r": "region"}, Select="ALL_ATTRIBUTES")
    assert_error(
        e,
        "ValidationException",
        INVALID + "Select type ALL_ATTRIBUTES is not supported for global secondary index byRegion "
        "because its projection type is not ALL",
    )


def test_lsi_fetches_attributes_it_does_not_hold(ddb, orders):
    # A local index reads the table for attributes outside its projection, as DynamoDB does.
    item = order("c1", "o1", date="2026-01-01", total=5, note="hello")
    put(ddb, orders, item)
    r = query_index(ddb, orders, "byDate", "customer = :c", {":c": "c1"})
    assert r["Items"] == [{k: item[k] for k in ("customer", "order", "date", "total")}]
    r = query_index(ddb, orders, "byDate", "customer = :c", {":c": "c1"}, Select="ALL_ATTRIBUTES")
    assert r["Items"] == [item]
    r = query_index(ddb, orders, "byDate", "customer = :c", {":c": "c1"}, ProjectionExpression="note")
    assert r["Items"] == [{"note": {"S": "hello"}}]


def test_query_filter_may_not_use_index_keys(ddb, orders):
    with pytest.raises(Exception) as e:
        query_index(
            ddb,
            orders,
            "byStatus",
            "#s = :s",
            {":s": "open", ":d": "x"},
            ExpressionAttributeNames={"#s": "status", "#d": "date"},
            FilterExpression="#d = :d",
        )
    assert_error(
        e, "ValidationException", "Filter Expression can only contain non-primary key attributes: Primary key attribute: date"
    )


def test_paging_an_index_with_duplicate_keys(ddb, orders):
    # 30 items share one index key: pages of 7 return each exactly once, and LastEvaluatedKey
    # carries the table's and the index's keys.
    for i in range(30):
        put(ddb, orders, order(f"c{i % 4}", f"o{i:02}", status="open", date="2026-01-01"))
    seen = []
    start = None
    while True:
        kw = {"Limit": 7, "ExpressionAttributeNames": {"#s": "status"}}
        if start:
            kw["ExclusiveStartKey"] = start
        r = query_index(ddb, orders, "byStatus", "#s = :s", {":s": "open"}, **kw)
        seen += ids(r)
        start = r.get("LastEvaluatedKey")
        if not start:
            break
        assert set(start) == {"customer", "order", "status", "date"}
    assert sorted(seen) == sorted((f"c{i % 4}", f"o{i:02}") for i in range(30))
    assert len(seen) == 30


def test_parallel_scan_of_an_index(ddb, orders):
    for i in range(40):
        put(ddb, orders, order(f"c{i}", "o", region=f"r{i % 5}"))
    seen = []
    for segment in range(3):
        kw = {"TableName": orders, "IndexName": "byRegion", "Segment": segment, "TotalSegments": 3}
        while True:
            r = ddb.scan(**kw)
            seen += ids(r)
            if "LastEvaluatedKey" not in r:
                break
            kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]
    assert sorted(seen) == sorted((f"c{i}", "o") for i in range(40))


# ---------------------------------------------------------------- maintenance


def status_ids(ddb, table, status):
    r = query_index(ddb, table, "byStatus", "#s = :s", {":s": status}, ExpressionAttributeNames={"#s": "status"})
    return ids(r)


def test_updates_move_index_entries(ddb, orders):
    put(ddb, orders, order("c1", "o1", status="open", date="2026-01-01"))
    ddb.update_item(
        TableName=orders,
        Key={"customer": {"S": "c1"}, "order": {"S": "o1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "shipped"}},
    )
    assert status_ids(ddb, orders, "open") == []
    assert status_ids(ddb, orders, "shipped") == [("c1", "o1")]
    ddb.update_item(
        TableName=orders,
        Key={"customer": {"S": "c1"}, "order": {"S": "o1"}},
        UpdateExpression="REMOVE #d",
        ExpressionAttributeNames={"#d": "date"},
    )
    assert status_ids(ddb, orders, "shipped") == []
    ddb.update_item(
        TableName=orders,
        Key={"customer": {"S": "c1"}, "order": {"S": "o1"}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "date"},
        ExpressionAttributeValues={":d": {"S": "2026-05-05"}},
    )
    assert status_ids(ddb, orders, "shipped") == [("c1", "o1")]
    ddb.delete_item(TableName=orders, Key={"customer": {"S": "c1"}, "order": {"S": "o1"}})
    assert status_ids(ddb, orders, "shipped") == []
    counts = {g["IndexName"]: g["ItemCount"] for g in ddb.describe_table(TableName=orders)["Table"]["GlobalSecondaryIndexes"]}
    assert counts["byStatus"] == 0


def test_batch_and_transaction_writes_maintain_indexes(ddb, orders):
    ddb.batch_write_item(
        RequestItems={
            orders: [
                {"PutRequest": {"Item": order("c1", "o1", status="open", date="d1")}},
                {"PutRequest": {"Item": order("c1", "o2", status="open", date="d2")}},
            ]
        }
    )
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": orders, "Item": order("c2", "o3", status="open", date="d3")}},
            {"Delete": {"TableName": orders, "Key": {"customer": {"S": "c1"}, "order": {"S": "o1"}}}},
        ]
    )
    assert status_ids(ddb, orders, "open") == [("c1", "o2"), ("c2", "o3")]


def test_failed_condition_leaves_indexes_alone(ddb, orders):
    put(ddb, orders, order("c1", "o1", status="open", date="d1"))
    with pytest.raises(Exception) as e:
        ddb.put_item(
            TableName=orders,
            Item=order("c1", "o1", status="closed", date="d1"),
            ConditionExpression="attribute_not_exists(customer)",
        )
    assert_error(e, "ConditionalCheckFailedException")
    assert status_ids(ddb, orders, "open") == [("c1", "o1")]
    assert status_ids(ddb, orders, "closed") == []


def test_index_key_of_the_wrong_type_is_rejected(ddb, orders):
    with pytest.raises(Exception) as e:
        ddb.put_item(TableName=orders, Item={**order("c1", "o1"), "status": {"N": "1"}})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Type mismatch for Index Key status Expected: S Actual: N IndexName: byStatus",
    )
    put(ddb, orders, order("c1", "o1"))
    with pytest.raises(Exception) as e:
        ddb.update_item(
            TableName=orders,
            Key={"customer": {"S": "c1"}, "order": {"S": "o1"}},
            UpdateExpression="SET sku = :n",
            ExpressionAttributeValues={":n": {"N": "5"}},
        )
    assert_error(e, "ValidationException", INVALID + "Type mismatch for Index Key sku Expected: S Actual: N IndexName: bySku")
    assert "sku" not in ddb.get_item(TableName=orders, Key={"customer": {"S": "c1"}, "order": {"S": "o1"}})["Item"]


def test_a_batch_with_one_bad_index_key_writes_nothing(ddb, orders):
    # BatchWriteItem validates every request before writing any: one put whose index key has the
    # wrong type fails the call, and the valid put beside it is not written either.
    with pytest.raises(Exception) as e:
        ddb.batch_write_item(
            RequestItems={
                orders: [
                    {"PutRequest": {"Item": order("c1", "good", status="open", date="d")}},
                    {"PutRequest": {"Item": {**order("c1", "bad"), "status": {"N": "1"}}}},
                ]
            }
        )
    assert_error(e, "ValidationException", INVALID + "Type mismatch for Index Key status Expected: S Actual: N IndexName: byStatus")
    assert "Item" not in ddb.get_item(TableName=orders, Key={"customer": {"S": "c1"}, "order": {"S": "good"}})


def test_empty_string_index_key_is_rejected(ddb, orders):
    with pytest.raises(Exception) as e:
        ddb.put_item(TableName=orders, Item={**order("c1", "o1"), "region": {"S": ""}})
    assert_error(
        e,
        "ValidationException",
        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. "
        "The AttributeValue for a key attribute cannot contain an empty string value. IndexName: byRegion, IndexKey: region",
    )


def test_item_collection_metrics_on_a_table_with_local_indexes(ddb, orders):
    r = ddb.put_item(
        TableName=orders, Item=order("c9", "o1", date="d", total=1), ReturnItemCollectionMetrics="SIZE"
    )
    metrics = r["ItemCollectionMetrics"]
    assert metrics["ItemCollectionKey"] == {"customer": {"S": "c9"}}
    low, high = metrics["SizeEstimateRangeGB"]
    assert low == 0 and high == 1


def test_no_item_collection_metrics_without_local_indexes(ddb, table):
    r = ddb.put_item(TableName=table, Item={"pk": {"S": "a"}}, ReturnItemCollectionMetrics="SIZE")
    assert "ItemCollectionMetrics" not in r


# ---------------------------------------------------------------- online index changes


def wait_index(ddb, table, name, status, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        globals_ = ddb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        found = [g for g in globals_ if g["IndexName"] == name]
        current = found[0]["IndexStatus"] if found else None
        if current == status:
            return found[0] if found else None
        assert time.monotonic() < deadline, f"index {name} is {current}"
        time.sleep(0.05)


def test_create_and_delete_a_gsi_online(ddb, table):
    for i in range(50):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "color": {"S": ["red", "blue"][i % 2]}})
    r = ddb.update_table(
        TableName=table,
        AttributeDefinitions=[attr("color")],
        GlobalSecondaryIndexUpdates=[{"Create": gsi("byColor", "color", projection="KEYS_ONLY")}],
    )
    created = r["TableDescription"]["GlobalSecondaryIndexes"][0]
    assert created["IndexStatus"] == "CREATING"
    assert created["Backfilling"] is True
    active = wait_index(ddb, table, "byColor", "ACTIVE")
    assert active["ItemCount"] == 50
    assert "Backfilling" not in active
    r = ddb.query(
        TableName=table,
        IndexName="byColor",
        KeyConditionExpression="color = :c",
        ExpressionAttributeValues={":c": {"S": "red"}},
    )
    assert r["Count"] == 25
    ddb.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "byColor"}}])
    wait_index(ddb, table, "byColor", None)
    with pytest.raises(Exception) as e:
        ddb.query(
            TableName=table,
            IndexName="byColor",
            KeyConditionExpression="color = :c",
            ExpressionAttributeValues={":c": {"S": "red"}},
        )
    assert_error(e, "ValidationException", "The table does not have the specified index: byColor")


def test_create_gsi_needs_its_attribute_definitions(ddb, table):
    with pytest.raises(Exception) as e:
        ddb.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Create": gsi("gsi", "color")}])
    assert_error(
        e,
        "ValidationException",
        INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
        "Keys: [color], AttributeDefinitions: [pk]",
    )


def test_delete_missing_gsi(ddb, table):
    with pytest.raises(Exception) as e:
        ddb.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "nope"}}])
    assert_error(e, "ResourceNotFoundException", "Requested resource not found: Index: nope not found")


def test_only_one_index_change_at_a_time(ddb, table):
    with pytest.raises(Exception) as e:
        ddb.update_table(
            TableName=table,
            AttributeDefinitions=[attr("a"), attr("b")],
            GlobalSecondaryIndexUpdates=[{"Create": gsi("gsa", "a")}, {"Create": gsi("gsb", "b")}],
        )
    assert_error(
        e,
        "LimitExceededException",
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
    )


# ---------------------------------------------------------------- durability


def test_indexes_survive_a_crash(tmp_path):
    # Index entries are written in the same atomic batch as their items: after kill -9 and a
    # restart, the index holds exactly what the table holds.
    server = support.Server(data_dir=tmp_path).start()
    try:
        ddb = support.make_client(server.endpoint)
        spec = orders_spec()
        name = spec["TableName"]
        ddb.create_table(**spec)
        for i in range(40):
            ddb.put_item(TableName=name, Item=order(f"c{i % 3}", f"o{i}", status=["open", "done"][i % 2], date=f"d{i:02}"))
        server.kill()
        server = support.Server(data_dir=tmp_path, port=server.port).start()
        ddb = support.make_client(server.endpoint)
        opened = status_ids(ddb, name, "open")
        assert sorted(opened) == sorted((f"c{i % 3}", f"o{i}") for i in range(40) if i % 2 == 0)
        table = ddb.describe_table(TableName=name)["Table"]
        counts = {g["IndexName"]: g["ItemCount"] for g in table["GlobalSecondaryIndexes"]}
        assert counts["byStatus"] == 40
        assert table["LocalSecondaryIndexes"][0]["ItemCount"] == 40
    finally:
        server.stop()
