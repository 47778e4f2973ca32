"""A full disk: writes fail with a clear InternalServerError, nothing acknowledged is lost, and
the server recovers by itself once space returns. Flywheel-specific (DynamoDB has no disk to fill):
the data dir lives on a 12 MiB tmpfs that the test fills and then grows.
"""

import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

import support


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_writes_fail_clearly_and_the_server_recovers_when_space_returns(small_disk):
    server = support.Server(data_dir=small_disk / "data").start()
    try:
        ddb = support.make_client(server.endpoint, retries=1)
        ddb.create_table(**support.hash_table_spec("full"))
        acknowledged = []
        failure = None
        for i in range(10_000):
            try:
                ddb.put_item(TableName="full", Item={"pk": {"S": f"k{i}"}, "v": {"S": "x" * 4000}})
                acknowledged.append(f"k{i}")
            except ClientError as e:
                failure = e
                break
        assert failure is not None, "a 12 MiB disk never filled up"
        assert failure.response["Error"]["Code"] == "InternalServerError"
        assert failure.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert "disk is full" in failure.response["Error"]["Message"]
        assert len(acknowledged) > 100
        # Space returns: the server reopens its store by itself and takes writes again.
        subprocess.run(["mount", "-o", "remount,size=256m", str(small_disk)], check=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                ddb.put_item(TableName="full", Item={"pk": {"S": "after"}, "v": {"S": "y"}})
                break
            # While the store reopens the server stops serving: a request may be refused, or its
            # kept-alive connection closed under it.
            except (ClientError, ConnectionClosedError, EndpointConnectionError):
                assert time.monotonic() < deadline, "the server did not recover"
                time.sleep(0.2)
        assert server.process.poll() is None, "recovery happened in the same process"
        # Every acknowledged write is there, intact.
        for start in range(0, len(acknowledged), 100):
            keys = [{"pk": {"S": k}} for k in acknowledged[start:start + 100]]
            got = ddb.batch_get_item(RequestItems={"full": {"Keys": keys}})["Responses"]["full"]
            assert len(got) == len(keys)
            assert all(item["v"]["S"] == "x" * 4000 for item in got)
    finally:
        server.stop()
