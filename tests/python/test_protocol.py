"""The wire protocol under the SDK: raw HTTP requests, so each test sees exactly the status, headers
and JSON body DynamoDB's JSON 1.0 protocol defines. Requests are SigV4-signed with the suite's
dummy credentials unless a test is about the signature's absence."""

import json
import zlib

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support import ACCESS_KEY, REGION, SECRET_KEY, unique_table_name

CONTENT_TYPE = "application/x-amz-json-1.0"


def post(endpoint, target, body, *, sign=True, content_type=CONTENT_TYPE):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"Content-Type": content_type, "X-Amz-Target": target}
    if sign:
        request = AWSRequest(method="POST", url=endpoint + "/", data=data, headers=headers)
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "dynamodb", REGION).add_auth(request)
        headers = dict(request.headers.items())
    return requests.post(endpoint + "/", data=data, headers=headers, timeout=30)


def test_unknown_operation(endpoint):
    # An X-Amz-Target naming no DynamoDB operation is UnknownOperationException, status 400.
    response = post(endpoint, "DynamoDB_20120810.Nope", {})
    assert response.status_code == 400
    assert response.json()["__type"] == "com.amazon.coral.service#UnknownOperationException"


def test_unknown_service_prefix(endpoint):
    # So is a known operation under a service prefix DynamoDB does not answer to.
    response = post(endpoint, "DynamoDB_20990101.ListTables", {})
    assert response.status_code == 400
    assert response.json()["__type"] == "com.amazon.coral.service#UnknownOperationException"


def test_malformed_json(endpoint):
    # A body that is not JSON is SerializationException, status 400.
    response = post(endpoint, "DynamoDB_20120810.ListTables", b"{not json")
    assert response.status_code == 400
    assert response.json()["__type"] == "com.amazon.coral.service#SerializationException"


def test_missing_authentication(endpoint):
    # A request without an Authorization header is refused before anything else is looked at.
    response = post(endpoint, "DynamoDB_20120810.ListTables", {}, sign=False)
    assert response.status_code == 400
    assert response.json() == {
        "__type": "com.amazon.coral.service#MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token",
    }


def test_success_response_headers(endpoint):
    # Every response names its request and carries the CRC32 of its body, which SDKs verify.
    response = post(endpoint, "DynamoDB_20120810.ListTables", {})
    assert response.status_code == 200
    assert response.headers["x-amzn-RequestId"]
    assert int(response.headers["x-amz-crc32"]) == zlib.crc32(response.content)
    assert response.headers["Content-Type"] == CONTENT_TYPE
    assert isinstance(response.json()["TableNames"], list)


def test_error_response_headers(endpoint):
    # Error responses carry the same request id and checksum.
    response = post(endpoint, "DynamoDB_20120810.DescribeTable", {"TableName": unique_table_name()})
    assert response.status_code == 400
    assert response.headers["x-amzn-RequestId"]
    assert int(response.headers["x-amz-crc32"]) == zlib.crc32(response.content)


def test_request_ids_are_unique(endpoint):
    # Each request gets its own id.
    ids = {post(endpoint, "DynamoDB_20120810.ListTables", {}).headers["x-amzn-RequestId"] for _ in range(5)}
    assert len(ids) == 5


def test_service_error_type_and_message(endpoint):
    # DynamoDB's own errors are typed under com.amazonaws.dynamodb.v20120810 with a lowercase
    # `message` member.
    name = unique_table_name()
    response = post(endpoint, "DynamoDB_20120810.DescribeTable", {"TableName": name})
    assert response.json() == {
        "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "message": f"Requested resource not found: Table: {name} not found",
    }


def test_validation_error_type(endpoint):
    # Validation errors are typed under com.amazon.coral.validate.
    response = post(endpoint, "DynamoDB_20120810.ListTables", {"Limit": 0})
    assert response.status_code == 400
    assert response.json()["__type"] == "com.amazon.coral.validate#ValidationException"


def test_wrong_json_type_for_member(endpoint):
    # A member of the wrong JSON type (a number where a string belongs) fails deserialisation.
    response = post(endpoint, "DynamoDB_20120810.DescribeTable", {"TableName": 5})
    assert response.status_code == 400
    assert response.json()["__type"] == "com.amazon.coral.service#SerializationException"
