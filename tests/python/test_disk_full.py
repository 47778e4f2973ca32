"""A full disk: writes fail with a clear InternalServerError, nothing acknowledged is lost, and
the server recovers by itself, in the same process, once space returns; /readyz says not-ready
meanwhile. Flywheel-specific (DynamoDB has no disk to fill): the data dir lives on a small tmpfs
(`mount -t tmpfs`, so these tests need root, as CI has) that the test fills and then frees.
"""

import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

import support

KIB = 1024
MIB = 1024 * KIB


def mount_tmpfs(tmp_path, size):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    return mount


@pytest.fixture
def small_disk(tmp_path):
    mount = mount_tmpfs(tmp_path, "12m")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def disk_64m(tmp_path):
    mount = mount_tmpfs(tmp_path, "64m")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def readyz(server):
    """The admin listener's /readyz status code (an answer is required: a refused connection
    fails the test, because a readiness probe must get one throughout)."""
    try:
        with urllib.request.urlopen(server.admin_endpoint + "/readyz", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, size):
    """Writes `size` bytes to a new file."""
    with open(path, "wb") as f:
        block = b"\0" * MIB
        while size > 0:
            f.write(block[: min(size, MIB)])
            size -= MIB


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
            # While the store reopens, requests get InternalServerError; a kept-alive connection
            # may be closed under a request when the failed server hands its listener over.
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


def test_a_flush_that_finds_the_disk_full_halts_writes_until_space_returns(disk_64m):
    # The store's first "no space left" comes from the LSM flushing a memtable to a table file in
    # the background, not from a write's own journal append: the data fits the journal, the
    # flush does not. The server must then refuse writes with a clear InternalServerError and
    # say not-ready, and recover in the same process once space returns (here: an operator
    # deletes a file on the same disk).
    server = support.Server(data_dir=disk_64m / "data", args=["--memtable-mb", "1"]).start()
    try:
        ddb = support.make_client(server.endpoint, retries=1)
        ddb.create_table(**support.hash_table_spec("full"))
        acknowledged = {}

        def put(key, size):
            value = os.urandom(size)  # random: the table file cannot compress it away
            ddb.put_item(TableName="full", Item={"pk": {"S": key}, "v": {"B": value}})
            acknowledged[key] = value

        # 800 KiB: below one memtable (1 MiB), so nothing is flushed yet.
        for i in range(4):
            put(f"k{i}", 200 * KIB)
        assert readyz(server) == 200
        # Leave room for the next item's journal entry, not for the 1.1 MiB table its memtable
        # then flushes to.
        filler = disk_64m / "filler"
        fill(filler, free_bytes(disk_64m) - 512 * KIB)
        try:
            put("k4", 300 * KIB)
        except ClientError as e:
            # The flush this write starts may fail before the write's own journal sync, which
            # then cannot be acknowledged (fjall refuses everything once a flush failed).
            assert "disk is full" in e.response["Error"]["Message"], e.response

        # The flush fails in the background: readiness turns 503 without any further write.
        for _ in range(150):
            if readyz(server) == 503:
                break
            time.sleep(0.2)
        else:
            pytest.fail("/readyz never said not-ready:\n" + server.log_tail())
        # While the disk stays full, every write fails clearly and readiness stays 503 (the
        # server keeps trying to reopen its store meanwhile).
        for i in range(5):
            with pytest.raises(ClientError) as failed:
                put(f"refused{i}", 1 * KIB)
            error = failed.value.response
            assert error["Error"]["Code"] == "InternalServerError"
            assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
            assert "disk is full" in error["Error"]["Message"], error["Error"]["Message"]
            assert readyz(server) == 503
            time.sleep(0.5)

        # Space returns: the server reopens its store by itself and takes writes again.
        os.remove(filler)
        for _ in range(300):
            try:
                put("after", 1 * KIB)
                break
            except (ClientError, ConnectionClosedError, EndpointConnectionError):
                time.sleep(0.2)
        else:
            pytest.fail("writes did not recover once space returned:\n" + server.log_tail())
        assert server.process.poll() is None, "recovery happened in the same process"
        assert readyz(server) == 200
        # More than a memtable more: flushes work again.
        for i in range(8):
            put(f"more{i}", 200 * KIB)
        # Every acknowledged write is there, intact.
        keys = sorted(acknowledged)
        for start in range(0, len(keys), 25):
            wanted = keys[start:start + 25]
            got = ddb.batch_get_item(
                RequestItems={"full": {"Keys": [{"pk": {"S": k}} for k in wanted], "ConsistentRead": True}}
            )["Responses"]["full"]
            assert {item["pk"]["S"]: item["v"]["B"] for item in got} == {k: acknowledged[k] for k in wanted}
        assert readyz(server) == 200
    finally:
        server.stop()
