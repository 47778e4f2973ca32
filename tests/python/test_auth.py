"""Authentication and authorisation: a server started with --credentials verifies every request's
SigV4 signature and enforces each key's policy, answering as DynamoDB answers a client whose keys
are wrong, unknown, stale or not allowed. The keys are conftest.AUTH_CREDENTIALS."""

import datetime
import hashlib
import json
import re

import botocore.auth
import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import support
from support import REGION, assert_error, hash_table_spec, make_client, unique_table_name, wait_active

ADMIN = ("AKIDADMIN", "admin-secret")
READER = ("AKIDREADER", "reader-secret")
CONTENT_TYPE = "application/x-amz-json-1.0"
LIST_TABLES = "DynamoDB_20120810.ListTables"

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


def client(endpoint, key, **kwargs):
    return make_client(endpoint, access_key=key[0], secret_key=key[1], retries=1, **kwargs)


@pytest.fixture(scope="module")
def admin_table(auth_endpoint):
    """A table the administrator created and put one item in; deleted when the module ends."""
    admin = client(auth_endpoint, ADMIN)
    name = unique_table_name()
    admin.create_table(**hash_table_spec(name))
    wait_active(admin, name)
    admin.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    yield name
    admin.delete_table(TableName=name)


def assert_invalid_signature(response):
    """The raw body of DynamoDB's answer to a signature that does not match."""
    assert response.status_code == 400
    assert response.json() == {
        "__type": "com.amazon.coral.service#InvalidSignatureException",
        "message": SIGNATURE_MISMATCH,
    }


def signed_post(endpoint, key, target, body, *, at=None, monkeypatch=None):
    """Posts `body` signed in the Authorization header, as of `at` (a UTC datetime) if given."""
    data = json.dumps(body)
    request = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=data,
        headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": target},
    )
    if at is not None:
        # botocore reads the clock through this one function when it signs.
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)
    SigV4Auth(Credentials(*key), "dynamodb", REGION).add_auth(request)
    return requests.post(endpoint + "/", data=data, headers=dict(request.headers.items()), timeout=30)


def test_correct_credentials_work(auth_endpoint, admin_table):
    # A key in the credentials file, signing with its secret, is served as usual.
    admin = client(auth_endpoint, ADMIN)
    assert admin_table in admin.list_tables()["TableNames"]
    item = admin.get_item(TableName=admin_table, Key={"pk": {"S": "a"}})["Item"]
    assert item["n"] == {"N": "1"}


def test_session_token_is_accepted(auth_endpoint, admin_table):
    # Temporary credentials add X-Amz-Security-Token to the signed headers; the signature is what
    # is checked.
    admin = client(auth_endpoint, ADMIN, session_token="FQoGZXIvYXdzEXAMPLETOKEN")
    assert admin_table in admin.list_tables()["TableNames"]


def test_wrong_secret_is_invalid_signature(auth_endpoint):
    # A known key signing with the wrong secret: InvalidSignatureException, status 400.
    wrong = client(auth_endpoint, (ADMIN[0], "not-the-secret"))
    with pytest.raises(wrong.exceptions.ClientError) as excinfo:
        wrong.list_tables()
    assert_error(excinfo, "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_unknown_key_is_unrecognized_client(auth_endpoint):
    # A key DynamoDB does not know: UnrecognizedClientException, status 400.
    unknown = client(auth_endpoint, ("AKIDNOBODY", "whatever"))
    with pytest.raises(unknown.exceptions.ClientError) as excinfo:
        unknown.list_tables()
    assert_error(
        excinfo, "UnrecognizedClientException", "The security token included in the request is invalid."
    )


def test_tampered_body_is_invalid_signature(auth_endpoint):
    # The signature covers the body: changing it after signing breaks the signature.
    data = json.dumps({})
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": LIST_TABLES}
    request = AWSRequest(method="POST", url=auth_endpoint + "/", data=data, headers=headers)
    SigV4Auth(Credentials(*ADMIN), "dynamodb", REGION).add_auth(request)
    headers = dict(request.headers.items())
    response = requests.post(auth_endpoint + "/", data='{"Limit": 1}', headers=headers, timeout=30)
    assert_invalid_signature(response)


STAMP = r"(\d{8}T\d{6}Z)"


def test_expired_date_is_invalid_signature(auth_endpoint, monkeypatch):
    # A request signed 20 minutes ago is outside DynamoDB's 15-minute window. The message names the
    # signed time, the window's start and the server's clock.
    signed_at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    response = signed_post(auth_endpoint, ADMIN, LIST_TABLES, {}, at=signed_at, monkeypatch=monkeypatch)
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "com.amazon.coral.service#InvalidSignatureException"
    expired = rf"Signature expired: {STAMP} is now earlier than {STAMP} \({STAMP} - 15 min\.\)"
    match = re.fullmatch(expired, body["message"])
    assert match, body["message"]
    signed, earliest, now = (datetime.datetime.strptime(g, "%Y%m%dT%H%M%SZ") for g in match.groups())
    assert signed == signed_at.replace(tzinfo=None, microsecond=0)
    assert now - earliest == datetime.timedelta(minutes=15)


def test_future_date_is_invalid_signature(auth_endpoint, monkeypatch):
    # So is one dated 20 minutes ahead of the server's clock.
    signed_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)
    response = signed_post(auth_endpoint, ADMIN, LIST_TABLES, {}, at=signed_at, monkeypatch=monkeypatch)
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "com.amazon.coral.service#InvalidSignatureException"
    not_yet = rf"Signature not yet current: {STAMP} is still later than {STAMP} \({STAMP} \+ 15 min\.\)"
    assert re.fullmatch(not_yet, body["message"]), body["message"]


def test_slightly_skewed_clock_is_accepted(auth_endpoint, monkeypatch):
    # Ten minutes of skew is inside the window.
    signed_at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    response = signed_post(auth_endpoint, ADMIN, LIST_TABLES, {}, at=signed_at, monkeypatch=monkeypatch)
    assert response.status_code == 200, response.text


class QueryAuth(SigV4QueryAuth):
    """botocore's query-string signer, signing a chosen payload hash. botocore's own moves a body
    into the query string (right for Query-protocol services, wrong for DynamoDB's JSON), so the
    body cannot be given to it; given none, it would sign the SHA-256 of the empty body."""

    def __init__(self, payload_hash, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash


def presigned_post(endpoint, key, target, body, *, payload="body"):
    """Signs in the query string (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, ...) and
    posts `body` to that URL. `payload` is what the signature covers: "body" (its SHA-256) or
    "UNSIGNED-PAYLOAD"."""
    data = json.dumps(body).encode()
    payload_hash = hashlib.sha256(data).hexdigest() if payload == "body" else payload
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": target}
    request = AWSRequest(method="POST", url=endpoint + "/", headers=headers)
    QueryAuth(payload_hash, Credentials(*key), "dynamodb", REGION, expires=300).add_auth(request)
    assert "X-Amz-Signature=" in request.url and "Authorization" not in request.headers
    return requests.post(request.url, data=data, headers=dict(request.headers.items()), timeout=30)


def test_presigned_query_string(auth_endpoint, admin_table):
    # The query-string form of SigV4 authenticates a request as well as the header form.
    get = {"TableName": admin_table, "Key": {"pk": {"S": "a"}}}
    response = presigned_post(auth_endpoint, ADMIN, "DynamoDB_20120810.GetItem", get)
    assert response.status_code == 200, response.text
    assert response.json()["Item"]["n"] == {"N": "1"}
    # A presigner that cannot know the body signs UNSIGNED-PAYLOAD instead of its hash.
    response = presigned_post(
        auth_endpoint, ADMIN, "DynamoDB_20120810.GetItem", get, payload="UNSIGNED-PAYLOAD"
    )
    assert response.status_code == 200, response.text


def test_presigned_query_string_by_botocore_alone(auth_endpoint):
    # botocore's query signer unchanged, for a request whose body is empty (ListTables).
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": LIST_TABLES}
    request = AWSRequest(method="POST", url=auth_endpoint + "/", headers=headers)
    SigV4QueryAuth(Credentials(*ADMIN), "dynamodb", REGION, expires=300).add_auth(request)
    response = requests.post(request.url, data=b"", headers=dict(request.headers.items()), timeout=30)
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["TableNames"], list)


def test_presigned_query_string_covers_the_body(auth_endpoint, admin_table):
    # Signed over one body, sent with another: the signature does not match.
    data = json.dumps({"TableName": admin_table, "Key": {"pk": {"S": "a"}}}).encode()
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": "DynamoDB_20120810.GetItem"}
    request = AWSRequest(method="POST", url=auth_endpoint + "/", headers=headers)
    QueryAuth(hashlib.sha256(data).hexdigest(), Credentials(*ADMIN), "dynamodb", REGION).add_auth(request)
    other = json.dumps({"TableName": admin_table, "Key": {"pk": {"S": "b"}}}).encode()
    response = requests.post(request.url, data=other, headers=dict(request.headers.items()), timeout=30)
    assert_invalid_signature(response)


def test_presigned_query_string_with_wrong_secret(auth_endpoint):
    # The query-string form, signed with the wrong secret, is refused like the header form.
    response = presigned_post(auth_endpoint, (ADMIN[0], "not-the-secret"), LIST_TABLES, {})
    assert_invalid_signature(response)


def test_read_only_policy(auth_endpoint, admin_table):
    # A key whose policy allows GetItem, Query and DescribeTable can do exactly those; anything
    # else is AccessDeniedException naming the key as an IAM user, the action and the table's ARN.
    reader = client(auth_endpoint, READER)
    assert reader.get_item(TableName=admin_table, Key={"pk": {"S": "a"}})["Item"]["pk"] == {"S": "a"}
    queried = reader.query(
        TableName=admin_table, KeyConditionExpression="pk = :a", ExpressionAttributeValues={":a": {"S": "a"}}
    )
    assert queried["Count"] == 1
    with pytest.raises(reader.exceptions.ClientError) as excinfo:
        reader.put_item(TableName=admin_table, Item={"pk": {"S": "b"}})
    assert_error(
        excinfo,
        "AccessDeniedException",
        f"User: arn:aws:iam::000000000000:user/{READER[0]} is not authorized to perform: dynamodb:PutItem "
        f"on resource: arn:aws:dynamodb:{REGION}:000000000000:table/{admin_table} because no identity-based "
        "policy allows the dynamodb:PutItem action",
    )
    # A batch write is authorised as dynamodb:BatchWriteItem on each table it names.
    with pytest.raises(reader.exceptions.ClientError) as excinfo:
        reader.batch_write_item(
            RequestItems={admin_table: [{"PutRequest": {"Item": {"pk": {"S": "c"}}}}]}
        )
    assert "dynamodb:BatchWriteItem on resource" in support.error_of(excinfo)[1]
    # Nothing was written.
    admin = client(auth_endpoint, ADMIN)
    assert "Item" not in admin.get_item(TableName=admin_table, Key={"pk": {"S": "b"}})
    assert "Item" not in admin.get_item(TableName=admin_table, Key={"pk": {"S": "c"}})
