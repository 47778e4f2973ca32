"""The pre-expression ("legacy") parameters: Expected with Exists/Value and with
ComparisonOperator/AttributeValueList, ConditionalOperator, AttributeUpdates (PUT/ADD/DELETE) and
AttributesToGet, as the API reference for PutItem, UpdateItem, DeleteItem and GetItem describes
them; and the refusals, including mixing legacy and expression parameters.

The Expected comparisons run as one data table: `expect_holds` writes the item, then deletes it
under the row's Expected map; a holding condition deletes it, a failing one raises
ConditionalCheckFailedException."""

import pytest
from botocore.exceptions import ClientError

from support import assert_error

CONDITION_FAILED = "The conditional request failed"
INVALID = "One or more parameter values were invalid: "


def S(s):
    return {"S": s}


def N(n):
    return {"N": n}


ITEM = {
    "pk": S("legacy"),
    "name": S("hello-world"),
    "n": N("10"),
    "tags": {"SS": ["a", "b"]},
    "list": {"L": [S("x"), N("1")]},
    "nothing": {"NULL": True},
}
KEY = {"pk": S("legacy")}


def get(ddb, table, key=KEY):
    return ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def canonical(value):
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def cmp(op, *values):
    return {"ComparisonOperator": op, "AttributeValueList": list(values)}


# (id, Expected, ConditionalOperator or None, holds for ITEM?)
EXPECTED = [
    # Exists/Value: Value alone means "equals" (Exists defaults to true).
    ("value-equal", {"name": {"Value": S("hello-world")}}, None, True),
    ("value-different", {"name": {"Value": S("other")}}, None, False),
    ("exists-true-with-value", {"n": {"Exists": True, "Value": N("10.0")}}, None, True),
    ("exists-false-absent", {"missing": {"Exists": False}}, None, True),
    ("exists-false-present", {"name": {"Exists": False}}, None, False),
    ("value-on-missing-attribute", {"missing": {"Value": S("x")}}, None, False),
    # ComparisonOperator with AttributeValueList.
    ("EQ", {"n": cmp("EQ", N("10"))}, None, True),
    ("EQ-other-type", {"n": cmp("EQ", S("10"))}, None, False),
    ("NE", {"n": cmp("NE", N("11"))}, None, True),
    ("NE-missing-attribute", {"missing": cmp("NE", N("11"))}, None, True),
    ("LT", {"n": cmp("LT", N("11"))}, None, True),
    ("LE", {"n": cmp("LE", N("10"))}, None, True),
    ("GT", {"n": cmp("GT", N("10"))}, None, False),
    ("GE", {"n": cmp("GE", N("10"))}, None, True),
    ("LT-string", {"name": cmp("LT", S("hello-zzz"))}, None, True),
    ("BETWEEN", {"n": cmp("BETWEEN", N("5"), N("10"))}, None, True),
    ("BETWEEN-outside", {"n": cmp("BETWEEN", N("11"), N("20"))}, None, False),
    ("IN", {"n": cmp("IN", N("1"), N("10"))}, None, True),
    ("IN-none", {"n": cmp("IN", N("1"), N("2"))}, None, False),
    ("BEGINS_WITH", {"name": cmp("BEGINS_WITH", S("hello"))}, None, True),
    ("BEGINS_WITH-no", {"name": cmp("BEGINS_WITH", S("world"))}, None, False),
    ("CONTAINS-substring", {"name": cmp("CONTAINS", S("o-w"))}, None, True),
    ("CONTAINS-set-member", {"tags": cmp("CONTAINS", S("a"))}, None, True),
    ("NOT_CONTAINS-set", {"tags": cmp("NOT_CONTAINS", S("z"))}, None, True),
    ("NOT_CONTAINS-substring", {"name": cmp("NOT_CONTAINS", S("hello"))}, None, False),
    # NULL and NOT_NULL test for the attribute's existence, not for the NULL type.
    ("NULL-absent", {"missing": {"ComparisonOperator": "NULL"}}, None, True),
    ("NULL-on-null-typed-attribute", {"nothing": {"ComparisonOperator": "NULL"}}, None, False),
    ("NOT_NULL-present", {"name": {"ComparisonOperator": "NOT_NULL"}}, None, True),
    ("NOT_NULL-absent", {"missing": {"ComparisonOperator": "NOT_NULL"}}, None, False),
    # Several conditions: AND by default, OR with ConditionalOperator.
    ("AND-default-one-fails", {"n": cmp("EQ", N("10")), "name": cmp("EQ", S("x"))}, None, False),
    ("AND-explicit-both-hold", {"n": cmp("EQ", N("10")), "name": cmp("EQ", S("hello-world"))},
     "AND", True),
    ("OR-one-holds", {"n": cmp("EQ", N("99")), "name": cmp("EQ", S("hello-world"))}, "OR", True),
    ("OR-none-holds", {"n": cmp("EQ", N("99")), "name": cmp("EQ", S("x"))}, "OR", False),
]


def expect_holds(ddb, table, expected, operator):
    ddb.put_item(TableName=table, Item=ITEM)
    kwargs = {"Expected": expected}
    if operator:
        kwargs["ConditionalOperator"] = operator
    try:
        ddb.delete_item(TableName=table, Key=KEY, **kwargs)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ConditionalCheckFailedException", e.response
        assert e.response["Error"]["Message"] == CONDITION_FAILED
        assert canonical(get(ddb, table)) == canonical(ITEM)
        return False
    assert get(ddb, table) is None
    return True


@pytest.mark.parametrize("expected, operator, holds",
                         [row[1:] for row in EXPECTED], ids=[row[0] for row in EXPECTED])
def test_expected_condition(ddb, table, expected, operator, holds):
    # Each row is one form of the legacy Expected parameter (API reference:
    # ExpectedAttributeValue), evaluated on ITEM.
    assert expect_holds(ddb, table, expected, operator) is holds


def test_expected_exists_false_prevents_overwrite(ddb, table):
    # The legacy way to create-if-absent: Expected {pk: {Exists: false}} on PutItem.
    ddb.put_item(TableName=table, Item=ITEM, Expected={"pk": {"Exists": False}})
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item=dict(ITEM, n=N("1")), Expected={"pk": {"Exists": False}})
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert canonical(get(ddb, table)) == canonical(ITEM)


def test_expected_on_update_item(ddb, table):
    # Expected guards UpdateItem too, here combined with AttributeUpdates.
    ddb.put_item(TableName=table, Item=ITEM)
    ddb.update_item(TableName=table, Key=KEY, Expected={"n": {"Value": N("10")}},
                    AttributeUpdates={"n": {"Action": "PUT", "Value": N("11")}})
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key=KEY, Expected={"n": {"Value": N("10")}},
                        AttributeUpdates={"n": {"Action": "PUT", "Value": N("12")}})
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert get(ddb, table)["n"] == N("11")


# ---- AttributeUpdates --------------------------------------------------------------------------

# (id, AttributeUpdates, the item after, starting from ITEM)
ATTRIBUTE_UPDATES = [
    # PUT adds or replaces; it is the default Action.
    ("PUT-replaces", {"name": {"Action": "PUT", "Value": S("new")}}, dict(ITEM, name=S("new"))),
    ("PUT-adds", {"extra": {"Action": "PUT", "Value": N("042")}}, dict(ITEM, extra=N("42"))),
    ("PUT-is-the-default", {"extra": {"Value": S("x")}}, dict(ITEM, extra=S("x"))),
    # ADD adds to a number or unions into a set; a missing attribute starts from nothing.
    ("ADD-number", {"n": {"Action": "ADD", "Value": N("-2.5")}}, dict(ITEM, n=N("7.5"))),
    ("ADD-number-missing", {"count2": {"Action": "ADD", "Value": N("5")}},
     dict(ITEM, count2=N("5"))),
    ("ADD-set", {"tags": {"Action": "ADD", "Value": {"SS": ["b", "c"]}}},
     dict(ITEM, tags={"SS": ["a", "b", "c"]})),
    # DELETE without a value removes the attribute; with a set value, removes those members.
    ("DELETE-attribute", {"name": {"Action": "DELETE"}}, {k: v for k, v in ITEM.items()
                                                          if k != "name"}),
    ("DELETE-missing-attribute", {"missing": {"Action": "DELETE"}}, ITEM),
    ("DELETE-set-members", {"tags": {"Action": "DELETE", "Value": {"SS": ["a", "z"]}}},
     dict(ITEM, tags={"SS": ["b"]})),
    ("DELETE-all-set-members", {"tags": {"Action": "DELETE", "Value": {"SS": ["a", "b"]}}},
     {k: v for k, v in ITEM.items() if k != "tags"}),
    # Several actions in one request.
    ("mixed-actions", {"name": {"Action": "PUT", "Value": S("n2")},
                       "n": {"Action": "ADD", "Value": N("1")},
                       "list": {"Action": "DELETE"}},
     dict({k: v for k, v in ITEM.items() if k != "list"}, name=S("n2"), n=N("11"))),
]


@pytest.mark.parametrize("updates, after",
                         [row[1:] for row in ATTRIBUTE_UPDATES], ids=[row[0] for row in ATTRIBUTE_UPDATES])
def test_attribute_updates(ddb, table, updates, after):
    # Each row is one Action of the legacy AttributeUpdates parameter (API reference:
    # AttributeValueUpdate); ALL_NEW and a consistent read both show the result.
    ddb.put_item(TableName=table, Item=ITEM)
    response = ddb.update_item(TableName=table, Key=KEY, AttributeUpdates=updates,
                               ReturnValues="ALL_NEW")
    assert canonical(response["Attributes"]) == canonical(after)
    assert canonical(get(ddb, table)) == canonical(after)


def test_attribute_updates_on_missing_item_creates_it(ddb, table):
    # "If no item with the specified key is found": PUT and ADD create the item.
    ddb.update_item(TableName=table, Key={"pk": S("new")},
                    AttributeUpdates={"a": {"Action": "PUT", "Value": S("x")},
                                      "c": {"Action": "ADD", "Value": N("3")}})
    assert get(ddb, table, {"pk": S("new")}) == {"pk": S("new"), "a": S("x"), "c": N("3")}


def test_update_without_updates_creates_key_only_item(ddb, table):
    # UpdateItem with neither AttributeUpdates nor UpdateExpression still writes the key.
    ddb.update_item(TableName=table, Key={"pk": S("bare")})
    assert get(ddb, table, {"pk": S("bare")}) == {"pk": S("bare")}


# ---- AttributesToGet ---------------------------------------------------------------------------


def test_attributes_to_get(ddb, table):
    # AttributesToGet returns only the named top-level attributes; missing ones are left out.
    ddb.put_item(TableName=table, Item=ITEM)
    response = ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True,
                            AttributesToGet=["name", "tags", "missing"])
    assert canonical(response["Item"]) == canonical({"name": ITEM["name"], "tags": ITEM["tags"]})


def test_attributes_to_get_names_are_literal(ddb, table):
    # Names in AttributesToGet are not expressions: dots and reserved words are plain names.
    ddb.put_item(TableName=table, Item={"pk": S("lit"), "a.b": S("dotted"), "Comment": S("c")})
    response = ddb.get_item(TableName=table, Key={"pk": S("lit")}, ConsistentRead=True,
                            AttributesToGet=["a.b", "Comment"])
    assert response["Item"] == {"a.b": S("dotted"), "Comment": S("c")}


# ---- Refusals ----------------------------------------------------------------------------------


def mixed(non_expression, expression):
    return ("Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{non_expression}}} Expression parameters: {{{expression}}}")


def test_expected_with_condition_expression(ddb, table):
    # Legacy and expression parameters cannot be mixed.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item=ITEM, Expected={"pk": {"Exists": False}},
                     ConditionExpression="attribute_not_exists(pk)")
    assert_error(e, "ValidationException", mixed("Expected", "ConditionExpression"),
                 optional_envelope=True)


def test_attribute_updates_with_update_expression(ddb, table):
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key=KEY, UpdateExpression="SET a = :v",
                        ExpressionAttributeValues={":v": S("x")},
                        AttributeUpdates={"a": {"Action": "PUT", "Value": S("x")}})
    assert_error(e, "ValidationException", mixed("AttributeUpdates", "UpdateExpression"),
                 optional_envelope=True)


def test_attributes_to_get_with_projection_expression(ddb, table):
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key=KEY, AttributesToGet=["a"], ProjectionExpression="a")
    assert_error(e, "ValidationException", mixed("AttributesToGet", "ProjectionExpression"),
                 optional_envelope=True)


# (id, Expected, exact message)
EXPECTED_REFUSALS = [
    ("exists-false-with-value", {"a": {"Exists": False, "Value": S("x")}},
     INVALID + "Value cannot be used when Exists is false for Attribute: a"),
    ("exists-true-without-value", {"a": {"Exists": True}},
     INVALID + "Value must be provided when Exists is true for Attribute: a"),
    ("eq-without-values", {"a": {"ComparisonOperator": "EQ"}},
     INVALID + "Value or AttributeValueList must be used with ComparisonOperator: EQ for "
     "Attribute: a"),
    ("eq-with-two-values", {"a": cmp("EQ", S("x"), S("y"))},
     INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator"),
]


@pytest.mark.parametrize("expected, message",
                         [row[1:] for row in EXPECTED_REFUSALS], ids=[row[0] for row in EXPECTED_REFUSALS])
def test_invalid_expected(ddb_raw, table, expected, message):
    # Each row is a malformed ExpectedAttributeValue.
    with pytest.raises(ClientError) as e:
        ddb_raw.put_item(TableName=table, Item=ITEM, Expected=expected)
    assert_error(e, "ValidationException", message, optional_envelope=True)
    assert get(ddb_raw, table) is None


def test_attribute_updates_add_of_a_string(ddb, table):
    # ADD is for numbers and sets (the API reference: "only supports Number and set data
    # types").
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key=KEY,
                        AttributeUpdates={"a": {"Action": "ADD", "Value": S("x")}})
    assert_error(e, "ValidationException", INVALID + "ADD action is not supported for the type S",
                 optional_envelope=True)


def test_attribute_updates_cannot_touch_the_key(ddb, table):
    # The key is immutable through AttributeUpdates too.
    ddb.put_item(TableName=table, Item=ITEM)
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key=KEY,
                        AttributeUpdates={"pk": {"Action": "PUT", "Value": S("other")}})
    assert_error(e, "ValidationException",
                 INVALID + "Cannot update attribute pk. This attribute is part of the key")
