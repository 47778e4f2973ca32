"""Regions: tables are per region, as in DynamoDB, unless the server runs with `--single-region`
(env FLYWHEEL_SINGLE_REGION), where every region shares one table namespace, like DynamoDB
Local's `-sharedDb`. A client whose region differs from the one its tables were created in gets
ResourceNotFoundException with DynamoDB's message; the server's log names the request's region
and the regions that do have such a table.

Each test starts its own server, to choose its flags and read its log."""

import pytest
from botocore.exceptions import ClientError

import support
from support import Server, assert_error, hash_table_spec, unique_table_name

pytestmark = pytest.mark.skipif(
    support.external_endpoint() is not None, reason="starts its own server to choose its flags and read its log"
)


def client(server, region):
    return support.make_client(server.endpoint, region=region)


def create(ddb, name):
    ddb.create_table(**hash_table_spec(name))
    support.wait_active(ddb, name)


@pytest.fixture
def server_with(request):
    servers = []

    def start(args=()):
        server = Server(args=list(args)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_tables_are_per_region_and_the_log_names_where_a_missing_table_is(server_with):
    # By default a table exists only in the region it was created in, as in DynamoDB. The
    # client gets DynamoDB's message, which names no region; the log says which regions have it.
    server = server_with()
    name = unique_table_name()
    create(client(server, "us-west-2"), name)
    other = client(server, "eu-west-1")
    with pytest.raises(ClientError) as e:
        other.describe_table(TableName=name)
    assert_error(e, "ResourceNotFoundException", f"Requested resource not found: Table: {name} not found")
    with pytest.raises(ClientError) as e:
        other.get_item(TableName=name, Key={"pk": {"S": "a"}})
    assert_error(e, "ResourceNotFoundException", "Requested resource not found")
    assert name not in other.list_tables()["TableNames"]
    hints = [line for line in server.log_tail(200).splitlines() if name in line and "other regions" in line]
    assert hints, server.log_tail()
    assert all("eu-west-1" in line and "us-west-2" in line for line in hints), hints


def test_single_region_shares_one_namespace(server_with):
    # With --single-region every region sees the same tables: created with one region, they
    # are described, written, read and listed with any other, and a name is taken in all.
    server = server_with(["--single-region"])
    name = unique_table_name()
    create(client(server, "us-west-2"), name)
    other = client(server, "eu-west-1")
    assert other.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    other.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    got = client(server, "ap-south-1").get_item(TableName=name, Key={"pk": {"S": "a"}}, ConsistentRead=True)
    assert got["Item"] == {"pk": {"S": "a"}, "v": {"N": "1"}}
    assert name in client(server, "sa-east-1").list_tables()["TableNames"]
    with pytest.raises(ClientError) as e:
        other.create_table(**hash_table_spec(name))
    assert_error(e, "ResourceInUseException", f"Table already exists: {name}")


def test_single_region_from_the_environment(server_with, monkeypatch):
    # FLYWHEEL_SINGLE_REGION=true is the same as the flag.
    monkeypatch.setenv("FLYWHEEL_SINGLE_REGION", "true")
    server = server_with()
    monkeypatch.delenv("FLYWHEEL_SINGLE_REGION")
    name = unique_table_name()
    create(client(server, "us-west-2"), name)
    assert client(server, "eu-central-1").describe_table(TableName=name)["Table"]["TableName"] == name
