"""The admin listener: `/metrics` in Prometheus text format (parsed here with the reference
Python parser), `/healthz` and `/readyz`. Flywheel-specific: DynamoDB exposes its metrics through
CloudWatch instead, so these tests document Flywheel's own contract.
"""

import requests
from prometheus_client.parser import text_string_to_metric_families

import support


def scrape(server):
    response = requests.get(server.admin_endpoint + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    return families


def sample(families, family, name=None, **labels):
    """The value of one sample of a family (by its labels), or None."""
    f = families.get(family)
    if f is None:
        return None
    for s in f.samples:
        if (name is None or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def test_metrics_parse_and_move_with_traffic(tmp_path):
    # Counters and histograms per operation and table, errors by __type, table and index sizes,
    # fsync timings: all parse as Prometheus text, and move as requests arrive.
    server = support.Server(data_dir=tmp_path).start()
    try:
        ddb = support.make_client(server.endpoint)
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


def test_health_endpoints():
    server = support.Server().start()
    try:
        assert requests.get(server.admin_endpoint + "/healthz", timeout=5).text == "ok\n"
        ready = requests.get(server.admin_endpoint + "/readyz", timeout=5)
        assert ready.status_code == 200
        assert requests.get(server.admin_endpoint + "/nope", timeout=5).status_code == 404
    finally:
        server.stop()
