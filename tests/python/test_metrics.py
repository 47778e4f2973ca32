"""The admin listener: `/metrics` in Prometheus text format (parsed here with the reference
Python parser), `/healthz` and `/readyz`. Flywheel-specific: DynamoDB exposes its metrics through
CloudWatch instead, so these tests document Flywheel's own contract.
"""

import re
import subprocess

import requests
from prometheus_client.parser import text_string_to_metric_families

import support


def scrape_text(server):
    response = requests.get(server.admin_endpoint + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def scrape(server):
    return {f.name: f for f in text_string_to_metric_families(scrape_text(server))}


def sample(families, family, name=None, **labels):
    """The value of one sample of a family (by its labels), or None."""
    f = families.get(family)
    if f is None:
        return None
    for s in f.samples:
        if (name is None or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def create_table_with_index(ddb):
    """A table keyed by `pk` with a GSI `byG` on `g`, so table and index series both appear."""
    name = support.unique_table_name()
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
        ],
    )
    return name


def test_metrics_parse_and_move_with_traffic(tmp_path):
    # Counters and histograms per operation and table, errors by __type, table and index sizes,
    # fsync timings: all parse as Prometheus text, and move as requests arrive.
    server = support.Server(data_dir=tmp_path).start()
    try:
        ddb = support.make_client(server.endpoint)
        name = create_table_with_index(ddb)
        before = scrape(server)
        puts_before = sample(before, "flywheel_requests", "flywheel_requests_total", operation="PutItem", table=name) or 0
        for i in range(7):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "g": {"S": "x"}})
        try:
            ddb.get_item(TableName="no_such_table", Key={"pk": {"S": "a"}})
        except ddb.exceptions.ResourceNotFoundException:
            pass
        after = scrape(server)
        puts = sample(after, "flywheel_requests", "flywheel_requests_total", operation="PutItem", table=name)
        assert puts == puts_before + 7
        # A missing table is not a label (clients cannot inflate the label set); the error counts.
        errors = sample(after, "flywheel_errors", "flywheel_errors_total", operation="GetItem", error="ResourceNotFoundException")
        assert errors >= 1
        count = sample(after, "flywheel_request_duration_seconds", "flywheel_request_duration_seconds_count", operation="PutItem", table=name)
        assert count == puts
        assert sample(after, "flywheel_table_items", table=name) == 7
        assert sample(after, "flywheel_index_items", table=name, index="byG") == 7
        assert sample(after, "flywheel_table_size_bytes", table=name) > 0
        assert sample(after, "flywheel_storage_disk_bytes") > 0
        # Durable writes were fsynced, and the timings are histograms.
        assert sample(after, "flywheel_fsync_duration_seconds", "flywheel_fsync_duration_seconds_count") >= 1
        writes = sum(
            s.value for s in after["flywheel_partition_writes"].samples if s.labels.get("table") == name
        )
        assert writes == 7
        assert sample(after, "flywheel_requests_in_flight") is not None
    finally:
        server.stop()


def families_with_lines(text, keyword):
    """Family names that have a `# KEYWORD name ...` line."""
    return {m.group(1) for m in re.finditer(rf"^# {keyword} (\S+)", text, re.MULTILINE)}


def test_every_family_is_described_and_named_by_convention(tmp_path):
    # What a Prometheus user relies on: every family says what it is (# HELP) and how to treat
    # it (# TYPE); counters end in _total and nothing else does; request, error and latency
    # series carry the region; flywheel_build_info names the build; disk usage is the bytes the
    # data directory really occupies. A durable server with writes, an error and an fsync shows
    # every family the server records before its first failure.
    server = support.Server(data_dir=tmp_path).start()
    try:
        ddb = support.make_client(server.endpoint)
        name = create_table_with_index(ddb)
        for i in range(5):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "g": {"S": "x"}, "blob": {"S": "v" * 2000}})
        try:
            ddb.get_item(TableName=name, Key={"nope": {"S": "a"}})
        except ddb.exceptions.ClientError:
            pass
        text = scrape_text(server)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        helped, typed = families_with_lines(text, "HELP"), families_with_lines(text, "TYPE")
        assert typed, text
        assert typed == helped, f"families without HELP: {typed - helped}; HELP without TYPE: {helped - typed}"
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, family, kind = line.split()
                assert family.startswith("flywheel_"), line
                assert family.endswith("_total") == (kind == "counter"), line
                if "duration" in family:
                    assert family.endswith("_seconds"), line
                if "size" in family or "disk" in family:
                    assert family.endswith("_bytes"), line
            elif line and not line.startswith("#"):
                # Every sample belongs to a described family (histograms add suffixes).
                series = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
                assert re.sub(r"_(bucket|sum|count)$", "", series) in typed or series in typed, line

        # The build: this package's version and the commit it was built from.
        build = families["flywheel_build_info"].samples
        assert len(build) == 1 and build[0].value == 1
        assert re.fullmatch(r"\d+\.\d+\.\d+.*", build[0].labels["version"]), build[0].labels
        assert build[0].labels["commit"], build[0].labels
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0 and build[0].labels["commit"] != "unknown":
            # The binary may have been built at an earlier commit; it names a real one.
            assert subprocess.run(["git", "cat-file", "-e", build[0].labels["commit"]]).returncode == 0

        # Request, error and latency series name the region of the table they addressed.
        for family in ("flywheel_requests", "flywheel_errors", "flywheel_request_duration_seconds"):
            samples = families[family].samples
            assert samples and all("region" in s.labels for s in samples), family
        assert sample(families, "flywheel_requests", "flywheel_requests_total", region=support.REGION, operation="PutItem", table=name) == 5
        # The table a CreateTable made is the one it addressed.
        assert sample(families, "flywheel_requests", "flywheel_requests_total", region=support.REGION, operation="CreateTable", table=name) == 1
        assert sample(families, "flywheel_errors", "flywheel_errors_total", region=support.REGION, operation="GetItem", table=name, error="ValidationException") == 1
        count = sample(families, "flywheel_request_duration_seconds", "flywheel_request_duration_seconds_count", region=support.REGION, operation="PutItem", table=name)
        assert count == 5

        # Disk usage: what the data directory's files occupy (allocated blocks, as du counts).
        disk = sample(families, "flywheel_storage_disk_bytes")
        assert disk > 0
        used = sum(p.stat().st_blocks * 512 for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink())
        # Files change between the scrape and this walk (flushes, compactions); same order.
        assert used / 4 <= disk <= used * 4, (disk, used)
    finally:
        server.stop()


def test_a_region_without_tables_is_not_a_label():
    # The credential scope's region is whatever a client signs with: it becomes a label only
    # once a request addresses an existing table there, so naming regions cannot grow the series.
    server = support.Server().start()
    try:
        for i in range(3):
            elsewhere = boto3_client_in(server.endpoint, f"xx-made-up-{i}")
            elsewhere.list_tables()
        families = scrape(server)
        regions = {s.labels["region"] for s in families["flywheel_requests"].samples}
        assert not any(r.startswith("xx-made-up") for r in regions), regions
        assert sample(families, "flywheel_requests", "flywheel_requests_total", region="other", operation="ListTables") == 3
    finally:
        server.stop()


def boto3_client_in(endpoint, region):
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=support.ACCESS_KEY,
        aws_secret_access_key=support.SECRET_KEY,
    )


def test_health_endpoints():
    server = support.Server().start()
    try:
        assert requests.get(server.admin_endpoint + "/healthz", timeout=5).text == "ok\n"
        ready = requests.get(server.admin_endpoint + "/readyz", timeout=5)
        assert ready.status_code == 200
        assert requests.get(server.admin_endpoint + "/nope", timeout=5).status_code == 404
    finally:
        server.stop()
