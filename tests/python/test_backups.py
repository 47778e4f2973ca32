"""On-demand backups and point-in-time recovery: a restore gives exactly the earlier state (items,
and indexes built for it), the continuous-backups description, the errors DynamoDB answers with,
and recovery that survives kill -9.
"""

import datetime
import time

import pytest

import support
from support import assert_error, unique_table_name


def spec(name):
    return dict(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
        ],
    )


@pytest.fixture
def source(make_table):
    return make_table(**spec(unique_table_name()))["TableName"]


@pytest.fixture
def cleanup(ddb):
    """Names of restored tables to delete after the test."""
    names = []
    yield names
    for n in names:
        try:
            ddb.delete_table(TableName=n)
        except Exception:
            pass


def scan_all(ddb, table):
    items, kw = [], {"TableName": table}
    while True:
        r = ddb.scan(**kw)
        items += r["Items"]
        if "LastEvaluatedKey" not in r:
            return sorted(items, key=lambda i: i["pk"]["S"])
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]


def put(ddb, table, pk, **attrs):
    item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}
    ddb.put_item(TableName=table, Item=item)


def by_g(ddb, table, g):
    r = ddb.query(TableName=table, IndexName="byG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": g}})
    return sorted(i["pk"]["S"] for i in r["Items"])


def enable_pitr(ddb, table):
    r = ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return r["ContinuousBackupsDescription"]


def workload_after(ddb, table):
    """Changes of every kind, made after the restore point."""
    ddb.update_item(
        TableName=table, Key={"pk": {"S": "a"}}, UpdateExpression="SET g = :g, v = :v",
        ExpressionAttributeValues={":g": {"S": "blue"}, ":v": {"S": "changed"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "b"}})
    put(ddb, table, "c", g="red", v="new")
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "d"}, "g": {"S": "red"}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "e"}}, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "tx"}}}},
        ]
    )
    put(ddb, table, "a", g="green", v="again")


def test_describe_continuous_backups_before_and_after_enabling(ddb, source):
    before = ddb.describe_continuous_backups(TableName=source)["ContinuousBackupsDescription"]
    assert before["ContinuousBackupsStatus"] == "ENABLED"
    assert before["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    after = enable_pitr(ddb, source)["PointInTimeRecoveryDescription"]
    assert after["PointInTimeRecoveryStatus"] == "ENABLED"
    assert after["EarliestRestorableDateTime"] <= after["LatestRestorableDateTime"]
    assert after["RecoveryPeriodInDays"] == 35


def test_restore_to_a_point_in_time_is_exact(ddb, source, cleanup):
    # Restoring to a time between two bursts of writes gives the table as it was then: items
    # changed, deleted and created afterwards (transactions included) are back to their state,
    # and the restored table's index is built for that state.
    enable_pitr(ddb, source)
    put(ddb, source, "a", g="red", v="1")
    put(ddb, source, "b", g="red", v="2")
    put(ddb, source, "e", v="3")
    time.sleep(1.1)
    point = datetime.datetime.now(datetime.timezone.utc)
    expected = scan_all(ddb, source)
    time.sleep(1.1)
    workload_after(ddb, source)
    assert scan_all(ddb, source) != expected
    target = unique_table_name()
    cleanup.append(target)
    r = ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target, RestoreDateTime=point)
    assert r["TableDescription"]["RestoreSummary"]["SourceTableArn"].endswith("/" + source)
    support.wait_active(ddb, target)
    assert scan_all(ddb, target) == expected
    assert by_g(ddb, target, "red") == ["a", "b"]
    assert by_g(ddb, target, "blue") == []
    table = ddb.describe_table(TableName=target)["Table"]
    assert table["ItemCount"] == 3
    assert table["GlobalSecondaryIndexes"][0]["ItemCount"] == 2


def test_restore_to_latest_time(ddb, source, cleanup):
    enable_pitr(ddb, source)
    put(ddb, source, "a", g="red")
    workload_after(ddb, source)
    target = unique_table_name()
    cleanup.append(target)
    ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target, UseLatestRestorableTime=True)
    support.wait_active(ddb, target)
    assert scan_all(ddb, target) == scan_all(ddb, source)


def test_restore_needs_recovery_enabled(ddb, source):
    with pytest.raises(Exception) as e:
        ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=unique_table_name(), UseLatestRestorableTime=True)
    assert_error(e, "PointInTimeRecoveryUnavailableException", f"Point in time recovery is not enabled for table '{source}'")


def test_restore_errors(ddb, source, make_table):
    enable_pitr(ddb, source)
    existing = make_table(**support.hash_table_spec(unique_table_name()))["TableName"]
    with pytest.raises(Exception) as e:
        ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=existing, UseLatestRestorableTime=True)
    assert_error(e, "TableAlreadyExistsException", f"Table already exists: {existing}")
    with pytest.raises(Exception) as e:
        ddb.restore_table_to_point_in_time(SourceTableName="no_such_table", TargetTableName=unique_table_name(), UseLatestRestorableTime=True)
    assert_error(e, "TableNotFoundException", "Table not found: no_such_table")
    long_ago = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(Exception) as e:
        ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=unique_table_name(), RestoreDateTime=long_ago)
    assert_error(e, "InvalidRestoreTimeException")


def test_disabling_recovery_forgets_history(ddb, source):
    enable_pitr(ddb, source)
    r = ddb.update_continuous_backups(TableName=source, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    assert r["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    with pytest.raises(Exception) as e:
        ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=unique_table_name(), UseLatestRestorableTime=True)
    assert_error(e, "PointInTimeRecoveryUnavailableException")


def test_backup_restore_is_exact(ddb, source, cleanup):
    put(ddb, source, "a", g="red", v="1")
    put(ddb, source, "b", g="red", v="2")
    expected = scan_all(ddb, source)
    details = ddb.create_backup(TableName=source, BackupName="nightly")["BackupDetails"]
    assert details["BackupStatus"] == "AVAILABLE"
    assert details["BackupName"] == "nightly"
    assert details["BackupType"] == "USER"
    assert details["BackupArn"].startswith(ddb.describe_table(TableName=source)["Table"]["TableArn"] + "/backup/")
    workload_after(ddb, source)
    target = unique_table_name()
    cleanup.append(target)
    r = ddb.restore_table_from_backup(TargetTableName=target, BackupArn=details["BackupArn"])
    assert r["TableDescription"]["RestoreSummary"]["SourceBackupArn"] == details["BackupArn"]
    support.wait_active(ddb, target)
    assert scan_all(ddb, target) == expected
    assert by_g(ddb, target, "red") == ["a", "b"]


def test_describe_list_and_delete_backups(ddb, source):
    put(ddb, source, "a", g="red")
    arn = ddb.create_backup(TableName=source, BackupName="one")["BackupDetails"]["BackupArn"]
    described = ddb.describe_backup(BackupArn=arn)["BackupDescription"]
    assert described["SourceTableDetails"]["TableName"] == source
    assert described["SourceTableDetails"]["ItemCount"] == 1
    listed = ddb.list_backups(TableName=source)["BackupSummaries"]
    assert [b["BackupArn"] for b in listed] == [arn]
    deleted = ddb.delete_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
    assert deleted["BackupStatus"] == "DELETED"
    with pytest.raises(Exception) as e:
        ddb.describe_backup(BackupArn=arn)
    assert_error(e, "BackupNotFoundException", f"Backup not found: {arn}")
    assert ddb.list_backups(TableName=source)["BackupSummaries"] == []


def test_backups_outlive_their_table(ddb, make_table, cleanup):
    name = make_table(**spec(unique_table_name()))["TableName"]
    put(ddb, name, "a", g="red")
    arn = ddb.create_backup(TableName=name, BackupName="keep")["BackupDetails"]["BackupArn"]
    ddb.delete_table(TableName=name)
    support.wait_gone(ddb, name)
    cleanup.append(name)
    ddb.restore_table_from_backup(TargetTableName=name, BackupArn=arn)
    support.wait_active(ddb, name)
    assert [i["pk"]["S"] for i in scan_all(ddb, name)] == ["a"]
    ddb.delete_backup(BackupArn=arn)


def test_recovery_log_survives_kill9(tmp_path):
    # The undo log is written in the same batch as each change: after kill -9, a restore to a
    # time before the last writes is still exact.
    server = support.Server(data_dir=tmp_path).start()
    try:
        ddb = support.make_client(server.endpoint)
        name = unique_table_name()
        ddb.create_table(**spec(name))
        enable_pitr(ddb, name)
        for i in range(20):
            put(ddb, name, f"k{i}", g="red")
        time.sleep(1.1)
        point = datetime.datetime.now(datetime.timezone.utc)
        expected = scan_all(ddb, name)
        time.sleep(1.1)
        for i in range(10):
            ddb.delete_item(TableName=name, Key={"pk": {"S": f"k{i}"}})
        server.kill()
        server = support.Server(data_dir=tmp_path, port=server.port).start()
        ddb = support.make_client(server.endpoint)
        target = unique_table_name()
        ddb.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=target, RestoreDateTime=point)
        support.wait_active(ddb, target)
        assert scan_all(ddb, target) == expected
    finally:
        server.stop()
