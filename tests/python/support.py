"""Shared machinery for the boto3 black-box suite: starting a Flywheel server, clients, tables,
and the one way every test asserts a DynamoDB error.

Everything here is about *how* to talk to a server; what DynamoDB does lives in the tests.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCESS_KEY = "AKIAEXAMPLE"
SECRET_KEY = "secret"

# The binary ./scripts/test.sh and `cargo run --release` build (one shared release build).
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR") or Path(__file__).resolve().parents[2] / "target")
DEFAULT_BIN = TARGET_DIR / "release" / "flywheel"
# Deadlines below are generous on purpose: a passing run never waits them out, and a machine busy
# with other work (CI beside a build) may be many times slower than a developer's.
SERVER_START_TIMEOUT_SECONDS = 60.0

# DynamoDB's request-validation layer rolled out a new envelope in 2026: many messages that used to
# be sent bare now arrive as "1 validation error detected: <message>", region by region. Where the
# evidence says the rollout is still uneven, a test accepts exactly these two answers.
ENVELOPE = "1 validation error detected: "

# DynamoDB's messages for a number it cannot store (NOT_NUMERIC is followed by ": <the input>").
OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
UNDERFLOW = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
PRECISION = "Attempting to store more than 38 significant digits in a Number"
NOT_NUMERIC = "The parameter cannot be converted to a numeric value"

# How long to wait for a table to become ACTIVE. Real DynamoDB takes seconds; a local server
# should take milliseconds, but the suite must also pass against the real thing.
TABLE_ACTIVE_TIMEOUT_SECONDS = float(os.environ.get("TABLE_ACTIVE_TIMEOUT", "120"))


def flywheel_bin() -> Path:
    return Path(os.environ.get("FLYWHEEL_BIN", DEFAULT_BIN))


def external_endpoint():
    """DYNAMO_ENDPOINT points the suite at an already-running server (dynalite, DynamoDB Local,
    or real DynamoDB) instead of starting the Flywheel binary."""
    return os.environ.get("DYNAMO_ENDPOINT") or None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One Flywheel process. `data_dir=None` runs it `--in-memory`; `extra_args` are passed on
    (e.g. `["--credentials", path]`)."""

    def __init__(self, data_dir=None, port=None, args=(), extra_args=()):
        self.binary = flywheel_bin()
        self.data_dir = data_dir
        self.extra_args = list(args) + list(extra_args)
        self.admin_port = free_port()
        self.port = port or free_port()
        self.process = None
        self.log_path = Path(tempfile.mkstemp(prefix="flywheel-", suffix=".log")[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_endpoint(self) -> str:
        """The admin listener: /metrics, /healthz, /readyz."""
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self):
        if not self.binary.is_file():
            pytest.fail(
                f"Flywheel binary not found at {self.binary}. Build it (cargo build) or set "
                "FLYWHEEL_BIN; set DYNAMO_ENDPOINT to run against another server instead.",
                pytrace=False,
            )
        args = [str(self.binary), "--listen", f"127.0.0.1:{self.port}"]
        args += ["--admin-listen", f"127.0.0.1:{self.admin_port}"]
        args += ["--data-dir", str(self.data_dir)] if self.data_dir else ["--in-memory"]
        args += self.extra_args
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"flywheel exited with {self.process.returncode} before accepting "
                    f"connections:\n{self.log_tail()}",
                    pytrace=False,
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        pytest.fail(
            f"flywheel did not accept connections on port {self.port} within "
            f"{SERVER_START_TIMEOUT_SECONDS} s:\n{self.log_tail()}",
            pytrace=False,
        )

    def log_tail(self, lines=40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self):
        """SIGKILL: the process gets no chance to flush anything."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self, timeout=10.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.process.returncode if self.process else 0

    def stop(self):
        try:
            self.terminate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


# The session server runs with the default flags: a newcomer's server is what the suite checks
# (TTL, for one, deletes expired items within about a second by default; DynamoDB within days).
SESSION_SERVER_ARGS = []



@contextlib.contextmanager
def server_with_credentials(directory, credentials):
    """A server of its own that verifies SigV4 signatures against `credentials` (written as
    credentials.json in `directory`); yields its endpoint and stops it afterwards."""
    path = Path(directory) / "credentials.json"
    path.write_text(json.dumps(credentials))
    server = Server(extra_args=["--credentials", str(path)]).start()
    try:
        yield server.endpoint
    finally:
        server.stop()

def make_client(
    endpoint: str,
    *,
    validate=True,
    retries=3,
    read_timeout=60,
    access_key=ACCESS_KEY,
    secret_key=SECRET_KEY,
    session_token=None,
    service="dynamodb",
    region=REGION,
):
    """A boto3 client as an application would build it. `validate=False` turns off boto3's own
    parameter checks so a test can send what boto3 would refuse and see what the server says."""
    config = Config(
        region_name=region,
        parameter_validation=validate,
        retries={"total_max_attempts": retries, "mode": "standard"},
        connect_timeout=5,
        read_timeout=read_timeout,
    )
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=config,
    )


def unique_table_name(prefix="fw_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def wait_active(client, name, timeout=None):
    """Polls DescribeTable until the table is ACTIVE (DynamoDB creates and updates tables
    asynchronously) and returns the description."""
    deadline = time.monotonic() + (timeout or TABLE_ACTIVE_TIMEOUT_SECONDS)
    while True:
        table = client.describe_table(TableName=name)["Table"]
        if table["TableStatus"] == "ACTIVE":
            return table
        if time.monotonic() > deadline:
            raise AssertionError(f"table {name} still {table['TableStatus']}")
        time.sleep(0.05)


def wait_gone(client, name, timeout=None):
    deadline = time.monotonic() + (timeout or TABLE_ACTIVE_TIMEOUT_SECONDS)
    while time.monotonic() < deadline:
        try:
            client.describe_table(TableName=name)
        except ClientError as e:
            if e.response["Error"]["Code"] == "ResourceNotFoundException":
                return
            raise
        time.sleep(0.05)
    raise AssertionError(f"table {name} was not deleted")


def hash_table_spec(name, key="pk", key_type="S"):
    return dict(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": key_type}],
        BillingMode="PAY_PER_REQUEST",
    )


def composite_table_spec(name, sort_type="S"):
    return dict(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": sort_type},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def error_of(excinfo):
    """The (Code, Message, HTTP status) a ClientError carries."""
    err = excinfo.value
    assert isinstance(err, ClientError), f"expected a ClientError, got {err!r}"
    return (
        err.response["Error"].get("Code"),
        err.response["Error"].get("Message"),
        err.response["ResponseMetadata"]["HTTPStatusCode"],
    )


def assert_error(excinfo, code, message=None, *, status=400, optional_envelope=False):
    """Asserts the exact DynamoDB error. With `optional_envelope`, the message may also arrive
    inside DynamoDB's "1 validation error detected: " envelope (see ENVELOPE)."""
    got_code, got_message, got_status = error_of(excinfo)
    assert got_code == code, f"code {got_code!r} (message {got_message!r})"
    assert got_status == status
    if message is not None:
        allowed = {message, ENVELOPE + message} if optional_envelope else {message}
        assert got_message in allowed, f"message {got_message!r}, expected one of {allowed!r}"


# ---- DynamoDB Streams: reading a stream as a consumer does ---------------------------------------

STREAM_WAIT_TIMEOUT_SECONDS = 60.0


def stream_shards(streams, arn):
    """Every shard of a stream, following DescribeStream's pages."""
    shards, start = [], None
    while True:
        args = {"StreamArn": arn}
        if start:
            args["ExclusiveStartShardId"] = start
        description = streams.describe_stream(**args)["StreamDescription"]
        shards += description["Shards"]
        start = description.get("LastEvaluatedShardId")
        if not start:
            return shards


def read_shard(streams, iterator, limit=None):
    """Reads from `iterator` until a page comes back empty: (records, next iterator). The next
    iterator is None once a closed shard has been read to its end."""
    records = []
    while iterator:
        args = {"ShardIterator": iterator}
        if limit:
            args["Limit"] = limit
        page = streams.get_records(**args)
        records += page["Records"]
        iterator = page.get("NextShardIterator")
        if not page["Records"]:
            break
    return records, iterator


def stream_records(streams, arn):
    """What a stream holds now, shard by shard from TRIM_HORIZON: {shard id: [records in order]}."""
    out = {}
    for shard in stream_shards(streams, arn):
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out[shard["ShardId"]] = read_shard(streams, iterator)[0]
    return out


def wait_for_records(streams, arn, count, timeout=STREAM_WAIT_TIMEOUT_SECONDS):
    """Polls until the stream holds at least `count` records (DynamoDB publishes them within about
    a second) and returns them as {shard id: [records]}."""
    deadline = time.monotonic() + timeout
    while True:
        records = stream_records(streams, arn)
        if sum(len(r) for r in records.values()) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)
