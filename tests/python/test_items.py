"""Data plane, happy paths: PutItem, GetItem and DeleteItem with every attribute type, number
normalisation, ReturnValues, ReturnConsumedCapacity and projections."""

import pytest
from botocore.exceptions import ClientError

from support import assert_error

KB = 1024


def get(ddb, table, key, **kwargs):
    return ddb.get_item(TableName=table, Key=key, ConsistentRead=True, **kwargs)


def canonical(value):
    """Attribute values with sets sorted, so comparisons ignore the order DynamoDB returns set
    members in (sets are unordered)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("SS", "NS", "BS"):
                out[k] = sorted(v)
            else:
                out[k] = canonical(v)
        return out
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


# ---- Every type round-trips --------------------------------------------------------------------


def test_every_attribute_type_round_trips(ddb, table):
    # Each of the ten attribute types comes back as it was written, nested ones included.
    item = {
        "pk": {"S": "all-types"},
        "s": {"S": "héllo wörld ✓"},
        "n": {"N": "-12.5"},
        "b": {"B": bytes([0, 1, 2, 254, 255])},
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "z": {"NULL": True},
        "m": {"M": {"inner": {"S": "x"}, "deeper": {"M": {"k": {"N": "1"}}}}},
        "l": {"L": [{"S": "a"}, {"N": "2"}, {"L": [{"BOOL": True}]}, {"M": {}}]},
        "ss": {"SS": ["b", "a", "c"]},
        "ns": {"NS": ["3", "1", "2"]},
        "bs": {"BS": [b"\x02", b"\x01"]},
    }
    ddb.put_item(TableName=table, Item=item)
    assert canonical(get(ddb, table, {"pk": {"S": "all-types"}})["Item"]) == canonical(item)


def test_empty_containers_and_empty_values_are_allowed_outside_keys(ddb, table):
    # Empty maps and lists are values, and since 2020 so are empty strings and binaries on
    # non-key attributes.
    item = {
        "pk": {"S": "empties"},
        "m": {"M": {}},
        "l": {"L": []},
        "s": {"S": ""},
        "b": {"B": b""},
    }
    ddb.put_item(TableName=table, Item=item)
    assert get(ddb, table, {"pk": {"S": "empties"}})["Item"] == item


def test_set_members_may_be_empty_strings(ddb, table):
    # A string set may hold the empty string as a member (the set itself may not be empty).
    item = {"pk": {"S": "empty-member"}, "ss": {"SS": ["", "a"]}}
    ddb.put_item(TableName=table, Item=item)
    assert canonical(get(ddb, table, {"pk": {"S": "empty-member"}})["Item"]) == canonical(item)


@pytest.mark.parametrize(
    "written, stored",
    [
        ("1.50", "1.5"),
        ("-0", "0"),
        ("1e3", "1000"),
        ("1E+5", "100000"),
        ("+3", "3"),
        (".123", "0.123"),
        ("0001.23", "1.23"),
        ("100", "100"),
        ("-17.40", "-17.4"),
    ],
)
def test_numbers_are_stored_in_canonical_form(ddb, table, written, stored):
    # Numbers are decimals, not strings: DynamoDB drops leading and trailing zeros, the sign of
    # zero and exponent notation, and returns the plain canonical form.
    ddb.put_item(TableName=table, Item={"pk": {"S": "num"}, "n": {"N": written}})
    assert get(ddb, table, {"pk": {"S": "num"}})["Item"]["n"] == {"N": stored}


def test_number_set_members_are_canonical(ddb, table):
    # Set members are normalised like scalar numbers.
    ddb.put_item(TableName=table, Item={"pk": {"S": "ns"}, "ns": {"NS": ["1.0", "2.50", "3e1"]}})
    assert sorted(get(ddb, table, {"pk": {"S": "ns"}})["Item"]["ns"]["NS"]) == ["1", "2.5", "30"]


def test_numbers_at_the_edges_of_the_range_round_trip(ddb, table):
    # The number type spans magnitudes 1E-130 to 9.99…E+125 with 38 significant digits; the
    # extremes are stored without loss (compared numerically here).
    from decimal import Decimal

    for text in ["1e125", "-9.9999999999999999999999999999999999999e125", "1e-130",
                 "3.1415926535897932384626433832795028841"]:
        ddb.put_item(TableName=table, Item={"pk": {"S": "edge"}, "n": {"N": text}})
        got = get(ddb, table, {"pk": {"S": "edge"}})["Item"]["n"]["N"]
        assert Decimal(got) == Decimal(text)


def test_number_key_is_canonical(ddb, make_table):
    # A number key is matched by value: written as 1.50, it is found as 1.5 and returned as 1.5.
    name = make_table(
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableName"]
    ddb.put_item(TableName=name, Item={"pk": {"N": "1.50"}, "v": {"S": "x"}})
    item = get(ddb, name, {"pk": {"N": "1.5"}})["Item"]
    assert item == {"pk": {"N": "1.5"}, "v": {"S": "x"}}


def test_binary_key_round_trips(ddb, make_table):
    # Binary keys compare by bytes, including zero bytes.
    name = make_table(
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableName"]
    ddb.put_item(TableName=name, Item={"pk": {"B": b"\x00\xff"}, "v": {"S": "x"}})
    assert get(ddb, name, {"pk": {"B": b"\x00\xff"}})["Item"]["v"] == {"S": "x"}
    assert "Item" not in get(ddb, name, {"pk": {"B": b"\x00"}})


def test_composite_key_items_are_distinct_per_sort_key(ddb, composite_table):
    # Items sharing a partition key are told apart by the sort key.
    for sk in ("a", "b"):
        ddb.put_item(
            TableName=composite_table,
            Item={"pk": {"S": "p"}, "sk": {"S": sk}, "v": {"S": sk.upper()}},
        )
    for sk in ("a", "b"):
        item = get(ddb, composite_table, {"pk": {"S": "p"}, "sk": {"S": sk}})["Item"]
        assert item["v"] == {"S": sk.upper()}


# ---- Put, Get, Delete semantics ----------------------------------------------------------------


def test_get_missing_item_has_no_item_member(ddb, table):
    # A missing item is not an error: the response simply has no Item.
    response = get(ddb, table, {"pk": {"S": "nobody"}})
    assert "Item" not in response


def test_put_replaces_the_whole_item(ddb, table):
    # PutItem replaces the item: attributes absent from the new item are gone.
    key = {"pk": {"S": "replace"}}
    ddb.put_item(TableName=table, Item={**key, "a": {"S": "1"}, "b": {"S": "2"}})
    ddb.put_item(TableName=table, Item={**key, "c": {"S": "3"}})
    assert get(ddb, table, key)["Item"] == {**key, "c": {"S": "3"}}


def test_delete_removes_item(ddb, table):
    # After DeleteItem the item is gone.
    key = {"pk": {"S": "doomed"}}
    ddb.put_item(TableName=table, Item={**key, "a": {"S": "1"}})
    ddb.delete_item(TableName=table, Key=key)
    assert "Item" not in get(ddb, table, key)


def test_delete_missing_item_succeeds(ddb, table):
    # Deleting an item that is not there is not an error, and returns no Attributes.
    response = ddb.delete_item(TableName=table, Key={"pk": {"S": "never"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in response


def test_put_return_values_none_returns_nothing(ddb, table):
    # ReturnValues NONE (the default) returns no Attributes even when an item was replaced.
    key = {"pk": {"S": "rv-none"}}
    ddb.put_item(TableName=table, Item={**key, "a": {"S": "1"}})
    assert "Attributes" not in ddb.put_item(TableName=table, Item=key, ReturnValues="NONE")
    assert "Attributes" not in ddb.put_item(TableName=table, Item=key)


def test_put_return_values_all_old(ddb, table):
    # ReturnValues ALL_OLD returns the replaced item, and nothing when there was none.
    key = {"pk": {"S": "rv-old"}}
    first = ddb.put_item(TableName=table, Item={**key, "a": {"S": "1"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in first
    second = ddb.put_item(TableName=table, Item={**key, "a": {"S": "2"}}, ReturnValues="ALL_OLD")
    assert second["Attributes"] == {**key, "a": {"S": "1"}}


def test_delete_return_values_all_old(ddb, table):
    # DeleteItem with ALL_OLD returns the item it deleted.
    key = {"pk": {"S": "del-old"}}
    ddb.put_item(TableName=table, Item={**key, "a": {"N": "7"}})
    response = ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")
    assert response["Attributes"] == {**key, "a": {"N": "7"}}


@pytest.mark.parametrize("value", ["ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"])
def test_put_return_values_other_than_all_old_or_none(ddb, table, value):
    # PutItem can only return the old item: the update-only ReturnValues are refused.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}}, ReturnValues=value)
    assert_error(
        e, "ValidationException", "ReturnValues can only be ALL_OLD or NONE", optional_envelope=True
    )


@pytest.mark.parametrize("value", ["ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"])
def test_delete_return_values_other_than_all_old_or_none(ddb, table, value):
    # DeleteItem, like PutItem, can only return the old item; DynamoDB sends this inside the
    # validation envelope (eu-west-2 and us-east-1, 2026-10).
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=table, Key={"pk": {"S": "x"}}, ReturnValues=value)
    assert_error(
        e, "ValidationException", "1 validation error detected: ReturnValues can only be ALL_OLD or NONE"
    )


# ---- ReturnConsumedCapacity -------------------------------------------------------------------


def sized_item(key_value, total_bytes):
    """An item on table key `pk` whose DynamoDB size (attribute names plus values, UTF-8) is
    exactly `total_bytes`: 'pk' + key + 'data' + padding."""
    overhead = len("pk") + len(key_value) + len("data")
    return {"pk": {"S": key_value}, "data": {"S": "x" * (total_bytes - overhead)}}


def test_put_without_return_consumed_capacity_reports_none(ddb, table):
    # ConsumedCapacity appears only when asked for.
    response = ddb.put_item(TableName=table, Item={"pk": {"S": "quiet"}})
    assert "ConsumedCapacity" not in response
    response = ddb.put_item(TableName=table, Item={"pk": {"S": "quiet"}}, ReturnConsumedCapacity="NONE")
    assert "ConsumedCapacity" not in response


def test_put_total_capacity_is_one_unit_per_kilobyte(ddb, table):
    # A write costs one unit per started KB: exactly 1 KB is one unit, one byte more is two.
    response = ddb.put_item(
        TableName=table, Item=sized_item("w1", KB), ReturnConsumedCapacity="TOTAL"
    )
    assert response["ConsumedCapacity"]["TableName"] == table
    assert response["ConsumedCapacity"]["CapacityUnits"] == 1.0
    response = ddb.put_item(
        TableName=table, Item=sized_item("w2", KB + 1), ReturnConsumedCapacity="TOTAL"
    )
    assert response["ConsumedCapacity"]["CapacityUnits"] == 2.0


def test_put_capacity_counts_the_larger_of_old_and_new_item(ddb, table):
    # Replacing an item costs the larger of the old and new sizes.
    ddb.put_item(TableName=table, Item=sized_item("shrink", 3 * KB))
    response = ddb.put_item(
        TableName=table, Item={"pk": {"S": "shrink"}}, ReturnConsumedCapacity="TOTAL"
    )
    assert response["ConsumedCapacity"]["CapacityUnits"] == 3.0


def test_put_indexes_capacity_breaks_out_the_table(ddb, table):
    # INDEXES adds the per-table breakdown to the total.
    response = ddb.put_item(
        TableName=table, Item={"pk": {"S": "idx"}}, ReturnConsumedCapacity="INDEXES"
    )
    consumed = response["ConsumedCapacity"]
    assert consumed["TableName"] == table
    assert consumed["CapacityUnits"] == 1.0
    assert consumed["Table"]["CapacityUnits"] == 1.0


def test_get_capacity_eventual_is_half_unit_strong_is_one(ddb, table):
    # A read costs one unit per started 4 KB when strongly consistent, half that when eventual.
    ddb.put_item(TableName=table, Item=sized_item("r1", 4 * KB))
    key = {"pk": {"S": "r1"}}
    strong = ddb.get_item(TableName=table, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    eventual = ddb.get_item(TableName=table, Key=key, ReturnConsumedCapacity="TOTAL")
    assert strong["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 1.0}
    assert eventual["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 0.5}


def test_get_capacity_rounds_up_per_four_kilobytes(ddb, table):
    # One byte past 4 KB is a second unit.
    ddb.put_item(TableName=table, Item=sized_item("r2", 4 * KB + 1))
    key = {"pk": {"S": "r2"}}
    strong = ddb.get_item(TableName=table, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    eventual = ddb.get_item(TableName=table, Key=key, ReturnConsumedCapacity="TOTAL")
    assert strong["ConsumedCapacity"]["CapacityUnits"] == 2.0
    assert eventual["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_get_capacity_ignores_projection(ddb, table):
    # A projection trims the response, not the read: the whole item is still paid for.
    ddb.put_item(TableName=table, Item=sized_item("r3", 4 * KB + 1))
    response = ddb.get_item(
        TableName=table,
        Key={"pk": {"S": "r3"}},
        ConsistentRead=True,
        ProjectionExpression="pk",
        ReturnConsumedCapacity="TOTAL",
    )
    assert response["Item"] == {"pk": {"S": "r3"}}
    assert response["ConsumedCapacity"]["CapacityUnits"] == 2.0


def test_get_missing_item_still_costs_a_read(ddb, table):
    # Looking up a missing item costs the minimum read.
    key = {"pk": {"S": "absent"}}
    strong = ddb.get_item(TableName=table, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    eventual = ddb.get_item(TableName=table, Key=key, ReturnConsumedCapacity="TOTAL")
    assert strong["ConsumedCapacity"]["CapacityUnits"] == 1.0
    assert eventual["ConsumedCapacity"]["CapacityUnits"] == 0.5


def test_get_indexes_capacity_breaks_out_the_table(ddb, table):
    # INDEXES on a read reports the table's share too.
    response = ddb.get_item(
        TableName=table, Key={"pk": {"S": "x"}}, ReturnConsumedCapacity="INDEXES"
    )
    assert response["ConsumedCapacity"]["CapacityUnits"] == 0.5
    assert response["ConsumedCapacity"]["Table"]["CapacityUnits"] == 0.5


def test_delete_capacity(ddb, table):
    # Deleting costs one unit per started KB of the deleted item, and one unit when nothing
    # was there.
    ddb.put_item(TableName=table, Item=sized_item("d1", 2 * KB + 1))
    big = ddb.delete_item(TableName=table, Key={"pk": {"S": "d1"}}, ReturnConsumedCapacity="TOTAL")
    assert big["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 3.0}
    none = ddb.delete_item(TableName=table, Key={"pk": {"S": "d1"}}, ReturnConsumedCapacity="TOTAL")
    assert none["ConsumedCapacity"]["CapacityUnits"] == 1.0


# ---- Projections ------------------------------------------------------------------------------


@pytest.fixture
def rich_item(ddb, table):
    item = {
        "pk": {"S": "rich"},
        "a": {"S": "A"},
        "b": {"N": "2"},
        "m": {"M": {"x": {"S": "X"}, "y": {"M": {"z": {"N": "26"}}}}},
        "l": {"L": [{"S": "l0"}, {"M": {"q": {"S": "Q"}}}, {"S": "l2"}]},
        "name": {"S": "reserved"},
    }
    ddb.put_item(TableName=table, Item=item)
    return {"pk": {"S": "rich"}}


def test_projection_selects_top_level_attributes(ddb, table, rich_item):
    # ProjectionExpression returns only the named attributes; the key is not added for free.
    item = get(ddb, table, rich_item, ProjectionExpression="a, b")["Item"]
    assert item == {"a": {"S": "A"}, "b": {"N": "2"}}


def test_projection_with_attribute_names(ddb, table, rich_item):
    # ExpressionAttributeNames stand in for names, including reserved words like `name`.
    item = get(
        ddb,
        table,
        rich_item,
        ProjectionExpression="#n, #a",
        ExpressionAttributeNames={"#n": "name", "#a": "a"},
    )["Item"]
    assert item == {"name": {"S": "reserved"}, "a": {"S": "A"}}


def test_projection_of_nested_paths(ddb, table, rich_item):
    # Map members and list elements are projected into the same shape they had.
    item = get(ddb, table, rich_item, ProjectionExpression="m.y.z, l[1].q, l[2]")["Item"]
    assert item == {
        "m": {"M": {"y": {"M": {"z": {"N": "26"}}}}},
        "l": {"L": [{"M": {"q": {"S": "Q"}}}, {"S": "l2"}]},
    }


def test_projection_of_missing_attribute_is_omitted(ddb, table, rich_item):
    # Naming an attribute the item lacks is not an error; it is simply absent.
    item = get(ddb, table, rich_item, ProjectionExpression="a, nope, m.nope")["Item"]
    assert item == {"a": {"S": "A"}}


def test_legacy_attributes_to_get(ddb, table, rich_item):
    # The legacy AttributesToGet still works as a top-level projection.
    item = get(ddb, table, rich_item, AttributesToGet=["a", "pk"])["Item"]
    assert item == {"a": {"S": "A"}, "pk": {"S": "rich"}}


def test_projection_and_attributes_to_get_together(ddb, table):
    # Expression and legacy parameters cannot be mixed in one request.
    with pytest.raises(ClientError) as e:
        get(ddb, table, {"pk": {"S": "x"}}, ProjectionExpression="a", AttributesToGet=["a"])
    assert_error(
        e,
        "ValidationException",
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}",
        optional_envelope=True,
    )


def test_projection_unused_attribute_name(ddb, table):
    # Every ExpressionAttributeNames entry must be used by an expression.
    with pytest.raises(ClientError) as e:
        get(
            ddb,
            table,
            {"pk": {"S": "x"}},
            ProjectionExpression="a",
            ExpressionAttributeNames={"#unused": "b"},
        )
    assert_error(
        e,
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
        optional_envelope=True,
    )


def test_projection_overlapping_paths(ddb, table):
    # Two projected paths may not overlap.
    with pytest.raises(ClientError) as e:
        get(ddb, table, {"pk": {"S": "x"}}, ProjectionExpression="a, a.b")
    assert_error(
        e,
        "ValidationException",
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove "
        "or rewrite one of these paths; path one: [a], path two: [a, b]",
    )
