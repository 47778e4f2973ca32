"""UpdateItem with update expressions: every example of the Developer Guide's "Using update
expressions" chapter (SET, REMOVE, ADD, DELETE on the ProductCatalog item), ReturnValues for each
mode, and the refusals with DynamoDB's exact messages.

The examples run as one data table: each row names the item before, the UpdateItem arguments and
the item after; `run_update` applies a row and checks both the ALL_NEW answer and a consistent
read. Where DynamoDB's 2026 validation envelope is still rolling out region by region, refusals
accept exactly the bare message or the enveloped one (see support.ENVELOPE)."""

import pytest
from botocore.exceptions import ClientError

from support import assert_error, hash_table_spec, unique_table_name


def canonical(value):
    """Attribute values with set members sorted: sets are unordered in DynamoDB."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def S(s):
    return {"S": s}


def N(n):
    return {"N": n}


def L(*items):
    return {"L": list(items)}


def M(**members):
    return {"M": members}


KEY = {"Id": N("789")}

# The guide's sample item (Expressions.UpdateExpressions, "SET — modifying or adding item
# attributes").
PRODUCT = {
    "Id": N("789"),
    "ProductCategory": S("Home Improvement"),
    "Price": N("52"),
    "InStock": {"BOOL": True},
    "Brand": S("Acme"),
}


def product(**changes):
    """PRODUCT with attributes replaced (a value) or removed (None)."""
    item = dict(PRODUCT)
    for name, value in changes.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value
    return item


FIVE_TOOLS = L(S("Chisel"), S("Hammer"), S("Nails"), S("Screwdriver"), S("Hacksaw"))

# (id, item before, UpdateItem arguments, item after)
EXAMPLES = [
    # "Modifying attributes": SET two attributes at once.
    ("set-modify-attributes", PRODUCT,
     dict(UpdateExpression="SET ProductCategory = :c, Price = :p",
          ExpressionAttributeValues={":c": S("Hardware"), ":p": N("60")}),
     product(ProductCategory=S("Hardware"), Price=N("60"))),
    # "Adding lists and maps".
    ("set-add-list-and-map", PRODUCT,
     dict(UpdateExpression="SET RelatedItems = :ri, ProductReviews = :pr",
          ExpressionAttributeValues={":ri": L(S("Hammer")),
                                     ":pr": M(FiveStar=L(S("Best product ever!")))}),
     product(RelatedItems=L(S("Hammer")), ProductReviews=M(FiveStar=L(S("Best product ever!"))))),
    # "Adding elements to a list": SET on the index just past the end appends.
    ("set-list-element-appends", product(RelatedItems=L(S("Hammer"))),
     dict(UpdateExpression="SET RelatedItems[1] = :ri",
          ExpressionAttributeValues={":ri": S("Nails")}),
     product(RelatedItems=L(S("Hammer"), S("Nails")))),
    # "If the element does not already exist, SET will append the new element at the end of the
    # list": an index far past the end appends too.
    ("set-list-element-far-past-end-appends", product(RelatedItems=L(S("Hammer"))),
     dict(UpdateExpression="SET RelatedItems[10] = :ri",
          ExpressionAttributeValues={":ri": S("Nails")}),
     product(RelatedItems=L(S("Hammer"), S("Nails")))),
    # SET on an existing element replaces its contents.
    ("set-list-element-replaces", product(RelatedItems=L(S("Hammer"), S("Nails"))),
     dict(UpdateExpression="SET RelatedItems[0] = :ri",
          ExpressionAttributeValues={":ri": S("Mallet")}),
     product(RelatedItems=L(S("Mallet"), S("Nails")))),
    # "Adding nested map attributes", with expression attribute names for each path element.
    ("set-nested-map-attributes",
     product(ProductReviews=M(FiveStar=L(S("Best product ever!")))),
     dict(UpdateExpression="SET #pr.#5star[1] = :r5, #pr.#3star = :r3",
          ExpressionAttributeNames={"#pr": "ProductReviews", "#5star": "FiveStar",
                                    "#3star": "ThreeStar"},
          ExpressionAttributeValues={":r5": S("Very happy with my purchase"),
                                     ":r3": L(S("Just OK - not that great"))}),
     product(ProductReviews=M(FiveStar=L(S("Best product ever!"),
                                         S("Very happy with my purchase")),
                              ThreeStar=L(S("Just OK - not that great"))))),
    # "Incrementing and decrementing numeric attributes": Price - 15.
    ("set-decrement", PRODUCT,
     dict(UpdateExpression="SET Price = Price - :p", ExpressionAttributeValues={":p": N("15")}),
     product(Price=N("37"))),
    # ... and with "+"; the result is a number in canonical form (52 + 0.50 = 52.5).
    ("set-increment-canonical", PRODUCT,
     dict(UpdateExpression="SET Price = Price + :p", ExpressionAttributeValues={":p": N("0.50")}),
     product(Price=N("52.5"))),
    # Arithmetic that reaches zero stores "0", not "0.0" or "-0".
    ("set-arithmetic-to-zero", PRODUCT,
     dict(UpdateExpression="SET Price = Price - :p", ExpressionAttributeValues={":p": N("52.00")}),
     product(Price=N("0"))),
    # A value written through SET is normalised like one written by PutItem.
    ("set-value-normalised", PRODUCT,
     dict(UpdateExpression="SET Price = :p", ExpressionAttributeValues={":p": N("1.50E1")}),
     product(Price=N("15"))),
    # "Appending elements to a list": list_append(list, values) adds at the end...
    ("list-append-end", product(RelatedItems=L(S("Hammer"), S("Nails"))),
     dict(UpdateExpression="SET #ri = list_append(#ri, :vals)",
          ExpressionAttributeNames={"#ri": "RelatedItems"},
          ExpressionAttributeValues={":vals": L(S("Screwdriver"), S("Hacksaw"))}),
     product(RelatedItems=L(S("Hammer"), S("Nails"), S("Screwdriver"), S("Hacksaw")))),
    # ... and with the operands swapped, at the beginning.
    ("list-append-beginning",
     product(RelatedItems=L(S("Hammer"), S("Nails"), S("Screwdriver"), S("Hacksaw"))),
     dict(UpdateExpression="SET #ri = list_append(:vals, #ri)",
          ExpressionAttributeNames={"#ri": "RelatedItems"},
          ExpressionAttributeValues={":vals": L(S("Chisel"))}),
     product(RelatedItems=FIVE_TOOLS)),
    # "Preventing overwrites of an existing attribute": Price exists, nothing happens.
    ("if-not-exists-keeps-existing", PRODUCT,
     dict(UpdateExpression="SET Price = if_not_exists(Price, :p)",
          ExpressionAttributeValues={":p": N("100")}),
     PRODUCT),
    # ... and when Price is missing, if_not_exists supplies the value.
    ("if-not-exists-supplies-missing", product(Price=None),
     dict(UpdateExpression="SET Price = if_not_exists(Price, :p)",
          ExpressionAttributeValues={":p": N("100")}),
     product(Price=N("100"))),
    # The common counter idiom: if_not_exists as an operand of "+".
    ("if-not-exists-counter", PRODUCT,
     dict(UpdateExpression="SET ViewCount = if_not_exists(ViewCount, :zero) + :one",
          ExpressionAttributeValues={":zero": N("0"), ":one": N("1")}),
     product(ViewCount=N("1"))),
    # "REMOVE — deleting attributes from an item": missing attributes are ignored.
    ("remove-attributes", PRODUCT,
     dict(UpdateExpression="REMOVE Brand, InStock, QuantityOnHand"),
     product(Brand=None, InStock=None)),
    # "Removing elements from a list": the remaining elements shift down.
    ("remove-list-elements", product(RelatedItems=FIVE_TOOLS),
     dict(UpdateExpression="REMOVE RelatedItems[1], RelatedItems[2]"),
     product(RelatedItems=L(S("Chisel"), S("Screwdriver"), S("Hacksaw")))),
    # REMOVE of a nested map member.
    ("remove-nested-map-member",
     product(ProductReviews=M(FiveStar=L(S("Great")), OneStar=L(S("Bad")))),
     dict(UpdateExpression="REMOVE ProductReviews.OneStar"),
     product(ProductReviews=M(FiveStar=L(S("Great"))))),
    # "ADD — updating numbers and sets": QuantityOnHand does not exist, ADD sets it to 5...
    ("add-number-missing", PRODUCT,
     dict(UpdateExpression="ADD QuantityOnHand :q", ExpressionAttributeValues={":q": N("5")}),
     product(QuantityOnHand=N("5"))),
    # ... and re-running it increments by 5 each time.
    ("add-number-existing", product(QuantityOnHand=N("5")),
     dict(UpdateExpression="ADD QuantityOnHand :q", ExpressionAttributeValues={":q": N("5")}),
     product(QuantityOnHand=N("10"))),
    # A negative number is subtracted.
    ("add-negative-number", product(QuantityOnHand=N("5")),
     dict(UpdateExpression="ADD QuantityOnHand :q", ExpressionAttributeValues={":q": N("-7.5")}),
     product(QuantityOnHand=N("-2.5"))),
    # "Adding elements to a set": Color does not exist, ADD creates the string set...
    ("add-set-missing", PRODUCT,
     dict(UpdateExpression="ADD Color :c",
          ExpressionAttributeValues={":c": {"SS": ["Orange", "Purple"]}}),
     product(Color={"SS": ["Orange", "Purple"]})),
    # ... and a second ADD unions more elements into it.
    ("add-set-existing", product(Color={"SS": ["Orange", "Purple"]}),
     dict(UpdateExpression="ADD Color :c",
          ExpressionAttributeValues={":c": {"SS": ["Yellow", "Green", "Blue"]}}),
     product(Color={"SS": ["Orange", "Purple", "Yellow", "Green", "Blue"]})),
    # ADD to a number set: members already present are not duplicated; members are canonical.
    ("add-number-set", product(Sizes={"NS": ["1", "2"]}),
     dict(UpdateExpression="ADD Sizes :s", ExpressionAttributeValues={":s": {"NS": ["2.0", "3"]}}),
     product(Sizes={"NS": ["1", "2", "3"]})),
    # "DELETE — removing elements from a set".
    ("delete-from-set", product(Color={"SS": ["Orange", "Purple", "Yellow", "Green", "Blue"]}),
     dict(UpdateExpression="DELETE Color :p",
          ExpressionAttributeValues={":p": {"SS": ["Yellow", "Purple"]}}),
     product(Color={"SS": ["Orange", "Green", "Blue"]})),
    # Deleting every member removes the attribute (a set can never be empty).
    ("delete-last-members-removes-attribute", product(Color={"SS": ["Orange"]}),
     dict(UpdateExpression="DELETE Color :p",
          ExpressionAttributeValues={":p": {"SS": ["Orange", "Pink"]}}),
     PRODUCT),
    # "Using multiple update expressions": all four clauses in one expression, any order.
    ("all-four-clauses", product(Color={"SS": ["Orange", "Purple"]}),
     dict(UpdateExpression="DELETE Color :del ADD QuantityOnHand :q REMOVE Brand SET Price = :p",
          ExpressionAttributeValues={":del": {"SS": ["Purple"]}, ":q": N("3"), ":p": N("10")}),
     product(Color={"SS": ["Orange"]}, QuantityOnHand=N("3"), Brand=None, Price=N("10"))),
    # Every action sees the item as it was before the update, so two SETs can swap attributes.
    ("actions-read-pre-update-values", product(A=S("a"), B=S("b")),
     dict(UpdateExpression="SET A = B, B = A"),
     product(A=S("b"), B=S("a"))),
    # Keywords and function names: SET/REMOVE/ADD/DELETE are case-insensitive.
    ("clause-keywords-case-insensitive", PRODUCT,
     dict(UpdateExpression="set Price = :p remove Brand",
          ExpressionAttributeValues={":p": N("1")}),
     product(Price=N("1"), Brand=None)),
]


def run_update(ddb, table, before, arguments, after):
    """Writes `before`, applies the UpdateItem and checks the ALL_NEW answer and a consistent
    read against `after` (`before=None` updates an item that does not exist)."""
    if before is not None:
        ddb.put_item(TableName=table, Item=before)
    response = ddb.update_item(TableName=table, Key=KEY, ReturnValues="ALL_NEW", **arguments)
    assert canonical(response["Attributes"]) == canonical(after)
    stored = ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True)["Item"]
    assert canonical(stored) == canonical(after)


@pytest.fixture
def catalog(make_table):
    """A ProductCatalog table: partition key Id (N), as in the guide."""
    return make_table(**hash_table_spec(unique_table_name(), key="Id", key_type="N"))["TableName"]


@pytest.mark.parametrize("before, arguments, after",
                         [row[1:] for row in EXAMPLES], ids=[row[0] for row in EXAMPLES])
def test_documented_update_example(ddb, catalog, before, arguments, after):
    # Each row is an example of the guide's update-expression chapter (see the comment above it).
    run_update(ddb, catalog, before, arguments, after)


def test_update_of_missing_item_creates_it(ddb, catalog):
    # "UpdateItem ... adds a new item to the table if it does not already exist": the new item
    # holds the key and the updated attributes.
    run_update(ddb, catalog, None,
               dict(UpdateExpression="ADD QuantityOnHand :q", ExpressionAttributeValues={":q": N("5")}),
               {"Id": N("789"), "QuantityOnHand": N("5")})


def test_remove_only_update_of_missing_item_creates_nothing(ddb, catalog):
    # An update that only removes does not create a missing item (DynamoDB creates one only when
    # the update gives it an attribute; scylladb/scylladb#5862 records the same observation), so
    # ALL_NEW has nothing to return.
    response = ddb.update_item(TableName=catalog, Key=KEY, UpdateExpression="REMOVE Brand",
                               ReturnValues="ALL_NEW")
    assert "Attributes" not in response
    assert "Item" not in ddb.get_item(TableName=catalog, Key=KEY, ConsistentRead=True)


# ---- ReturnValues ------------------------------------------------------------------------------

RV_ITEM = {
    "Id": N("789"),
    "a": N("1"),
    "b": M(c=N("2"), d=N("3")),
    "l": L(S("x"), S("y"), S("z")),
    "keep": S("k"),
}
RV_UPDATE = dict(UpdateExpression="SET a = :n, b.c = :n, l[1] = :s, fresh = :s",
                 ExpressionAttributeValues={":n": N("9"), ":s": S("new")})
RV_AFTER = {
    "Id": N("789"),
    "a": N("9"),
    "b": M(c=N("9"), d=N("3")),
    "l": L(S("x"), S("new"), S("z")),
    "keep": S("k"),
    "fresh": S("new"),
}

# (ReturnValues, the Attributes DynamoDB answers with, or None for no Attributes member)
RETURN_VALUES = [
    ("NONE", None),
    ("ALL_OLD", RV_ITEM),
    ("ALL_NEW", RV_AFTER),
    # UPDATED_OLD: only the updated paths, nested ones as a projection of the old item; `fresh`
    # did not exist before, so it has no old value.
    ("UPDATED_OLD", {"a": N("1"), "b": M(c=N("2")), "l": L(S("y"))}),
    # UPDATED_NEW: only the updated paths, as they are after the update.
    ("UPDATED_NEW", {"a": N("9"), "b": M(c=N("9")), "l": L(S("new")), "fresh": S("new")}),
]


@pytest.mark.parametrize("mode, returned", RETURN_VALUES, ids=[r[0] for r in RETURN_VALUES])
def test_return_values(ddb, catalog, mode, returned):
    # ReturnValues on UpdateItem: NONE returns nothing; ALL_OLD/ALL_NEW the whole item before or
    # after; UPDATED_OLD/UPDATED_NEW only the attributes (and nested paths) the update touched.
    ddb.put_item(TableName=catalog, Item=RV_ITEM)
    response = ddb.update_item(TableName=catalog, Key=KEY, ReturnValues=mode, **RV_UPDATE)
    assert response.get("Attributes") == returned
    assert ddb.get_item(TableName=catalog, Key=KEY, ConsistentRead=True)["Item"] == RV_AFTER


def test_updated_old_is_absent_when_nothing_existed(ddb, catalog):
    # UPDATED_OLD of attributes that did not exist before has nothing to return.
    ddb.put_item(TableName=catalog, Item=PRODUCT)
    response = ddb.update_item(TableName=catalog, Key=KEY, UpdateExpression="SET Fresh = :v",
                               ExpressionAttributeValues={":v": S("x")}, ReturnValues="UPDATED_OLD")
    assert "Attributes" not in response


def test_updated_new_of_a_remove_is_absent(ddb, catalog):
    # A removed attribute has no new value, so UPDATED_NEW of a REMOVE returns nothing...
    ddb.put_item(TableName=catalog, Item=PRODUCT)
    response = ddb.update_item(TableName=catalog, Key=KEY, UpdateExpression="REMOVE Brand",
                               ReturnValues="UPDATED_NEW")
    assert "Attributes" not in response


def test_updated_old_of_a_remove_returns_the_removed_value(ddb, catalog):
    # ... while UPDATED_OLD returns what was removed.
    ddb.put_item(TableName=catalog, Item=PRODUCT)
    response = ddb.update_item(TableName=catalog, Key=KEY, UpdateExpression="REMOVE Brand",
                               ReturnValues="UPDATED_OLD")
    assert response["Attributes"] == {"Brand": S("Acme")}


def test_updated_new_of_add_returns_the_sum(ddb, catalog):
    # UPDATED_NEW is how an atomic counter reads its new value in the same call.
    ddb.put_item(TableName=catalog, Item=product(QuantityOnHand=N("5")))
    response = ddb.update_item(TableName=catalog, Key=KEY, UpdateExpression="ADD QuantityOnHand :q",
                               ExpressionAttributeValues={":q": N("5")}, ReturnValues="UPDATED_NEW")
    assert response["Attributes"] == {"QuantityOnHand": N("10")}


def test_all_old_of_a_created_item_is_absent(ddb, catalog):
    # ALL_OLD when the update created the item: there was no old item.
    response = ddb.update_item(TableName=catalog, Key=KEY, UpdateExpression="SET Price = :p",
                               ExpressionAttributeValues={":p": N("1")}, ReturnValues="ALL_OLD")
    assert "Attributes" not in response


# ---- Refusals ----------------------------------------------------------------------------------

INVALID_UPDATE = "Invalid UpdateExpression: "
OVERLAP = ("Two document paths overlap with each other; must remove or rewrite one of these paths; "
           "path one: {}, path two: {}")
INCORRECT_TYPE = "An operand in the update expression has an incorrect data type"
INVALID_PATH = "The document path provided in the update expression is invalid for update"

# (id, item present before or None, UpdateItem arguments, exact message). Every refusal is a
# ValidationException and leaves the item as it was.
REFUSALS = [
    # A syntax error names the offending token and the text around it ("<EOF>" at the end).
    ("syntax-eof", PRODUCT, dict(UpdateExpression="SET a =",),
     INVALID_UPDATE + 'Syntax error; token: "<EOF>", near: "="'),
    ("syntax-bad-token", PRODUCT,
     dict(UpdateExpression="ADD hits : incr", ExpressionAttributeValues={":incr": N("1")}),
     INVALID_UPDATE + 'Syntax error; token: ":", near: "hits : incr"'),
    ("syntax-unknown-clause", PRODUCT,
     dict(UpdateExpression="INVALID SYNTAX HERE"),
     INVALID_UPDATE + 'Syntax error; token: "INVALID", near: "INVALID SYNTAX"'),
    ("empty-expression", PRODUCT, dict(UpdateExpression=""),
     INVALID_UPDATE + "The expression can not be empty;"),
    # Reserved words must be replaced by expression attribute names; the word is quoted as
    # written.
    ("reserved-word", PRODUCT,
     dict(UpdateExpression="SET Comment = :v", ExpressionAttributeValues={":v": S("x")}),
     INVALID_UPDATE + "Attribute name is a reserved keyword; reserved keyword: Comment"),
    ("undefined-name", PRODUCT,
     dict(UpdateExpression="SET #n = :v", ExpressionAttributeValues={":v": S("x")}),
     INVALID_UPDATE + "An expression attribute name used in the document path is not defined; "
     "attribute name: #n"),
    ("undefined-value", PRODUCT, dict(UpdateExpression="SET a = :v"),
     INVALID_UPDATE + "An expression attribute value used in expression is not defined; "
     "attribute value: :v"),
    ("unused-name", PRODUCT,
     dict(UpdateExpression="SET a = :v", ExpressionAttributeNames={"#unused": "x"},
          ExpressionAttributeValues={":v": S("x")}),
     "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}"),
    ("unused-value", PRODUCT,
     dict(UpdateExpression="SET a = :v",
          ExpressionAttributeValues={":v": S("x"), ":unused": S("y")}),
     "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"),
    # "Each action keyword can appear only once."
    ("set-twice", PRODUCT,
     dict(UpdateExpression="SET a = :v SET b = :v", ExpressionAttributeValues={":v": S("x")}),
     INVALID_UPDATE + 'The "SET" section can only be used once in an update expression;'),
    ("remove-twice", PRODUCT, dict(UpdateExpression="REMOVE a REMOVE b"),
     INVALID_UPDATE + 'The "REMOVE" section can only be used once in an update expression;'),
    # Two actions may not touch the same path, or a path and its parent.
    ("overlap-same-path", PRODUCT,
     dict(UpdateExpression="SET a = :v REMOVE a", ExpressionAttributeValues={":v": S("x")}),
     INVALID_UPDATE + OVERLAP.format("[a]", "[a]")),
    ("overlap-parent-and-child", PRODUCT,
     dict(UpdateExpression="SET a = :v, a.b = :v", ExpressionAttributeValues={":v": S("x")}),
     INVALID_UPDATE + OVERLAP.format("[a]", "[a, b]")),
    # ADD takes a number or a set, DELETE a set; the type is named in long form. The live service
    # sends no suffix (dynamoose#388, serverless#7184, baseprime/dynamodb#51 quote it from
    # Lambda); DynamoDB Local appends ", typeSet: ALLOWED_FOR_..._OPERAND", the service does not.
    ("add-string-operand", PRODUCT,
     dict(UpdateExpression="ADD Brand :v", ExpressionAttributeValues={":v": S("x")}),
     INVALID_UPDATE + "Incorrect operand type for operator or function; operator: ADD, "
     "operand type: STRING"),
    ("delete-number-operand", PRODUCT,
     dict(UpdateExpression="DELETE Price :v", ExpressionAttributeValues={":v": N("1")}),
     INVALID_UPDATE + "Incorrect operand type for operator or function; operator: DELETE, "
     "operand type: NUMBER"),
]

# Refusals that depend on the stored item; DynamoDB sends these bare (no expression prefix).
DATA_REFUSALS = [
    # ADD of a number to a string attribute.
    ("add-number-to-string", PRODUCT,
     dict(UpdateExpression="ADD Brand :v", ExpressionAttributeValues={":v": N("1")}),
     INCORRECT_TYPE),
    # ADD of a string set to a number set.
    ("add-string-set-to-number-set", product(Sizes={"NS": ["1"]}),
     dict(UpdateExpression="ADD Sizes :v", ExpressionAttributeValues={":v": {"SS": ["a"]}}),
     INCORRECT_TYPE),
    # DELETE of a string set from a number.
    ("delete-set-from-number", PRODUCT,
     dict(UpdateExpression="DELETE Price :v", ExpressionAttributeValues={":v": {"SS": ["a"]}}),
     INCORRECT_TYPE),
    # Arithmetic on a string attribute.
    ("arithmetic-on-string", PRODUCT,
     dict(UpdateExpression="SET Price = Brand + :one", ExpressionAttributeValues={":one": N("1")}),
     INCORRECT_TYPE),
    # list_append of a non-list attribute.
    ("list-append-of-string", PRODUCT,
     dict(UpdateExpression="SET Brand = list_append(Brand, :l)",
          ExpressionAttributeValues={":l": L(S("x"))}),
     INCORRECT_TYPE),
    # Arithmetic on a missing attribute.
    ("arithmetic-on-missing", PRODUCT,
     dict(UpdateExpression="SET Price = Absent + :one", ExpressionAttributeValues={":one": N("1")}),
     "The provided expression refers to an attribute that does not exist in the item"),
    # SET below a parent that does not exist.
    ("set-under-missing-parent", PRODUCT,
     dict(UpdateExpression="SET Absent.child = :v", ExpressionAttributeValues={":v": S("x")}),
     INVALID_PATH),
    # SET of a map member below a scalar.
    ("set-under-scalar", PRODUCT,
     dict(UpdateExpression="SET Brand.child = :v", ExpressionAttributeValues={":v": S("x")}),
     INVALID_PATH),
    # SET of a list element of something that is not a list.
    ("set-index-of-map", product(ProductReviews=M(FiveStar=L())),
     dict(UpdateExpression="SET ProductReviews[0] = :v", ExpressionAttributeValues={":v": S("x")}),
     INVALID_PATH),
]


@pytest.mark.parametrize("before, arguments, message",
                         [row[1:] for row in REFUSALS], ids=[row[0] for row in REFUSALS])
def test_invalid_update_expression(ddb, catalog, before, arguments, message):
    # Each row is a malformed update expression DynamoDB refuses before looking at the item.
    ddb.put_item(TableName=catalog, Item=before)
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=catalog, Key=KEY, **arguments)
    assert_error(e, "ValidationException", message, optional_envelope=True)
    assert ddb.get_item(TableName=catalog, Key=KEY, ConsistentRead=True)["Item"] == before


@pytest.mark.parametrize("before, arguments, message",
                         [row[1:] for row in DATA_REFUSALS], ids=[row[0] for row in DATA_REFUSALS])
def test_update_refused_by_item_contents(ddb, catalog, before, arguments, message):
    # Each row is a well-formed update that cannot apply to the stored item; nothing changes.
    ddb.put_item(TableName=catalog, Item=before)
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=catalog, Key=KEY, **arguments)
    assert_error(e, "ValidationException", message, optional_envelope=True)
    assert canonical(ddb.get_item(TableName=catalog, Key=KEY, ConsistentRead=True)["Item"]) == \
        canonical(before)


def test_refused_update_of_missing_item_creates_nothing(ddb, catalog):
    # An update refused by the item's contents does not create the item either.
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=catalog, Key=KEY, UpdateExpression="SET a.b = :v",
                        ExpressionAttributeValues={":v": S("x")})
    assert_error(e, "ValidationException", INVALID_PATH, optional_envelope=True)
    assert "Item" not in ddb.get_item(TableName=catalog, Key=KEY, ConsistentRead=True)


@pytest.mark.parametrize("expression", ["SET Id = :v", "REMOVE Id", "ADD Id :v"])
def test_key_attribute_cannot_be_updated(ddb, catalog, expression):
    # Key attributes are immutable; DynamoDB sends this one bare in every region observed.
    ddb.put_item(TableName=catalog, Item=PRODUCT)
    values = {":v": N("1")} if ":v" in expression else None
    kwargs = {"ExpressionAttributeValues": values} if values else {}
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=catalog, Key=KEY, UpdateExpression=expression, **kwargs)
    assert_error(e, "ValidationException",
                 "One or more parameter values were invalid: Cannot update attribute Id. "
                 "This attribute is part of the key")


def test_empty_expression_attribute_values(ddb_raw, catalog):
    # An empty ExpressionAttributeValues map is refused outright.
    with pytest.raises(ClientError) as e:
        ddb_raw.update_item(TableName=catalog, Key=KEY, UpdateExpression="REMOVE a",
                            ExpressionAttributeValues={})
    assert_error(e, "ValidationException", "ExpressionAttributeValues must not be empty",
                 optional_envelope=True)


def test_empty_expression_attribute_names(ddb_raw, catalog):
    # So is an empty ExpressionAttributeNames map.
    with pytest.raises(ClientError) as e:
        ddb_raw.update_item(TableName=catalog, Key=KEY, UpdateExpression="REMOVE a",
                            ExpressionAttributeNames={})
    assert_error(e, "ValidationException", "ExpressionAttributeNames must not be empty",
                 optional_envelope=True)
