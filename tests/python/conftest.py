"""Session fixtures: one Flywheel server for the whole run, boto3 clients bound to it, and tables
that clean up after themselves.

FLYWHEEL_BIN (default target/release/flywheel, under CARGO_TARGET_DIR if set) names the binary. A missing binary fails
every test loudly; it never skips. DYNAMO_ENDPOINT=http://host:port runs the suite against an
already-running server instead (dynalite, DynamoDB Local, real DynamoDB), which is how the suite
itself is checked while Flywheel is young.
"""

import pytest

import support


@pytest.fixture(scope="session")
def endpoint():
    external = support.external_endpoint()
    if external:
        yield external
        return
    server = support.Server(args=support.SESSION_SERVER_ARGS).start()
    try:
        yield server.endpoint
    finally:
        crashed = server.process.poll() is not None
        server.stop()
        if crashed:
            pytest.fail(
                f"flywheel exited with {server.process.returncode} during the run:\n"
                + server.log_tail(),
                pytrace=False,
            )


# The keys of the server started with --credentials (see test_auth.py): an administrator with no
# policy, and a reader whose policy allows only reads.
AUTH_CREDENTIALS = {
    "AKIDADMIN": {"secret_access_key": "admin-secret"},
    "AKIDREADER": {
        "secret_access_key": "reader-secret",
        "allow": [
            {
                "actions": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable"],
                "resources": ["arn:aws:dynamodb:*:*:table/*"],
            }
        ],
    },
}


@pytest.fixture(scope="session")
def auth_endpoint(tmp_path_factory):
    """A second server that verifies SigV4 signatures against AUTH_CREDENTIALS. It needs to own
    its server, so the tests using it skip when DYNAMO_ENDPOINT names an external one."""
    if support.external_endpoint():
        pytest.skip("needs its own server started with --credentials")
    with support.server_with_credentials(tmp_path_factory.mktemp("auth"), AUTH_CREDENTIALS) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def ddb(endpoint):
    """The client every test uses, with boto3's parameter validation on."""
    return support.make_client(endpoint)


@pytest.fixture(scope="session")
def streams(endpoint):
    """A DynamoDB Streams client on the same endpoint, as applications build one."""
    return support.make_client(endpoint, service="dynamodbstreams")


@pytest.fixture(scope="session")
def ddb_raw(endpoint):
    """A client that sends what boto3 itself would refuse (missing required members, values out of
    the model's ranges), so a test sees the server's own validation."""
    return support.make_client(endpoint, validate=False)


@pytest.fixture
def make_table(ddb):
    """Creates tables from CreateTable keyword arguments, waits for ACTIVE, and deletes them all
    when the test ends (turning deletion protection off first if a test turned it on)."""
    created = []

    def make(wait=True, **spec):
        """Returns the ACTIVE table's description, or with `wait=False` the description
        CreateTable itself returned."""
        spec.setdefault("TableName", support.unique_table_name())
        response = ddb.create_table(**spec)
        created.append(spec["TableName"])
        if not wait:
            return response["TableDescription"]
        return support.wait_active(ddb, spec["TableName"])

    yield make
    for name in created:
        try:
            if ddb.describe_table(TableName=name)["Table"].get("DeletionProtectionEnabled"):
                ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
                support.wait_active(ddb, name)
            ddb.delete_table(TableName=name)
        except Exception:
            pass  # already gone, or the test broke the table; nothing to clean up


@pytest.fixture
def table(make_table):
    """A uniquely named on-demand table keyed by a string partition key `pk`."""
    return make_table(**support.hash_table_spec(support.unique_table_name()))["TableName"]


@pytest.fixture
def composite_table(make_table):
    """A uniquely named on-demand table keyed by `pk` (S) and sort key `sk` (S)."""
    return make_table(**support.composite_table_spec(support.unique_table_name()))["TableName"]


@pytest.fixture
def durable_server(tmp_path):
    """Starts Flywheel servers (default flags) that share one data directory, for tests that
    restart or kill their own server; stops whatever is left at the end."""
    if support.external_endpoint():
        pytest.skip("restarts its own server; DYNAMO_ENDPOINT is set")
    data_dir = tmp_path / "flywheel-data"
    data_dir.mkdir()
    servers = []

    def start():
        server = support.Server(data_dir=data_dir).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
