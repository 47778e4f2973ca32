"""Data plane, refusals: what PutItem, GetItem and DeleteItem reject, and the exact error each
sends. Where DynamoDB's 2026 validation envelope is still rolling out, tests accept exactly the
bare message or the enveloped one (see support.ENVELOPE)."""

import pytest
from botocore.exceptions import ClientError

from support import ENVELOPE, NOT_NUMERIC, OVERFLOW, PRECISION, UNDERFLOW, assert_error, unique_table_name

KB = 1024
INVALID = "One or more parameter values were invalid: "
NO_MATCH = "The provided key element does not match the schema"


@pytest.fixture
def number_key_table(make_table):
    return make_table(
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableName"]


@pytest.fixture
def binary_key_table(make_table):
    return make_table(
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableName"]


# ---- Missing table, bad table name -------------------------------------------------------------


def test_put_into_missing_table(ddb):
    # Item operations on a missing table say only "Requested resource not found".
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=unique_table_name(), Item={"pk": {"S": "x"}})
    assert_error(e, "ResourceNotFoundException", "Requested resource not found")


def test_get_from_missing_table(ddb):
    # GetItem on a missing table is the same bare ResourceNotFoundException.
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=unique_table_name(), Key={"pk": {"S": "x"}})
    assert_error(e, "ResourceNotFoundException", "Requested resource not found")


def test_delete_from_missing_table(ddb):
    # DeleteItem on a missing table is the same bare ResourceNotFoundException.
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=unique_table_name(), Key={"pk": {"S": "x"}})
    assert_error(e, "ResourceNotFoundException", "Requested resource not found")


def test_put_with_invalid_table_name(ddb_raw):
    # A malformed table name is a validation error, not "not found".
    with pytest.raises(ClientError) as e:
        ddb_raw.put_item(TableName="bad table!@#", Item={"pk": {"S": "x"}})
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value 'bad table!@#' at 'tableName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    )


# ---- Keys: presence and type -------------------------------------------------------------------


def test_put_without_partition_key(ddb, table):
    # Every item must carry its key attributes.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"other": {"S": "x"}})
    assert_error(
        e, "ValidationException", INVALID + "Missing the key pk in the item", optional_envelope=True
    )


def test_put_without_sort_key(ddb, composite_table):
    # ... the sort key included.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=composite_table, Item={"pk": {"S": "x"}})
    assert_error(
        e, "ValidationException", INVALID + "Missing the key sk in the item", optional_envelope=True
    )


def test_put_with_wrong_key_type(ddb, table):
    # A key attribute must have the type its AttributeDefinition declares.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"N": "1"}})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Type mismatch for key pk expected: S actual: N",
        optional_envelope=True,
    )


def test_get_with_wrong_key_type(ddb, table):
    # For a Key parameter, any mismatch with the schema is one generic message.
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key={"pk": {"N": "1"}})
    assert_error(e, "ValidationException", NO_MATCH)


def test_get_with_extra_key_attribute(ddb, table):
    # A Key may hold only the key attributes.
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})
    assert_error(e, "ValidationException", NO_MATCH)


def test_get_without_sort_key(ddb, composite_table):
    # A Key must hold every key attribute.
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=composite_table, Key={"pk": {"S": "x"}})
    assert_error(e, "ValidationException", NO_MATCH)


def test_get_with_wrongly_named_key(ddb, table):
    # The right number of attributes under the wrong name is still a mismatch.
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key={"id": {"S": "x"}})
    assert_error(e, "ValidationException", NO_MATCH)


def test_get_with_non_scalar_key(ddb, table):
    # Key values are scalars; a list is a mismatch.
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key={"pk": {"L": [{"S": "x"}]}})
    assert_error(e, "ValidationException", NO_MATCH)


def test_delete_with_wrong_key_type(ddb, table):
    # DeleteItem's Key is checked like GetItem's.
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=table, Key={"pk": {"B": b"x"}})
    assert_error(e, "ValidationException", NO_MATCH)


# ---- Keys: empty and oversized values ----------------------------------------------------------

EMPTY_STRING_KEY = (
    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
    "contain an empty string value. Key: {}"
)
EMPTY_BINARY_KEY = (
    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
    "contain an empty binary value. Key: {}"
)


def test_put_with_empty_string_partition_key(ddb, table):
    # Empty strings are allowed in attributes but never in keys.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": ""}})
    assert_error(e, "ValidationException", EMPTY_STRING_KEY.format("pk"), optional_envelope=True)


def test_put_with_empty_string_sort_key(ddb, composite_table):
    # ... and the message names the offending key attribute.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=composite_table, Item={"pk": {"S": "x"}, "sk": {"S": ""}})
    assert_error(e, "ValidationException", EMPTY_STRING_KEY.format("sk"), optional_envelope=True)


def test_get_with_empty_string_key(ddb, table):
    # GetItem refuses an empty key string the same way (bare, no envelope).
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key={"pk": {"S": ""}})
    assert_error(e, "ValidationException", EMPTY_STRING_KEY.format("pk"))


def test_delete_with_empty_string_key(ddb, table):
    # So does DeleteItem.
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=table, Key={"pk": {"S": ""}})
    assert_error(e, "ValidationException", EMPTY_STRING_KEY.format("pk"))


def test_put_with_empty_binary_key(ddb, binary_key_table):
    # The binary analogue has its own wording.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=binary_key_table, Item={"pk": {"B": b""}})
    assert_error(e, "ValidationException", EMPTY_BINARY_KEY.format("pk"))


def test_partition_key_of_2048_bytes_is_accepted(ddb, table):
    # A partition key may be up to 2048 bytes.
    key = {"pk": {"S": "p" * 2048}}
    ddb.put_item(TableName=table, Item=key)
    assert ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == key


def test_partition_key_over_2048_bytes(ddb, table):
    # One byte more is refused (DynamoDB's message really lacks the space in "of2048").
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "p" * 2049}})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        optional_envelope=True,
    )


def test_partition_key_limit_counts_utf8_bytes(ddb, table):
    # The limit is in UTF-8 bytes, not characters: 1025 two-byte characters are 2050 bytes.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "é" * 1025}})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        optional_envelope=True,
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "é" * 1024}})


def test_sort_key_of_1024_bytes_is_accepted(ddb, composite_table):
    # A sort key may be up to 1024 bytes.
    key = {"pk": {"S": "p"}, "sk": {"S": "s" * 1024}}
    ddb.put_item(TableName=composite_table, Item=key)
    assert ddb.get_item(TableName=composite_table, Key=key, ConsistentRead=True)["Item"] == key


def test_sort_key_over_1024_bytes(ddb, composite_table):
    # One byte more is refused.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=composite_table, Item={"pk": {"S": "p"}, "sk": {"S": "s" * 1025}})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        optional_envelope=True,
    )


def test_get_with_oversized_sort_key(ddb, composite_table):
    # The same limit applies to keys that are only looked up.
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=composite_table, Key={"pk": {"S": "p"}, "sk": {"S": "s" * 1025}})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        optional_envelope=True,
    )


# ---- Item size -------------------------------------------------------------------------------


def test_item_just_under_400_kb_is_accepted(ddb, table):
    # Items may be up to 400 KB, attribute names and values together.
    item = {"pk": {"S": "big"}, "data": {"S": "x" * (399 * KB)}}
    ddb.put_item(TableName=table, Item=item)
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "big"}}, ConsistentRead=True)["Item"] == item


def test_item_over_400_kb(ddb, table):
    # Larger items are refused and nothing is written.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "huge"}, "data": {"S": "x" * (400 * KB)}})
    assert_error(
        e, "ValidationException", "Item size has exceeded the maximum allowed size", optional_envelope=True
    )
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "huge"}}, ConsistentRead=True)


def test_item_size_counts_attribute_names(ddb, table):
    # Attribute names count toward the 400 KB as much as values do: four names of 60 KB (each
    # within the 64 KB name limit) and 200 KB of values are over it.
    item = {"pk": {"S": "names"}}
    for i in range(4):
        item[str(i) * (60 * KB)] = {"S": "x" * (50 * KB)}
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item=item)
    assert_error(
        e, "ValidationException", "Item size has exceeded the maximum allowed size", optional_envelope=True
    )


# ---- Attribute values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, message",
    [
        ({"SS": []}, INVALID + "An string set  may not be empty"),
        ({"NS": []}, INVALID + "An number set  may not be empty"),
        ({"BS": []}, INVALID + "Binary sets should not be empty"),
    ],
    ids=["SS", "NS", "BS"],
)
def test_empty_sets_are_refused(ddb, table, value, message):
    # Sets may not be empty (note DynamoDB's "An string" and double space).
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "s": value})
    assert_error(e, "ValidationException", message, optional_envelope=True)


@pytest.mark.parametrize(
    "value, message",
    [
        ({"SS": ["a", "a"]}, INVALID + 'Input collection ["a", "a"] contains duplicates.'),
        ({"BS": [b"\x01", b"\x01"]}, INVALID + 'Input collection ["AQ==","AQ=="]of type BS contains duplicates.'),
        ({"NS": ["2", "1", "2"]}, INVALID + "Input collection contains duplicates."),
    ],
    ids=["SS", "BS", "NS"],
)
def test_duplicate_set_members_are_refused(ddb, table, value, message):
    # Set members are unique. PutItem reports the duplicate inside the validation envelope, with
    # string and binary members quoted (four regions, 2026-10).
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "s": value})
    assert_error(e, "ValidationException", ENVELOPE + message)


@pytest.mark.parametrize(
    "number, message",
    [
        ("1e126", OVERFLOW),
        ("-1e126", OVERFLOW),
        ("1e-131", UNDERFLOW),
        ("123456789012345678901234567890123456789", PRECISION),
        ("abc", NOT_NUMERIC + ": abc"),
        ("NaN", NOT_NUMERIC + ": NaN"),
        ("Infinity", NOT_NUMERIC + ": Infinity"),
        (" 1", NOT_NUMERIC + ":  1"),
        ("", NOT_NUMERIC + ": "),
    ],
    ids=["1e126", "-1e126", "1e-131", "39-digits", "abc", "NaN", "Infinity", "leading-space", "empty"],
)
def test_invalid_numbers_are_refused_by_put(ddb, table, number, message):
    # Numbers carry at most 38 significant digits with magnitudes 1E-130 to below 1E+126, and
    # must parse; PutItem reports a bad number inside the validation envelope.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "n": {"N": number}})
    assert_error(e, "ValidationException", ENVELOPE + message)


def test_invalid_number_in_set_is_refused(ddb, table):
    # Set members are validated like scalars.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "n": {"NS": ["1", "1e126"]}})
    assert_error(e, "ValidationException", ENVELOPE + OVERFLOW)


def test_invalid_number_in_get_key_is_bare(ddb, number_key_table):
    # GetItem reports a malformed number key without the envelope.
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=number_key_table, Key={"pk": {"N": "abc"}})
    assert_error(e, "ValidationException", NOT_NUMERIC + ": abc")


def test_null_false_is_refused(ddb, table):
    # NULL is a flag that must be true.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "z": {"NULL": False}})
    assert_error(
        e,
        "ValidationException",
        INVALID + "Null attribute value types must have the value of true",
        optional_envelope=True,
    )


def test_attribute_value_with_two_types(ddb_raw, table):
    # An AttributeValue holds exactly one type.
    with pytest.raises(ClientError) as e:
        ddb_raw.put_item(TableName=table, Item={"pk": {"S": "x"}, "a": {"S": "1", "N": "1"}})
    assert_error(
        e,
        "ValidationException",
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of "
        "the supported datatypes",
        optional_envelope=True,
    )


def test_attribute_value_with_no_type(ddb_raw, table):
    # ... and never none.
    with pytest.raises(ClientError) as e:
        ddb_raw.put_item(TableName=table, Item={"pk": {"S": "x"}, "a": {}})
    assert_error(
        e,
        "ValidationException",
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        optional_envelope=True,
    )


# ---- Nesting ------------------------------------------------------------------------------------


def nested_map(depth):
    """`depth` single-key maps around a string leaf."""
    value = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"n": value}}
    return value


def test_nesting_of_31_maps_is_accepted(ddb, table):
    # Documents may nest 32 levels, counting the attribute itself: 31 maps around a leaf fit.
    item = {"pk": {"S": "deep"}, "d": nested_map(31)}
    ddb.put_item(TableName=table, Item=item)
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "deep"}}, ConsistentRead=True)["Item"] == item


def test_nesting_of_32_maps_is_refused(ddb, table):
    # One level more is refused.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "deeper"}, "d": nested_map(32)})
    assert_error(
        e,
        "ValidationException",
        "Nesting Levels have exceeded supported limits: Attributes in the item have nested "
        "levels beyond supported limit",
        optional_envelope=True,
    )


def test_nesting_counts_lists_too(ddb, table):
    # Lists count as levels just as maps do.
    value = {"S": "leaf"}
    for _ in range(32):
        value = {"L": [value]}
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "deep-list"}, "d": value})
    assert_error(
        e,
        "ValidationException",
        "Nesting Levels have exceeded supported limits: Attributes in the item have nested "
        "levels beyond supported limit",
        optional_envelope=True,
    )
