"""Security of a server started with --credentials, tried as an attacker would (issue 22): a key
whose policy names some tables reaches nothing else through streams, backups, restores or
listings; a signature binds the operation it was made for; an explicit deny wins; a credential
scope cannot widen what a policy matches. (Memory bounds under floods: test_memory_budget.py.)

DynamoDB evaluates IAM policies this way; where Flywheel is stricter than DynamoDB (the signed
headers it requires, listings narrowed to what a key may describe), docs/compatibility.md says so.
"""

import datetime
import hashlib
import http.client
import json
import urllib.parse

import botocore.auth
import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import support
from support import REGION, hash_table_spec, make_client, wait_active

ADMIN = ("AKIDADMIN", "admin-secret")
MINE = ("AKIDMINE", "mine-secret")
SANDBOX = ("AKIDSANDBOX", "sandbox-secret")
CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET = "DynamoDB_20120810."

# MINE may do anything to the tables whose names start with "mine" (and their indexes, streams
# and backups) and list things, but never delete the table "mine" itself. SANDBOX may do
# anything in the namespace (region) "sandbox", and nothing elsewhere.
CREDENTIALS = {
    "AKIDADMIN": {"secret_access_key": "admin-secret"},
    "AKIDMINE": {
        "secret_access_key": "mine-secret",
        "allow": [
            {"actions": ["dynamodb:*"], "resources": ["arn:aws:dynamodb:*:*:table/mine*"]},
            {
                "actions": ["dynamodb:ListTables", "dynamodb:ListStreams", "dynamodb:ListBackups"],
                "resources": ["*"],
            },
        ],
        "deny": [{"actions": ["dynamodb:DeleteTable"], "resources": ["arn:aws:dynamodb:*:*:table/mine"]}],
    },
    "AKIDSANDBOX": {
        "secret_access_key": "sandbox-secret",
        "allow": [{"actions": ["dynamodb:*"], "resources": ["arn:aws:dynamodb:sandbox:*:table/*"]}],
    },
}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    if support.external_endpoint():
        pytest.skip("needs its own server started with --credentials")
    with support.server_with_credentials(tmp_path_factory.mktemp("security"), CREDENTIALS) as endpoint:
        yield endpoint


def client(endpoint, key, service="dynamodb"):
    return make_client(endpoint, access_key=key[0], secret_key=key[1], retries=1, service=service)


@pytest.fixture(scope="module")
def tables(endpoint):
    """Two tables with streams and an item each, made by the administrator: "mine" (MINE's) and
    "theirs" (not MINE's), plus a backup of each; "theirs" has point-in-time recovery on."""
    admin = client(endpoint, ADMIN)
    out = {}
    for name in ["mine", "theirs"]:
        spec = hash_table_spec(name)
        spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        admin.create_table(**spec)
        wait_active(admin, name)
        admin.put_item(TableName=name, Item={"pk": {"S": "secret"}, "owner": {"S": name}})
        out[name] = {
            "stream": admin.describe_table(TableName=name)["Table"]["LatestStreamArn"],
            "backup": admin.create_backup(TableName=name, BackupName=f"{name}-backup")["BackupDetails"]["BackupArn"],
        }
    admin.update_continuous_backups(
        TableName="theirs", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return out


def denied(excinfo, action, resource_part):
    code, message = support.error_of(excinfo)[:2]
    assert code == "AccessDeniedException", (code, message)
    assert f"is not authorized to perform: dynamodb:{action} on resource: " in message, message
    assert resource_part in message, message


# ---------------------------------------------------------------- 1. streams


def test_streams_of_other_tables_are_out_of_reach(endpoint, tables):
    # A stream is authorised on its ARN, which names its table: MINE reads its own table's
    # stream and nothing of another's, not even through an iterator the administrator made.
    streams = client(endpoint, MINE, service="dynamodbstreams")
    listed = [s["StreamArn"] for s in streams.list_streams()["Streams"]]
    assert listed == [tables["mine"]["stream"]]
    assert streams.list_streams(TableName="theirs")["Streams"] == []
    theirs = tables["theirs"]["stream"]
    with pytest.raises(streams.exceptions.ClientError) as excinfo:
        streams.describe_stream(StreamArn=theirs)
    denied(excinfo, "DescribeStream", theirs)
    shard = client(endpoint, ADMIN, service="dynamodbstreams").describe_stream(StreamArn=theirs)
    shard_id = shard["StreamDescription"]["Shards"][0]["ShardId"]
    with pytest.raises(streams.exceptions.ClientError) as excinfo:
        streams.get_shard_iterator(StreamArn=theirs, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    denied(excinfo, "GetShardIterator", theirs)
    admin_streams = client(endpoint, ADMIN, service="dynamodbstreams")
    for shard in shard["StreamDescription"]["Shards"]:
        iterator = admin_streams.get_shard_iterator(
            StreamArn=theirs, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        with pytest.raises(streams.exceptions.ClientError) as excinfo:
            streams.get_records(ShardIterator=iterator)
        denied(excinfo, "GetRecords", theirs)
    # Its own stream works as usual.
    mine = streams.describe_stream(StreamArn=tables["mine"]["stream"])["StreamDescription"]
    records = []
    for shard in mine["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=tables["mine"]["stream"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["NewImage"]["owner"] for r in records] == [{"S": "mine"}]


# ---------------------------------------------------------------- 2. backups and restores


def test_backups_of_other_tables_are_out_of_reach(endpoint, tables):
    # A backup's ARN names its table; DescribeBackup, DeleteBackup and RestoreTableFromBackup
    # are authorised on it, and ListBackups shows only what the key may describe.
    mine = client(endpoint, MINE)
    theirs = tables["theirs"]["backup"]
    for call, action in [(mine.describe_backup, "DescribeBackup"), (mine.delete_backup, "DeleteBackup")]:
        with pytest.raises(mine.exceptions.ClientError) as excinfo:
            call(BackupArn=theirs)
        denied(excinfo, action, theirs)
    with pytest.raises(mine.exceptions.ClientError) as excinfo:
        mine.restore_table_from_backup(BackupArn=theirs, TargetTableName="mine_stolen")
    denied(excinfo, "RestoreTableFromBackup", theirs)
    listed = [b["BackupArn"] for b in mine.list_backups()["BackupSummaries"]]
    assert listed == [tables["mine"]["backup"]]
    admin = client(endpoint, ADMIN)
    assert admin.describe_backup(BackupArn=theirs)["BackupDescription"]["BackupDetails"]["BackupArn"] == theirs
    assert "mine_stolen" not in admin.list_tables()["TableNames"]


def test_restores_need_the_source_and_the_target(endpoint, tables):
    # RestoreTableToPointInTime needs the action on the source table and on the target, and
    # the target's reads and writes (Developer Guide, "Using IAM with backup and restore").
    mine = client(endpoint, MINE)
    with pytest.raises(mine.exceptions.ClientError) as excinfo:
        mine.restore_table_to_point_in_time(
            SourceTableName="theirs", TargetTableName="mine_stolen", UseLatestRestorableTime=True
        )
    denied(excinfo, "RestoreTableToPointInTime", "table/theirs")
    # Naming the source by an ARN of another region does not move the check elsewhere: the
    # table restored from is the request region's, and that is the one authorised.
    arn = "arn:aws:dynamodb:elsewhere:000000000000:table/theirs"
    with pytest.raises(mine.exceptions.ClientError) as excinfo:
        mine.restore_table_to_point_in_time(
            SourceTableArn=arn, TargetTableName="mine_stolen", UseLatestRestorableTime=True
        )
    denied(excinfo, "RestoreTableToPointInTime", f"arn:aws:dynamodb:{REGION}:000000000000:table/theirs")
    # Its own backup restored into a table it may not touch: refused on the target.
    with pytest.raises(mine.exceptions.ClientError) as excinfo:
        mine.restore_table_from_backup(BackupArn=tables["mine"]["backup"], TargetTableName="other_copy")
    denied(excinfo, "RestoreTableFromBackup", "table/other_copy")
    # And into one it may: restored.
    restored = mine.restore_table_from_backup(BackupArn=tables["mine"]["backup"], TargetTableName="mine_copy")
    assert restored["TableDescription"]["TableName"] == "mine_copy"
    wait_active(mine, "mine_copy")
    assert mine.get_item(TableName="mine_copy", Key={"pk": {"S": "secret"}})["Item"]["owner"] == {"S": "mine"}


def test_list_tables_shows_what_the_key_may_describe(endpoint, tables):
    names = client(endpoint, MINE).list_tables()["TableNames"]
    assert "theirs" not in names and "mine" in names
    assert "theirs" in client(endpoint, ADMIN).list_tables()["TableNames"]


def test_an_explicit_deny_wins_over_an_allow(endpoint, tables):
    # dynamodb:* on table/mine* allows DeleteTable, but the deny statement names "mine".
    mine = client(endpoint, MINE)
    with pytest.raises(mine.exceptions.ClientError) as excinfo:
        mine.delete_table(TableName="mine")
    code, message = support.error_of(excinfo)[:2]
    assert code == "AccessDeniedException"
    assert message.endswith("with an explicit deny in an identity-based policy"), message
    assert client(endpoint, ADMIN).describe_table(TableName="mine")["Table"]["TableStatus"] == "ACTIVE"


# ---------------------------------------------------------------- 3. the signature binds the operation


def assert_signature_error(response, code, message):
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["__type"].endswith("#" + code), body
    assert body["message"] == message, body


def item_exists(endpoint, name):
    admin = client(endpoint, ADMIN)
    return "Item" in admin.get_item(TableName=name, Key={"pk": {"S": "secret"}})


def sign_for(endpoint, key, target, data, **kwargs):
    """Signs against the endpoint's own host, as a client of it would."""
    headers = {}
    if kwargs.pop("sign_content_type", True):
        headers["Content-Type"] = CONTENT_TYPE
    if kwargs.pop("sign_target", True):
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=endpoint + "/", data=data, headers=headers)
    SigV4Auth(Credentials(*key), "dynamodb", kwargs.pop("region", REGION)).add_auth(request)
    out = dict(request.headers.items())
    out["Content-Type"] = CONTENT_TYPE
    out["X-Amz-Target"] = target
    return out


def test_a_signature_without_the_target_cannot_be_replayed_as_another_operation(endpoint, tables):
    # A GetItem signed with X-Amz-Target left out of SignedHeaders, sent again as DeleteItem
    # (same body): refused, and the item is still there. Signed with it, the GetItem works.
    data = json.dumps({"TableName": "theirs", "Key": {"pk": {"S": "secret"}}})
    headers = sign_for(endpoint, ADMIN, TARGET + "GetItem", data, sign_target=False)
    headers["X-Amz-Target"] = TARGET + "DeleteItem"
    response = requests.post(endpoint + "/", data=data, headers=headers, timeout=30)
    assert_signature_error(
        response, "InvalidSignatureException", "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
    )
    assert item_exists(endpoint, "theirs")
    # The content type decides how the body is read: it is signed too.
    headers = sign_for(endpoint, ADMIN, TARGET + "GetItem", data, sign_content_type=False)
    response = requests.post(endpoint + "/", data=data, headers=headers, timeout=30)
    assert_signature_error(
        response, "InvalidSignatureException", "'Content-Type' must be a 'SignedHeader' in the AWS Authorization."
    )
    headers = sign_for(endpoint, ADMIN, TARGET + "GetItem", data)
    response = requests.post(endpoint + "/", data=data, headers=headers, timeout=30)
    assert response.status_code == 200, response.text


def presigned_url(endpoint, key, *, target=None, payload_hash, expires=300):
    """A presigned URL; it signs X-Amz-Target (and Content-Type) only if `target` is given."""
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": target} if target else {}

    class Signer(SigV4QueryAuth):
        def payload(self, request):
            return payload_hash

    request = AWSRequest(method="POST", url=endpoint + "/", headers=headers)
    Signer(Credentials(*key), "dynamodb", REGION, expires=expires).add_auth(request)
    return request.url


def test_a_presigned_url_signing_only_host_binds_no_operation(endpoint, tables):
    # A presigned URL that signs only `host` (and a body) would serve any operation on that
    # body: refused, and the item is still there.
    data = json.dumps({"TableName": "theirs", "Key": {"pk": {"S": "secret"}}}).encode()
    url = presigned_url(endpoint, ADMIN, payload_hash=hashlib.sha256(data).hexdigest())
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET + "DeleteItem"}
    response = requests.post(url, data=data, headers=headers, timeout=30)
    assert_signature_error(
        response, "InvalidSignatureException", "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
    )
    assert item_exists(endpoint, "theirs")


def test_unsigned_payload_only_for_operations_that_read(endpoint, tables):
    # UNSIGNED-PAYLOAD leaves the body out of the signature: fine for a read, refused for an
    # operation that changes data (any body could ride on the signature).
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET + "DeleteItem"}
    url = presigned_url(endpoint, ADMIN, target=TARGET + "DeleteItem", payload_hash="UNSIGNED-PAYLOAD")
    data = json.dumps({"TableName": "theirs", "Key": {"pk": {"S": "secret"}}})
    response = requests.post(url, data=data, headers=headers, timeout=30)
    assert_signature_error(
        response,
        "InvalidSignatureException",
        "UNSIGNED-PAYLOAD is accepted only for operations that read: sign the body of a request that changes data.",
    )
    assert item_exists(endpoint, "theirs")
    headers["X-Amz-Target"] = TARGET + "GetItem"
    url = presigned_url(endpoint, ADMIN, target=TARGET + "GetItem", payload_hash="UNSIGNED-PAYLOAD")
    response = requests.post(url, data=data, headers=headers, timeout=30)
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- 5. the smaller ones


def test_two_authorization_headers_are_refused(endpoint, tables):
    # Which of two Authorization headers counts is ambiguous: neither does.
    data = json.dumps({})
    good = sign_for(endpoint, ADMIN, TARGET + "ListTables", data)
    other = sign_for(endpoint, MINE, TARGET + "ListTables", data)
    host = urllib.parse.urlparse(endpoint)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
    for name, value in good.items():
        conn.putheader(name, value)
    conn.putheader("Authorization", other["Authorization"])
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data.encode())
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 400
    assert body == {
        "__type": "com.amazon.coral.service#InvalidSignatureException",
        "message": "Found more than one 'authorization' header.",
    }


def test_presigned_urls_expire(endpoint, tables, monkeypatch):
    # X-Amz-Expires is enforced: a URL signed 60 seconds ago for 30 seconds has expired, though
    # it is inside the 15-minute clock window.
    signed_at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=60)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at)
    data = b"{}"
    url = presigned_url(
        endpoint, ADMIN, target=TARGET + "ListTables", payload_hash=hashlib.sha256(data).hexdigest(), expires=30
    )
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET + "ListTables"}
    response = requests.post(url, data=data, headers=headers, timeout=30)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["__type"] == "com.amazon.coral.service#InvalidSignatureException"
    assert body["message"].startswith("Signature expired: ") and body["message"].endswith(" - 30 sec.)"), body
    url = presigned_url(
        endpoint, ADMIN, target=TARGET + "ListTables", payload_hash=hashlib.sha256(data).hexdigest(), expires=600
    )
    assert requests.post(url, data=data, headers=headers, timeout=30).status_code == 200


def test_a_region_pattern_does_not_reach_other_namespaces(endpoint):
    # SANDBOX may do anything in the namespace "sandbox". A credential scope "sandbox:x" made
    # ARNs "arn:aws:dynamodb:sandbox:x:ACCOUNT:table/..." which "sandbox:*:table/*" matched;
    # such a region is refused now, and the pattern's `*` never crosses a colon.
    data = json.dumps(hash_table_spec("sneaky"))
    headers = sign_for(endpoint, SANDBOX, TARGET + "CreateTable", data, region="sandbox:x")
    response = requests.post(endpoint + "/", data=data, headers=headers, timeout=30)
    assert_signature_error(
        response, "InvalidSignatureException", "Credential should be scoped to a valid region, not 'sandbox:x'."
    )
    # In its own namespace it works; elsewhere it is denied.
    headers = sign_for(endpoint, SANDBOX, TARGET + "CreateTable", data, region="sandbox")
    response = requests.post(endpoint + "/", data=data, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    headers = sign_for(endpoint, SANDBOX, TARGET + "DescribeTable", json.dumps({"TableName": "x"}), region=REGION)
    response = requests.post(endpoint + "/", data=json.dumps({"TableName": "x"}), headers=headers, timeout=30)
    assert response.status_code == 400 and response.json()["__type"].endswith("#AccessDeniedException")
