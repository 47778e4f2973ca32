"""BatchWriteItem and BatchGetItem: several tables in one call, the 25-write and 100-key limits,
duplicate keys, empty requests, missing tables and keys, per-table projections, consumed capacity.

Sources for the messages: the DynamoDB API Reference (BatchWriteItem, BatchGetItem), dynalite's
test/batchWriteItem.js and test/batchGetItem.js (written against live DynamoDB), and issue threads
quoting live responses; each test names the one it relies on. Messages that embed Java object
dumps (com.amazonaws...WriteRequest@hash) are matched on everything but the dump."""

import re
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from support import assert_error, composite_table_spec, error_of, hash_table_spec, unique_table_name

NO_MATCH = "The provided key element does not match the schema"
DUPLICATES = "Provided list of item keys contains duplicates"
WRITE_LIST_CONSTRAINT = (
    "' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: "
    "[Member must have length less than or equal to 25, Member must have length greater than or equal to 1]"
)


@pytest.fixture
def two_tables(make_table):
    """A hash table (pk S) and a composite table (pk S, sk N)."""
    hashed = make_table(**hash_table_spec(unique_table_name()))["TableName"]
    composite = make_table(**composite_table_spec(unique_table_name(), sort_type="N"))["TableName"]
    return hashed, composite


def get(ddb, table, key):
    return ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def put(item):
    return {"PutRequest": {"Item": item}}


def delete(key):
    return {"DeleteRequest": {"Key": key}}


def as_multiset(items):
    """Items as a Counter of their sorted repr: batch results come back in no particular order."""
    return Counter(repr(sorted(i.items())) for i in items)


# ---- BatchWriteItem ----------------------------------------------------------------------------


def test_batch_write_puts_and_deletes_across_two_tables(ddb, two_tables):
    # One call may put into and delete from several tables; everything is processed and
    # UnprocessedItems is an empty map.
    hashed, composite = two_tables
    ddb.put_item(TableName=hashed, Item={"pk": {"S": "old"}})
    ddb.put_item(TableName=composite, Item={"pk": {"S": "old"}, "sk": {"N": "1"}})
    response = ddb.batch_write_item(RequestItems={
        hashed: [put({"pk": {"S": "a"}, "v": {"S": "x"}}), put({"pk": {"S": "b"}}), delete({"pk": {"S": "old"}})],
        composite: [put({"pk": {"S": "a"}, "sk": {"N": "1"}}), put({"pk": {"S": "a"}, "sk": {"N": "2"}}),
                    delete({"pk": {"S": "old"}, "sk": {"N": "1"}})],
    })
    assert response["UnprocessedItems"] == {}
    assert get(ddb, hashed, {"pk": {"S": "a"}}) == {"pk": {"S": "a"}, "v": {"S": "x"}}
    assert get(ddb, hashed, {"pk": {"S": "b"}}) == {"pk": {"S": "b"}}
    assert get(ddb, hashed, {"pk": {"S": "old"}}) is None
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "2"}}) == {"pk": {"S": "a"}, "sk": {"N": "2"}}
    assert get(ddb, composite, {"pk": {"S": "old"}, "sk": {"N": "1"}}) is None


def test_batch_put_replaces_the_whole_item(ddb, two_tables):
    # A PutRequest replaces an existing item entirely, like PutItem.
    hashed, _ = two_tables
    ddb.put_item(TableName=hashed, Item={"pk": {"S": "a"}, "old": {"S": "gone"}})
    ddb.batch_write_item(RequestItems={hashed: [put({"pk": {"S": "a"}, "new": {"N": "1"}})]})
    assert get(ddb, hashed, {"pk": {"S": "a"}}) == {"pk": {"S": "a"}, "new": {"N": "1"}}


def test_deleting_a_missing_item_is_fine(ddb, two_tables):
    # A DeleteRequest for a key that does not exist succeeds quietly.
    hashed, _ = two_tables
    response = ddb.batch_write_item(RequestItems={hashed: [delete({"pk": {"S": "never"}})]})
    assert response["UnprocessedItems"] == {}


def test_the_same_key_in_two_tables_is_not_a_duplicate(ddb, make_table):
    # Duplicate detection is per table.
    t1 = make_table(**hash_table_spec(unique_table_name()))["TableName"]
    t2 = make_table(**hash_table_spec(unique_table_name()))["TableName"]
    ddb.batch_write_item(RequestItems={t1: [put({"pk": {"S": "k"}, "t": {"N": "1"}})],
                                       t2: [put({"pk": {"S": "k"}, "t": {"N": "2"}})]})
    assert get(ddb, t1, {"pk": {"S": "k"}})["t"] == {"N": "1"}
    assert get(ddb, t2, {"pk": {"S": "k"}})["t"] == {"N": "2"}


def test_twenty_five_writes_are_allowed(ddb, two_tables):
    # 25 requests is the maximum and is accepted (API Reference, BatchWriteItem).
    _, composite = two_tables
    response = ddb.batch_write_item(
        RequestItems={composite: [put({"pk": {"S": "p"}, "sk": {"N": str(i)}}) for i in range(25)]}
    )
    assert response["UnprocessedItems"] == {}
    assert ddb.query(TableName=composite, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "p"}}, Select="COUNT")["Count"] == 25


def test_twenty_six_writes_to_one_table_are_refused(ddb_raw, two_tables):
    # More than 25 requests for a table fails the list-length constraint and writes nothing
    # (boto/boto3#483 and elegantdevelopment/aws-cdk-dynamodb-seeder#3 quote live DynamoDB; the
    # value is Java's Map.toString, {table=[...WriteRequest@hash, ...]}).
    _, composite = two_tables
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_write_item(
            RequestItems={composite: [put({"pk": {"S": "p"}, "sk": {"N": str(i)}}) for i in range(26)]}
        )
    code, message, status = error_of(e)
    assert (code, status) == ("ValidationException", 400)
    pattern = re.escape(f"1 validation error detected: Value '{{{composite}=[") + r".+" + re.escape("]}" + WRITE_LIST_CONSTRAINT)
    assert re.fullmatch(pattern, message), message
    assert get(ddb_raw, composite, {"pk": {"S": "p"}, "sk": {"N": "0"}}) is None


def test_more_than_twenty_five_writes_across_tables_are_refused(ddb_raw, two_tables):
    # The 25-request limit is for the whole batch (API Reference: "There are more than 25
    # requests in the batch"); 13 + 13 across two tables passes each list's constraint and is
    # refused as a whole. Message as DynamoDB Local sends it (99x/serverless-dynamodb-local#175).
    hashed, composite = two_tables
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_write_item(RequestItems={
            hashed: [put({"pk": {"S": f"k{i}"}}) for i in range(13)],
            composite: [put({"pk": {"S": "p"}, "sk": {"N": str(i)}}) for i in range(13)],
        })
    assert_error(e, "ValidationException", "Too many items requested for the BatchWriteItem call")
    assert get(ddb_raw, hashed, {"pk": {"S": "k0"}}) is None


def test_duplicate_puts_are_refused(ddb, two_tables):
    # Two operations on one key in one batch are refused and nothing is written.
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={hashed: [put({"pk": {"S": "fresh"}}), put({"pk": {"S": "k"}}),
                                                    put({"pk": {"S": "k"}, "v": {"N": "1"}})]})
    assert_error(e, "ValidationException", DUPLICATES)
    assert get(ddb, hashed, {"pk": {"S": "fresh"}}) is None


def test_put_and_delete_of_one_key_are_duplicates(ddb, two_tables):
    # dynalite test/batchWriteItem.js: a put and a delete of the same key, in either order.
    _, composite = two_tables
    key = {"pk": {"S": "p"}, "sk": {"N": "1"}}
    for requests in ([put(key), delete(key)], [delete(key), put(key)]):
        with pytest.raises(ClientError) as e:
            ddb.batch_write_item(RequestItems={composite: requests})
        assert_error(e, "ValidationException", DUPLICATES)


def test_same_partition_key_different_sort_keys_are_not_duplicates(ddb, two_tables):
    # Only the full primary key counts: numbers equal in value are one key, "1" and "1.0".
    _, composite = two_tables
    ddb.batch_write_item(RequestItems={composite: [put({"pk": {"S": "p"}, "sk": {"N": "1"}}),
                                                   put({"pk": {"S": "p"}, "sk": {"N": "2"}})]})
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={composite: [put({"pk": {"S": "p"}, "sk": {"N": "1"}}),
                                                       put({"pk": {"S": "p"}, "sk": {"N": "1.0"}})]})
    assert_error(e, "ValidationException", DUPLICATES)


def test_empty_request_items(ddb_raw):
    # dynalite test/batchWriteItem.js (live-verified): an empty map fails its length constraint.
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_write_item(RequestItems={})
    assert_error(e, "ValidationException",
                 "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: "
                 "Member must have length greater than or equal to 1")


def test_empty_list_of_writes_for_a_table(ddb_raw, two_tables):
    # An empty list for a table fails the map-value constraint; the value is shown as {table=[]}
    # (elegantdevelopment/aws-cdk-dynamodb-seeder#3 quoting live DynamoDB).
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_write_item(RequestItems={hashed: []})
    assert_error(e, "ValidationException", f"1 validation error detected: Value '{{{hashed}=[]}}" + WRITE_LIST_CONSTRAINT)


def test_write_request_with_neither_put_nor_delete(ddb_raw, two_tables):
    # dynalite test/batchWriteItem.js: an empty WriteRequest.
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_write_item(RequestItems={hashed: [{}]})
    assert_error(e, "ValidationException",
                 "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported "
                 "datatypes")


def test_batch_write_to_a_missing_table(ddb, two_tables):
    # A missing table fails the whole batch; the existing table's writes do not happen.
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={hashed: [put({"pk": {"S": "a"}})],
                                           unique_table_name(): [put({"pk": {"S": "a"}})]})
    assert_error(e, "ResourceNotFoundException", "Requested resource not found")
    assert get(ddb, hashed, {"pk": {"S": "a"}}) is None


@pytest.mark.parametrize("item", [{"pk": {"N": "1"}}, {"other": {"S": "a"}}, {}])
def test_batch_put_with_a_bad_key(ddb, two_tables, item):
    # dynalite test/batchWriteItem.js (live-verified): in a batch, a key of the wrong type or a
    # missing key is "does not match the schema" (PutItem says "Type mismatch"/"Missing the key"),
    # and nothing in the batch is written.
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={hashed: [put({"pk": {"S": "first"}}), put(item)]})
    assert_error(e, "ValidationException", NO_MATCH)
    assert get(ddb, hashed, {"pk": {"S": "first"}}) is None


def test_batch_delete_with_a_partial_key(ddb, two_tables):
    # A DeleteRequest without the sort key does not match the schema.
    _, composite = two_tables
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={composite: [delete({"pk": {"S": "p"}})]})
    assert_error(e, "ValidationException", NO_MATCH)


def test_batch_write_consumed_capacity(ddb, two_tables):
    # ReturnConsumedCapacity=TOTAL gives one entry per table: one write unit per item up to 1 KB.
    hashed, composite = two_tables
    response = ddb.batch_write_item(
        RequestItems={hashed: [put({"pk": {"S": f"k{i}"}}) for i in range(3)],
                      composite: [put({"pk": {"S": "p"}, "sk": {"N": "1"}, "pad": {"S": "x" * 1500}})]},
        ReturnConsumedCapacity="TOTAL",
    )
    assert sorted(response["ConsumedCapacity"], key=lambda c: c["TableName"]) == sorted(
        [{"TableName": hashed, "CapacityUnits": 3.0}, {"TableName": composite, "CapacityUnits": 2.0}],
        key=lambda c: c["TableName"],
    )


# ---- BatchGetItem ------------------------------------------------------------------------------


@pytest.fixture
def filled(ddb, two_tables):
    hashed, composite = two_tables
    for i in range(5):
        ddb.put_item(TableName=hashed, Item={"pk": {"S": f"h{i}"}, "a": {"N": str(i)}, "b": {"S": "bee"}})
        ddb.put_item(TableName=composite, Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "name": {"S": f"n{i}"},
                                                "m": {"M": {"x": {"N": str(i)}, "y": {"S": "why"}}}})
    return hashed, composite


def test_batch_get_across_tables_with_per_table_options(ddb, filled):
    # Each table in RequestItems has its own keys, ProjectionExpression (with its own
    # ExpressionAttributeNames) and ConsistentRead; results come back per table.
    hashed, composite = filled
    response = ddb.batch_get_item(RequestItems={
        hashed: {"Keys": [{"pk": {"S": "h1"}}, {"pk": {"S": "h3"}}], "ProjectionExpression": "a",
                 "ConsistentRead": True},
        composite: {"Keys": [{"pk": {"S": "p"}, "sk": {"N": "2"}}, {"pk": {"S": "p"}, "sk": {"N": "4"}}],
                    "ProjectionExpression": "#n, m.x", "ExpressionAttributeNames": {"#n": "name"},
                    "ConsistentRead": False},
    })
    assert as_multiset(response["Responses"][hashed]) == as_multiset([{"a": {"N": "1"}}, {"a": {"N": "3"}}])
    assert as_multiset(response["Responses"][composite]) == as_multiset([
        {"name": {"S": "n2"}, "m": {"M": {"x": {"N": "2"}}}},
        {"name": {"S": "n4"}, "m": {"M": {"x": {"N": "4"}}}},
    ])
    assert response["UnprocessedKeys"] == {}


def test_batch_get_whole_items(ddb, filled):
    # Without a projection whole items come back.
    hashed, _ = filled
    response = ddb.batch_get_item(RequestItems={hashed: {"Keys": [{"pk": {"S": "h0"}}], "ConsistentRead": True}})
    assert response["Responses"][hashed] == [{"pk": {"S": "h0"}, "a": {"N": "0"}, "b": {"S": "bee"}}]


def test_missing_keys_are_simply_absent(ddb, filled):
    # Keys with no item are left out of Responses, with no sign; a table whose keys all miss
    # still appears, with an empty list.
    hashed, composite = filled
    response = ddb.batch_get_item(RequestItems={
        hashed: {"Keys": [{"pk": {"S": "h2"}}, {"pk": {"S": "nope"}}, {"pk": {"S": "nada"}}]},
        composite: {"Keys": [{"pk": {"S": "p"}, "sk": {"N": "99"}}]},
    })
    assert [i["pk"]["S"] for i in response["Responses"][hashed]] == ["h2"]
    assert response["Responses"][composite] == []
    assert response["UnprocessedKeys"] == {}


def test_legacy_attributes_to_get_in_batch_get(ddb, filled):
    # AttributesToGet projects like ProjectionExpression.
    hashed, _ = filled
    response = ddb.batch_get_item(RequestItems={hashed: {"Keys": [{"pk": {"S": "h4"}}], "AttributesToGet": ["b"]}})
    assert response["Responses"][hashed] == [{"b": {"S": "bee"}}]


def test_hundred_keys_are_allowed(ddb, two_tables):
    # 100 keys is the maximum for one call (API Reference, BatchGetItem).
    hashed, _ = two_tables
    response = ddb.batch_get_item(RequestItems={hashed: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(100)]}})
    assert response["Responses"][hashed] == []
    assert response["UnprocessedKeys"] == {}


def test_hundred_and_one_keys_in_one_table(ddb_raw, two_tables):
    # dynalite test/batchGetItem.js (live-verified): the keys list fails its length constraint;
    # the value is the Java dump of the list.
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_get_item(RequestItems={hashed: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(101)]}})
    code, message, status = error_of(e)
    assert (code, status) == ("ValidationException", 400)
    pattern = (re.escape("1 validation error detected: Value '[") + r".+" +
               re.escape(f"]' at 'requestItems.{hashed}.member.keys' failed to satisfy constraint: "
                         "Member must have length less than or equal to 100"))
    assert re.fullmatch(pattern, message), message


def test_hundred_and_one_keys_across_tables(ddb_raw, two_tables):
    # dynalite test/batchGetItem.js (live-verified): 100 + 1 over two tables.
    hashed, composite = two_tables
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_get_item(RequestItems={
            hashed: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(100)]},
            composite: {"Keys": [{"pk": {"S": "p"}, "sk": {"N": "1"}}]},
        })
    assert_error(e, "ValidationException", "Too many items requested for the BatchGetItem call")


def test_batch_get_duplicate_keys(ddb, two_tables):
    # dynalite test/batchGetItem.js: the same key twice (not necessarily adjacent) is refused.
    hashed, composite = two_tables
    with pytest.raises(ClientError) as e:
        ddb.batch_get_item(RequestItems={hashed: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}, {"pk": {"S": "a"}}]}})
    assert_error(e, "ValidationException", DUPLICATES)
    with pytest.raises(ClientError) as e:
        ddb.batch_get_item(RequestItems={composite: {"Keys": [{"pk": {"S": "p"}, "sk": {"N": "1"}},
                                                              {"pk": {"S": "p"}, "sk": {"N": "1.00"}}]}})
    assert_error(e, "ValidationException", DUPLICATES)


def test_batch_get_empty_request_items(ddb_raw):
    # dynalite test/batchGetItem.js (live-verified).
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_get_item(RequestItems={})
    assert_error(e, "ValidationException",
                 "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: "
                 "Member must have length greater than or equal to 1")


def test_batch_get_empty_keys(ddb_raw, two_tables):
    # dynalite test/batchGetItem.js (live-verified): an empty Keys list.
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb_raw.batch_get_item(RequestItems={hashed: {"Keys": []}})
    assert_error(e, "ValidationException",
                 f"1 validation error detected: Value '[]' at 'requestItems.{hashed}.member.keys' failed to satisfy "
                 "constraint: Member must have length greater than or equal to 1")


def test_batch_get_from_a_missing_table(ddb, two_tables):
    # A missing table fails the whole call.
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb.batch_get_item(RequestItems={hashed: {"Keys": [{"pk": {"S": "a"}}]},
                                         unique_table_name(): {"Keys": [{"pk": {"S": "a"}}]}})
    assert_error(e, "ResourceNotFoundException", "Requested resource not found")


@pytest.mark.parametrize("key", [{"pk": {"N": "1"}}, {"other": {"S": "a"}}, {"pk": {"S": "a"}, "extra": {"S": "b"}}])
def test_batch_get_with_a_bad_key(ddb, two_tables, key):
    # dynalite test/batchGetItem.js: wrong type, wrong name, or extra attributes.
    hashed, _ = two_tables
    with pytest.raises(ClientError) as e:
        ddb.batch_get_item(RequestItems={hashed: {"Keys": [key]}})
    assert_error(e, "ValidationException", NO_MATCH)


def test_batch_get_consumed_capacity(ddb, filled):
    # Each item is read on its own: one unit per small item strongly consistent, half that
    # eventually consistent; one ConsumedCapacity entry per table.
    hashed, composite = filled
    response = ddb.batch_get_item(
        RequestItems={
            hashed: {"Keys": [{"pk": {"S": f"h{i}"}} for i in range(3)], "ConsistentRead": True},
            composite: {"Keys": [{"pk": {"S": "p"}, "sk": {"N": str(i)}} for i in range(3)]},
        },
        ReturnConsumedCapacity="TOTAL",
    )
    assert sorted(response["ConsumedCapacity"], key=lambda c: c["TableName"]) == sorted(
        [{"TableName": hashed, "CapacityUnits": 3.0}, {"TableName": composite, "CapacityUnits": 1.5}],
        key=lambda c: c["TableName"],
    )
