"""Condition expressions on PutItem, UpdateItem and DeleteItem: the Developer Guide's "Condition
expression CLI example" chapter (conditional put, delete and update on ProductCatalog item 456),
every operator and function of "Condition and filter expressions, operators and functions"
evaluated against the guide's ProductCatalog item 123, ConditionalCheckFailedException with
ReturnValuesOnConditionCheckFailure, and the refusals with DynamoDB's exact messages.

The operator/function rows run as one data table: `check` writes the item, then attempts a
DeleteItem guarded by the row's condition; a true condition deletes the item, a false one fails
with ConditionalCheckFailedException and leaves it."""

import pytest
from botocore.exceptions import ClientError

from support import assert_error, hash_table_spec, unique_table_name


def S(s):
    return {"S": s}


def N(n):
    return {"N": n}


def L(*items):
    return {"L": list(items)}


def M(**members):
    return {"M": members}


CONDITION_FAILED = "The conditional request failed"

# The guide's sample item for condition expressions.
ITEM_456 = {"Id": N("456"), "ProductCategory": S("Sporting Goods"), "Price": N("650")}
KEY_456 = {"Id": N("456")}

# The guide's full ProductCatalog item ("Referring to item attributes when using expressions").
ITEM_123 = {
    "Id": N("123"),
    "Title": S("Bicycle 123"),
    "Description": S("123 description"),
    "BicycleType": S("Hybrid"),
    "Brand": S("Brand-Company C"),
    "Price": N("500"),
    "Color": {"SS": ["Red", "Black"]},
    "ProductCategory": S("Bicycle"),
    "InStock": {"BOOL": True},
    "QuantityOnHand": {"NULL": True},
    "RelatedItems": L(N("341"), N("472"), N("649")),
    "Pictures": M(FrontView=S("http://example.com/products/123_front.jpg"),
                  RearView=S("http://example.com/products/123_rear.jpg"),
                  SideView=S("http://example.com/products/123_left_side.jpg")),
    "ProductReviews": M(FiveStar=L(S("Excellent! Can't recommend it highly enough! Buy it!"),
                                   S("Do yourself a favor and buy this.")),
                        OneStar=L(S("Terrible product! Do not buy this."))),
    "Comment": S("This product sells out quickly during the summer"),
    "Safety.Warning": S("Always wear a helmet"),
}
KEY_123 = {"Id": N("123")}


@pytest.fixture
def catalog(make_table):
    """A ProductCatalog table: partition key Id (N), as in the guide."""
    return make_table(**hash_table_spec(unique_table_name(), key="Id", key_type="N"))["TableName"]


def get(ddb, table, key):
    return ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


# (id, condition, ExpressionAttributeNames, ExpressionAttributeValues, holds for ITEM_123?)
CONDITIONS = [
    # Functions, with the guide's own examples where it gives one.
    ("attribute_exists-nested", "attribute_exists (#Pictures.#SideView)",
     {"#Pictures": "Pictures", "#SideView": "SideView"}, None, True),
    ("attribute_exists-missing", "attribute_exists(Pictures.TopView)", None, None, False),
    ("attribute_not_exists", "attribute_not_exists (Manufacturer)", None, None, True),
    ("attribute_not_exists-present", "attribute_not_exists(Price)", None, None, False),
    ("attribute_exists-null-value", "attribute_exists(QuantityOnHand)", None, None, True),
    ("attribute_type-list", "attribute_type (ProductReviews.FiveStar, :v_sub)", None,
     {":v_sub": S("L")}, True),
    ("attribute_type-string-set", "attribute_type(Color, :t)", None, {":t": S("SS")}, True),
    ("attribute_type-null", "attribute_type(QuantityOnHand, :t)", None, {":t": S("NULL")}, True),
    ("attribute_type-wrong", "attribute_type(Price, :t)", None, {":t": S("S")}, False),
    ("begins_with", "begins_with (Pictures.FrontView, :v_sub)", None,
     {":v_sub": S("http://")}, True),
    ("begins_with-no", "begins_with(Pictures.FrontView, :v)", None, {":v": S("https://")}, False),
    ("begins_with-on-number", "begins_with(Price, :v)", None, {":v": S("5")}, False),
    ("contains-substring", "contains (Brand, :v_sub)", None, {":v_sub": S("Company")}, True),
    ("contains-set-member", "contains (Color, :v_sub)", None, {":v_sub": S("Red")}, True),
    ("contains-set-non-member", "contains(Color, :v)", None, {":v": S("Green")}, False),
    ("contains-list-element", "contains(RelatedItems, :v)", None, {":v": N("472")}, True),
    ("size-string", "size (Brand) <= :v_sub", None, {":v_sub": N("20")}, True),
    ("size-string-exact", "size(Brand) = :v", None, {":v": N("15")}, True),
    ("size-set", "size (Color) > :v_sub", None, {":v_sub": N("1")}, True),
    ("size-list", "size (ProductReviews.OneStar) > :v_sub", None, {":v_sub": N("3")}, False),
    ("size-map", "size(Pictures) = :v", None, {":v": N("3")}, True),
    ("size-missing-attribute", "size (VideoClip) > :v_sub", None, {":v_sub": N("64000")}, False),
    # Comparators.
    ("equal-number", "Price = :v", None, {":v": N("500.0")}, True),
    ("not-equal", "Price <> :v", None, {":v": N("600")}, True),
    ("less-than", "Price < :v", None, {":v": N("501")}, True),
    ("less-or-equal", "Price <= :v", None, {":v": N("500")}, True),
    ("greater-than", "Price > :v", None, {":v": N("500")}, False),
    ("greater-or-equal", "Price >= :v", None, {":v": N("500")}, True),
    ("string-ordering", "Title < :v", None, {":v": S("Bicycle 2")}, True),
    ("equal-map", "Pictures = :v", None,
     {":v": M(FrontView=S("http://example.com/products/123_front.jpg"),
              RearView=S("http://example.com/products/123_rear.jpg"),
              SideView=S("http://example.com/products/123_left_side.jpg"))}, True),
    ("equal-set-ignores-order", "Color = :v", None, {":v": {"SS": ["Black", "Red"]}}, True),
    ("different-types-not-equal", "Price = :v", None, {":v": S("500")}, False),
    ("different-types-unequal", "Price <> :v", None, {":v": S("500")}, True),
    ("different-types-unordered", "Price < :v", None, {":v": S("600")}, False),
    ("missing-attribute-compares-false", "Manufacturer = :v", None, {":v": S("x")}, False),
    ("list-element", "ProductReviews.FiveStar[1] = :v", None,
     {":v": S("Do yourself a favor and buy this.")}, True),
    ("dot-in-name-needs-placeholder", "#sw = :v", {"#sw": "Safety.Warning"},
     {":v": S("Always wear a helmet")}, True),
    ("reserved-word-through-placeholder", "begins_with(#c, :v)", {"#c": "Comment"},
     {":v": S("This product")}, True),
    # BETWEEN and IN.
    ("between", "Price BETWEEN :lo AND :hi", None, {":lo": N("500"), ":hi": N("600")}, True),
    ("between-outside", "Price between :lo and :hi", None, {":lo": N("501"), ":hi": N("600")},
     False),
    ("in", "ProductCategory IN (:c1, :c2)", None, {":c1": S("Gardening"), ":c2": S("Bicycle")},
     True),
    ("in-none", "ProductCategory IN (:c1)", None, {":c1": S("Gardening")}, False),
    # Logical operators and precedence: NOT binds tighter than AND, AND tighter than OR.
    ("not", "NOT attribute_exists(Manufacturer)", None, None, True),
    ("not-of-false-comparison-on-missing", "NOT Manufacturer = :v", None, {":v": S("x")}, True),
    ("and", "attribute_exists(Price) AND Price = :v", None, {":v": N("500")}, True),
    ("or", "Price = :a OR Price = :b", None, {":a": N("1"), ":b": N("500")}, True),
    # The guide's precedence example: a, b true and c false; "a OR b AND c" is true...
    ("precedence-a-or-b-and-c",
     "attribute_exists(Title) OR attribute_exists(Brand) AND attribute_exists(Nothing)",
     None, None, True),
    # ... "(a OR b) AND c" is false.
    ("precedence-parenthesised",
     "(attribute_exists(Title) OR attribute_exists(Brand)) AND attribute_exists(Nothing)",
     None, None, False),
    ("not-binds-tighter-than-and",
     "NOT attribute_exists(Nothing) AND attribute_exists(Nothing)", None, None, False),
    # Keywords are case-insensitive; function names are not (see the refusals).
    ("keywords-any-case", "Price between :lo AnD :hi oR NoT attribute_exists(Title)", None,
     {":lo": N("1"), ":hi": N("1000")}, True),
]


def check(ddb, table, condition, names, values):
    """Writes ITEM_123 and deletes it under `condition`; returns whether the condition held."""
    ddb.put_item(TableName=table, Item=ITEM_123)
    kwargs = {"ConditionExpression": condition}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if values:
        kwargs["ExpressionAttributeValues"] = values
    try:
        response = ddb.delete_item(TableName=table, Key=KEY_123, ReturnValues="ALL_OLD", **kwargs)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ConditionalCheckFailedException", e.response
        assert e.response["Error"]["Message"] == CONDITION_FAILED
        assert get(ddb, table, KEY_123) == ITEM_123
        return False
    assert response["Attributes"] == ITEM_123
    assert get(ddb, table, KEY_123) is None
    return True


@pytest.mark.parametrize("condition, names, values, holds",
                         [row[1:] for row in CONDITIONS], ids=[row[0] for row in CONDITIONS])
def test_condition_on_product_item(ddb, catalog, condition, names, values, holds):
    # Each row is an operator or function of the guide's reference, evaluated on item 123.
    assert check(ddb, catalog, condition, names, values) is holds


# ---- The guide's walkthrough on item 456 -------------------------------------------------------


def test_conditional_put_prevents_overwrite(ddb, catalog):
    # "Conditional put": attribute_not_exists(Id) lets the first put through and stops the second
    # with "The conditional request failed"; the stored item is the first one.
    ddb.put_item(TableName=catalog, Item=ITEM_456, ConditionExpression="attribute_not_exists(Id)")
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=catalog, Item=dict(ITEM_456, Price=N("1")),
                     ConditionExpression="attribute_not_exists(Id)")
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert get(ddb, catalog, KEY_456) == ITEM_456


def test_conditional_delete_with_in_and_between(ddb, catalog):
    # "Conditional deletes": the category matches but 650 is not between 500 and 600, so the
    # delete fails and the item stays.
    ddb.put_item(TableName=catalog, Item=ITEM_456)
    with pytest.raises(ClientError) as e:
        ddb.delete_item(
            TableName=catalog, Key=KEY_456,
            ConditionExpression="(ProductCategory IN (:cat1, :cat2)) and (Price between :lo and :hi)",
            ExpressionAttributeValues={":cat1": S("Sporting Goods"), ":cat2": S("Gardening Supplies"),
                                       ":lo": N("500"), ":hi": N("600")})
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert get(ddb, catalog, KEY_456) == ITEM_456


@pytest.mark.parametrize("condition", ["attribute_not_exists(Price)",
                                       "attribute_exists(ProductReviews.OneStar)"])
def test_conditional_delete_on_attributes(ddb, catalog, condition):
    # "Checking for attributes": item 456 has a Price and no ProductReviews, so both of the
    # guide's guarded deletes fail.
    ddb.put_item(TableName=catalog, Item=ITEM_456)
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=catalog, Key=KEY_456, ConditionExpression=condition)
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert get(ddb, catalog, KEY_456) == ITEM_456


def test_conditional_update_runs_twice_then_fails(ddb, catalog):
    # "Conditional updates": Price 650 drops by 75 to 575, then to 500; the third attempt fails
    # because 500 is not > 500.
    ddb.put_item(TableName=catalog, Item=ITEM_456)
    args = dict(TableName=catalog, Key=KEY_456, UpdateExpression="SET Price = Price - :discount",
                ConditionExpression="Price > :limit",
                ExpressionAttributeValues={":discount": N("75"), ":limit": N("500")},
                ReturnValues="UPDATED_NEW")
    assert ddb.update_item(**args)["Attributes"] == {"Price": N("575")}
    assert ddb.update_item(**args)["Attributes"] == {"Price": N("500")}
    with pytest.raises(ClientError) as e:
        ddb.update_item(**args)
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert get(ddb, catalog, KEY_456) == dict(ITEM_456, Price=N("500"))


def test_condition_on_missing_item_sees_no_attributes(ddb, catalog):
    # Against an item that does not exist every attribute is missing: attribute_not_exists holds
    # and a comparison fails.
    ddb.update_item(TableName=catalog, Key=KEY_456, UpdateExpression="SET Price = :p",
                    ConditionExpression="attribute_not_exists(Id)",
                    ExpressionAttributeValues={":p": N("1")})
    assert get(ddb, catalog, KEY_456) == {"Id": N("456"), "Price": N("1")}
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=catalog, Key={"Id": N("999")}, ConditionExpression="Price > :p",
                        ExpressionAttributeValues={":p": N("0")})
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)


# ---- ReturnValuesOnConditionCheckFailure -------------------------------------------------------

FAILING_WRITES = {
    "put": lambda ddb, t, **kw: ddb.put_item(TableName=t, Item=dict(ITEM_456, Price=N("1")), **kw),
    "update": lambda ddb, t, **kw: ddb.update_item(TableName=t, Key=KEY_456,
                                                   UpdateExpression="REMOVE Price", **kw),
    "delete": lambda ddb, t, **kw: ddb.delete_item(TableName=t, Key=KEY_456, **kw),
}


@pytest.mark.parametrize("operation", sorted(FAILING_WRITES))
def test_all_old_on_condition_failure_returns_the_item(ddb, catalog, operation):
    # ReturnValuesOnConditionCheckFailure=ALL_OLD puts the item as it is into the
    # ConditionalCheckFailedException (boto3 exposes it as response["Item"]).
    ddb.put_item(TableName=catalog, Item=ITEM_456)
    with pytest.raises(ClientError) as e:
        FAILING_WRITES[operation](ddb, catalog, ConditionExpression="Price < :p",
                                  ExpressionAttributeValues={":p": N("100")},
                                  ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert e.value.response["Item"] == ITEM_456
    assert get(ddb, catalog, KEY_456) == ITEM_456


@pytest.mark.parametrize("operation", sorted(FAILING_WRITES))
def test_none_on_condition_failure_returns_no_item(ddb, catalog, operation):
    # With ReturnValuesOnConditionCheckFailure=NONE (the default) the exception carries no item.
    ddb.put_item(TableName=catalog, Item=ITEM_456)
    with pytest.raises(ClientError) as e:
        FAILING_WRITES[operation](ddb, catalog, ConditionExpression="attribute_not_exists(Id)",
                                  ReturnValuesOnConditionCheckFailure="NONE")
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert "Item" not in e.value.response


def test_all_old_on_condition_failure_of_missing_item(ddb, catalog):
    # When the item does not exist there is nothing to return, even with ALL_OLD.
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=catalog, Key=KEY_456, ConditionExpression="attribute_exists(Id)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert_error(e, "ConditionalCheckFailedException", CONDITION_FAILED)
    assert "Item" not in e.value.response


# ---- Refusals ----------------------------------------------------------------------------------

INVALID_CONDITION = "Invalid ConditionExpression: "

# (id, condition, names, values, exact message). All are ValidationExceptions sent before the item
# is looked at; the item is left as it was.
REFUSALS = [
    ("syntax-eof", "Price >", None, None,
     INVALID_CONDITION + 'Syntax error; token: "<EOF>", near: ">"'),
    ("syntax-open-call", "attribute_not_exists(", None, None,
     INVALID_CONDITION + 'Syntax error; token: "<EOF>", near: "("'),
    ("empty", "", None, None, INVALID_CONDITION + "The expression can not be empty;"),
    ("reserved-word", "status = :v", None, {":v": S("x")},
     INVALID_CONDITION + "Attribute name is a reserved keyword; reserved keyword: status"),
    ("undefined-name", "attribute_exists(#n)", None, None,
     INVALID_CONDITION + "An expression attribute name used in the document path is not defined; "
     "attribute name: #n"),
    ("undefined-value", "Price = :v", None, None,
     INVALID_CONDITION + "An expression attribute value used in expression is not defined; "
     "attribute value: :v"),
    ("unused-name", "attribute_exists(Price)", {"#unused": "x"}, None,
     "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}"),
    ("unused-value", "Price = :v", None, {":v": N("1"), ":unused": N("2")},
     "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"),
    # Function names are case-sensitive.
    ("unknown-function", "starts_with(Title, :v)", None, {":v": S("B")},
     INVALID_CONDITION + "Invalid function name; function: starts_with"),
    ("function-wrong-case", "ATTRIBUTE_EXISTS(Title)", None, None,
     INVALID_CONDITION + "Invalid function name; function: ATTRIBUTE_EXISTS"),
    # "The path and the operand must be distinct; that is, contains (a, a) will return an error."
    ("contains-same-operands", "contains(Title, Title)", None, None,
     INVALID_CONDITION + "The first operand must be distinct from the remaining operands for this "
     "operator or function; operator: contains, first operand: [Title]"),
    ("redundant-parentheses", "((Price = :v))", None, {":v": N("1")},
     INVALID_CONDITION + "The expression has redundant parentheses;"),
    ("attribute_type-unknown-type", "attribute_type(Price, :t)", None, {":t": S("DOG")},
     INVALID_CONDITION + "Invalid attribute type name found; type: DOG, valid types: "
     "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
    ("between-reversed", "Price BETWEEN :hi AND :lo", None, {":lo": N("5"), ":hi": N("9")},
     INVALID_CONDITION + "The BETWEEN operator requires upper bound to be greater than or equal to "
     "lower bound; lower bound operand: AttributeValue: {N:9}, upper bound operand: "
     "AttributeValue: {N:5}"),
]


@pytest.mark.parametrize("condition, names, values, message",
                         [row[1:] for row in REFUSALS], ids=[row[0] for row in REFUSALS])
def test_invalid_condition_expression(ddb_raw, catalog, condition, names, values, message):
    # Each row is a condition DynamoDB refuses as malformed (ValidationException, never a
    # ConditionalCheckFailedException).
    ddb_raw.put_item(TableName=catalog, Item=ITEM_456)
    kwargs = {"ConditionExpression": condition}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if values:
        kwargs["ExpressionAttributeValues"] = values
    with pytest.raises(ClientError) as e:
        ddb_raw.delete_item(TableName=catalog, Key=KEY_456, **kwargs)
    assert_error(e, "ValidationException", message, optional_envelope=True)
    assert get(ddb_raw, catalog, KEY_456) == ITEM_456


def test_values_without_condition_expression(ddb, catalog):
    # ExpressionAttributeValues are only accepted alongside an expression that uses them.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=catalog, Item=ITEM_456, ExpressionAttributeValues={":v": N("1")})
    assert_error(e, "ValidationException",
                 "ExpressionAttributeValues can only be specified when using expressions",
                 optional_envelope=True)


def test_empty_expression_attribute_values_with_condition(ddb_raw, catalog):
    # An empty ExpressionAttributeValues map is refused even when the condition needs none.
    with pytest.raises(ClientError) as e:
        ddb_raw.put_item(TableName=catalog, Item=ITEM_456,
                         ConditionExpression="attribute_not_exists(Id)", ExpressionAttributeValues={})
    assert_error(e, "ValidationException", "ExpressionAttributeValues must not be empty",
                 optional_envelope=True)
