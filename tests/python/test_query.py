"""Query: key conditions with every sort-key operator on S, N and B sort keys, DynamoDB's sort
order, paging (Limit, ExclusiveStartKey/LastEvaluatedKey, the 1 MB page), filters applied after
Limit, Select, projections, the legacy parameters, consumed capacity, and the refusals with
DynamoDB's exact messages.

Sources for the messages: the DynamoDB API Reference (Query), dynalite's test/query.js (written
against live DynamoDB), moto's aws_verified Select tests, and issue threads quoting live responses;
each test names the one it relies on."""

import random
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from support import assert_error, composite_table_spec, unique_table_name

KB = 1024
INVALID = "One or more parameter values were invalid: "


# ---- Helpers -----------------------------------------------------------------------------------


@pytest.fixture
def sorted_table(make_table):
    """Makes a table keyed by pk (S) and sk of the given type."""

    def make(sort_type):
        return make_table(**composite_table_spec(unique_table_name(), sort_type=sort_type))["TableName"]

    return make


def put_all(ddb, table, items):
    """Writes items in a random order, so any order a Query returns is the server's own."""
    items = list(items)
    random.Random(7).shuffle(items)
    for item in items:
        ddb.put_item(TableName=table, Item=item)


def query(ddb, table, key_condition, values, **kwargs):
    return ddb.query(
        TableName=table,
        KeyConditionExpression=key_condition,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
        **kwargs,
    )


def sort_keys(response, sort_type):
    return [item["sk"][sort_type] for item in response["Items"]]


def query_all(ddb, **kwargs):
    """Every page of a Query, following LastEvaluatedKey by hand; returns the list of pages."""
    pages = []
    while True:
        page = ddb.query(**kwargs)
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        assert len(pages) < 1000, "paging does not terminate"


# Values chosen so that a wrong order shows: numbers that sort differently as strings, negatives,
# decimals, and a 30-digit number; strings whose UTF-8 byte order differs from UTF-16 code-unit
# order (U+FF5E sorts before U+1F600 in UTF-8, after it in UTF-16) and upper before lower case;
# binaries with high bytes (unsigned comparison) and prefixes.
NUMBERS = ["-100", "-1.5", "-1", "-0.001", "0", "0.001", "1", "1.5", "2", "10", "1000",
           "123456789012345678901234567890"]
STRINGS = ["A", "B", "Z", "a", "aa", "ab", "b", "z", "é", "€", "\uff5e", "\U0001f600"]
BINARIES = [b"\x00", b"\x00\x00", b"\x00\x01", b"\x01", b"\x7f", b"\x80", b"\xfe", b"\xff",
            b"\xff\x00", b"\xff\xff"]

ORDERED = {
    "N": sorted(NUMBERS, key=Decimal),
    "S": sorted(STRINGS, key=lambda s: s.encode("utf-8")),
    "B": sorted(BINARIES),
}


def python_key(sort_type):
    return {"N": Decimal, "S": lambda s: s.encode("utf-8"), "B": lambda b: b}[sort_type]


@pytest.fixture
def typed_table(ddb, sorted_table, request):
    """A table per sort-key type holding ORDERED[type] under pk "p", plus a neighbour partition
    "q" that no query on "p" may return."""
    sort_type = request.param
    table = sorted_table(sort_type)
    items = [{"pk": {"S": "p"}, "sk": {sort_type: v}} for v in ORDERED[sort_type]]
    items += [{"pk": {"S": "q"}, "sk": {sort_type: v}} for v in ORDERED[sort_type][:3]]
    put_all(ddb, table, items)
    return table, sort_type


# ---- Order -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed_table", ["N", "S", "B"], indirect=True)
def test_query_returns_a_partition_in_sort_key_order(ddb, typed_table):
    # Items of one partition key come back sorted by sort key: numbers numerically (negatives and
    # decimals included), strings and binaries bytewise (UTF-8 bytes for strings).
    table, sort_type = typed_table
    response = query(ddb, table, "pk = :p", {":p": {"S": "p"}})
    assert sort_keys(response, sort_type) == ORDERED[sort_type]
    assert response["Count"] == response["ScannedCount"] == len(ORDERED[sort_type])


@pytest.mark.parametrize("typed_table", ["N", "S", "B"], indirect=True)
def test_scan_index_forward_false_reverses_the_order(ddb, typed_table):
    # ScanIndexForward=false returns the same items in descending sort-key order.
    table, sort_type = typed_table
    response = query(ddb, table, "pk = :p", {":p": {"S": "p"}}, ScanIndexForward=False)
    assert sort_keys(response, sort_type) == ORDERED[sort_type][::-1]


def test_numbers_sort_by_value_not_by_text(ddb, sorted_table):
    # "10" sorts after "9" and "-2" before "-1.5": N sort keys compare as numbers, and equal
    # numbers written differently ("1.50" and "1.5") are one key.
    table = sorted_table("N")
    for v in ["9", "10", "-2", "-1.5", "1.50", "0.5"]:
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": v}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": "1.5"}, "again": {"BOOL": True}})
    response = query(ddb, table, "pk = :p", {":p": {"S": "p"}})
    assert sort_keys(response, "N") == ["-2", "-1.5", "0.5", "1.5", "9", "10"]
    assert response["Items"][3]["again"] == {"BOOL": True}


# ---- Every sort-key operator -------------------------------------------------------------------


def _expected(sort_type, predicate):
    return [v for v in ORDERED[sort_type] if predicate(python_key(sort_type)(v))]


OPERATOR_CASES = {
    # sort type: (operand for comparisons, low, high, begins_with prefix)
    "N": ("1", "-1", "10", None),
    "S": ("a", "B", "b", "a"),
    "B": (b"\x7f", b"\x00\x01", b"\xff", b"\x00"),
}


@pytest.mark.parametrize("typed_table", ["N", "S", "B"], indirect=True)
@pytest.mark.parametrize("op", ["=", "<", "<=", ">", ">="])
def test_comparison_operators_on_the_sort_key(ddb, typed_table, op):
    # pk = :p AND sk <op> :v selects exactly the sort keys the comparison holds for, in order.
    table, sort_type = typed_table
    operand = OPERATOR_CASES[sort_type][0]
    key = python_key(sort_type)
    pivot = key(operand)
    compare = {
        "=": lambda x: x == pivot,
        "<": lambda x: x < pivot,
        "<=": lambda x: x <= pivot,
        ">": lambda x: x > pivot,
        ">=": lambda x: x >= pivot,
    }[op]
    response = query(ddb, table, f"pk = :p AND sk {op} :v", {":p": {"S": "p"}, ":v": {sort_type: operand}})
    assert sort_keys(response, sort_type) == _expected(sort_type, compare)
    assert sort_keys(response, sort_type), "the operand was chosen so every operator matches something"


@pytest.mark.parametrize("typed_table", ["N", "S", "B"], indirect=True)
def test_between_is_inclusive_on_both_ends(ddb, typed_table):
    # sk BETWEEN :lo AND :hi includes both bounds.
    table, sort_type = typed_table
    _, lo, hi, _ = OPERATOR_CASES[sort_type]
    key = python_key(sort_type)
    response = query(
        ddb, table, "pk = :p AND sk BETWEEN :lo AND :hi",
        {":p": {"S": "p"}, ":lo": {sort_type: lo}, ":hi": {sort_type: hi}},
    )
    got = sort_keys(response, sort_type)
    assert got == _expected(sort_type, lambda x: key(lo) <= x <= key(hi))
    assert got[0] == lo and got[-1] == hi


@pytest.mark.parametrize("typed_table", ["S", "B"], indirect=True)
def test_begins_with_on_string_and_binary_sort_keys(ddb, typed_table):
    # begins_with(sk, :prefix) selects the sort keys with that byte prefix (the prefix itself
    # included when it is a key).
    table, sort_type = typed_table
    prefix = OPERATOR_CASES[sort_type][3]
    response = query(
        ddb, table, "pk = :p AND begins_with(sk, :pre)", {":p": {"S": "p"}, ":pre": {sort_type: prefix}}
    )
    raw = (lambda v: v.encode("utf-8")) if sort_type == "S" else (lambda v: v)
    expected = [v for v in ORDERED[sort_type] if raw(v).startswith(raw(prefix))]
    assert sort_keys(response, sort_type) == expected
    assert len(expected) >= 2


def test_begins_with_a_multibyte_prefix(ddb, sorted_table):
    # A string prefix compares as UTF-8 bytes: "é" selects "é", "éa" and "éz" but not "e" or "f".
    table = sorted_table("S")
    for v in ["e", "ez", "é", "éa", "éz", "f"]:
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": v}})
    response = query(ddb, table, "pk = :p AND begins_with(sk, :pre)", {":p": {"S": "p"}, ":pre": {"S": "é"}})
    assert sort_keys(response, "S") == ["é", "éa", "éz"]


def test_operators_written_with_the_key_on_the_right(ddb, sorted_table):
    # A comparison may put the value first: ":v > sk" means sk < :v.
    table = sorted_table("N")
    for v in range(5):
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": str(v)}})
    response = query(ddb, table, ":p = pk AND :v > sk", {":p": {"S": "p"}, ":v": {"N": "2"}})
    assert sort_keys(response, "N") == ["0", "1"]


def test_key_condition_with_attribute_name_placeholders(ddb, sorted_table):
    # Key attributes may be named through ExpressionAttributeNames (needed when the name is a
    # reserved word).
    table = sorted_table("S")
    put_all(ddb, table, [{"pk": {"S": "p"}, "sk": {"S": c}} for c in "abc"])
    response = ddb.query(
        TableName=table,
        KeyConditionExpression="#k = :p AND #s >= :v",
        ExpressionAttributeNames={"#k": "pk", "#s": "sk"},
        ExpressionAttributeValues={":p": {"S": "p"}, ":v": {"S": "b"}},
    )
    assert sort_keys(response, "S") == ["b", "c"]


def test_query_on_a_hash_only_table_returns_the_one_item(ddb, table):
    # On a table without a sort key a Query returns at most the one item with that key.
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}})
    response = query(ddb, table, "pk = :p", {":p": {"S": "a"}})
    assert response["Items"] == [{"pk": {"S": "a"}, "v": {"N": "1"}}]
    assert response["Count"] == 1
    assert "LastEvaluatedKey" not in response


def test_query_of_a_missing_partition_is_empty(ddb, composite_table):
    # A partition key with no items is an empty result, not an error.
    response = query(ddb, composite_table, "pk = :p", {":p": {"S": "nobody"}})
    assert response["Items"] == []
    assert response["Count"] == 0
    assert response["ScannedCount"] == 0
    assert "LastEvaluatedKey" not in response


# ---- Paging ------------------------------------------------------------------------------------


@pytest.fixture
def ten_items(ddb, sorted_table):
    """pk "p" with sk 0..9 (N) and v = sk, plus a neighbour partition."""
    table = sorted_table("N")
    items = [{"pk": {"S": "p"}, "sk": {"N": str(i)}, "v": {"N": str(i)}} for i in range(10)]
    items += [{"pk": {"S": "other"}, "sk": {"N": str(i)}} for i in range(3)]
    put_all(ddb, table, items)
    return table


def test_limit_pages_through_with_last_evaluated_key(ddb, ten_items):
    # Limit caps the items evaluated per page; LastEvaluatedKey is the key of the last one, and
    # passing it back as ExclusiveStartKey resumes right after it.
    pages = query_all(
        ddb, TableName=ten_items, KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}}, Limit=3, ConsistentRead=True,
    )
    assert [sort_keys(p, "N") for p in pages] == [["0", "1", "2"], ["3", "4", "5"], ["6", "7", "8"], ["9"]]
    assert pages[0]["LastEvaluatedKey"] == {"pk": {"S": "p"}, "sk": {"N": "2"}}
    assert [p["Count"] for p in pages] == [3, 3, 3, 1]


def test_a_page_that_ends_exactly_at_the_end_still_has_last_evaluated_key(ddb, ten_items):
    # When Limit is reached DynamoDB returns LastEvaluatedKey without looking further, so a
    # partition of exactly Limit items takes a second, empty page to finish.
    first = query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}}, Limit=10)
    assert first["Count"] == 10
    assert first["LastEvaluatedKey"] == {"pk": {"S": "p"}, "sk": {"N": "9"}}
    second = query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}}, Limit=10,
                   ExclusiveStartKey=first["LastEvaluatedKey"])
    assert second["Items"] == []
    assert second["Count"] == 0
    assert "LastEvaluatedKey" not in second


def test_limit_above_the_partition_size_has_no_last_evaluated_key(ddb, ten_items):
    # Running out of items before Limit ends the result: no LastEvaluatedKey.
    response = query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}}, Limit=11)
    assert response["Count"] == 10
    assert "LastEvaluatedKey" not in response


def test_backward_paging(ddb, ten_items):
    # With ScanIndexForward=false, pages run from the highest sort key down, and
    # ExclusiveStartKey resumes below the last key returned.
    pages = query_all(
        ddb, TableName=ten_items, KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}}, Limit=4, ScanIndexForward=False,
    )
    assert [sort_keys(p, "N") for p in pages] == [["9", "8", "7", "6"], ["5", "4", "3", "2"], ["1", "0"]]
    assert pages[0]["LastEvaluatedKey"] == {"pk": {"S": "p"}, "sk": {"N": "6"}}


def test_paging_within_a_sort_key_range(ddb, ten_items):
    # Paging respects the sort-key condition: resuming never leaves the BETWEEN range.
    pages = query_all(
        ddb, TableName=ten_items, KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues={":p": {"S": "p"}, ":lo": {"N": "2"}, ":hi": {"N": "6"}}, Limit=2,
    )
    assert [sort_keys(p, "N") for p in pages] == [["2", "3"], ["4", "5"], ["6"]]


def test_exclusive_start_key_need_not_be_an_existing_item(ddb, ten_items):
    # ExclusiveStartKey is a position, not an item: a key between two items resumes after it.
    response = query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}},
                     ExclusiveStartKey={"pk": {"S": "p"}, "sk": {"N": "4.5"}})
    assert sort_keys(response, "N") == ["5", "6", "7", "8", "9"]


# ---- FilterExpression runs after Limit ---------------------------------------------------------


def test_filter_is_applied_after_limit(ddb, ten_items):
    # Limit counts items read, before the filter: a page of Limit=4 with a filter keeping even
    # values returns 2 items, ScannedCount 4, and LastEvaluatedKey at the 4th item read (sk 3),
    # which the filter dropped.
    response = query(
        ddb, ten_items, "pk = :p", {":p": {"S": "p"}, ":set": {"NS": ["0", "2", "4", "6", "8"]}},
        Limit=4, FilterExpression="contains(:set, v)",
    )
    assert sort_keys(response, "N") == ["0", "2"]
    assert response["Count"] == 2
    assert response["ScannedCount"] == 4
    assert response["LastEvaluatedKey"] == {"pk": {"S": "p"}, "sk": {"N": "3"}}


def test_a_page_can_be_empty_yet_carry_last_evaluated_key(ddb, ten_items):
    # When no item read on a page passes the filter, the page is empty but still says where to
    # resume; the client must keep paging.
    pages = query_all(
        ddb, TableName=ten_items, KeyConditionExpression="pk = :p", FilterExpression="v >= :min",
        ExpressionAttributeValues={":p": {"S": "p"}, ":min": {"N": "8"}}, Limit=3,
    )
    first = pages[0]
    assert first["Items"] == []
    assert first["Count"] == 0
    assert first["ScannedCount"] == 3
    assert first["LastEvaluatedKey"] == {"pk": {"S": "p"}, "sk": {"N": "2"}}
    assert [v for p in pages for v in sort_keys(p, "N")] == ["8", "9"]
    assert sum(p["ScannedCount"] for p in pages) == 10


def test_count_and_scanned_count_without_limit(ddb, ten_items):
    # Without Limit, ScannedCount is the number of items matching the key condition and Count
    # the number passing the filter.
    response = query(ddb, ten_items, "pk = :p AND sk < :hi", {":p": {"S": "p"}, ":hi": {"N": "6"}, ":v": {"N": "3"}},
                     FilterExpression="v > :v")
    assert response["ScannedCount"] == 6
    assert response["Count"] == 2
    assert sort_keys(response, "N") == ["4", "5"]


def test_filter_cannot_name_a_key_attribute(ddb, ten_items):
    # API Reference, Query FilterExpression: "A filter expression cannot contain partition key or
    # sort key attributes. You need to specify those attributes in the key condition expression".
    with pytest.raises(ClientError) as e:
        query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}, ":v": {"N": "1"}}, FilterExpression="sk > :v")
    assert_error(e, "ValidationException",
                 "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk")


# ---- Select, ProjectionExpression ---------------------------------------------------------------


@pytest.fixture
def rich_items(ddb, sorted_table):
    table = sorted_table("S")
    for i in range(3):
        ddb.put_item(TableName=table, Item={
            "pk": {"S": "p"}, "sk": {"S": f"s{i}"}, "a": {"N": str(i)}, "b": {"S": "bee"},
            "m": {"M": {"x": {"N": "1"}, "y": {"L": [{"S": "y0"}, {"S": "y1"}]}}},
        })
    return table


def test_select_count_returns_only_counts(ddb, rich_items):
    # Select=COUNT returns Count and ScannedCount and no Items member at all.
    response = query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}}, Select="COUNT")
    assert "Items" not in response
    assert response["Count"] == 3
    assert response["ScannedCount"] == 3


def test_select_count_pages_too(ddb, rich_items):
    # COUNT with Limit still pages: Count per page and LastEvaluatedKey.
    response = query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}}, Select="COUNT", Limit=2)
    assert response["Count"] == 2
    assert response["LastEvaluatedKey"] == {"pk": {"S": "p"}, "sk": {"S": "s1"}}


def test_projection_expression_returns_only_named_paths(ddb, rich_items):
    # ProjectionExpression returns only the named attributes and nested paths (not the key unless
    # named).
    response = query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}},
                     ProjectionExpression="a, m.y[1], #n", ExpressionAttributeNames={"#n": "nope"})
    assert response["Items"][0] == {"a": {"N": "0"}, "m": {"M": {"y": {"L": [{"S": "y1"}]}}}}


def test_select_specific_attributes_with_projection(ddb, rich_items):
    # SPECIFIC_ATTRIBUTES with a ProjectionExpression is the same as the projection alone.
    response = query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}},
                     Select="SPECIFIC_ATTRIBUTES", ProjectionExpression="sk, b")
    assert response["Items"] == [{"sk": {"S": f"s{i}"}, "b": {"S": "bee"}} for i in range(3)]


def test_select_all_attributes_is_the_default(ddb, rich_items):
    # ALL_ATTRIBUTES returns whole items, as no Select does.
    everything = query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}}, Select="ALL_ATTRIBUTES")
    default = query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}})
    assert everything["Items"] == default["Items"]
    assert len(everything["Items"][0]) == 5


def test_select_specific_attributes_without_projection(ddb, rich_items):
    # moto's aws_verified test_specific_attributes_requires_attribute_selection: Query wraps this
    # message in the validation envelope.
    with pytest.raises(ClientError) as e:
        query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}}, Select="SPECIFIC_ATTRIBUTES")
    assert_error(e, "ValidationException",
                 "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression "
                 "when choosing to get SPECIFIC_ATTRIBUTES")


@pytest.mark.parametrize("select, described", [("ALL_ATTRIBUTES", "ALL_ATTRIBUTES"), ("COUNT", "only the Count")])
def test_select_with_a_projection_expression_is_refused(ddb, rich_items, select, described):
    # moto's aws_verified test_projection_expression_rejected_for_non_specific_select: COUNT is
    # described as "only the Count", and only the parameter actually given is named.
    with pytest.raises(ClientError) as e:
        query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}}, Select=select, ProjectionExpression="a")
    assert_error(e, "ValidationException",
                 f"1 validation error detected: Cannot specify the ProjectionExpression when choosing to get {described}")


def test_select_all_projected_attributes_needs_an_index(ddb, rich_items):
    # moto's aws_verified test_all_projected_attributes_rejected_for_table.
    with pytest.raises(ClientError) as e:
        query(ddb, rich_items, "pk = :p", {":p": {"S": "p"}}, Select="ALL_PROJECTED_ATTRIBUTES")
    assert_error(e, "ValidationException",
                 "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")


def test_select_value_outside_the_enum(ddb_raw, rich_items):
    # moto's aws_verified test_select_values_are_case_sensitive: enum values are case-sensitive and
    # listed in the model's order.
    with pytest.raises(ClientError) as e:
        query(ddb_raw, rich_items, "pk = :p", {":p": {"S": "p"}}, Select="count")
    assert_error(e, "ValidationException",
                 "1 validation error detected: Value 'count' at 'select' failed to satisfy constraint: Member must "
                 "satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]")


# ---- Legacy parameters --------------------------------------------------------------------------


def test_legacy_key_conditions(ddb, ten_items):
    # KeyConditions (EQ on the partition key, BETWEEN on the sort key) select like the equivalent
    # KeyConditionExpression.
    response = ddb.query(
        TableName=ten_items,
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "3"}, {"N": "5"}]},
        },
    )
    assert sort_keys(response, "N") == ["3", "4", "5"]


@pytest.mark.parametrize("op, args, expected", [
    ("EQ", ["4"], ["4"]),
    ("LT", ["2"], ["0", "1"]),
    ("LE", ["2"], ["0", "1", "2"]),
    ("GT", ["7"], ["8", "9"]),
    ("GE", ["7"], ["7", "8", "9"]),
])
def test_legacy_key_condition_operators(ddb, ten_items, op, args, expected):
    # Each indexable ComparisonOperator on the sort key.
    response = ddb.query(
        TableName=ten_items,
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": op, "AttributeValueList": [{"N": a} for a in args]},
        },
    )
    assert sort_keys(response, "N") == expected


def test_legacy_begins_with_key_condition(ddb, sorted_table):
    # BEGINS_WITH on a string sort key.
    table = sorted_table("S")
    put_all(ddb, table, [{"pk": {"S": "p"}, "sk": {"S": s}} for s in ["a", "ab", "abc", "b"]])
    response = ddb.query(
        TableName=table,
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "ab"}]},
        },
    )
    assert sort_keys(response, "S") == ["ab", "abc"]


def test_legacy_query_filter_and_attributes_to_get(ddb, ten_items):
    # QueryFilter filters after the key conditions (ConditionalOperator OR joins its conditions)
    # and AttributesToGet projects.
    response = ddb.query(
        TableName=ten_items,
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}},
        QueryFilter={
            "v": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "2"}]},
            "w": {"ComparisonOperator": "NULL"},
        },
        ConditionalOperator="AND",
        AttributesToGet=["sk"],
    )
    assert response["Items"] == [{"sk": {"N": "0"}}, {"sk": {"N": "1"}}]
    assert response["ScannedCount"] == 10
    either = ddb.query(
        TableName=ten_items,
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}},
        QueryFilter={
            "v": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "1"}]},
            "sk": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "8"}]},
        },
        ConditionalOperator="OR",
        AttributesToGet=["v"],
    )
    assert either["Items"] == [{"v": {"N": "0"}}, {"v": {"N": "9"}}]


def test_legacy_and_expression_parameters_do_not_mix(ddb, ten_items):
    # KeyConditions with a KeyConditionExpression is refused, naming both sides.
    with pytest.raises(ClientError) as e:
        ddb.query(
            TableName=ten_items,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p"}},
            KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}},
        )
    assert_error(e, "ValidationException",
                 "Can not use both expression and non-expression parameters in the same request: "
                 "Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}")


# ---- ReturnConsumedCapacity --------------------------------------------------------------------


@pytest.fixture
def three_5kb_items(ddb, sorted_table):
    table = sorted_table("N")
    for i in range(3):
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "pad": {"S": "x" * 5000}})
    return table


@pytest.mark.parametrize("consistent, units", [(True, 4.0), (False, 2.0)])
def test_consumed_capacity_is_the_total_size_read(ddb, three_5kb_items, consistent, units):
    # A Query is charged on the summed size of the items read, rounded up to 4 KB: three ~5 KB
    # items are 15 KB, 4 read units strongly consistent, half that eventually consistent.
    response = ddb.query(
        TableName=three_5kb_items, KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}}, ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL",
    )
    assert response["ConsumedCapacity"] == {"TableName": three_5kb_items, "CapacityUnits": units}


def test_consumed_capacity_counts_items_the_filter_dropped(ddb, three_5kb_items):
    # The filter runs after the read, so dropped items are still paid for.
    response = ddb.query(
        TableName=three_5kb_items, KeyConditionExpression="pk = :p", FilterExpression="attribute_exists(nope)",
        ExpressionAttributeValues={":p": {"S": "p"}}, ConsistentRead=True, ReturnConsumedCapacity="TOTAL",
    )
    assert response["Count"] == 0
    assert response["ConsumedCapacity"]["CapacityUnits"] == 4.0


def test_small_query_costs_one_unit_or_half(ddb, ten_items):
    # Under 4 KB read is one unit strongly consistent, 0.5 eventually consistent.
    for consistent, units in [(True, 1.0), (False, 0.5)]:
        response = ddb.query(
            TableName=ten_items, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}},
            ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL",
        )
        assert response["ConsumedCapacity"] == {"TableName": ten_items, "CapacityUnits": units}


def test_no_consumed_capacity_unless_asked(ddb, ten_items):
    # Without ReturnConsumedCapacity (or with NONE) the member is absent.
    for extra in [{}, {"ReturnConsumedCapacity": "NONE"}]:
        response = query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}}, **extra)
        assert "ConsumedCapacity" not in response


# ---- The 1 MB page -----------------------------------------------------------------------------


def test_a_page_stops_at_one_megabyte(ddb, sorted_table):
    # A Query reads at most 1 MB per call: fifteen ~100 KB items in one partition cannot come
    # back at once; the first page stops at about 1 MB with LastEvaluatedKey, and paging returns
    # every item exactly once, in order.
    table = sorted_table("N")
    pad = "x" * (100 * KB)
    for i in range(15):
        ddb.put_item(TableName=table, Item={"pk": {"S": "big"}, "sk": {"N": str(i)}, "pad": {"S": pad}})
    pages = query_all(ddb, TableName=table, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "big"}}, ConsistentRead=True)
    first = pages[0]
    assert "LastEvaluatedKey" in first
    assert 9 <= first["Count"] <= 11, first["Count"]
    returned = sum(len(item["pad"]["S"]) for item in first["Items"])
    assert returned <= 1024 * KB + 101 * KB
    assert first["LastEvaluatedKey"] == {"pk": {"S": "big"}, "sk": first["Items"][-1]["sk"]}
    assert [v for p in pages for v in sort_keys(p, "N")] == [str(i) for i in range(15)]
    assert len(pages) == 2


# ---- Refusals ----------------------------------------------------------------------------------


def test_query_without_any_key_condition(ddb, composite_table):
    # Neither KeyConditions nor KeyConditionExpression (dynalite test/query.js, live-verified).
    with pytest.raises(ClientError) as e:
        ddb.query(TableName=composite_table)
    assert_error(e, "ValidationException",
                 "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")


def test_query_on_a_missing_table(ddb):
    # The table is looked up before the key condition is checked against it.
    with pytest.raises(ClientError) as e:
        query(ddb, unique_table_name(), "z = :v", {":v": {"N": "1"}})
    assert_error(e, "ResourceNotFoundException", "Requested resource not found")


def test_key_condition_without_the_partition_key(ddb, composite_table):
    # A condition on the sort key alone misses the partition key.
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, "sk = :v", {":v": {"S": "x"}})
    assert_error(e, "ValidationException", "Query condition missed key schema element: pk")


def test_key_condition_on_a_non_key_attribute(ddb, composite_table):
    # dynalite test/query.js "missing range element": pk plus a non-key attribute on a table
    # with a sort key reports the sort key as missing.
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, "pk = :p AND attr1 = :v", {":p": {"S": "p"}, ":v": {"S": "x"}})
    assert_error(e, "ValidationException", "Query condition missed key schema element: sk")


def test_key_condition_on_a_non_key_attribute_of_a_hash_table(ddb, table):
    # dynalite test/query.js "unsupported conditions": a second condition on a hash-only table.
    with pytest.raises(ClientError) as e:
        query(ddb, table, "pk = :p AND attr1 = :v", {":p": {"S": "p"}, ":v": {"S": "x"}})
    assert_error(e, "ValidationException", "Query key condition not supported")


def test_key_condition_only_on_a_non_key_attribute(ddb, composite_table):
    # A lone condition on some other attribute misses the partition key.
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, "attr1 = :v", {":v": {"S": "x"}})
    assert_error(e, "ValidationException", "Query condition missed key schema element: pk")


@pytest.mark.parametrize("expression", ["pk > :p", "begins_with(pk, :p)", "pk BETWEEN :p AND :p"])
def test_partition_key_needs_equality(ddb, composite_table, expression):
    # The partition key takes only "=" (dynalite test/query.js "unsupported conditions").
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, expression, {":p": {"S": "p"}})
    assert_error(e, "ValidationException", "Query key condition not supported")


@pytest.mark.parametrize("expression, operator", [
    ("pk = :p OR sk = :v", "OR"),
    ("NOT pk = :p", "NOT"),
    ("pk = :p AND sk <> :v", "<>"),
    ("pk = :p AND sk IN (:v)", "IN"),
    ("pk = :p AND attribute_exists(sk)", "attribute_exists"),
    ("pk = :p AND contains(sk, :v)", "contains"),
])
def test_operators_a_key_condition_cannot_use(ddb, composite_table, expression, operator):
    # Only =, <, <=, >, >=, BETWEEN, begins_with and AND are key-condition operators
    # (API Reference, Query KeyConditionExpression; message per dynalite test/query.js).
    values = {":p": {"S": "p"}}
    if ":v" in expression:
        values[":v"] = {"S": "v"}
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, expression, values)
    assert_error(e, "ValidationException", f"Invalid operator used in KeyConditionExpression: {operator}")


def test_two_conditions_on_the_sort_key(ddb, composite_table):
    # One condition per key (write a range as BETWEEN).
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, "pk = :p AND sk > :a AND sk < :b",
              {":p": {"S": "p"}, ":a": {"S": "a"}, ":b": {"S": "b"}})
    assert_error(e, "ValidationException", "KeyConditionExpressions must only contain one condition per key")


def test_partition_key_value_of_the_wrong_type(ddb, composite_table):
    # The partition key is S; an N value is a schema mismatch.
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, "pk = :p", {":p": {"N": "1"}})
    assert_error(e, "ValidationException", INVALID + "Condition parameter type does not match schema type")


def test_sort_key_value_of_the_wrong_type(ddb, sorted_table):
    # The sort key is N; an S value is a schema mismatch.
    table = sorted_table("N")
    with pytest.raises(ClientError) as e:
        query(ddb, table, "pk = :p AND sk > :v", {":p": {"S": "p"}, ":v": {"S": "1"}})
    assert_error(e, "ValidationException", INVALID + "Condition parameter type does not match schema type")


def test_begins_with_on_a_number_sort_key(ddb, sorted_table):
    # begins_with takes S or B operands only; an N operand is an operand-type error.
    table = sorted_table("N")
    with pytest.raises(ClientError) as e:
        query(ddb, table, "pk = :p AND begins_with(sk, :v)", {":p": {"S": "p"}, ":v": {"N": "1"}})
    assert_error(e, "ValidationException",
                 "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
                 "operator or function: begins_with, operand type: N")


def test_between_with_inverted_bounds(ddb, composite_table):
    # dynalite test/query.js (live-verified): BETWEEN's lower bound may not exceed its upper.
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, "pk = :p AND sk BETWEEN :hi AND :lo",
              {":p": {"S": "p"}, ":lo": {"S": "a"}, ":hi": {"S": "b"}})
    assert_error(e, "ValidationException",
                 "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or "
                 "equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound operand: "
                 "AttributeValue: {S:a}")


def test_index_name_of_a_missing_index(ddb, composite_table):
    # A table without that index (dynalite test/query.js "non-existent index name").
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, "pk = :p", {":p": {"S": "p"}}, IndexName="nosuch")
    assert_error(e, "ValidationException", "The table does not have the specified index: nosuch")


def test_limit_must_be_positive(ddb_raw, composite_table):
    # Limit has a minimum of 1 (API Reference, Query Limit).
    with pytest.raises(ClientError) as e:
        query(ddb_raw, composite_table, "pk = :p", {":p": {"S": "p"}}, Limit=0)
    assert_error(e, "ValidationException",
                 "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
                 "Member must have value greater than or equal to 1")


def test_unused_expression_attribute_value(ddb, composite_table):
    # Every supplied value must be used by some expression.
    with pytest.raises(ClientError) as e:
        query(ddb, composite_table, "pk = :p", {":p": {"S": "p"}, ":extra": {"S": "x"}})
    assert_error(e, "ValidationException",
                 "Value provided in ExpressionAttributeValues unused in expressions: keys: {:extra}")


def test_exclusive_start_key_with_missing_key_attributes(ddb, ten_items):
    # An ExclusiveStartKey lacking the sort key is refused with the bare "starting key is
    # invalid" message on Query (pynamodb#50 quoting live DynamoDB; dynalite test/query.js).
    with pytest.raises(ClientError) as e:
        query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}}, ExclusiveStartKey={"pk": {"S": "p"}})
    assert_error(e, "ValidationException", "The provided starting key is invalid")


def test_exclusive_start_key_of_the_wrong_type(ddb, ten_items):
    # dynalite test/query.js "hash in ExclusiveStartKey and KeyConditions but range has incorrect
    # schema": the right attributes with a wrong type are a schema mismatch.
    with pytest.raises(ClientError) as e:
        query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}},
              ExclusiveStartKey={"pk": {"S": "p"}, "sk": {"S": "1"}})
    assert_error(e, "ValidationException", "The provided key element does not match the schema")


def test_exclusive_start_key_in_another_partition(ddb, ten_items):
    # dynalite test/query.js (live-verified): a start key whose partition key differs from the
    # key condition's is outside the query.
    with pytest.raises(ClientError) as e:
        query(ddb, ten_items, "pk = :p", {":p": {"S": "p"}},
              ExclusiveStartKey={"pk": {"S": "other"}, "sk": {"N": "1"}})
    assert_error(e, "ValidationException",
                 "The provided starting key is outside query boundaries based on provided conditions")
