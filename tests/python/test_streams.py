"""DynamoDB Streams: a table's StreamSpecification, the DynamoDBStreams_20120810 API (ListStreams,
DescribeStream, GetShardIterator, GetRecords), which writes produce which records, closing and
re-enabling a stream, trimming, and a KCL-style consumer that rebuilds a table from its stream.

DynamoDB publishes records asynchronously (usually within a second), so a test waits for the
records it expects with a deadline. "No record" is proven with a sentinel: a later write to the
same item, whose record must directly follow the earlier ones (order is kept per item)."""

import datetime
import random
import re
import threading
import time

import pytest
from botocore.exceptions import ClientError

import support
from support import (
    assert_error,
    composite_table_spec,
    hash_table_spec,
    read_shard,
    stream_records,
    stream_shards,
    unique_table_name,
    wait_for_records,
)

ARN_ACCOUNT = r"arn:aws:dynamodb:us-east-1:\d{12}"
STREAM_LABEL = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}"
VIEW_TYPES = ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]


def stream_table(make_table, view_type="NEW_AND_OLD_IMAGES", composite=False):
    """Creates a table with a stream of `view_type`; returns its ACTIVE description."""
    name = unique_table_name()
    spec = composite_table_spec(name) if composite else hash_table_spec(name)
    spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    return make_table(**spec)


def wait_stream_status(streams, arn, status, timeout=60):
    """DynamoDB enables and disables streams asynchronously (ENABLING, DISABLING)."""
    deadline = time.monotonic() + timeout
    while True:
        description = streams.describe_stream(StreamArn=arn)["StreamDescription"]
        if description["StreamStatus"] == status or time.monotonic() > deadline:
            return description
        time.sleep(0.1)


def flat(records_by_shard):
    return [r for records in records_by_shard.values() for r in records]


def of_key(records, pk, sk=None):
    """The records of one item, in stream order (all of an item's records are in one shard)."""
    key = {"pk": {"S": pk}} if sk is None else {"pk": {"S": pk}, "sk": {"S": sk}}
    return [r for r in records if r["dynamodb"]["Keys"] == key]


def shard_of(records_by_shard, pk):
    shards = [sid for sid, records in records_by_shard.items() if of_key(records, pk)]
    assert len(shards) == 1, f"records of {pk} in shards {shards}"
    return shards[0]


def item(pk, **attrs):
    out = {"pk": {"S": pk}}
    for name, value in attrs.items():
        out[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return out


def wait_for_key(streams, arn, pk, count, timeout=support.STREAM_WAIT_TIMEOUT_SECONDS):
    """Polls until item `pk` has at least `count` records; returns its records."""
    deadline = time.monotonic() + timeout
    while True:
        records = of_key(flat(stream_records(streams, arn)), pk)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def events(records):
    return [r["eventName"] for r in records]


# ---- The stream in the table's description, ListStreams, DescribeStream ------------------------


def test_create_table_with_stream_shows_it_in_describe_table(ddb, make_table):
    # A table created with a StreamSpecification reports it, together with the ARN and label of
    # its stream; the label is the stream's creation time, and ends the ARN.
    desc = stream_table(make_table, "NEW_IMAGE")
    name = desc["TableName"]
    assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    label = desc["LatestStreamLabel"]
    assert re.fullmatch(STREAM_LABEL, label)
    assert re.fullmatch(
        ARN_ACCOUNT + ":table/" + re.escape(name) + "/stream/" + re.escape(label),
        desc["LatestStreamArn"],
    )
    described = ddb.describe_table(TableName=name)["Table"]
    assert described["LatestStreamArn"] == desc["LatestStreamArn"]


def test_table_without_stream_has_none(ddb, streams, table):
    # A table created without a stream has no stream members, and ListStreams for it is empty.
    described = ddb.describe_table(TableName=table)["Table"]
    assert "StreamSpecification" not in described
    assert "LatestStreamArn" not in described
    assert "LatestStreamLabel" not in described
    assert streams.list_streams(TableName=table)["Streams"] == []


def test_list_streams_with_and_without_table_name(streams, make_table):
    # ListStreams names each stream's ARN, table and label; with TableName it lists only that
    # table's streams, without it every table's.
    first = stream_table(make_table)
    second = stream_table(make_table)
    listed = streams.list_streams(TableName=first["TableName"])
    assert listed["Streams"] == [
        {
            "StreamArn": first["LatestStreamArn"],
            "TableName": first["TableName"],
            "StreamLabel": first["LatestStreamLabel"],
        }
    ]
    assert "LastEvaluatedStreamArn" not in listed
    everything = []
    args = {}
    while True:
        page = streams.list_streams(**args)
        everything += page["Streams"]
        if "LastEvaluatedStreamArn" not in page:
            break
        args = {"ExclusiveStartStreamArn": page["LastEvaluatedStreamArn"]}
    arns = [s["StreamArn"] for s in everything]
    assert first["LatestStreamArn"] in arns
    assert second["LatestStreamArn"] in arns


def test_list_streams_pages_with_limit(streams, make_table):
    # Limit bounds a page; LastEvaluatedStreamArn is the page's last stream and, passed back as
    # ExclusiveStartStreamArn, continues after it: every stream is listed exactly once.
    ours = {stream_table(make_table)["LatestStreamArn"] for _ in range(3)}
    seen = []
    args = {"Limit": 1}
    while True:
        page = streams.list_streams(**args)
        assert len(page["Streams"]) <= 1
        seen += [s["StreamArn"] for s in page["Streams"]]
        if "LastEvaluatedStreamArn" not in page:
            break
        assert page["LastEvaluatedStreamArn"] == page["Streams"][-1]["StreamArn"]
        args = {"Limit": 1, "ExclusiveStartStreamArn": page["LastEvaluatedStreamArn"]}
    assert len(seen) == len(set(seen))
    assert ours <= set(seen)


def test_list_streams_limit_out_of_range(endpoint):
    # ListStreams' Limit is 1..100.
    raw = support.make_client(endpoint, validate=False, service="dynamodbstreams")
    with pytest.raises(ClientError) as e:
        raw.list_streams(Limit=0)
    assert_error(e, "ValidationException")
    with pytest.raises(ClientError) as e:
        raw.list_streams(Limit=101)
    assert_error(e, "ValidationException")


def test_describe_stream_shape(streams, make_table):
    # DescribeStream: the stream's identity and status, its view type, the table's key schema,
    # and its shards, each with an id and the sequence number it starts at; an open shard has
    # no EndingSequenceNumber. Sequence numbers are decimal digit strings.
    desc = stream_table(make_table, "OLD_IMAGE", composite=True)
    arn = desc["LatestStreamArn"]
    description = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert description["StreamArn"] == arn
    assert description["StreamLabel"] == desc["LatestStreamLabel"]
    assert description["StreamStatus"] == "ENABLED"
    assert description["StreamViewType"] == "OLD_IMAGE"
    assert description["TableName"] == desc["TableName"]
    assert description["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert isinstance(description["CreationRequestDateTime"], datetime.datetime)
    shards = description["Shards"]
    assert shards
    assert len({s["ShardId"] for s in shards}) == len(shards)
    for shard in shards:
        assert shard["ShardId"].startswith("shardId-")
        assert 28 <= len(shard["ShardId"]) <= 65
        numbers = shard["SequenceNumberRange"]
        assert numbers["StartingSequenceNumber"].isdecimal()
        assert "EndingSequenceNumber" not in numbers


def test_describe_stream_pages_shards_in_shard_id_order(streams, make_table):
    # DescribeStream lists shards in ShardId order and pages them with Limit and
    # ExclusiveStartShardId. The Kinesis adapter that KCL applications use relies on the order:
    # it continues from the greatest ShardId it has seen rather than LastEvaluatedShardId.
    arn = stream_table(make_table)["LatestStreamArn"]
    every = [s["ShardId"] for s in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]]
    assert every == sorted(every)
    paged = []
    args = {"StreamArn": arn, "Limit": 3}
    while True:
        description = streams.describe_stream(**args)["StreamDescription"]
        assert len(description["Shards"]) <= 3
        paged += [s["ShardId"] for s in description["Shards"]]
        if "LastEvaluatedShardId" not in description:
            break
        assert description["LastEvaluatedShardId"] == paged[-1]
        args["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
    assert paged == every
    # Starting after the greatest shard id lists nothing.
    after_last = streams.describe_stream(StreamArn=arn, ExclusiveStartShardId=every[-1])
    assert after_last["StreamDescription"]["Shards"] == []


# ---- Which writes make which records ------------------------------------------------------------


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_insert_modify_remove_records_per_view_type(ddb, streams, make_table, view_type):
    # A put of a new item is INSERT, an update of it MODIFY, its deletion REMOVE. Every record
    # carries the item's key; the view type decides the images: NEW_IMAGE the item after the
    # change, OLD_IMAGE before it, both for NEW_AND_OLD_IMAGES, neither for KEYS_ONLY.
    desc = stream_table(make_table, view_type, composite=True)
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    key = {"pk": {"S": "p"}, "sk": {"S": "s"}}
    v1 = {**key, "a": {"N": "1"}, "b": {"S": "x"}}
    v2 = {**key, "a": {"N": "2"}, "b": {"S": "x"}}
    before = datetime.datetime.now(datetime.timezone.utc)
    ddb.put_item(TableName=name, Item=v1)
    ddb.update_item(
        TableName=name, Key=key, UpdateExpression="SET a = :two", ExpressionAttributeValues={":two": {"N": "2"}}
    )
    ddb.delete_item(TableName=name, Key=key)
    records = of_key(flat(wait_for_records(streams, arn, 3)), "p", "s")
    assert events(records) == ["INSERT", "MODIFY", "REMOVE"]
    new = view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
    old = view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
    expected_images = [(None, v1), (v1, v2), (v2, None)]
    for record, (old_image, new_image) in zip(records, expected_images):
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventVersion"] in ("1.0", "1.1")
        assert record["awsRegion"] == "us-east-1"
        assert record["eventID"]
        assert "userIdentity" not in record  # a client's write, not TTL's
        body = record["dynamodb"]
        assert body["Keys"] == key
        assert body["StreamViewType"] == view_type
        assert isinstance(body["SizeBytes"], int) and body["SizeBytes"] > 0
        assert body["SequenceNumber"].isdecimal()
        created = body["ApproximateCreationDateTime"]
        assert abs((created - before).total_seconds()) < 120
        assert body.get("NewImage") == (new_image if new else None)
        assert body.get("OldImage") == (old_image if old else None)
    assert len({r["eventID"] for r in records}) == 3


def test_sequence_numbers_increase_within_every_shard(ddb, streams, make_table):
    # Within a shard, records come in the order the changes were made, with increasing sequence
    # numbers (compared as numbers; they are decimal strings).
    desc = stream_table(make_table, "KEYS_ONLY")
    for i in range(40):
        ddb.put_item(TableName=desc["TableName"], Item=item(f"k{i % 10}", v=i))
    by_shard = wait_for_records(streams, desc["LatestStreamArn"], 40)
    assert sum(len(r) for r in by_shard.values()) == 40
    starts = {s["ShardId"]: int(s["SequenceNumberRange"]["StartingSequenceNumber"])
              for s in stream_shards(streams, desc["LatestStreamArn"])}
    for shard_id, records in by_shard.items():
        numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        assert numbers == sorted(set(numbers))
        if numbers:
            assert numbers[0] >= starts[shard_id]
    for i in range(10):
        assert events(of_key(flat(by_shard), f"k{i}")) == ["INSERT"] + ["MODIFY"] * 3


def test_writes_that_change_nothing_make_no_record(ddb, streams, make_table):
    # DynamoDB writes a stream record only when an item really changes: not for a write whose
    # condition fails, a DeleteItem of a missing item, a PutItem of an identical item, or an
    # UpdateItem that leaves the item as it was.
    desc = stream_table(make_table)
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    ddb.put_item(TableName=name, Item=item("a", v=1, t="x"))
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=name, Item=item("a", v=9), ConditionExpression="attribute_not_exists(pk)")
    assert_error(e, "ConditionalCheckFailedException")
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=name, Key=item("a"), ConditionExpression="v = :nine",
                        ExpressionAttributeValues={":nine": {"N": "9"}})
    assert_error(e, "ConditionalCheckFailedException")
    ddb.put_item(TableName=name, Item=item("a", v=1, t="x"))  # identical
    ddb.update_item(TableName=name, Key=item("a"), UpdateExpression="SET v = :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    ddb.update_item(TableName=name, Key=item("a"), UpdateExpression="REMOVE unused_attr")
    ddb.update_item(TableName=name, Key=item("a"), UpdateExpression="SET v = v + :zero",
                    ExpressionAttributeValues={":zero": {"N": "0"}})
    # On a missing item: a delete, and a conditional update that fails.
    ddb.delete_item(TableName=name, Key=item("b"))
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=name, Key=item("b"), UpdateExpression="SET v = :one",
                        ConditionExpression="attribute_exists(pk)",
                        ExpressionAttributeValues={":one": {"N": "1"}})
    assert_error(e, "ConditionalCheckFailedException")
    # Sentinels: one real change to each item.
    ddb.put_item(TableName=name, Item=item("a", v=2, t="x"))
    ddb.put_item(TableName=name, Item=item("b", v=1))
    records = flat(wait_for_records(streams, arn, 3))
    a = of_key(records, "a")
    assert events(a) == ["INSERT", "MODIFY"]
    assert a[1]["dynamodb"]["OldImage"] == item("a", v=1, t="x")
    assert a[1]["dynamodb"]["NewImage"] == item("a", v=2, t="x")
    assert events(of_key(records, "b")) == ["INSERT"]
    assert len(records) == 3


def test_transact_write_items_one_record_per_changed_item(ddb, streams, make_table):
    # A transaction makes one record per action that changes an item (Put, Update, Delete), none
    # for a ConditionCheck or an Update that changes nothing, and none at all when cancelled.
    desc = stream_table(make_table)
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    for pk in ("y", "z", "w", "u"):
        ddb.put_item(TableName=name, Item=item(pk, v=1))
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": name, "Item": item("x", v=1)}},
        {"Update": {"TableName": name, "Key": item("y"), "UpdateExpression": "SET v = :two",
                    "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        {"Delete": {"TableName": name, "Key": item("z")}},
        {"ConditionCheck": {"TableName": name, "Key": item("w"), "ConditionExpression": "v = :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Update": {"TableName": name, "Key": item("u"), "UpdateExpression": "SET v = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ])
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": item("q", v=1)}},
            {"ConditionCheck": {"TableName": name, "Key": item("w"), "ConditionExpression": "v = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        ])
    assert_error(e, "TransactionCanceledException")
    for pk in ("w", "u", "q"):  # sentinels
        ddb.put_item(TableName=name, Item=item(pk, v=3))
    records = flat(wait_for_records(streams, arn, 4 + 3 + 3))
    assert events(of_key(records, "x")) == ["INSERT"]
    y = of_key(records, "y")
    assert events(y) == ["INSERT", "MODIFY"]
    assert y[1]["dynamodb"]["NewImage"] == item("y", v=2)
    assert events(of_key(records, "z")) == ["INSERT", "REMOVE"]
    assert events(of_key(records, "w")) == ["INSERT", "MODIFY"]
    assert of_key(records, "w")[1]["dynamodb"]["OldImage"] == item("w", v=1)
    assert events(of_key(records, "u")) == ["INSERT", "MODIFY"]
    assert events(of_key(records, "q")) == ["INSERT"]
    assert len(records) == 10


def test_batch_write_item_makes_a_record_per_item(ddb, streams, make_table):
    # BatchWriteItem's puts and deletes each make their own record; deleting a missing item
    # makes none.
    desc = stream_table(make_table)
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    ddb.put_item(TableName=name, Item=item("old", v=1))
    response = ddb.batch_write_item(RequestItems={name: [
        *({"PutRequest": {"Item": item(f"n{i}", v=i)}} for i in range(4)),
        {"DeleteRequest": {"Key": item("old")}},
        {"DeleteRequest": {"Key": item("never")}},
    ]})
    assert response["UnprocessedItems"] == {}
    ddb.put_item(TableName=name, Item=item("never", v=1))  # sentinel
    records = flat(wait_for_records(streams, arn, 7))
    for i in range(4):
        n = of_key(records, f"n{i}")
        assert events(n) == ["INSERT"]
        assert n[0]["dynamodb"]["NewImage"] == item(f"n{i}", v=i)
    old = of_key(records, "old")
    assert events(old) == ["INSERT", "REMOVE"]
    assert old[1]["dynamodb"]["OldImage"] == item("old", v=1)
    assert events(of_key(records, "never")) == ["INSERT"]
    assert len(records) == 7


# ---- Shard iterators and GetRecords -------------------------------------------------------------


def test_trim_horizon_reads_from_the_oldest_record(ddb, streams, make_table):
    # TRIM_HORIZON starts at the oldest record a shard holds.
    desc = stream_table(make_table)
    for v in range(3):
        ddb.put_item(TableName=desc["TableName"], Item=item("a", v=v))
    records = wait_for_key(streams, desc["LatestStreamArn"], "a", 3)
    assert [r["dynamodb"]["NewImage"]["v"]["N"] for r in records] == ["0", "1", "2"]


def test_latest_sees_only_later_writes(ddb, streams, make_table):
    # LATEST starts just after the most recent record of a shard: records of earlier writes are
    # not returned, those of later writes are.
    desc = stream_table(make_table)
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    ddb.put_item(TableName=name, Item=item("a", v=1))
    wait_for_key(streams, arn, "a", 1)
    latest = {
        s["ShardId"]: streams.get_shard_iterator(StreamArn=arn, ShardId=s["ShardId"],
                                                 ShardIteratorType="LATEST")["ShardIterator"]
        for s in stream_shards(streams, arn)
    }
    ddb.put_item(TableName=name, Item=item("a", v=2))
    ddb.put_item(TableName=name, Item=item("b", v=1))
    seen = []
    deadline = time.monotonic() + support.STREAM_WAIT_TIMEOUT_SECONDS
    while len(seen) < 2 and time.monotonic() < deadline:
        for shard_id, iterator in latest.items():
            records, latest[shard_id] = read_shard(streams, iterator)
            seen += records
    assert sorted((r["dynamodb"]["Keys"]["pk"]["S"], r["eventName"]) for r in seen) == [
        ("a", "MODIFY"),
        ("b", "INSERT"),
    ]


def test_at_and_after_sequence_number(ddb, streams, make_table):
    # AT_SEQUENCE_NUMBER starts at the record with that sequence number, AFTER_SEQUENCE_NUMBER
    # just after it; after the last record of an open shard there is nothing yet, but an
    # iterator to continue with.
    desc = stream_table(make_table)
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    for v in range(3):
        ddb.put_item(TableName=name, Item=item("a", v=v))
    by_shard = wait_for_records(streams, arn, 3)
    shard_id = shard_of(by_shard, "a")
    numbers = [r["dynamodb"]["SequenceNumber"] for r in by_shard[shard_id]]

    def read_from(kind, number):
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind,
                                              SequenceNumber=number)["ShardIterator"]
        return read_shard(streams, iterator)

    records, _ = read_from("AT_SEQUENCE_NUMBER", numbers[1])
    assert [r["dynamodb"]["SequenceNumber"] for r in records] == numbers[1:]
    records, _ = read_from("AFTER_SEQUENCE_NUMBER", numbers[1])
    assert [r["dynamodb"]["SequenceNumber"] for r in records] == numbers[2:]
    records, following = read_from("AFTER_SEQUENCE_NUMBER", numbers[2])
    assert records == []
    assert following  # the shard is open: more may come
    ddb.put_item(TableName=name, Item=item("a", v=3))
    deadline = time.monotonic() + support.STREAM_WAIT_TIMEOUT_SECONDS
    records = []
    while not records and time.monotonic() < deadline:
        records, following = read_shard(streams, following)
    assert [r["dynamodb"]["NewImage"]["v"]["N"] for r in records] == ["3"]


def test_get_records_limit_continues_where_it_stopped(ddb, streams, make_table):
    # Limit caps the records of one GetRecords call; its NextShardIterator continues with the
    # very next record, so the pages together are the whole shard, each record once.
    desc = stream_table(make_table)
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    for v in range(7):
        ddb.put_item(TableName=name, Item=item("a", v=v))
    by_shard = wait_for_records(streams, arn, 7)
    shard_id = shard_of(by_shard, "a")
    everything = [r["dynamodb"]["SequenceNumber"] for r in by_shard[shard_id]]
    assert len(everything) == 7
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    pages = []
    while True:
        page = streams.get_records(ShardIterator=iterator, Limit=3)
        assert len(page["Records"]) <= 3
        if not page["Records"]:
            break
        pages.append([r["dynamodb"]["SequenceNumber"] for r in page["Records"]])
        iterator = page["NextShardIterator"]
    assert [n for p in pages for n in p] == everything
    assert max(len(p) for p in pages) == 3  # GetRecords may return fewer, never more
    assert len(pages) >= 3


def test_unknown_stream_is_resource_not_found(streams, make_table):
    # A well-formed stream ARN naming a missing table, or a label the table never had, is
    # ResourceNotFoundException for DescribeStream and GetShardIterator.
    desc = stream_table(make_table)
    arn, name = desc["LatestStreamArn"], desc["TableName"]
    shard_id = stream_shards(streams, arn)[0]["ShardId"]
    other_table = arn.replace(f":table/{name}/", f":table/{unique_table_name()}/")
    other_label = arn.replace(desc["LatestStreamLabel"], "2001-02-03T04:05:06.789")
    for missing in (other_table, other_label):
        with pytest.raises(ClientError) as e:
            streams.describe_stream(StreamArn=missing)
        assert_error(e, "ResourceNotFoundException")
        with pytest.raises(ClientError) as e:
            streams.get_shard_iterator(StreamArn=missing, ShardId=shard_id, ShardIteratorType="LATEST")
        assert_error(e, "ResourceNotFoundException")


def test_unknown_shard_is_resource_not_found(streams, make_table):
    # GetShardIterator for a shard the stream does not have is ResourceNotFoundException.
    arn = stream_table(make_table)["LatestStreamArn"]
    with pytest.raises(ClientError) as e:
        streams.get_shard_iterator(StreamArn=arn, ShardId="shardId-00000000000000000000-00000000",
                                   ShardIteratorType="TRIM_HORIZON")
    assert_error(e, "ResourceNotFoundException")


def test_invalid_iterator_is_validation_error(streams):
    # GetRecords with something that is not an iterator DynamoDB issued is a ValidationException.
    with pytest.raises(ClientError) as e:
        streams.get_records(ShardIterator="not-an-iterator-at-all")
    assert_error(e, "ValidationException")


def test_sequence_number_goes_only_with_at_and_after(streams, make_table):
    # AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER need a SequenceNumber; TRIM_HORIZON and
    # LATEST refuse one. An unknown iterator type is a ValidationException too.
    arn = stream_table(make_table)["LatestStreamArn"]
    shard = stream_shards(streams, arn)[0]
    start = shard["SequenceNumberRange"]["StartingSequenceNumber"]
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        with pytest.raises(ClientError) as e:
            streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=kind)
        assert_error(e, "ValidationException")
    for kind in ("TRIM_HORIZON", "LATEST"):
        with pytest.raises(ClientError) as e:
            streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=kind,
                                       SequenceNumber=start)
        assert_error(e, "ValidationException")
    with pytest.raises(ClientError) as e:
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="OLDEST")
    assert_error(e, "ValidationException")


# ---- Disabling and re-enabling ----------------------------------------------------------------


def test_disabling_a_stream_closes_its_shards(ddb, streams, make_table):
    # Disabling a stream stops new records; the stream turns DISABLED, every shard gets an
    # EndingSequenceNumber, and the records stay readable: reading a closed shard to its end
    # returns no NextShardIterator. The table no longer shows a StreamSpecification, but keeps
    # naming its latest stream, which ListStreams still lists.
    desc = stream_table(make_table, "NEW_IMAGE")
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    ddb.put_item(TableName=name, Item=item("a", v=1))
    ddb.put_item(TableName=name, Item=item("b", v=1))
    wait_for_records(streams, arn, 2)
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    support.wait_active(ddb, name)
    description = wait_stream_status(streams, arn, "DISABLED")
    assert description["StreamStatus"] == "DISABLED"
    table_now = ddb.describe_table(TableName=name)["Table"]
    assert "StreamSpecification" not in table_now
    assert table_now["LatestStreamArn"] == arn
    assert table_now["LatestStreamLabel"] == desc["LatestStreamLabel"]
    assert arn in [s["StreamArn"] for s in streams.list_streams(TableName=name)["Streams"]]
    ddb.put_item(TableName=name, Item=item("c", v=1))  # after the stream closed: no record
    shards = stream_shards(streams, arn)
    records = []
    for shard in shards:
        numbers = shard["SequenceNumberRange"]
        assert "EndingSequenceNumber" in numbers, shard
        assert int(numbers["EndingSequenceNumber"]) >= int(numbers["StartingSequenceNumber"])
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:  # a closed shard ends: the loop must terminate without a deadline
            page = streams.get_records(ShardIterator=iterator)
            for record in page["Records"]:
                assert int(record["dynamodb"]["SequenceNumber"]) <= int(numbers["EndingSequenceNumber"])
            records += page["Records"]
            iterator = page.get("NextShardIterator")
        # LATEST on a closed shard is at its end: nothing, and no iterator to continue with.
        latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                            ShardIteratorType="LATEST")["ShardIterator"]
        page = streams.get_records(ShardIterator=latest)
        assert page["Records"] == []
        assert "NextShardIterator" not in page
    assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in records) == ["a", "b"]


def test_reenabling_creates_a_new_stream(ddb, streams, make_table):
    # Enabling a stream again creates a new stream with a new ARN and label (it may have another
    # view type); the old one stays listed, DISABLED and readable, and only the new one gets
    # records of later writes.
    desc = stream_table(make_table, "NEW_IMAGE")
    name, old_arn = desc["TableName"], desc["LatestStreamArn"]
    ddb.put_item(TableName=name, Item=item("a", v=1))
    wait_for_records(streams, old_arn, 1)
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    support.wait_active(ddb, name)
    wait_stream_status(streams, old_arn, "DISABLED")
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    table_now = support.wait_active(ddb, name)
    new_arn = table_now["LatestStreamArn"]
    assert new_arn != old_arn
    assert table_now["LatestStreamLabel"] != desc["LatestStreamLabel"]
    assert new_arn.endswith("/stream/" + table_now["LatestStreamLabel"])
    assert table_now["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    assert wait_stream_status(streams, new_arn, "ENABLED")["StreamStatus"] == "ENABLED"
    listed = {s["StreamArn"] for s in streams.list_streams(TableName=name)["Streams"]}
    assert listed == {old_arn, new_arn}
    assert streams.describe_stream(StreamArn=old_arn)["StreamDescription"]["StreamStatus"] == "DISABLED"
    ddb.put_item(TableName=name, Item=item("b", v=1))
    new_records = flat(wait_for_records(streams, new_arn, 1))
    assert [(r["eventName"], r["dynamodb"]["Keys"]) for r in new_records] == [("INSERT", item("b"))]
    assert "NewImage" not in new_records[0]["dynamodb"]
    old_records = flat(stream_records(streams, old_arn))
    assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in old_records] == [("INSERT", item("a", v=1))]


def test_enabling_an_enabled_stream_fails(ddb, make_table):
    # A table has at most one enabled stream: enabling again, even with the same view type, is
    # a ValidationException naming the table.
    desc = stream_table(make_table, "KEYS_ONLY")
    name = desc["TableName"]
    for view_type in ("KEYS_ONLY", "NEW_IMAGE"):
        with pytest.raises(ClientError) as e:
            ddb.update_table(TableName=name,
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type})
        assert_error(e, "ValidationException", f"Table already has an enabled stream: TableName: {name}")


def test_disabling_without_a_stream_fails(ddb, table):
    # Disabling the stream of a table that has none enabled is a ValidationException naming the
    # table.
    with pytest.raises(ClientError) as e:
        ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    assert_error(e, "ValidationException", f"Table has no stream to disable: TableName: {table}")


# ---- A KCL-style consumer rebuilds the table ----------------------------------------------------


class Consumer:
    """What a Kinesis Client Library worker does with a stream: read every shard from
    TRIM_HORIZON, follow NextShardIterator, finish a shard when it has none (closed and drained),
    and apply each record to a replica: {pk: item}. Checks each record against the replica."""

    def __init__(self, streams, arn):
        self.streams, self.arn = streams, arn
        self.iterators, self.finished = {}, set()
        self.last_sequence = {}
        self.replica = {}
        self.applied = 0

    def poll(self):
        """One round over the shards; True once every shard is closed and read to its end."""
        shards = stream_shards(self.streams, self.arn)
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in self.iterators and sid not in self.finished:
                self.iterators[sid] = self.streams.get_shard_iterator(
                    StreamArn=self.arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        progressed = False
        for sid, iterator in list(self.iterators.items()):
            page = self.streams.get_records(ShardIterator=iterator, Limit=100)
            for record in page["Records"]:
                self.apply(sid, record)
                progressed = True
            following = page.get("NextShardIterator")
            if following is None:
                self.finished.add(sid)
                del self.iterators[sid]
            else:
                self.iterators[sid] = following
        done = not self.iterators and {s["ShardId"] for s in shards} <= self.finished
        return done, progressed

    def apply(self, sid, record):
        body = record["dynamodb"]
        number = int(body["SequenceNumber"])
        assert number > self.last_sequence.get(sid, -1), "sequence numbers must increase in a shard"
        self.last_sequence[sid] = number
        pk = body["Keys"]["pk"]["S"]
        current = self.replica.get(pk)
        if record["eventName"] == "INSERT":
            assert current is None, f"INSERT of {pk}, which exists"
            assert "OldImage" not in body
        else:
            assert body["OldImage"] == current, f"{record['eventName']} of {pk}: OldImage differs"
        if record["eventName"] == "REMOVE":
            assert "NewImage" not in body
            del self.replica[pk]
        else:
            assert body["NewImage"] != current, "a record must change the item"
            self.replica[pk] = body["NewImage"]
        self.applied += 1


def random_workload(ddb, name, rng, operations=500, keys=50):
    """A mix of every kind of write over a few keys; conditional writes and transactions fail
    some of the time, as they would in an application."""
    pks = [f"k{i:02d}" for i in range(keys)]
    expected_failures = {"ConditionalCheckFailedException", "TransactionCanceledException"}

    def value():
        return {"N": str(rng.randint(0, 5))}

    def random_item(pk):
        out = {"pk": {"S": pk}, "v": value()}
        if rng.random() < 0.5:
            out["tag"] = {"S": rng.choice("ab")}
        return out

    def transact_action(pk):
        kind = rng.choice(["Put", "Update", "Delete", "ConditionCheck"])
        if kind == "Put":
            return {"Put": {"TableName": name, "Item": random_item(pk)}}
        if kind == "Update":
            return {"Update": {"TableName": name, "Key": {"pk": {"S": pk}},
                               "UpdateExpression": "SET v = if_not_exists(v, :zero) + :d",
                               "ExpressionAttributeValues": {":zero": {"N": "0"}, ":d": value()}}}
        if kind == "Delete":
            return {"Delete": {"TableName": name, "Key": {"pk": {"S": pk}}}}
        return {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": pk}},
                                   "ConditionExpression": "attribute_not_exists(v) OR v < :four",
                                   "ExpressionAttributeValues": {":four": {"N": "4"}}}}

    for _ in range(operations):
        pk = rng.choice(pks)
        key = {"pk": {"S": pk}}
        op = rng.choice(["put", "put", "update", "update", "remove", "delete", "cond_put",
                         "cond_update", "cond_delete", "batch", "transact"])
        try:
            if op == "put":
                ddb.put_item(TableName=name, Item=random_item(pk))
            elif op == "update":
                ddb.update_item(TableName=name, Key=key,
                                UpdateExpression="SET v = if_not_exists(v, :zero) + :d",
                                ExpressionAttributeValues={":zero": {"N": "0"}, ":d": value()})
            elif op == "remove":
                ddb.update_item(TableName=name, Key=key, UpdateExpression="REMOVE tag")
            elif op == "delete":
                ddb.delete_item(TableName=name, Key=key)
            elif op == "cond_put":
                ddb.put_item(TableName=name, Item=random_item(pk),
                             ConditionExpression="attribute_not_exists(pk)")
            elif op == "cond_update":
                ddb.update_item(TableName=name, Key=key, UpdateExpression="SET v = v + :one",
                                ConditionExpression="v < :three",
                                ExpressionAttributeValues={":one": {"N": "1"}, ":three": {"N": "3"}})
            elif op == "cond_delete":
                ddb.delete_item(TableName=name, Key=key, ConditionExpression="tag = :a",
                                ExpressionAttributeValues={":a": {"S": "a"}})
            elif op == "batch":
                requests = []
                for other in rng.sample(pks, rng.randint(1, 5)):
                    if rng.random() < 0.7:
                        requests.append({"PutRequest": {"Item": random_item(other)}})
                    else:
                        requests.append({"DeleteRequest": {"Key": {"pk": {"S": other}}}})
                unprocessed = {name: requests}
                while unprocessed:
                    unprocessed = ddb.batch_write_item(RequestItems=unprocessed)["UnprocessedItems"]
            else:
                actions = [transact_action(other) for other in rng.sample(pks, rng.randint(2, 4))]
                ddb.transact_write_items(TransactItems=actions)
        except ClientError as e:
            if e.response["Error"]["Code"] not in expected_failures:
                raise


def test_kcl_style_consumer_rebuilds_the_table(ddb, streams, make_table):
    # The stream is a complete, ordered change log: a consumer that reads every shard while a
    # random mix of writes runs, applying each record in sequence order, ends with exactly the
    # table's contents; every OldImage matches what the consumer had, so no record is missing,
    # duplicated or out of order. Disabling the stream closes the shards, which is how the
    # consumer knows it has read everything.
    desc = stream_table(make_table, "NEW_AND_OLD_IMAGES")
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    consumer = Consumer(streams, arn)
    stop = threading.Event()
    failure = []

    def run():
        try:
            while not stop.is_set():
                done, progressed = consumer.poll()
                if done:
                    return
                if not progressed:
                    time.sleep(0.05)
        except BaseException as e:  # reported by the test thread
            failure.append(e)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    try:
        random_workload(ddb, name, random.Random(20261123))
        ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
        reader.join(timeout=120)
    finally:
        stop.set()
    assert not failure, failure
    assert not reader.is_alive(), "the consumer did not see every shard close"
    scanned = {}
    args = {"TableName": name, "ConsistentRead": True}
    while True:
        page = ddb.scan(**args)
        scanned.update({i["pk"]["S"]: i for i in page["Items"]})
        if "LastEvaluatedKey" not in page:
            break
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert consumer.replica == scanned
    assert consumer.applied > 300  # the workload really wrote


# ---- Trimming (needs a Flywheel server started with a short retention) --------------------------


@pytest.fixture
def short_retention():
    """A second server keeping stream records two seconds (DynamoDB: 24 hours), so trimming can
    be watched. Yields (dynamodb client, dynamodbstreams client)."""
    if support.external_endpoint():
        pytest.skip("needs a Flywheel server started with --stream-retention; DYNAMO_ENDPOINT is set")
    server = support.Server(args=support.SESSION_SERVER_ARGS + ["--stream-retention", "2"]).start()
    try:
        yield (support.make_client(server.endpoint),
               support.make_client(server.endpoint, service="dynamodbstreams"))
    finally:
        server.stop()


def test_records_older_than_the_retention_are_trimmed(short_retention):
    # Records older than the retention period are trimmed: TRIM_HORIZON then starts after them,
    # and asking for trimmed data — an iterator issued before the trim, or the sequence number
    # of a trimmed record — is TrimmedDataAccessException, never a silent gap.
    # Flywheel-specific: --stream-retention 2 (DynamoDB keeps records 24 hours).
    ddb, streams = short_retention
    name = unique_table_name()
    spec = hash_table_spec(name)
    spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    ddb.create_table(**spec)
    arn = support.wait_active(ddb, name)["LatestStreamArn"]
    ddb.put_item(TableName=name, Item=item("a", v=1))
    by_shard = stream_records(streams, arn)
    shard_id = shard_of(by_shard, "a")
    trimmed_number = by_shard[shard_id][0]["dynamodb"]["SequenceNumber"]
    early = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    deadline = time.monotonic() + support.STREAM_WAIT_TIMEOUT_SECONDS
    while stream_records(streams, arn)[shard_id]:
        assert time.monotonic() < deadline, "the record was not trimmed"
        time.sleep(0.2)
    ddb.put_item(TableName=name, Item=item("a", v=2))
    records = stream_records(streams, arn)[shard_id]
    assert [r["dynamodb"]["NewImage"]["v"]["N"] for r in records] == ["2"]
    with pytest.raises(ClientError) as e:
        streams.get_records(ShardIterator=early)
    assert_error(e, "TrimmedDataAccessException")
    with pytest.raises(ClientError) as e:
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                   SequenceNumber=trimmed_number)
    assert_error(e, "TrimmedDataAccessException")
    with pytest.raises(ClientError) as e:
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                   SequenceNumber=trimmed_number)
    assert_error(e, "TrimmedDataAccessException")


def test_records_written_after_a_restart_follow_trimmed_ones(tmp_path):
    # Trimming never hides a record written later, even across a restart: once every record
    # of a shard has been trimmed and the server restarted, a new change is still read from
    # TRIM_HORIZON. Flywheel-specific: --stream-retention 2 and a restart of a --data-dir server.
    if support.external_endpoint():
        pytest.skip("restarts its own server; DYNAMO_ENDPOINT is set")
    args = support.SESSION_SERVER_ARGS + ["--stream-retention", "2"]
    server = support.Server(data_dir=tmp_path, args=args).start()
    try:
        ddb = support.make_client(server.endpoint)
        streams = support.make_client(server.endpoint, service="dynamodbstreams")
        name = unique_table_name()
        spec = hash_table_spec(name)
        spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        ddb.create_table(**spec)
        arn = support.wait_active(ddb, name)["LatestStreamArn"]
        ddb.put_item(TableName=name, Item=item("a", v=1))
        shard_id = shard_of(stream_records(streams, arn), "a")
        deadline = time.monotonic() + support.STREAM_WAIT_TIMEOUT_SECONDS
        while stream_records(streams, arn)[shard_id]:
            assert time.monotonic() < deadline, "the record was not trimmed"
            time.sleep(0.2)
        assert server.terminate() == 0
        server = support.Server(data_dir=tmp_path, args=args).start()
        ddb = support.make_client(server.endpoint)
        streams = support.make_client(server.endpoint, service="dynamodbstreams")
        ddb.put_item(TableName=name, Item=item("a", v=2))
        records = stream_records(streams, arn)[shard_id]
        assert [r["dynamodb"]["NewImage"]["v"]["N"] for r in records] == ["2"]
    finally:
        server.stop()


def test_deleting_the_table_leaves_its_stream_readable(ddb, streams, make_table):
    # DeleteTable does not take the stream's records with it: the stream turns DISABLED and stays
    # readable (DynamoDB deletes it 24 hours later), so consumers can finish reading.
    desc = stream_table(make_table, "NEW_IMAGE")
    name, arn = desc["TableName"], desc["LatestStreamArn"]
    ddb.put_item(TableName=name, Item=item("a", v=1))
    wait_for_records(streams, arn, 1)
    ddb.delete_table(TableName=name)
    support.wait_gone(ddb, name)
    assert wait_stream_status(streams, arn, "DISABLED")["StreamStatus"] == "DISABLED"
    records = flat(stream_records(streams, arn))
    assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in records] == [("INSERT", item("a", v=1))]
