"""Hostile input: what a server on an open network meets from broken or malicious clients. Bodies
over the request limit, JSON nested a hundred thousand deep, numbers no decimal type can hold,
bytes that are not UTF-8, HTTP framing that lies, clients that send one byte a second, and
hundreds of connections that say nothing. DynamoDB answers each with a 4xx error (or closes the
connection) and goes on serving everyone else; so must Flywheel. No answer here may be a 500,
and after every test the server must still answer a well-behaved client promptly.

Most tests speak raw HTTP (signed with the suite's dummy credentials, as test_protocol.py does),
since boto3 refuses to send most of this. The connection-flood test counts the server's open
file descriptors, so it starts its own server and is skipped when DYNAMO_ENDPOINT is set."""

import json
import os
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from support import (
    ACCESS_KEY,
    ENVELOPE,
    NOT_NUMERIC,
    OVERFLOW,
    PRECISION,
    REGION,
    SECRET_KEY,
    UNDERFLOW,
    Server,
    assert_error,
    error_of as support_error,
    external_endpoint,
    make_client,
)

CONTENT_TYPE = "application/x-amz-json-1.0"

# DynamoDB's request size limit: 16 MB.
REQUEST_BYTES_MAX = 16 * 1024 * 1024

# How long the server lets a client take over its request headers (HEADER_READ_TIMEOUT in
# crates/server/src/lib.rs); a test that waits for it to close a connection waits this long.
HEADER_READ_TIMEOUT_SECONDS = 30

# A well-behaved request must be answered within this, whatever else is going on. It is not a
# speed test: a server that a hostile client had stalled would answer only after the 30 s
# timeout above, so this stays well below it yet leaves a busy test machine room to be slow.
PROMPT_SECONDS = 10.0

SERIALIZATION = "com.amazon.coral.service#SerializationException"
VALIDATION = "com.amazon.coral.validate#ValidationException"


# ---- Raw HTTP ----------------------------------------------------------------------------------


def address(endpoint):
    url = urlparse(endpoint)
    return url.hostname, url.port or 80


def signed_head(endpoint, target, body, *, content_length=None, chunked=False, extra=b""):
    """The bytes of a signed POST's request line and headers. `content_length` may lie about
    `body`; `chunked` sends Transfer-Encoding instead of a length; `extra` is appended raw."""
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": target}
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "dynamodb", REGION).add_auth(request)
    host, port = address(endpoint)
    lines = [b"POST / HTTP/1.1", f"Host: {host}:{port}".encode()]
    lines += [f"{k}: {v}".encode() for k, v in request.headers.items() if k.lower() != "content-length"]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}".encode())
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


def parse_response(raw):
    """(status, headers, body) of the first HTTP response in `raw`, or None if there is none."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    return status, headers, rest[:length]


def exchange(endpoint, data, *, timeout=30.0):
    """Sends `data` on a fresh connection while reading whatever comes back, as a client that
    watches for an early answer does; stops sending if the server stops reading or closes.
    Returns the first response as (status, headers, body), or None if the connection closed
    without one."""
    sock = socket.create_connection(address(endpoint), timeout=5)
    sock.setblocking(False)
    received, sent = b"", 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            response = parse_response(received)
            if response and len(response[2]) >= int(response[1].get("content-length", "0")):
                return response
            writing = [sock] if sent < len(data) else []
            readable, writable, _ = select.select([sock], writing, [], 0.5)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if not chunk:
                    break
                received += chunk
            if writable:
                try:
                    sent += sock.send(data[sent : sent + 262144])
                except (BlockingIOError, InterruptedError):
                    pass
                except (ConnectionResetError, BrokenPipeError):
                    sent = len(data)  # the server stopped listening; an answer may still be there
        else:
            raise AssertionError(f"no answer within {timeout} s ({sent} of {len(data)} bytes sent)")
    finally:
        sock.close()
    return parse_response(received)


def post(endpoint, target, body):
    """A signed request with an honest length: (status, headers, body)."""
    body = body if isinstance(body, bytes) else body.encode()
    response = exchange(endpoint, signed_head(endpoint, target, body) + body)
    assert response is not None, "connection closed without an answer"
    return response


def error_type(response):
    status, _, body = response
    return status, json.loads(body)["__type"]


def assert_serving(ddb):
    """The server still answers a well-behaved client, promptly."""
    started = time.monotonic()
    ddb.list_tables(Limit=1)
    elapsed = time.monotonic() - started
    assert elapsed < PROMPT_SECONDS, f"ListTables took {elapsed:.2f} s"


def wait_closed(sock, deadline):
    """Waits until the server closes `sock` (EOF or reset); returns the seconds left, or raises
    if `deadline` (monotonic) passes first."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("the server kept the connection open")
        sock.settimeout(min(left, 1.0))
        try:
            if sock.recv(65536) == b"":
                return left
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return left


def assert_stalled_connection_closed(ddb, sock, connected, serving_for):
    """A stalled client's connection (opened at `connected`, monotonic): others are served
    promptly for `serving_for` seconds, then the server closes it within its read timeout."""
    while time.monotonic() - connected < serving_for:
        assert_serving(ddb)
        time.sleep(0.25)
    wait_closed(sock, connected + HEADER_READ_TIMEOUT_SECONDS + 5)


# ---- Size --------------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_over_the_request_limit_is_refused(endpoint, ddb, table, framing):
    # DynamoDB refuses a request over 16 MB with a 400 error (a ClientError, not a dropped
    # connection), whether the length is declared up front or only discovered while reading a
    # chunked body; reading stops at the limit, so the answer comes at once, and the server
    # serves the next client as usual.
    value = "x" * (REQUEST_BYTES_MAX + 1024 * 1024)
    body = json.dumps({"TableName": table, "Item": {"pk": {"S": "big"}, "v": {"S": value}}}).encode()
    if framing == "chunked":
        piece = 1024 * 1024
        chunks = b"".join(b"%x\r\n" % len(body[i : i + piece]) + body[i : i + piece] + b"\r\n"
                          for i in range(0, len(body), piece))
        data = signed_head(endpoint, "DynamoDB_20120810.PutItem", body, chunked=True) + chunks + b"0\r\n\r\n"
    else:
        data = signed_head(endpoint, "DynamoDB_20120810.PutItem", body) + body
    started = time.monotonic()
    response = exchange(endpoint, data)
    assert response is not None, "the server closed the connection without an answer"
    assert error_type(response) == (400, VALIDATION)
    # Reading stops at the limit, so the answer does not wait for a stall timeout.
    assert time.monotonic() - started < HEADER_READ_TIMEOUT_SECONDS
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "big"}}, ConsistentRead=True)
    assert_serving(ddb)


# ---- Depth -------------------------------------------------------------------------------------

DEPTH = 100_000


def item_body(table, value_json):
    return '{"TableName":"%s","Item":{"pk":{"S":"deep"},"d":%s}}' % (table, value_json)


@pytest.mark.parametrize(
    "shape",
    ["list-body", "object-body", "list-value", "map-value", "list-attribute-value"],
)
def test_deeply_nested_json_is_refused(endpoint, ddb, table, shape):
    # JSON nested 100,000 levels deep must not exhaust the server's stack: DynamoDB answers such
    # a body with a 400 (SerializationException for JSON it will not parse, ValidationException
    # for a document it parsed and refused) and stores nothing.
    body = {
        "list-body": "[" * DEPTH + "]" * DEPTH,
        "object-body": '{"a":' * DEPTH + "1" + "}" * DEPTH,
        "list-value": item_body(table, "[" * DEPTH + "]" * DEPTH),
        "map-value": item_body(table, '{"M":{"a":' * DEPTH + '{"S":"x"}' + "}}" * DEPTH),
        "list-attribute-value": item_body(table, '{"L":[' * DEPTH + '{"S":"x"}' + "]}" * DEPTH),
    }[shape]
    status, kind = error_type(post(endpoint, "DynamoDB_20120810.PutItem", body))
    assert status == 400
    assert kind in (SERIALIZATION, VALIDATION)
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "deep"}}, ConsistentRead=True)
    assert_serving(ddb)


NESTING = (
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels "
    "beyond supported limit"
)


@pytest.mark.parametrize("depth", [40, 100])
def test_lists_nested_past_the_limit_are_a_nesting_error(endpoint, ddb, table, depth):
    # A document may nest 32 levels. Deeper ones, 40 or 100 lists inside each other, are the same
    # ValidationException with DynamoDB's nesting message: DynamoDB's JSON reader accepts far
    # deeper JSON (100 lists are about 200 JSON levels), so the refusal is the item's, not the
    # parser's.
    value = '{"S":"leaf"}'
    for _ in range(depth):
        value = '{"L":[' + value + "]}"
    status, _, body = post(endpoint, "DynamoDB_20120810.PutItem", item_body(table, value))
    answer = json.loads(body)
    assert (status, answer["__type"]) == (400, VALIDATION), answer
    assert answer["message"] in (NESTING, ENVELOPE + NESTING)
    assert_serving(ddb)


# ---- Numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, message",
    [
        ("1e999999", OVERFLOW),
        ("-1e999999", OVERFLOW),
        ("1e-999999", UNDERFLOW),
        ("0." + "0" * 100_000 + "1", UNDERFLOW),
        ("1234567890" * 10, PRECISION),
        ("-0." + "1234567890" * 10_000, PRECISION),
        ("NaN", NOT_NUMERIC + ": NaN"),
        ("-Infinity", NOT_NUMERIC + ": -Infinity"),
        ("0x1p3", NOT_NUMERIC + ": 0x1p3"),
        ("1e", NOT_NUMERIC + ": 1e"),
    ],
    ids=["1e999999", "-1e999999", "1e-999999", "100k-zeros-then-1",
         "100-digits", "100k-digit-fraction", "NaN", "-Infinity", "hex-float", "dangling-exponent"],
)
def test_numbers_out_of_range_are_refused(ddb, table, number, message):
    # DynamoDB numbers are decimals of at most 38 significant digits with magnitudes from 1E-130
    # to below 1E+126. Anything else in an item is a ValidationException with DynamoDB's number
    # message (inside PutItem's validation envelope), however long or extreme the text: it is
    # checked, never converted to a float or expanded digit by digit.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "n": {"N": number}})
    assert_error(e, "ValidationException", ENVELOPE + message)
    assert_serving(ddb)


def test_exponent_longer_than_any_integer_is_refused(ddb, table):
    # An exponent with more digits than any machine integer holds must be refused, never wrapped
    # around into range. Which message DynamoDB sends is not pinned down: its decimal parser may
    # reject the text outright (not numeric) or see the magnitude (overflow).
    number = "1e" + "9" * 30
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "n": {"N": number}})
    code, message, status = support_error(e)
    assert (code, status) == ("ValidationException", 400)
    assert message in (ENVELOPE + OVERFLOW, ENVELOPE + NOT_NUMERIC + ": " + number)
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "n": {"N": "1e-" + "9" * 30}})
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_number_set_member_out_of_range_is_refused(ddb, table):
    # Set members are checked like scalars.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "n": {"NS": ["1", "1e999999"]}})
    assert_error(e, "ValidationException", ENVELOPE + OVERFLOW)


def test_negative_zero_is_zero(ddb, table):
    # -0 is a valid number; DynamoDB stores and returns it as 0.
    ddb.put_item(TableName=table, Item={"pk": {"S": "z"}, "n": {"N": "-0"}, "f": {"N": "-0.000"}})
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "z"}}, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "0"}
    assert item["f"] == {"N": "0"}


# ---- Encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80"],
    ids=["invalid-bytes", "overlong", "encoded-surrogate", "truncated", "five-byte-form"],
)
@pytest.mark.parametrize("where", ["value", "attribute-name", "table-name"])
def test_invalid_utf8_is_a_serialization_error(endpoint, ddb, table, bad, where):
    # A request body must be UTF-8. DynamoDB refuses one that is not with a 400
    # SerializationException before looking at what it says, wherever the bad bytes sit.
    name = table.encode()
    body = {
        "value": b'{"TableName":"%s","Item":{"pk":{"S":"a%s"}}}' % (name, bad),
        "attribute-name": b'{"TableName":"%s","Item":{"pk":{"S":"a"},"%s":{"N":"1"}}}' % (name, bad),
        "table-name": b'{"TableName":"t%s","Item":{"pk":{"S":"a"}}}' % bad,
    }[where]
    assert error_type(post(endpoint, "DynamoDB_20120810.PutItem", body)) == (400, SERIALIZATION)
    assert_serving(ddb)


# ---- HTTP framing ------------------------------------------------------------------------------


def test_content_length_longer_than_the_body(endpoint, ddb):
    # A client that promises more body than it sends and then closes its side has sent a broken
    # request: the server answers it with a 400 (if it can still answer) and frees the
    # connection. Fifty of them at once wedge nothing.
    body = b'{"Limit":1}'
    head = signed_head(endpoint, "DynamoDB_20120810.ListTables", body, content_length=len(body) + 1000)

    def lie(close_abruptly):
        sock = socket.create_connection(address(endpoint), timeout=10)
        try:
            sock.sendall(head + body)
            if close_abruptly:
                return None
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            return parse_response(received)
        finally:
            sock.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lie, [i % 2 == 0 for i in range(50)]))
    for answer in answers:
        if answer is not None:
            assert 400 <= answer[0] < 500, answer
    assert_serving(ddb)


@pytest.mark.parametrize(
    "case",
    ["1MiB-header", "200-headers", "conflicting-lengths", "negative-length", "not-http"],
)
def test_malformed_http_is_refused(endpoint, ddb, case):
    # Framing DynamoDB's front end will not parse (headers past its size limits, contradictory or
    # negative lengths, bytes that are not HTTP) gets a 4xx and a closed connection, never a 500
    # and never a connection left waiting.
    body = b"{}"

    def request(**framing):
        return signed_head(endpoint, "DynamoDB_20120810.ListTables", body, **framing) + body

    data = {
        "1MiB-header": lambda: request(extra=b"X-Big: " + b"a" * (1 << 20) + b"\r\n"),
        "200-headers": lambda: request(extra=b"".join(b"X-H%d: v\r\n" % i for i in range(200))),
        "conflicting-lengths": lambda: request(extra=b"Content-Length: 3\r\n"),
        "negative-length": lambda: request(content_length=-1),
        "not-http": lambda: b"\x00\x01\x02\xff\xfe\r\n\r\n",
    }[case]()
    response = exchange(endpoint, data, timeout=10)
    assert response is not None, "closed without an answer"
    assert 400 <= response[0] < 500, response
    assert_serving(ddb)


# ---- Slow and idle clients ---------------------------------------------------------------------


def dribble(endpoint, data, stop, interval=1.0):
    """Opens a connection and sends `data` one byte per `interval` until told to stop or the
    server hangs up. Returns (socket, thread, monotonic time of connect)."""
    sock = socket.create_connection(address(endpoint), timeout=5)
    connected = time.monotonic()

    def run():
        for byte in data:
            if stop.wait(interval):
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return sock, thread, connected


def test_slowloris_does_not_stop_other_clients(endpoint, ddb):
    # A client that sends its request headers one byte a second ties up one connection, nothing
    # more: everyone else is served as usual meanwhile, and the server hangs up on the slow one
    # once its header-read timeout passes (DynamoDB's front end drops such clients too).
    # This takes HEADER_READ_TIMEOUT_SECONDS (30 s), fixed in the server.
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
    head += b"X-Pad: " + b"a" * 1000
    stop = threading.Event()
    sock, thread, connected = dribble(endpoint, head, stop)
    try:
        assert_stalled_connection_closed(ddb, sock, connected, 5)
    finally:
        stop.set()
        sock.close()
        thread.join()
    assert_serving(ddb)


def test_stalled_body_is_disconnected(endpoint, ddb):
    # A client that sends complete headers and part of the body it announced, then nothing, must
    # not hold its connection (and the buffered part of up to 16 MB) forever: DynamoDB's front end
    # closes connections that stop sending. Others are served meanwhile.
    body = json.dumps({"Limit": 1}).encode()
    sock = socket.create_connection(address(endpoint), timeout=5)
    connected = time.monotonic()
    try:
        sock.sendall(signed_head(endpoint, "DynamoDB_20120810.ListTables", body, content_length=1000) + body)
        assert_stalled_connection_closed(ddb, sock, connected, 3)
    finally:
        sock.close()
    assert_serving(ddb)


FLOOD_CONNECTIONS = 500


def open_descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def accepted(pid, port, client_ports):
    """How many connections from these local ports to `port` process `pid` has accepted: the
    server-side socket of each is one of its descriptors (one still in the listen backlog is
    not)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in client_ports:
                count += inode in inodes
    return count


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.1)


@pytest.fixture
def own_server():
    if external_endpoint():
        pytest.skip("counts its own server's file descriptors; DYNAMO_ENDPOINT is set")
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to count file descriptors")
    server = Server().start()
    yield server
    server.stop()


def test_connection_flood_does_not_stop_service(own_server):
    # Five hundred connections opened at once that never send a byte: the server accepts them
    # all, a client doing real work meanwhile is answered promptly throughout, and when the
    # flood's sockets close the server lets go of every one of them (no descriptor leaks).
    pid = own_server.process.pid
    client = make_client(own_server.endpoint)
    client.list_tables()
    baseline = open_descriptors(pid)

    stop = threading.Event()
    latencies, failures = [], []

    def worker():
        while not stop.is_set():
            started = time.monotonic()
            try:
                client.list_tables(Limit=1)
            except Exception as e:  # every failure is reported below
                failures.append(repr(e))
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)

    thread = threading.Thread(target=worker)
    thread.start()
    sockets = []
    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            target = address(own_server.endpoint)
            sockets = list(pool.map(lambda _: socket.create_connection(target, timeout=10), range(FLOOD_CONNECTIONS)))
        wait_for(lambda: open_descriptors(pid) >= baseline + FLOOD_CONNECTIONS, 60,
                 f"the server did not accept all {FLOOD_CONNECTIONS} connections")
        # The worker is served while all of them are open: a count, not a length of time.
        served = len(latencies)
        wait_for(lambda: len(latencies) >= served + 20, 120, "the worker was not served during the flood")
    finally:
        for sock in sockets:
            sock.close()
        wait_for(lambda: open_descriptors(pid) <= baseline + 2, 60, "the server kept flood connections open")
        stop.set()
        thread.join()
    assert not failures, failures[:5]
    assert latencies and max(latencies) < PROMPT_SECONDS, f"slowest answer {max(latencies):.2f} s"
    assert own_server.process.poll() is None


def test_connections_past_the_cap_wait_for_a_free_slot():
    # Flywheel-specific (--max-connections): with a cap of 8, eight idle connections take every
    # slot and a ninth client is not served until one of them closes; then it is, at once.
    server = Server(args=["--max-connections", "8"]).start()
    idle = []
    try:
        for _ in range(8):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        # Every idle connection holds its slot before the ninth arrives (the start-up probe's
        # connection may still hold one for a moment, so count exactly these eight).
        ports = {s.getsockname()[1] for s in idle}
        wait_for(lambda: accepted(server.process.pid, server.port, ports) == 8, 60,
                 "the server did not accept the eight idle connections")
        blocked = make_client(server.endpoint, retries=1, read_timeout=1)
        started = time.monotonic()
        with pytest.raises(Exception):
            blocked.list_tables()
        assert time.monotonic() - started >= 0.9, "the ninth connection was served past the cap"
        idle.pop().close()
        served = make_client(server.endpoint, retries=1, read_timeout=60)
        assert "TableNames" in served.list_tables()
    finally:
        for s in idle:
            s.close()
        server.stop()
