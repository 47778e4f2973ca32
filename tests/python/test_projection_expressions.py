"""GetItem with projection expressions: every example of the Developer Guide's "Using projection
expressions" and "Expression attribute names" chapters on the ProductCatalog item 123 (reserved
words, dots in names, nested paths, repeated names), and the refusals with DynamoDB's exact
messages.

The examples run as one data table: each row names the projection, its ExpressionAttributeNames
and exactly what GetItem returns."""

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


FIVE_STAR = L(S("Excellent! Can't recommend it highly enough! Buy it!"),
              S("Do yourself a favor and buy this."))
ONE_STAR = L(S("Terrible product! Do not buy this."))

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
    "ProductReviews": M(FiveStar=FIVE_STAR, OneStar=ONE_STAR),
    "Comment": S("This product sells out quickly during the summer"),
    "Safety.Warning": S("Always wear a helmet"),
}
KEY = {"Id": N("123")}

# (id, projection, ExpressionAttributeNames, the Item GetItem returns)
PROJECTIONS = [
    # "A single top-level attribute." The key is not added unless projected.
    ("single-attribute", "Title", None, {"Title": S("Bicycle 123")}),
    # "Three top-level attributes. DynamoDB will retrieve the entire Color set."
    ("three-attributes", "Title, Price, Color", None,
     {"Title": S("Bicycle 123"), "Price": N("500"), "Color": {"SS": ["Red", "Black"]}}),
    # "Four top-level attributes ... the entire contents of RelatedItems and ProductReviews."
    ("four-attributes", "Title, Description, RelatedItems, ProductReviews", None,
     {"Title": S("Bicycle 123"), "Description": S("123 description"),
      "RelatedItems": ITEM_123["RelatedItems"], "ProductReviews": ITEM_123["ProductReviews"]}),
    # The GetItem example: a scalar, the first list element, and a list nested in a map.
    ("scalar-list-element-nested-list", "Description, RelatedItems[0], ProductReviews.FiveStar",
     None,
     {"Description": S("123 description"), "RelatedItems": L(N("341")),
      "ProductReviews": M(FiveStar=FIVE_STAR)}),
    # "Reserved words": Comment through the placeholder #c.
    ("reserved-word-placeholder", "#c", {"#c": "Comment"},
     {"Comment": S("This product sells out quickly during the summer")}),
    # "Attribute names containing dots": the dot in an expression is a path separator, so
    # Safety.Warning finds nothing...
    ("dot-is-a-path-separator", "Safety.Warning", None, {}),
    # ... and the placeholder #sw reaches the attribute named "Safety.Warning".
    ("dotted-name-placeholder", "#sw", {"#sw": "Safety.Warning"},
     {"Safety.Warning": S("Always wear a helmet")}),
    # "Nested attributes": ProductReviews.OneStar is the nested list...
    ("nested-attribute", "ProductReviews.OneStar", None, {"ProductReviews": M(OneStar=ONE_STAR)}),
    # ... a single placeholder for the whole path names a top-level attribute that does not
    # exist, so the result is empty...
    ("placeholder-for-whole-path", "#pr1star", {"#pr1star": "ProductReviews.OneStar"}, {}),
    # ... one placeholder per path element is the correct form.
    ("placeholder-per-element", "#pr.#1star", {"#pr": "ProductReviews", "#1star": "OneStar"},
     {"ProductReviews": M(OneStar=ONE_STAR)}),
    # "Repeating attribute names": #pr used three times; ThreeStar does not exist and is simply
    # absent from the result.
    ("repeated-placeholder", "#pr.FiveStar, #pr.ThreeStar, #pr.OneStar",
     {"#pr": "ProductReviews"}, {"ProductReviews": M(FiveStar=FIVE_STAR, OneStar=ONE_STAR)}),
    ("repeated-path-prefix", "ProductReviews.FiveStar, ProductReviews.ThreeStar, "
     "ProductReviews.OneStar", None,
     {"ProductReviews": M(FiveStar=FIVE_STAR, OneStar=ONE_STAR)}),
    # Several elements of one list come back in list order, packed together.
    ("list-elements-in-list-order", "RelatedItems[2], RelatedItems[0]", None,
     {"RelatedItems": L(N("341"), N("649"))}),
    # An index past the end of the list projects nothing.
    ("list-index-past-end", "RelatedItems[7]", None, {}),
    # Document paths into maps, two deep.
    ("two-map-members", "Pictures.FrontView, Pictures.SideView", None,
     {"Pictures": M(FrontView=S("http://example.com/products/123_front.jpg"),
                    SideView=S("http://example.com/products/123_left_side.jpg"))}),
    # List element inside a map.
    ("element-of-nested-list", "ProductReviews.FiveStar[1]", None,
     {"ProductReviews": M(FiveStar=L(S("Do yourself a favor and buy this.")))}),
    # The key is returned when it is projected; NULL and BOOL values come back as stored.
    ("key-null-and-bool", "Id, QuantityOnHand, InStock", None,
     {"Id": N("123"), "QuantityOnHand": {"NULL": True}, "InStock": {"BOOL": True}}),
    # A path into a scalar projects nothing.
    ("path-into-scalar", "Title.Nested, Price[0]", None, {}),
    # Attributes that do not exist are left out.
    ("missing-attributes", "Manufacturer, Title", None, {"Title": S("Bicycle 123")}),
]


@pytest.fixture
def catalog(ddb, make_table):
    """A ProductCatalog table holding the guide's item 123."""
    name = make_table(**hash_table_spec(unique_table_name(), key="Id", key_type="N"))["TableName"]
    ddb.put_item(TableName=name, Item=ITEM_123)
    return name


def project(ddb, table, projection, names):
    kwargs = {"ProjectionExpression": projection}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    return ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True, **kwargs)


def canonical(value):
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


@pytest.mark.parametrize("projection, names, expected",
                         [row[1:] for row in PROJECTIONS], ids=[row[0] for row in PROJECTIONS])
def test_documented_projection(ddb, catalog, projection, names, expected):
    # Each row is an example of the guide's projection and attribute-name chapters. When the item
    # exists but nothing matches, DynamoDB answers with an empty Item (the guide: "an empty
    # result").
    response = project(ddb, catalog, projection, names)
    assert canonical(response.get("Item", {})) == canonical(expected)


def test_projection_of_missing_item_returns_no_item(ddb, catalog):
    # A projection does not change "no such item": the response has no Item member.
    response = ddb.get_item(TableName=catalog, Key={"Id": N("999")}, ProjectionExpression="Title")
    assert "Item" not in response


# ---- Refusals ----------------------------------------------------------------------------------

INVALID_PROJECTION = "Invalid ProjectionExpression: "

# (id, projection, ExpressionAttributeNames, exact message)
REFUSALS = [
    # "The following AWS CLI example would fail because COMMENT is a reserved word."
    ("reserved-word", "Comment", None,
     INVALID_PROJECTION + "Attribute name is a reserved keyword; reserved keyword: Comment"),
    ("syntax-trailing-comma", "Title,", None,
     INVALID_PROJECTION + 'Syntax error; token: "<EOF>", near: ","'),
    ("syntax-missing-comma", "Title Price", None,
     INVALID_PROJECTION + 'Syntax error; token: "Price", near: "Title Price"'),
    ("empty", "", None, INVALID_PROJECTION + "The expression can not be empty;"),
    ("undefined-name", "#x", None,
     INVALID_PROJECTION + "An expression attribute name used in the document path is not defined; "
     "attribute name: #x"),
    ("unused-name", "Title", {"#unused": "Price"},
     "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}"),
    ("same-path-twice", "Title, Title", None,
     INVALID_PROJECTION + "Two document paths overlap with each other; must remove or rewrite one "
     "of these paths; path one: [Title], path two: [Title]"),
    ("path-and-its-parent", "ProductReviews, ProductReviews.FiveStar", None,
     INVALID_PROJECTION + "Two document paths overlap with each other; must remove or rewrite one "
     "of these paths; path one: [ProductReviews], path two: [ProductReviews, FiveStar]"),
    ("list-and-map-access", "RelatedItems[0], RelatedItems.x", None,
     INVALID_PROJECTION + "Two document paths conflict with each other; must remove or rewrite one "
     "of these paths; path one: [RelatedItems, [0]], path two: [RelatedItems, x]"),
    # "The maximum depth for a document path is 32."
    ("path-too-deep", "a" + ".b" * 32, None,
     INVALID_PROJECTION + "The document path has too many nesting levels; nesting levels: 33"),
]


@pytest.mark.parametrize("projection, names, message",
                         [row[1:] for row in REFUSALS], ids=[row[0] for row in REFUSALS])
def test_invalid_projection_expression(ddb_raw, catalog, projection, names, message):
    # Each row is a projection DynamoDB refuses with a ValidationException.
    with pytest.raises(ClientError) as e:
        project(ddb_raw, catalog, projection, names)
    assert_error(e, "ValidationException", message, optional_envelope=True)


def test_path_of_32_levels_is_accepted(ddb, catalog):
    # 32 levels is the limit itself, not past it.
    response = project(ddb, catalog, "a" + ".b" * 31, None)
    assert response.get("Item", {}) == {}
