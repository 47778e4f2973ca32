"""No DynamoDB-valid name or size may break storage, a background task, or start-up.

Each test runs its own Flywheel on a data directory and restarts it there: the failures this
guards against (issue 13) showed only as a server that could never start again, or as background
work that silently stopped. What the tests assert is DynamoDB's behaviour: index names of up to
255 characters work, and an item whose index key is over 2048 (partition) or 1024 (sort) bytes is
left out of the index by a backfill ("index key violation") and refused by later writes.
"""

import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from support import (
    assert_error,
    external_endpoint,
    make_client,
    unique_table_name,
    wait_active,
)

pytestmark = pytest.mark.durability

INVALID = "One or more parameter values were invalid: "
LONGEST_NAME = 255


def restart(start, server):
    assert server.terminate() == 0, server.log_tail()
    return start()


def long_name(prefix):
    # Index names may use letters, digits, '_', '-' and '.', up to 255 characters.
    return (prefix + "-" + "x" * LONGEST_NAME)[:LONGEST_NAME]


def attr(name, kind="S"):
    return {"AttributeName": name, "AttributeType": kind}


def keys(*names):
    return [{"AttributeName": n, "KeyType": t} for n, t in zip(names, ["HASH", "RANGE"])]


def wait_index(ddb, table, name, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        found = [
            g
            for g in ddb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
            if g["IndexName"] == name
        ]
        if found and found[0]["IndexStatus"] == "ACTIVE":
            return found[0]
        assert time.monotonic() < deadline, f"index {name} is not ACTIVE: {found}"
        time.sleep(0.05)


def query(ddb, table, index, attribute, value):
    return ddb.query(
        TableName=table,
        IndexName=index,
        KeyConditionExpression="#k = :v",
        ExpressionAttributeNames={"#k": attribute},
        ExpressionAttributeValues={":v": {"S": value}},
    )["Items"]


def add_gsi(ddb, table, name, attribute):
    ddb.update_table(
        TableName=table,
        AttributeDefinitions=[attr(attribute)],
        GlobalSecondaryIndexUpdates=[
            {"Create": {"IndexName": name, "KeySchema": keys(attribute), "Projection": {"ProjectionType": "ALL"}}}
        ],
    )


def create_hash_table(ddb, name):
    ddb.create_table(
        TableName=name, KeySchema=keys("pk"), AttributeDefinitions=[attr("pk")], BillingMode="PAY_PER_REQUEST"
    )
    wait_active(ddb, name)


def test_index_names_of_255_characters_survive_restarts(durable_server):
    # DynamoDB allows index names of 255 characters on CreateTable (GSI and LSI) and UpdateTable.
    # Before, such a name broke a storage rule after the catalog had recorded it: the request got
    # no answer and the server could never start on its data directory again.
    server = durable_server()
    ddb = make_client(server.endpoint)
    table = unique_table_name()
    gsi, lsi, added = long_name("gsi"), long_name("lsi"), long_name("added")
    ddb.create_table(
        TableName=table,
        KeySchema=keys("pk", "sk"),
        AttributeDefinitions=[attr("pk"), attr("sk"), attr("color"), attr("size")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": gsi, "KeySchema": keys("color"), "Projection": {"ProjectionType": "ALL"}}
        ],
        LocalSecondaryIndexes=[
            {"IndexName": lsi, "KeySchema": keys("pk", "size"), "Projection": {"ProjectionType": "ALL"}}
        ],
    )
    wait_active(ddb, table)
    item = {"pk": {"S": "a"}, "sk": {"S": "1"}, "color": {"S": "red"}, "size": {"S": "L"}, "shape": {"S": "round"}}
    ddb.put_item(TableName=table, Item=item)
    add_gsi(ddb, table, added, "shape")
    assert wait_index(ddb, table, added)["ItemCount"] == 1
    for restarts in (1, 2):
        server = restart(durable_server, server)
        ddb = make_client(server.endpoint)
        described = ddb.describe_table(TableName=table)["Table"]
        assert sorted(g["IndexName"] for g in described["GlobalSecondaryIndexes"]) == sorted([gsi, added])
        assert [l["IndexName"] for l in described["LocalSecondaryIndexes"]] == [lsi]
        # Each start finds what was written before it, in all three indexes.
        for index, attribute, value in ((gsi, "color", "red"), (lsi, "pk", "a"), (added, "shape", "round")):
            assert sorted(i["sk"]["S"] for i in query(ddb, table, index, attribute, value)) == [
                str(n) for n in range(1, restarts + 1)
            ]
        ddb.put_item(TableName=table, Item={**item, "sk": {"S": str(restarts + 1)}})


def test_a_backfill_skips_an_oversized_index_key_and_everything_else_goes_on(durable_server):
    # An item may hold a 66 KB string, but an index key may not exceed 2048 bytes. Adding a GSI
    # on that attribute: DynamoDB's backfill leaves the item out of the index (an index key
    # violation) and completes; afterwards writes that would violate the index are refused.
    # Before, the backfill panicked in the storage engine, the maintenance task died (every
    # later backfill stayed CREATING, TTL stopped), and each restart panicked again.
    server = durable_server()
    ddb = make_client(server.endpoint)
    table, other, expiring = unique_table_name(), unique_table_name(), unique_table_name()
    for name in (table, other, expiring):
        create_hash_table(ddb, name)
    ddb.put_item(TableName=table, Item={"pk": {"S": "big"}, "tag": {"S": "t" * 66_000}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "small"}, "tag": {"S": "blue"}})
    add_gsi(ddb, table, "byTag", "tag")
    assert wait_index(ddb, table, "byTag")["ItemCount"] == 1
    assert [i["pk"]["S"] for i in ddb.scan(TableName=table, IndexName="byTag")["Items"]] == ["small"]
    metrics = urllib.request.urlopen(server.admin_endpoint + "/metrics").read().decode()
    assert any(
        line.startswith("flywheel_index_key_violations{") and 'index="byTag"' in line and line.endswith(" 1")
        for line in metrics.splitlines()
    ), metrics

    # A later write of an oversized index key is refused, naming the key, its size and the index;
    # 2048 bytes is accepted.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "new"}, "tag": {"S": "t" * 2049}})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Size limit exceeded for Index Key tag Actual Size: 2049 bytes Max Size: 2048 bytes IndexName: byTag",
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "new"}, "tag": {"S": "t" * 2048}})
    # The skipped item itself can still be read and deleted.
    assert len(ddb.get_item(TableName=table, Key={"pk": {"S": "big"}})["Item"]["tag"]["S"]) == 66_000
    ddb.delete_item(TableName=table, Key={"pk": {"S": "big"}})

    # The maintenance task lives on: a backfill on another table completes, and TTL expires items.
    ddb.put_item(TableName=other, Item={"pk": {"S": "o"}, "tag": {"S": "green"}})
    add_gsi(ddb, other, "byTag", "tag")
    assert wait_index(ddb, other, "byTag")["ItemCount"] == 1
    ddb.update_time_to_live(TableName=expiring, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    ddb.put_item(TableName=expiring, Item={"pk": {"S": "gone"}, "exp": {"N": str(int(time.time()) - 60)}})
    deadline = time.monotonic() + 30
    while "Item" in ddb.get_item(TableName=expiring, Key={"pk": {"S": "gone"}}):
        assert time.monotonic() < deadline, "TTL did not expire the item"
        time.sleep(0.1)

    server = restart(durable_server, server)
    ddb = make_client(server.endpoint)
    assert wait_index(ddb, table, "byTag")["ItemCount"] == 2
    assert sorted(i["pk"]["S"] for i in ddb.scan(TableName=table, IndexName="byTag")["Items"]) == ["new", "small"]
    assert query(ddb, other, "byTag", "tag", "green")[0]["pk"]["S"] == "o"


def test_readyz_and_metrics_report_contained_failures(durable_server):
    # A healthy server reports nothing quarantined and no panics, and is ready.
    server = durable_server()
    ready = urllib.request.urlopen(server.admin_endpoint + "/readyz").read().decode()
    assert ready == "ready\n"
    metrics = urllib.request.urlopen(server.admin_endpoint + "/metrics").read().decode()
    assert "flywheel_quarantined_tables 0" in metrics
    assert "flywheel_request_panics_total 0" in metrics


def test_writes_of_oversized_index_keys_name_the_key_and_index(ddb, make_table):
    # Every write path refuses an index key over DynamoDB's limits before anything is stored: a
    # GSI partition key over 2048 bytes, an LSI sort key over 1024 bytes, through PutItem,
    # UpdateItem and BatchWriteItem alike, with the size in UTF-8 bytes. (The GSI message is
    # DynamoDB's as reported by its users; the LSI one is assumed to follow the same pattern.)
    table = make_table(
        KeySchema=keys("pk", "sk"),
        AttributeDefinitions=[attr("pk"), attr("sk"), attr("tag"), attr("rank")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{"IndexName": "byTag", "KeySchema": keys("tag"), "Projection": {"ProjectionType": "ALL"}}],
        LocalSecondaryIndexes=[
            {"IndexName": "byRank", "KeySchema": keys("pk", "rank"), "Projection": {"ProjectionType": "KEYS_ONLY"}}
        ],
    )["TableName"]
    key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
    gsi_error = INVALID + "Size limit exceeded for Index Key tag Actual Size: 2050 bytes Max Size: 2048 bytes IndexName: byTag"
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={**key, "tag": {"S": "é" * 1025}})
    assert_error(e, "ValidationException", gsi_error)
    with pytest.raises(ClientError) as e:
        ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET tag = :t",
            ExpressionAttributeValues={":t": {"S": "é" * 1025}},
        )
    assert_error(e, "ValidationException", gsi_error)
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {**key, "rank": {"S": "r" * 1025}}}}]})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Size limit exceeded for Index Key rank Actual Size: 1025 bytes Max Size: 1024 bytes IndexName: byRank",
    )
    assert "Item" not in ddb.get_item(TableName=table, Key=key)
    ddb.put_item(TableName=table, Item={**key, "tag": {"S": "t" * 2048}, "rank": {"S": "r" * 1024}})
    assert len(ddb.query(TableName=table, IndexName="byRank", KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": {"S": "a"}})["Items"]) == 1


@pytest.mark.parametrize("region_length", [65, 70_000])
def test_a_region_too_long_to_be_a_namespace_is_refused(endpoint, ddb, region_length):
    # Tables are namespaced by the credential scope's region, and the region is part of the
    # table's catalog key. A region of 70,000 characters (botocore would not send one; a raw
    # client can) must be refused as a bad signature scope, not become a key storage refuses.
    import json
    import urllib.error

    if external_endpoint():
        pytest.skip("Flywheel's own bound on region names")
    region = "r" * region_length
    request = urllib.request.Request(
        endpoint,
        data=json.dumps(
            {
                "TableName": unique_table_name(),
                "KeySchema": keys("pk"),
                "AttributeDefinitions": [attr("pk")],
                "BillingMode": "PAY_PER_REQUEST",
            }
        ).encode(),
        method="POST",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.CreateTable",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKID/20260101/{region}/dynamodb/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 400
    assert json.loads(e.value.read())["__type"].endswith("InvalidSignatureException")
    ddb.list_tables()
