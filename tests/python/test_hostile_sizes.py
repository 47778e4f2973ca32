"""Attacker-sized but DynamoDB-valid input (issue 13): large sets, lists and binaries compared and
updated under a partition's writer, thousands of document paths in one expression, and the
limits DynamoDB enforces on names, transactions and expressions.

The size cases assert each answer and that it arrives at all; a per-test timeout guards against
the quadratic work they used to cost (a 40,000-member set took ~18 s to compare), and no test
measures speed.
"""

import pytest
from botocore.exceptions import ClientError

import support
from support import assert_error

SET_MEMBERS = 40_000

OVERLAP = "Two document paths overlap with each other; must remove or rewrite one of these paths; "
NAME_TOO_LARGE = "1 validation error detected: Attribute name is too large, must be less than 65536 bytes"


def members(start, stop):
    return [f"m{i:05}" for i in range(start, stop)]


def key(pk):
    return {"pk": {"S": pk}}


# ---- Case 3: sets, lists and binaries near the item size limit ----------------------------------


@pytest.mark.timeout(60)
def test_40000_member_set_put_twice_compared_and_updated(ddb, table):
    # A string set of 40,000 members fits in one item. Writing it again, comparing it in a
    # condition (in another member order), and adding and deleting members all answer correctly.
    big = members(0, SET_MEMBERS)
    item = {"pk": {"S": "set"}, "s": {"SS": big}}
    ddb.put_item(TableName=table, Item=item)
    ddb.put_item(TableName=table, Item=item)
    ddb.put_item(
        TableName=table,
        Item=item,
        ConditionExpression="s = :same AND contains(s, :one)",
        ExpressionAttributeValues={":same": {"SS": list(reversed(big))}, ":one": {"S": "m39999"}},
    )
    almost = big[:-1] + ["other"]
    with pytest.raises(ClientError) as e:
        ddb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="s = :almost",
            ExpressionAttributeValues={":almost": {"SS": almost}},
        )
    assert_error(e, "ConditionalCheckFailedException", "The conditional request failed")
    ddb.update_item(
        TableName=table,
        Key=key("set"),
        UpdateExpression="ADD s :more",
        ExpressionAttributeValues={":more": {"SS": members(30_000, 50_000)}},
    )
    ddb.update_item(
        TableName=table,
        Key=key("set"),
        UpdateExpression="DELETE s :less",
        ExpressionAttributeValues={":less": {"SS": members(0, 25_000)}},
    )
    got = ddb.get_item(TableName=table, Key=key("set"), ConsistentRead=True)["Item"]["s"]["SS"]
    assert sorted(got) == members(25_000, 50_000)


@pytest.mark.timeout(60)
def test_large_number_set_compares_by_value(ddb, table):
    # Number sets are equal when their numbers are, however they are written and ordered.
    numbers = [str(i) for i in range(SET_MEMBERS)]
    written_otherwise = [f"{i}.000E0" for i in reversed(range(SET_MEMBERS))]
    ddb.put_item(TableName=table, Item={"pk": {"S": "ns"}, "n": {"NS": numbers}})
    ddb.update_item(
        TableName=table,
        Key=key("ns"),
        UpdateExpression="SET seen = :t",
        ConditionExpression="n = :n",
        ExpressionAttributeValues={":n": {"NS": written_otherwise}, ":t": {"BOOL": True}},
    )
    assert ddb.get_item(TableName=table, Key=key("ns"), ConsistentRead=True)["Item"]["seen"] == {"BOOL": True}


@pytest.mark.timeout(60)
def test_binary_contains_on_near_matches(ddb, table):
    # contains() on binaries where the needle almost matches everywhere: "aaa…b" in "aaa…a" is
    # false, "aaa…b" in "aaa…ab" true.
    haystack = b"a" * 390_000
    needle = b"a" * 195_000 + b"b"
    ddb.put_item(TableName=table, Item={"pk": {"S": "bin"}, "b": {"B": haystack}})
    with pytest.raises(ClientError) as e:
        ddb.update_item(
            TableName=table,
            Key=key("bin"),
            UpdateExpression="SET hit = :t",
            ConditionExpression="contains(b, :needle)",
            ExpressionAttributeValues={":needle": {"B": needle}, ":t": {"BOOL": True}},
        )
    assert_error(e, "ConditionalCheckFailedException", "The conditional request failed")
    ddb.put_item(TableName=table, Item={"pk": {"S": "bin"}, "b": {"B": haystack + b"b"}})
    ddb.update_item(
        TableName=table,
        Key=key("bin"),
        UpdateExpression="SET hit = :t",
        ConditionExpression="contains(b, :needle)",
        ExpressionAttributeValues={":needle": {"B": needle}, ":t": {"BOOL": True}},
    )


@pytest.mark.timeout(60)
def test_removing_hundreds_of_elements_of_a_long_list(ddb, table):
    # REMOVE of 350 elements of a 60,000-element list: indexes refer to the list as it was.
    ddb.put_item(TableName=table, Item={"pk": {"S": "list"}, "l": {"L": [{"N": str(i)} for i in range(60_000)]}})
    removed = [i * 170 for i in range(350)]
    ddb.update_item(TableName=table, Key=key("list"), UpdateExpression="REMOVE " + ", ".join(f"l[{i}]" for i in removed))
    got = [int(v["N"]) for v in ddb.get_item(TableName=table, Key=key("list"), ConsistentRead=True)["Item"]["l"]["L"]]
    gone = set(removed)
    assert got == [i for i in range(60_000) if i not in gone]


@pytest.mark.timeout(60)
def test_copies_of_a_large_attribute_beyond_the_item_size(ddb, table):
    # SET copying a 150 KB attribute twice fits in the item; 400 copies in one 4 KB expression
    # are refused as too large, and the item is unchanged.
    ddb.put_item(TableName=table, Item={"pk": {"S": "copy"}, "b": {"S": "x" * 150_000}})
    copies = lambda n: "SET " + ", ".join(f"a{i} = b" for i in range(n))  # noqa: E731
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key=key("copy"), UpdateExpression=copies(400))
    assert_error(e, "ValidationException", "Item size to update has exceeded the maximum allowed size")
    assert set(ddb.get_item(TableName=table, Key=key("copy"), ConsistentRead=True)["Item"]) == {"pk", "b"}
    ddb.update_item(TableName=table, Key=key("copy"), UpdateExpression=copies(1))
    assert set(ddb.get_item(TableName=table, Key=key("copy"), ConsistentRead=True)["Item"]) == {"pk", "b", "a0"}


@pytest.mark.timeout(60)
def test_attributes_to_get_with_200000_names(ddb, table):
    # The legacy AttributesToGet has no count limit of its own; a repeated name is reported (the
    # first one repeated), and many distinct names are served.
    ddb.put_item(TableName=table, Item={"pk": {"S": "legacy"}, "a5": {"S": "x"}})
    names = [f"a{i}" for i in range(200_000)]
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key=key("legacy"), AttributesToGet=names + ["a17", "a3"])
    assert_error(e, "ValidationException",
                 "One or more parameter values were invalid: Duplicate value in attribute name: a17")
    got = ddb.get_item(TableName=table, Key=key("legacy"), AttributesToGet=names)
    assert got["Item"] == {"a5": {"S": "x"}}


# ---- Case 4: REMOVE / DELETE on a missing item create nothing -----------------------------------


def test_remove_or_delete_on_a_missing_item_creates_nothing(ddb, table):
    # DynamoDB creates an item only when an update gives it an attribute: REMOVE and DELETE on a
    # missing item leave it missing, return no attributes even for ALL_NEW, and consume one
    # write unit.
    for update, values in [
        ("REMOVE a, b", None),
        ("DELETE s :v", {":v": {"SS": ["x"]}}),
        ("REMOVE a DELETE s :v", {":v": {"SS": ["x"]}}),
    ]:
        for return_values in ["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"]:
            kwargs = {"ExpressionAttributeValues": values} if values else {}
            got = ddb.update_item(
                TableName=table,
                Key=key("missing"),
                UpdateExpression=update,
                ReturnValues=return_values,
                ReturnConsumedCapacity="TOTAL",
                **kwargs,
            )
            assert "Attributes" not in got, (update, return_values, got)
            assert got["ConsumedCapacity"]["CapacityUnits"] == 1.0
            assert "Item" not in ddb.get_item(TableName=table, Key=key("missing"), ConsistentRead=True)
    # The same in a transaction.
    ddb.transact_write_items(TransactItems=[{"Update": {"TableName": table, "Key": key("missing"), "UpdateExpression": "REMOVE a"}}])
    assert "Item" not in ddb.get_item(TableName=table, Key=key("missing"), ConsistentRead=True)
    assert ddb.scan(TableName=table, ConsistentRead=True)["Count"] == 0
    # SET and ADD do create it.
    ddb.update_item(TableName=table, Key=key("missing"), UpdateExpression="REMOVE a SET b = :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    assert ddb.get_item(TableName=table, Key=key("missing"), ConsistentRead=True)["Item"] == {
        "pk": {"S": "missing"}, "b": {"N": "1"}}


def test_remove_on_a_missing_item_writes_no_stream_record(ddb, streams, make_table):
    spec = support.hash_table_spec(support.unique_table_name())
    spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    described = make_table(**spec)
    name, arn = described["TableName"], described["LatestStreamArn"]
    ddb.update_item(TableName=name, Key=key("ghost"), UpdateExpression="REMOVE a")
    ddb.put_item(TableName=name, Item={"pk": {"S": "real"}})
    records = [r for shard in support.wait_for_records(streams, arn, 1).values() for r in shard]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [("INSERT", "real")]


# ---- Case 6: thousands of document paths in one expression --------------------------------------


@pytest.mark.timeout(60)
def test_4kb_projection_of_overlapping_paths_is_refused_quickly(ddb, table):
    # 2,000 copies of one path in a 4 KB ProjectionExpression: one overlap, reported for the first
    # pair; asked 50 times, as a client looping on it would.
    ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "a": {"S": "x"}})
    projection = ",".join(["a"] * 2000)
    assert len(projection) < 4096
    for _ in range(50):
        with pytest.raises(ClientError) as e:
            ddb.get_item(TableName=table, Key=key("p"), ProjectionExpression=projection)
        assert_error(e, "ValidationException", f"Invalid ProjectionExpression: {OVERLAP}path one: [a], path two: [a]")
    # 800 distinct paths are served.
    distinct = ",".join(f"a{i}" for i in range(800))
    got = ddb.get_item(TableName=table, Key=key("p"), ProjectionExpression=distinct + ",a")
    assert got["Item"] == {"a": {"S": "x"}}


def test_update_expression_overlap_found_among_hundreds_of_paths(ddb, table):
    paths = [f"a{i}" for i in range(600)]
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key=key("u"), UpdateExpression="REMOVE " + ", ".join(paths + ["a5.b"]))
    assert_error(e, "ValidationException", f"Invalid UpdateExpression: {OVERLAP}path one: [a5], path two: [a5, b]")


# ---- Case 7: limits -----------------------------------------------------------------------------


def test_attribute_names_up_to_64_kb(ddb, table):
    # Attribute names are less than 64 KB: 65,535 bytes is accepted, 65,536 refused everywhere an
    # item gets its names (top level, nested maps, update expressions, legacy updates).
    ok, too_long = "n" * 65_535, "n" * 65_536
    ddb.put_item(TableName=table, Item={"pk": {"S": "ok"}, ok: {"S": "v"}, "m": {"M": {ok: {"N": "1"}}}})
    cases = [
        lambda: ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, too_long: {"S": "v"}}),
        lambda: ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "m": {"M": {too_long: {"S": "v"}}}}),
        lambda: ddb.update_item(TableName=table, Key=key("x"), UpdateExpression="SET #n = :v",
                                ExpressionAttributeNames={"#n": too_long}, ExpressionAttributeValues={":v": {"S": "v"}}),
        lambda: ddb.update_item(TableName=table, Key=key("x"), UpdateExpression="SET m = :v",
                                ExpressionAttributeValues={":v": {"M": {too_long: {"S": "v"}}}}),
        lambda: ddb.update_item(TableName=table, Key=key("x"),
                                AttributeUpdates={too_long: {"Action": "PUT", "Value": {"S": "v"}}}),
    ]
    for case in cases:
        with pytest.raises(ClientError) as e:
            case()
        assert_error(e, "ValidationException", NAME_TOO_LARGE)
    assert "Item" not in ddb.get_item(TableName=table, Key=key("x"), ConsistentRead=True)


def included_index(index_key, non_key):
    """A GSI `gsi` keyed on `index_key` that projects `non_key`: the two names whose lengths the
    index tests below push past 255 bytes."""
    return {
        "IndexName": "gsi",
        "KeySchema": [{"AttributeName": index_key, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": [non_key]},
    }


def test_index_key_and_projected_names_up_to_255_bytes(ddb_raw):
    # Key attribute names (of the table and of its indexes) and projected non-key attribute names
    # are at most 255 bytes.
    long_name = "k" * 256

    def create(index_key, non_key):
        return ddb_raw.create_table(
            TableName=support.unique_table_name(),
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": index_key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[included_index(index_key, non_key)],
        )

    with pytest.raises(ClientError) as e:
        create(long_name, "x")
    code, message, _ = support.error_of(e)
    assert code == "ValidationException"
    assert (f"Value '{long_name}' at 'globalSecondaryIndexes.1.member.keySchema.1.member.attributeName' "
            "failed to satisfy constraint: Member must have length less than or equal to 255") in message
    assert (f"Value '{long_name}' at 'attributeDefinitions.2.member.attributeName' "
            "failed to satisfy constraint: Member must have length less than or equal to 255") in message
    with pytest.raises(ClientError) as e:
        create("g", long_name)
    assert_error(
        e,
        "ValidationException",
        f"1 validation error detected: Value '[{long_name}]' at 'globalSecondaryIndexes.1.member.projection."
        "nonKeyAttributes' failed to satisfy constraint: Member must satisfy constraint: [Member must have "
        "length less than or equal to 255, Member must have length greater than or equal to 1]",
    )


def test_update_table_index_key_and_projected_names_up_to_255_bytes(ddb_raw, table):
    # UpdateTable's GlobalSecondaryIndexUpdates.Create follows CreateTable's rules: key attribute
    # names and projected non-key attribute names are at most 255 bytes.
    long_name = "k" * 256

    def add_index(index_key, non_key):
        return ddb_raw.update_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": index_key, "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": included_index(index_key, non_key)}],
        )

    with pytest.raises(ClientError) as e:
        add_index(long_name, "x")
    code, message, _ = support.error_of(e)
    assert code == "ValidationException"
    assert (f"Value '{long_name}' at 'globalSecondaryIndexUpdates.1.member.create.keySchema.1.member."
            "attributeName' failed to satisfy constraint: Member must have length less than or equal "
            "to 255") in message
    with pytest.raises(ClientError) as e:
        add_index("g", long_name)
    code, message, _ = support.error_of(e)
    assert code == "ValidationException"
    assert (f"Value '[{long_name}]' at 'globalSecondaryIndexUpdates.1.member.create.projection."
            "nonKeyAttributes' failed to satisfy constraint") in message
    # Nothing was created by the refused requests.
    assert "GlobalSecondaryIndexes" not in ddb_raw.describe_table(TableName=table)["Table"]


@pytest.mark.timeout(60)
def test_transaction_over_4_mb_is_refused(ddb, table):
    # The items of one TransactWriteItems may total at most 4 MB: 11 items of 390,000 bytes are
    # refused whole, 10 commit.
    def puts(count):
        return [{"Put": {"TableName": table, "Item": {"pk": {"S": f"big{i}"}, "v": {"B": b"x" * 389_990}}}}
                for i in range(count)]

    def stored():
        return sum("Item" in ddb.get_item(TableName=table, Key=key(f"big{i}"), ProjectionExpression="pk")
                   for i in range(11))

    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=puts(11))
    assert_error(e, "ValidationException", "Transaction request cannot be larger than 4 MB")
    assert stored() == 0
    ddb.transact_write_items(TransactItems=puts(10))
    assert stored() == 10


def test_transact_get_of_one_item_twice_is_refused(ddb, table):
    get = {"Get": {"TableName": table, "Key": key("twice")}}
    with pytest.raises(ClientError) as e:
        ddb.transact_get_items(TransactItems=[get, get])
    assert_error(e, "ValidationException", "Transaction request cannot include multiple operations on one item")


def test_invalid_item_in_a_transaction_cancels_it_with_validation_error(ddb, make_table):
    # An item DynamoDB cannot store (over 400 KB; an index key of the wrong type) cancels the
    # transaction with that action's ValidationError reason; nothing is written. Every action
    # has its reason.
    spec = support.hash_table_spec(support.unique_table_name())
    spec["AttributeDefinitions"].append({"AttributeName": "g", "AttributeType": "S"})
    spec["GlobalSecondaryIndexes"] = [{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                       "Projection": {"ProjectionType": "ALL"}}]
    table = make_table(**spec)["TableName"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "guarded"}, "v": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "fine"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "huge"}, "v": {"B": b"x" * 410_000}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "typed"}, "g": {"N": "1"}}}},
            {"ConditionCheck": {"TableName": table, "Key": key("guarded"), "ConditionExpression": "v = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        ])
    assert support.error_of(e)[0] == "TransactionCanceledException"
    assert support.error_of(e)[1] == ("Transaction cancelled, please refer cancellation reasons for specific reasons "
                                      "[None, ValidationError, ValidationError, ConditionalCheckFailed]")
    reasons = e.value.response["CancellationReasons"]
    assert reasons[1] == {"Code": "ValidationError", "Message": "Item size has exceeded the maximum allowed size"}
    assert reasons[2]["Code"] == "ValidationError"
    assert reasons[2]["Message"].startswith("One or more parameter values were invalid")
    assert ddb.scan(TableName=table, ConsistentRead=True, Select="COUNT")["Count"] == 1


def test_more_than_300_operators_are_refused(ddb, table):
    # At most 300 operators and functions per expression (AND/OR/NOT not counted).
    comparisons = lambda n: " AND ".join(["v = :v"] * n)  # noqa: E731
    ddb.put_item(TableName=table, Item={"pk": {"S": "ops"}, "v": {"N": "1"}},
                 ConditionExpression=f"attribute_not_exists(pk) OR ({comparisons(299)})",
                 ExpressionAttributeValues={":v": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "ops"}}, ConditionExpression=comparisons(301),
                     ExpressionAttributeValues={":v": {"N": "1"}})
    assert_error(e, "ValidationException",
                 "Invalid ConditionExpression: The expression contains too many operators; operator count: 301")
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=table, FilterExpression="v = :v OR " + comparisons(300), ExpressionAttributeValues={":v": {"N": "1"}})
    assert_error(e, "ValidationException",
                 "Invalid FilterExpression: The expression contains too many operators; operator count: 301")
    long = "attribute_exists(pk) AND " + " " * 4096 + "v = :v"
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=table, FilterExpression=long, ExpressionAttributeValues={":v": {"N": "1"}})
    assert_error(e, "ValidationException",
                 f"Invalid FilterExpression: Expression size has exceeded the maximum allowed size; expression size: {len(long)}")
