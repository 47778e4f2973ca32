"""Writes the seed corpus of the `request_dispatch` fuzz target: one file per request, its first
byte the operation's index in `Operation::ALL`, the rest the JSON body. Placeholders `@arn`,
`@tarn`, `@shard` and `@it` are filled in by the target (see its header comment). The fixture
tables `t_main`, `t_hash` and `t_num` always exist.

Run from fuzz/: python3 seeds/request_dispatch.py (again whenever Operation::ALL changes order).
"""

import hashlib
import json
import re
from pathlib import Path

FUZZ = Path(__file__).resolve().parent.parent
LIB = FUZZ.parent / "crates" / "protocol" / "src" / "lib.rs"
CORPUS = FUZZ / "corpus" / "request_dispatch"


def operations():
    """Operation::ALL, in order: the names listed in the `operations!(…)` invocation."""
    text = LIB.read_text()
    listing = re.search(r"^operations!\((.*?)\);", text, re.S | re.M).group(1)
    return re.findall(r"\b([A-Z][A-Za-z]+)\b", listing)


S = lambda v: {"S": v}
N = lambda v: {"N": v}

SEEDS = [
    ("CreateTable", {
        "TableName": "t_new", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"},
                                 {"AttributeName": "g", "AttributeType": "N"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [{"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        "Tags": [{"Key": "k", "Value": "v"}]}),
    ("CreateTable", {
        "TableName": "t_prov", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "B"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "SSESpecification": {"Enabled": True}, "TableClass": "STANDARD_INFREQUENT_ACCESS",
        "DeletionProtectionEnabled": False}),
    ("DescribeTable", {"TableName": "t_main"}),
    ("ListTables", {"Limit": 2, "ExclusiveStartTableName": "t_hash"}),
    ("UpdateTable", {
        "TableName": "t_main", "AttributeDefinitions": [{"AttributeName": "h", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [{"Create": {
            "IndexName": "gs2", "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}}}]}),
    ("UpdateTable", {"TableName": "t_main", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "gs2"}}]}),
    ("UpdateTable", {"TableName": "t_num", "BillingMode": "PROVISIONED",
                     "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3}}),
    ("UpdateTable", {"TableName": "t_hash",
                     "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}}),
    ("DeleteTable", {"TableName": "t_new"}),
    ("TagResource", {"ResourceArn": "@tarn", "Tags": [{"Key": "a", "Value": "b"}]}),
    ("UntagResource", {"ResourceArn": "@tarn", "TagKeys": ["a"]}),
    ("ListTagsOfResource", {"ResourceArn": "@tarn"}),
    ("DescribeTimeToLive", {"TableName": "t_hash"}),
    ("UpdateTimeToLive", {"TableName": "t_main", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "e"}}),
    ("DescribeContinuousBackups", {"TableName": "t_main"}),
    ("DescribeLimits", {}),
    ("DescribeEndpoints", {}),
    ("PutItem", {
        "TableName": "t_main",
        "Item": {"pk": S("c"), "sk": N("7"), "g": S("x"), "l": S("r"), "h": S("z"), "e": N("1"),
                 "a": {"L": [N("1.5e3"), {"BS": ["AQI="]}, {"M": {"x": {"NULL": True}}}]}},
        "ConditionExpression": "attribute_not_exists(pk) OR #a < :v",
        "ExpressionAttributeNames": {"#a": "a"}, "ExpressionAttributeValues": {":v": N("10")},
        "ReturnValues": "ALL_OLD", "ReturnConsumedCapacity": "INDEXES",
        "ReturnItemCollectionMetrics": "SIZE"}),
    ("PutItem", {
        "TableName": "t_hash", "Item": {"pk": S("b"), "c": N("1"), "s": {"SS": ["x", "y"]}},
        "Expected": {"c": {"ComparisonOperator": "NULL"}}, "ConditionalOperator": "AND"}),
    ("PutItem", {"TableName": "t_num", "Item": {"pk": N("-1.5E-3"), "sk": {"B": "AP8="}, "n": {"NS": ["1", "-0"]}}}),
    ("GetItem", {
        "TableName": "t_main", "Key": {"pk": S("a"), "sk": N("1")}, "ConsistentRead": True,
        "ProjectionExpression": "#m.k[1], a, ss", "ExpressionAttributeNames": {"#m": "m"}}),
    ("GetItem", {"TableName": "t_num", "Key": {"pk": N("1"), "sk": {"B": "AA=="}}, "AttributesToGet": ["v"]}),
    ("DeleteItem", {
        "TableName": "t_main", "Key": {"pk": S("b"), "sk": N("-3")},
        "ConditionExpression": "contains(#l, :q) AND size(b) = :one",
        "ExpressionAttributeNames": {"#l": "l"}, "ExpressionAttributeValues": {":q": S("q"), ":one": N("2")},
        "ReturnValues": "ALL_OLD", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
    ("UpdateItem", {
        "TableName": "t_main", "Key": {"pk": S("a"), "sk": N("1")},
        "UpdateExpression": "SET a = a + :one, m.k[2] = if_not_exists(z, :s), q = list_append(:l, :l) "
                            "REMOVE n ADD c :one, ss :ss DELETE ns :ns",
        "ConditionExpression": "attribute_exists(pk) AND begins_with(g, :x) AND a BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":one": N("1"), ":s": S("s"), ":l": {"L": [S("e")]},
                                      ":ss": {"SS": ["c"]}, ":ns": {"NS": ["2"]}, ":x": S("x"),
                                      ":lo": N("-100"), ":hi": N("1e10")},
        "ReturnValues": "UPDATED_NEW"}),
    ("UpdateItem", {
        "TableName": "t_hash", "Key": {"pk": S("a")},
        "AttributeUpdates": {"c": {"Action": "ADD", "Value": N("5")}, "ttl": {"Action": "DELETE"}},
        "Expected": {"c": {"Value": N("0"), "Exists": True}}, "ReturnValues": "ALL_NEW"}),
    ("Query", {
        "TableName": "t_main", "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "FilterExpression": "attribute_type(a, :t) OR NOT size(ss) > :z",
        "ProjectionExpression": "pk, sk, a, m.k",
        "ExpressionAttributeValues": {":p": S("a"), ":a": N("0"), ":b": N("10"), ":t": S("N"), ":z": N("1")},
        "ScanIndexForward": False, "Limit": 1, "ExclusiveStartKey": {"pk": S("a"), "sk": N("2.5")},
        "ReturnConsumedCapacity": "TOTAL"}),
    ("Query", {
        "TableName": "t_main", "IndexName": "gsi", "KeyConditionExpression": "g = :g AND sk > :s",
        "ExpressionAttributeValues": {":g": S("x"), ":s": N("-1")}, "Select": "COUNT"}),
    ("Query", {
        "TableName": "t_main", "IndexName": "lsi", "KeyConditionExpression": "#p = :p AND begins_with(l, :l)",
        "ExpressionAttributeNames": {"#p": "pk"}, "ExpressionAttributeValues": {":p": S("a"), ":l": S("p")},
        "Select": "ALL_PROJECTED_ATTRIBUTES", "ConsistentRead": True}),
    ("Query", {
        "TableName": "t_num", "KeyConditions": {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [N("1")]},
            "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"B": "AA=="}]}},
        "QueryFilter": {"v": {"ComparisonOperator": "NOT_NULL"}}}),
    ("Scan", {
        "TableName": "t_main", "Segment": 1, "TotalSegments": 3,
        "FilterExpression": "a IN (:a, :b) OR (m.k[0] = :v AND t <> :t)",
        "ExpressionAttributeValues": {":a": N("5"), ":b": S("s"), ":v": S("v"), ":t": {"BOOL": False}},
        "Limit": 10}),
    ("Scan", {"TableName": "t_main", "IndexName": "gsi", "Select": "SPECIFIC_ATTRIBUTES",
              "AttributesToGet": ["g"], "ScanFilter": {"a": {"ComparisonOperator": "GT", "AttributeValueList": [N("1")]}}}),
    ("BatchGetItem", {"RequestItems": {
        "t_main": {"Keys": [{"pk": S("a"), "sk": N("1")}, {"pk": S("b"), "sk": N("-3")}],
                   "ProjectionExpression": "pk, #a", "ExpressionAttributeNames": {"#a": "a"}},
        "t_hash": {"Keys": [{"pk": S("a")}], "ConsistentRead": True}}}),
    ("BatchWriteItem", {"RequestItems": {
        "t_main": [{"PutRequest": {"Item": {"pk": S("d"), "sk": N("0"), "g": S("y")}}},
                   {"DeleteRequest": {"Key": {"pk": S("a"), "sk": N("2.5")}}}],
        "t_hash": [{"PutRequest": {"Item": {"pk": S("z"), "ttl": N("1")}}}]},
        "ReturnConsumedCapacity": "INDEXES", "ReturnItemCollectionMetrics": "SIZE"}),
    ("TransactWriteItems", {"ClientRequestToken": "tok", "TransactItems": [
        {"Put": {"TableName": "t_main", "Item": {"pk": S("e"), "sk": N("1"), "g": S("x")},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "t_hash", "Key": {"pk": S("a")}, "UpdateExpression": "SET c = c + :one",
                    "ExpressionAttributeValues": {":one": N("1")}}},
        {"Delete": {"TableName": "t_num", "Key": {"pk": N("1"), "sk": {"B": "AA=="}}}},
        {"ConditionCheck": {"TableName": "t_main", "Key": {"pk": S("a"), "sk": N("1")},
                            "ConditionExpression": "a > :z", "ExpressionAttributeValues": {":z": N("0")},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}]}),
    ("TransactGetItems", {"TransactItems": [
        {"Get": {"TableName": "t_main", "Key": {"pk": S("a"), "sk": N("1")}, "ProjectionExpression": "a"}},
        {"Get": {"TableName": "t_hash", "Key": {"pk": S("a")}}}]}),
    ("ListStreams", {"TableName": "t_main", "Limit": 1}),
    ("DescribeStream", {"StreamArn": "@arn", "Limit": 2}),
    ("GetShardIterator", {"StreamArn": "@arn", "ShardId": "@shard", "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                          "SequenceNumber": "000000000000000000001"}),
    ("GetShardIterator", {"StreamArn": "@arn", "ShardId": "@shard", "ShardIteratorType": "LATEST"}),
    ("GetRecords", {"ShardIterator": "@it", "Limit": 2}),
]


def main():
    ops = operations()
    assert len(ops) < 256, "one byte picks the operation"
    CORPUS.mkdir(parents=True, exist_ok=True)
    for name, body in SEEDS:
        data = bytes([ops.index(name)]) + json.dumps(body, separators=(",", ":")).encode()
        digest = hashlib.sha1(data).hexdigest()[:16]
        (CORPUS / f"seed-{name}-{digest}").write_bytes(data)
    print(f"{len(SEEDS)} seeds in {CORPUS}")


if __name__ == "__main__":
    main()
