"""Time to live: UpdateTimeToLive, DescribeTimeToLive, and the background deletion of expired items,
with its effect on secondary indexes and on the table's stream.

DynamoDB deletes expired items within days; Flywheel, with its default flags (which the session
server runs with), within about a second, so these tests wait with a deadline for what DynamoDB
does eventually.
DynamoDB also refuses a second TTL change within about an hour, so no test changes TTL on a table
twice successfully."""

import time

import pytest
from botocore.exceptions import ClientError

import support
from support import Server, assert_error, external_endpoint, hash_table_spec, unique_table_name

# Generous next to the default one-second sweeps; DynamoDB itself takes up to two days.
SWEEP_TIMEOUT_SECONDS = 60.0
# How far in the future a "soon" expiry lies: long enough for the few requests that follow it to
# be made before it passes, short enough that a test waits for it.
SOON_SECONDS = 10
FIVE_YEARS_SECONDS = 5 * 365 * 86_400
TTL_SERVICE = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}


def enable_ttl(ddb, name, attribute="exp"):
    return ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
    )


def wait_ttl_enabled(ddb, name, timeout=60):
    """DynamoDB may report ENABLING for a while before ENABLED."""
    deadline = time.monotonic() + timeout
    while True:
        description = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if description["TimeToLiveStatus"] == "ENABLED" or time.monotonic() > deadline:
            return description
        time.sleep(0.1)


def key(pk):
    return {"pk": {"S": pk}}


def with_exp(pk, exp, **attrs):
    item = {"pk": {"S": pk}, "exp": exp}
    item.update(attrs)
    return item


def n(value):
    return {"N": str(int(value))}


def present(ddb, name, pk):
    return "Item" in ddb.get_item(TableName=name, Key=key(pk), ConsistentRead=True)


def wait_gone(ddb, name, pks, timeout=SWEEP_TIMEOUT_SECONDS):
    """Polls until none of `pks` is in the table; fails at the deadline."""
    deadline = time.monotonic() + timeout
    remaining = set(pks)
    while remaining:
        remaining = {pk for pk in remaining if present(ddb, name, pk)}
        if remaining and time.monotonic() > deadline:
            pytest.fail(f"not deleted by TTL within {timeout} s: {sorted(remaining)}")
        if remaining:
            time.sleep(0.1)


# ---- UpdateTimeToLive and DescribeTimeToLive -----------------------------------------------------


def test_describe_time_to_live_of_a_new_table_is_disabled(ddb, table):
    # A new table has TTL off, and names no attribute.
    assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"
    }


def test_enable_time_to_live(ddb, table):
    # UpdateTimeToLive answers with the specification it applied; DescribeTimeToLive then
    # reports TTL ENABLED on that attribute.
    response = enable_ttl(ddb, table, "expires_at")
    assert response["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "expires_at"}
    assert wait_ttl_enabled(ddb, table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_enabling_twice_fails(ddb, table):
    # Enabling TTL that is already enabled is refused: naming the same attribute again is
    # "already enabled"; naming another one says which attribute TTL is active on (TTL must be
    # disabled before it can move to another attribute).
    enable_ttl(ddb, table)
    with pytest.raises(ClientError) as e:
        enable_ttl(ddb, table, "exp")
    assert_error(e, "ValidationException", "TimeToLive is already enabled")
    with pytest.raises(ClientError) as e:
        enable_ttl(ddb, table, "other")
    assert_error(
        e, "ValidationException", "TimeToLive is active on a different AttributeName: current AttributeName is exp"
    )
    assert wait_ttl_enabled(ddb, table) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}


def test_disabling_when_disabled_fails(ddb, table):
    # Disabling TTL on a table that does not have it enabled is refused.
    with pytest.raises(ClientError) as e:
        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "exp"})
    assert_error(e, "ValidationException", "TimeToLive is already disabled")


def test_time_to_live_of_a_missing_table(ddb):
    # Both operations on a table that does not exist are ResourceNotFoundException.
    name = unique_table_name()
    with pytest.raises(ClientError) as e:
        ddb.describe_time_to_live(TableName=name)
    assert_error(e, "ResourceNotFoundException")
    assert support.error_of(e)[1].startswith("Requested resource not found")
    with pytest.raises(ClientError) as e:
        enable_ttl(ddb, name)
    assert_error(e, "ResourceNotFoundException")
    assert support.error_of(e)[1].startswith("Requested resource not found")


@pytest.mark.parametrize(
    "spec, message",
    [
        (None, "Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null"),
        (
            {"Enabled": True},
            "Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: "
            "Member must not be null",
        ),
        (
            {"AttributeName": "exp"},
            "Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"Enabled": True, "AttributeName": ""},
            "Value '' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1",
        ),
    ],
)
def test_update_time_to_live_missing_members(ddb_raw, table, spec, message):
    # UpdateTimeToLive needs a TimeToLiveSpecification with both Enabled and a non-empty
    # AttributeName; each missing member is a shape violation, reported before the table is
    # looked at.
    args = {"TableName": table}
    if spec is not None:
        args["TimeToLiveSpecification"] = spec
    with pytest.raises(ClientError) as e:
        ddb_raw.update_time_to_live(**args)
    assert_error(e, "ValidationException", "1 validation error detected: " + message)


def test_describe_time_to_live_needs_a_table_name(ddb_raw):
    # TableName is required.
    with pytest.raises(ClientError) as e:
        ddb_raw.describe_time_to_live()
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: "
        "Member must not be null",
    )


# ---- The sweeper --------------------------------------------------------------------------------


def test_expired_items_are_deleted_and_the_rest_stay(ddb, table):
    # An item expires when its TTL attribute is a Number of epoch seconds at or before now.
    # Items whose attribute is in the future, is not a Number (a String, a Number Set), is
    # absent, or lies more than five years in the past (DynamoDB ignores those as mistakes),
    # are never deleted.
    enable_ttl(ddb, table)
    wait_ttl_enabled(ddb, table)
    now = time.time()
    expired = {
        "past": with_exp("past", n(now - 60)),
        "just_past": with_exp("just_past", n(now - 1), other={"S": "x"}),
        "almost_five_years": with_exp("almost_five_years", n(now - FIVE_YEARS_SECONDS + 30 * 86_400)),
    }
    kept = {
        "future": with_exp("future", n(now + 3600)),
        "string": with_exp("string", {"S": str(int(now - 60))}),
        "number_set": with_exp("number_set", {"NS": [str(int(now - 60))]}),
        "absent": {"pk": {"S": "absent"}, "other": {"N": "1"}},
        "over_five_years": with_exp("over_five_years", n(now - FIVE_YEARS_SECONDS - 30 * 86_400)),
        "milliseconds": with_exp("milliseconds", n((now - 60) * 1000)),
    }
    for item in [*expired.values(), *kept.values()]:
        ddb.put_item(TableName=table, Item=item)
    wait_gone(ddb, table, expired)
    # A witness written after the first deletions is gone only once a later sweep has passed
    # over the whole table, so the items still there were looked at and kept.
    ddb.put_item(TableName=table, Item=with_exp("witness", n(time.time() - 60)))
    wait_gone(ddb, table, ["witness"])
    for pk, item in kept.items():
        got = ddb.get_item(TableName=table, Key=key(pk), ConsistentRead=True)
        assert got.get("Item") == item, pk


def test_expired_items_are_deleted_by_their_full_key(ddb, make_table):
    # Expiry is per item, not per partition: in a table with a sort key, only the expired items
    # of a partition go.
    name = unique_table_name()
    make_table(**support.composite_table_spec(name, sort_type="N"))
    now = time.time()
    for sk in range(6):
        exp = n(now - 60) if sk % 2 else n(now + 3600)
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": str(sk)}, "exp": exp})
    enable_ttl(ddb, name)
    deadline = time.monotonic() + SWEEP_TIMEOUT_SECONDS
    while True:
        items = ddb.query(TableName=name, KeyConditionExpression="pk = :p", ConsistentRead=True,
                          ExpressionAttributeValues={":p": {"S": "p"}})["Items"]
        left = [int(i["sk"]["N"]) for i in items]
        if left == [0, 2, 4] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == [0, 2, 4]


def test_renewed_item_is_not_deleted(ddb, table):
    # The sweeper decides on the item as it is when deleting: an item whose expiry was moved
    # into the future stays, while an untouched expired one goes.
    now = time.time()
    ddb.put_item(TableName=table, Item=with_exp("renewed", n(now - 60)))
    ddb.put_item(TableName=table, Item=with_exp("expired", n(now - 60)))
    ddb.update_item(TableName=table, Key=key("renewed"), UpdateExpression="SET exp = :later",
                    ExpressionAttributeValues={":later": n(now + 3600)})
    enable_ttl(ddb, table)
    wait_gone(ddb, table, ["expired"])
    assert present(ddb, table, "renewed")


def test_expired_item_stays_readable_until_deleted_and_leaves_its_index(ddb, make_table):
    # Expiry alone hides nothing: an expired item is returned by GetItem and by a Query of a
    # global secondary index until TTL deletes it; then it is gone from the table and, like any
    # deleted item, from the index. (TTL is enabled only after the reads, so they cannot race
    # the sweeper.)
    name = unique_table_name()
    spec = hash_table_spec(name)
    spec["AttributeDefinitions"].append({"AttributeName": "g", "AttributeType": "S"})
    spec["GlobalSecondaryIndexes"] = [{
        "IndexName": "by_g",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }]
    make_table(**spec)
    expired = with_exp("old", n(time.time() - 3600), g={"S": "group"})
    fresh = with_exp("new", n(time.time() + 3600), g={"S": "group"})
    ddb.put_item(TableName=name, Item=expired)
    ddb.put_item(TableName=name, Item=fresh)

    def index_pks():
        page = ddb.query(TableName=name, IndexName="by_g", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": "group"}})
        return sorted(i["pk"]["S"] for i in page["Items"])

    assert ddb.get_item(TableName=name, Key=key("old"), ConsistentRead=True)["Item"] == expired
    deadline = time.monotonic() + SWEEP_TIMEOUT_SECONDS
    while index_pks() != ["new", "old"]:  # GSIs are eventually consistent
        assert time.monotonic() < deadline, index_pks()
        time.sleep(0.1)
    enable_ttl(ddb, name)
    wait_gone(ddb, name, ["old"])
    while index_pks() != ["new"]:
        assert time.monotonic() < deadline + SWEEP_TIMEOUT_SECONDS, index_pks()
        time.sleep(0.1)
    assert ddb.get_item(TableName=name, Key=key("new"), ConsistentRead=True)["Item"] == fresh


# ---- TTL deletions in the stream ------------------------------------------------------------------


def test_ttl_deletions_are_stream_records_from_the_service(ddb, streams, make_table):
    # A TTL deletion reaches the stream as an ordinary REMOVE record (with the old image, for
    # NEW_AND_OLD_IMAGES) whose userIdentity names the DynamoDB service; a client's own writes,
    # deletions included, carry no userIdentity. That is how consumers tell them apart.
    name = unique_table_name()
    spec = hash_table_spec(name)
    spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    arn = make_table(**spec)["LatestStreamArn"]
    expired = with_exp("expired", n(time.time() - 60), v={"N": "1"})
    ddb.put_item(TableName=name, Item=expired)
    ddb.put_item(TableName=name, Item=with_exp("deleted", n(time.time() + 3600)))
    ddb.delete_item(TableName=name, Key=key("deleted"))
    enable_ttl(ddb, name)
    wait_gone(ddb, name, ["expired"])
    records = [r for shard in support.wait_for_records(streams, arn, 4).values() for r in shard]
    assert len(records) == 4
    by_key = {}
    for record in records:
        by_key.setdefault(record["dynamodb"]["Keys"]["pk"]["S"], []).append(record)
    ttl_insert, ttl_remove = by_key["expired"]
    assert ttl_insert["eventName"] == "INSERT"
    assert "userIdentity" not in ttl_insert
    assert ttl_remove["eventName"] == "REMOVE"
    assert ttl_remove["userIdentity"] == TTL_SERVICE
    assert ttl_remove["dynamodb"]["OldImage"] == expired
    assert "NewImage" not in ttl_remove["dynamodb"]
    assert ttl_remove["dynamodb"]["Keys"] == key("expired")
    assert [r["eventName"] for r in by_key["deleted"]] == ["INSERT", "REMOVE"]
    assert all("userIdentity" not in r for r in by_key["deleted"])


# ---- Expiry of items written while TTL is on, and the expiry index behind it ----------------------


def test_item_written_expired_goes_with_a_service_remove_record(ddb, streams, make_table):
    # On a table with TTL already on, an item written with an expiry in the past is deleted (on
    # the session server's default flags: within about a second), and the stream gets its
    # REMOVE record from the service.
    name = unique_table_name()
    spec = hash_table_spec(name)
    spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"}
    arn = make_table(**spec)["LatestStreamArn"]
    enable_ttl(ddb, name)
    wait_ttl_enabled(ddb, name)
    expired = with_exp("expired", n(time.time() - 60))
    ddb.put_item(TableName=name, Item=expired)
    wait_gone(ddb, name, ["expired"])
    records = [r for shard in support.wait_for_records(streams, arn, 2).values() for r in shard]
    assert [r["eventName"] for r in records] == ["INSERT", "REMOVE"]
    assert records[1]["userIdentity"] == TTL_SERVICE
    assert records[1]["dynamodb"]["OldImage"] == expired


def test_renewed_or_unset_expiry_is_not_acted_on(ddb, table):
    # Deletion follows the item as it is, not as it was: an item whose TTL attribute is moved
    # into the future, or removed, stays once its old expiry has passed. A witness with the same
    # old expiry shows that time has passed and a sweep has run.
    enable_ttl(ddb, table)
    wait_ttl_enabled(ddb, table)
    soon = n(time.time() + SOON_SECONDS)
    for pk in ["renewed", "unset", "witness"]:
        ddb.put_item(TableName=table, Item=with_exp(pk, soon))
    ddb.update_item(TableName=table, Key=key("renewed"), UpdateExpression="SET exp = :later",
                    ExpressionAttributeValues={":later": n(time.time() + 3600)})
    ddb.update_item(TableName=table, Key=key("unset"), UpdateExpression="REMOVE exp")
    wait_gone(ddb, table, ["witness"], timeout=SOON_SECONDS + SWEEP_TIMEOUT_SECONDS)
    assert present(ddb, table, "renewed")
    assert present(ddb, table, "unset")


def test_enabling_ttl_deletes_the_expired_items_already_there(ddb, table):
    # Items written before TTL was enabled are considered too: every expired one goes (more
    # than one chunk's worth, 256, here), the others stay.
    now = time.time()
    expired = [f"old{i}" for i in range(300)]
    with ddb_batch_writer(ddb, table) as put:
        for pk in expired:
            put(with_exp(pk, n(now - 60)))
        for i in range(50):
            put(with_exp(f"fresh{i}", n(now + 3600)))
    enable_ttl(ddb, table)
    deadline = time.monotonic() + SWEEP_TIMEOUT_SECONDS
    while True:
        count = ddb.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]
        if count == 50 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert count == 50
    assert present(ddb, table, "fresh0") and not present(ddb, table, "old0")


def ddb_batch_writer(ddb, table):
    """A context manager giving `put(item)`, sending BatchWriteItem requests of 25 items."""

    class Writer:
        def __enter__(self):
            self.pending = []
            return self.put

        def put(self, item):
            self.pending.append({"PutRequest": {"Item": item}})
            if len(self.pending) == 25:
                self.flush()

        def flush(self):
            while self.pending:
                out = ddb.batch_write_item(RequestItems={table: self.pending})
                self.pending = out.get("UnprocessedItems", {}).get(table, [])

        def __exit__(self, *exc):
            self.flush()

    return Writer()


def test_ttl_keeps_working_across_a_restart(tmp_path):
    # The expiry index is durable: an item written before a restart expires after it, and items
    # written after the restart expire too.
    if external_endpoint():
        pytest.skip("restarts its own server; DYNAMO_ENDPOINT is set")
    data_dir = tmp_path / "flywheel-data"
    data_dir.mkdir()
    server = Server(data_dir=data_dir).start()
    try:
        ddb = support.make_client(server.endpoint)
        name = unique_table_name()
        ddb.create_table(**hash_table_spec(name))
        support.wait_active(ddb, name)
        enable_ttl(ddb, name)
        ddb.put_item(TableName=name, Item=with_exp("before", n(time.time() + SOON_SECONDS)))
        ddb.put_item(TableName=name, Item=with_exp("kept", n(time.time() + 3600)))
        assert server.terminate() == 0
        server = Server(data_dir=data_dir).start()
        ddb = support.make_client(server.endpoint)
        assert wait_ttl_enabled(ddb, name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
        ddb.put_item(TableName=name, Item=with_exp("after", n(time.time() - 60)))
        wait_gone(ddb, name, ["after", "before"], timeout=SOON_SECONDS + SWEEP_TIMEOUT_SECONDS)
        assert present(ddb, name, "kept")
    finally:
        server.stop()
