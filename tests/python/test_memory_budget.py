"""Memory stays bounded under abuse (issue 22, case 4): request bodies and answers in flight share
one budget (--memory-budget-mb), a body is admitted before it is read, and a client that does not
read its answer is disconnected after --write-timeout seconds. Before, 100 uploads of 15 MB with a
known key and a garbage signature took the server from 94 MB to 1.9 GB, and 60 clients that never
read their 16 MB BatchGetItem answers held 1.27 GB with none disconnected.

Both floods are bounded by counts (100 and 60 connections, each sending once) and measure the
server's resident memory from /proc, sampled while they run. A full budget answers 503
ServiceUnavailable, which the SDKs retry."""

import json
import socket
import threading
import time
import urllib.parse

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import support
from support import REGION, hash_table_spec, make_client, wait_active

ADMIN = ("AKIDADMIN", "admin-secret")
BUDGET_MB = 96
WRITE_TIMEOUT_SECONDS = 2
# Room for what the budget does not count: answers being built, allocator slack, thread stacks.
MARGIN_MB = 160
UPLOAD_BYTES = 15 * 1024 * 1024
ITEM_BYTES = 160 * 1024
ITEMS = 100


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if support.external_endpoint():
        pytest.skip("needs its own server to measure")
    path = tmp_path_factory.mktemp("budget") / "credentials.json"
    path.write_text(json.dumps({ADMIN[0]: {"secret_access_key": ADMIN[1]}}))
    args = ["--credentials", str(path), "--memory-budget-mb", str(BUDGET_MB)]
    args += ["--write-timeout", str(WRITE_TIMEOUT_SECONDS)]
    server = support.Server(extra_args=args).start()
    try:
        yield server
    finally:
        server.stop()


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """Samples a process's resident memory in the background; `peak` is the largest seen."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))


def signed_head(endpoint, target, data, content_length):
    """The request line and headers of a POST signed (by ADMIN) over `data`, declaring
    `content_length`."""
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
    request = AWSRequest(method="POST", url=endpoint + "/", data=data, headers=headers)
    SigV4Auth(Credentials(*ADMIN), "dynamodb", REGION).add_auth(request)
    lines = ["POST / HTTP/1.1", f"Host: {urllib.parse.urlparse(endpoint).netloc}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(endpoint, receive_buffer=None):
    url = urllib.parse.urlparse(endpoint)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:
        # A client that does not read: keep what the kernel buffers for it small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(60)
    sock.connect((url.hostname, url.port))
    return sock


def status_of(sock):
    """The status code of the answer on `sock`, or None if the connection was closed first."""
    try:
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            head += chunk
        return int(head.split(b" ", 2)[1])
    except OSError:
        return None


def established_from(server_port, client_ports):
    """How many of these clients' connections the server still holds open (its side of the
    connection ESTABLISHED, from /proc/net/tcp). A connection the server has closed leaves that
    state at once, even while unsent answer bytes wait behind a client that does not read."""
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            remote_port = int(fields[2].split(":")[1], 16)
            if local_port == server_port and remote_port in client_ports and fields[3] == "01":
                count += 1
    return count


def settle(pid, endpoint, seconds=1.0):
    """Resident memory once the server has had a moment, and a few requests, to give freed
    memory back (the allocator returns it lazily, on later calls)."""
    admin = make_client(endpoint, access_key=ADMIN[0], secret_key=ADMIN[1])
    for _ in range(3):
        time.sleep(seconds / 3)
        admin.list_tables()
    time.sleep(seconds / 3)
    return rss_mb(pid)


def test_uploads_with_garbage_signatures_stay_within_the_budget(server):
    # 100 clients at once, each declaring and sending 15 MB signed by a known key with a
    # signature that does not match. The budget admits a few bodies at a time; the rest are
    # answered 503 before their bodies are read (and disconnected).
    pid = server.process.pid
    baseline = settle(pid, server.endpoint, 0.5)
    head = signed_head(server.endpoint, "DynamoDB_20120810.ListTables", b"{}", UPLOAD_BYTES)
    body = b" " * UPLOAD_BYTES
    statuses = []

    def upload():
        sock = connect(server.endpoint)
        try:
            sock.sendall(head)
            sock.sendall(body)
        except OSError:
            pass  # refused mid-upload: the server answered and closed
        statuses.append(status_of(sock))
        sock.close()

    with PeakRss(pid) as rss:
        threads = [threading.Thread(target=upload) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    after = settle(pid, server.endpoint)
    print(f"uploads: baseline {baseline:.0f} MB, peak {rss.peak:.0f} MB, after {after:.0f} MB, statuses {sorted(set(map(str, statuses)))}")
    assert len(statuses) == 100
    assert set(statuses) <= {400, 503, None}, statuses
    assert 400 in statuses, "some uploads were read and their signatures checked"
    assert statuses.count(400) < 100, "not every upload can have been admitted at once"
    assert rss.peak < baseline + BUDGET_MB + MARGIN_MB, (baseline, rss.peak)
    assert after < baseline + 64, (baseline, after)
    # Still serving.
    admin = make_client(server.endpoint, access_key=ADMIN[0], secret_key=ADMIN[1])
    assert isinstance(admin.list_tables()["TableNames"], list)


@pytest.fixture(scope="module")
def big_table(server):
    """100 items of 160 KB: one BatchGetItem of all their keys answers about 16 MB."""
    admin = make_client(server.endpoint, access_key=ADMIN[0], secret_key=ADMIN[1])
    name = support.unique_table_name()
    admin.create_table(**hash_table_spec(name))
    wait_active(admin, name)
    for i in range(ITEMS):
        admin.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "blob": {"S": "x" * ITEM_BYTES}})
    return name


def test_answers_nobody_reads_stay_within_the_budget_and_are_dropped(server, big_table):
    # 60 clients each ask for ~16 MB and never read a byte. Answers beyond the budget are 503s;
    # the admitted ones are dropped when their clients have taken nothing for the write timeout.
    pid = server.process.pid
    baseline = settle(pid, server.endpoint, 0.5)
    data = json.dumps({"RequestItems": {big_table: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(ITEMS)]}}})
    head = signed_head(server.endpoint, "DynamoDB_20120810.BatchGetItem", data.encode(), len(data))
    sockets = []
    with PeakRss(pid) as rss:
        for _ in range(60):
            sock = connect(server.endpoint, receive_buffer=4096)
            sock.sendall(head + data.encode())
            sockets.append(sock)
        # The server closes every one of these connections: the refused ones at once, the
        # admitted ones once nothing was read for the write timeout. Bounded wait, by count.
        server_port = urllib.parse.urlparse(server.endpoint).port
        client_ports = {sock.getsockname()[1] for sock in sockets}
        # The admitted answers are being built or written: their connections are open.
        assert established_from(server_port, client_ports) > 0
        deadline = time.monotonic() + 60
        while established_from(server_port, client_ports) and time.monotonic() < deadline:
            time.sleep(0.1)
        still_open = established_from(server_port, client_ports)
    assert still_open == 0, f"{still_open} unread connections still open after 60 s"
    # Each client got a 503 (its answer did not fit the budget), or a 200 whose connection the
    # server closed once nothing was read for the write timeout: reading now finds the end of
    # the stream after whatever the kernel had buffered, far short of the 16 MB answer.
    outcomes = []
    for sock in sockets:
        sock.settimeout(10)
        received = b""
        try:
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    outcomes.append(("closed", received[:12], len(received)))
                    break
                received += chunk
                if b"\r\n\r\n" in received:
                    head, body = received.split(b"\r\n\r\n", 1)
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    if len(body) >= length:
                        # Answered in full: a 503, or a 200 admitted late (once others had
                        # been dropped) that this loop then read.
                        outcomes.append(("complete", received[:12], len(received)))
                        break
        except OSError as e:
            outcomes.append((f"error {e}", received[:12], len(received)))
        sock.close()
    after = settle(pid, server.endpoint)
    kinds = sorted({(kind, head) for kind, head, _ in outcomes})
    print(f"unread answers: baseline {baseline:.0f} MB, peak {rss.peak:.0f} MB, after {after:.0f} MB, {kinds}")
    assert len(outcomes) == 60
    allowed = {("complete", b"HTTP/1.1 503"), ("complete", b"HTTP/1.1 200"), ("closed", b"HTTP/1.1 200")}
    for kind, head, length in outcomes:
        assert (kind, head) in allowed, (kind, head, length)
    # Unread answers were dropped: their connections ended short of the answer.
    assert any(kind == "closed" for kind, _, _ in outcomes), outcomes
    assert all(length < 16_000_000 for kind, _, length in outcomes if kind == "closed")
    # And the budget refused most of them up front.
    assert sum(head == b"HTTP/1.1 503" for _, head, _ in outcomes) >= 30, outcomes
    assert rss.peak < baseline + BUDGET_MB + MARGIN_MB, (baseline, rss.peak)
    assert after < baseline + 64, (baseline, after)
    admin = make_client(server.endpoint, access_key=ADMIN[0], secret_key=ADMIN[1])
    assert admin.describe_table(TableName=big_table)["Table"]["ItemCount"] == ITEMS
