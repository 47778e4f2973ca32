"""Control plane: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable, tags, and the
small describe operations SDKs call on start-up. Every test states the DynamoDB behaviour it pins."""

import datetime
import re
import time

import pytest
from botocore.exceptions import ClientError

from support import (
    assert_error,
    composite_table_spec,
    hash_table_spec,
    unique_table_name,
    wait_active,
    wait_gone,
)

ARN_ACCOUNT = r"arn:aws:dynamodb:us-east-1:\d{12}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def provisioned_spec(name, read=5, write=5):
    spec = hash_table_spec(name)
    spec["BillingMode"] = "PROVISIONED"
    spec["ProvisionedThroughput"] = {"ReadCapacityUnits": read, "WriteCapacityUnits": write}
    return spec


# ---- CreateTable: the description it returns ------------------------------------------------


def test_create_table_returns_complete_description(make_table):
    # CreateTable answers at once with the new table's full description, still CREATING; SDKs
    # read the ARN and id from this response without a DescribeTable.
    name = unique_table_name()
    desc = make_table(wait=False, **composite_table_spec(name))
    assert desc["TableName"] == name
    assert re.fullmatch(ARN_ACCOUNT + r":table/" + re.escape(name), desc["TableArn"])
    assert re.fullmatch(UUID, desc["TableId"])
    assert desc["TableStatus"] == "CREATING"
    assert isinstance(desc["CreationDateTime"], datetime.datetime)
    assert desc["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted(desc["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert desc["ItemCount"] == 0
    assert desc["TableSizeBytes"] == 0
    assert desc["DeletionProtectionEnabled"] is False


def test_create_table_on_demand_reports_billing_mode_and_zero_throughput(make_table):
    # An on-demand table reports BillingModeSummary and a ProvisionedThroughput of zeros.
    desc = make_table(wait=False, **hash_table_spec(unique_table_name()))
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    throughput = desc["ProvisionedThroughput"]
    assert throughput["ReadCapacityUnits"] == 0
    assert throughput["WriteCapacityUnits"] == 0
    assert throughput["NumberOfDecreasesToday"] == 0


def test_create_table_provisioned_reports_requested_throughput(make_table):
    # A provisioned table echoes the capacity it was given.
    desc = make_table(wait=False, **provisioned_spec(unique_table_name(), read=3, write=7))
    throughput = desc["ProvisionedThroughput"]
    assert throughput["ReadCapacityUnits"] == 3
    assert throughput["WriteCapacityUnits"] == 7
    assert throughput["NumberOfDecreasesToday"] == 0


def test_table_becomes_active_with_same_identity(ddb, make_table):
    # DescribeTable reports the table CreateTable made: same id and ARN, ACTIVE once created.
    created = make_table(wait=False, **hash_table_spec(unique_table_name()))
    described = wait_active(ddb, created["TableName"])
    assert described["TableStatus"] == "ACTIVE"
    assert described["TableId"] == created["TableId"]
    assert described["TableArn"] == created["TableArn"]
    assert described["KeySchema"] == created["KeySchema"]


def test_create_table_with_stream_reports_stream(make_table):
    # With streams on, the description carries the StreamSpecification and the stream's ARN,
    # which is the table ARN followed by /stream/<label>.
    name = unique_table_name()
    spec = hash_table_spec(name)
    spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    desc = make_table(**spec)
    assert desc["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert desc["LatestStreamArn"] == desc["TableArn"] + "/stream/" + desc["LatestStreamLabel"]


def test_create_table_without_stream_has_no_stream_arn(make_table):
    # No StreamSpecification means no stream: the description has no LatestStreamArn.
    desc = make_table(**hash_table_spec(unique_table_name()))
    assert "LatestStreamArn" not in desc


def test_create_table_with_sse_reports_sse_description(make_table):
    # SSESpecification Enabled=true asks for a KMS key; the table then reports SSEDescription.
    spec = hash_table_spec(unique_table_name())
    spec["SSESpecification"] = {"Enabled": True}
    desc = make_table(**spec)
    assert desc["SSEDescription"]["Status"] in ("ENABLING", "ENABLED")
    assert desc["SSEDescription"]["SSEType"] == "KMS"


def test_create_table_with_deletion_protection_reports_it(make_table):
    # DeletionProtectionEnabled is stored and reported back.
    spec = hash_table_spec(unique_table_name())
    spec["DeletionProtectionEnabled"] = True
    assert make_table(**spec)["DeletionProtectionEnabled"] is True


# ---- CreateTable: errors ----------------------------------------------------------------------


def test_create_existing_table_is_resource_in_use(ddb, table):
    # A second CreateTable with a taken name is ResourceInUseException, naming the table.
    with pytest.raises(ClientError) as e:
        ddb.create_table(**hash_table_spec(table))
    assert_error(e, "ResourceInUseException", f"Table already exists: {table}")


def test_create_table_without_key_schema(ddb_raw):
    # KeySchema is required; the service's own validation names the missing member.
    spec = hash_table_spec(unique_table_name())
    del spec["KeySchema"]
    with pytest.raises(ClientError) as e:
        ddb_raw.create_table(**spec)
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_create_table_name_too_short(ddb_raw):
    # Table names are at least 3 characters.
    with pytest.raises(ClientError) as e:
        ddb_raw.create_table(**hash_table_spec("ab"))
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3",
    )


def test_create_table_name_too_long(ddb_raw):
    # Table names are at most 255 characters.
    name = "a" * 256
    with pytest.raises(ClientError) as e:
        ddb_raw.create_table(**hash_table_spec(name))
    assert_error(
        e,
        "ValidationException",
        f"1 validation error detected: Value '{name}' at 'tableName' failed to satisfy "
        "constraint: Member must have length less than or equal to 255",
    )


def test_create_table_name_with_invalid_characters(ddb_raw):
    # Table names are [a-zA-Z0-9_.-]+, and the error quotes the pattern.
    with pytest.raises(ClientError) as e:
        ddb_raw.create_table(**hash_table_spec("bad table!@#"))
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value 'bad table!@#' at 'tableName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    )


def test_create_table_accepts_dots_dashes_and_underscores(make_table):
    # The other side of the pattern: '.', '-' and '_' are legal anywhere, even first.
    name = "." + unique_table_name("fw-dots") + "-x.y"
    assert make_table(**hash_table_spec(name))["TableName"] == name


def test_create_table_key_attribute_not_defined(ddb):
    # Every key attribute needs an AttributeDefinition; the error lists both sides.
    spec = hash_table_spec(unique_table_name())
    spec["AttributeDefinitions"] = [{"AttributeName": "other", "AttributeType": "S"}]
    with pytest.raises(ClientError) as e:
        ddb.create_table(**spec)
    assert_error(
        e,
        "ValidationException",
        "One or more parameter values were invalid: Some index key attributes are not defined in "
        "AttributeDefinitions. Keys: [pk], AttributeDefinitions: [other]",
        optional_envelope=True,
    )


def test_create_table_unused_attribute_definition(ddb):
    # AttributeDefinitions may only name key attributes; an extra one is rejected.
    spec = hash_table_spec(unique_table_name())
    spec["AttributeDefinitions"].append({"AttributeName": "extra", "AttributeType": "S"})
    with pytest.raises(ClientError) as e:
        ddb.create_table(**spec)
    assert_error(
        e,
        "ValidationException",
        "One or more parameter values were invalid: Number of attributes in KeySchema does not "
        "exactly match number of attributes defined in AttributeDefinitions",
        optional_envelope=True,
    )


def test_create_table_two_hash_keys(ddb):
    # A key schema is one HASH optionally followed by one RANGE.
    spec = composite_table_spec(unique_table_name())
    spec["KeySchema"][1]["KeyType"] = "HASH"
    with pytest.raises(ClientError) as e:
        ddb.create_table(**spec)
    assert_error(
        e,
        "ValidationException",
        "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        optional_envelope=True,
    )


def test_create_table_invalid_key_type(ddb_raw):
    # KeyType is an enum; the error names the member by its 1-based position.
    spec = hash_table_spec(unique_table_name())
    spec["KeySchema"][0]["KeyType"] = "X"
    with pytest.raises(ClientError) as e:
        ddb_raw.create_table(**spec)
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value 'X' at 'keySchema.1.member.keyType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [HASH, RANGE]",
    )


def test_create_table_invalid_attribute_type(ddb_raw):
    # AttributeType is an enum of the three key types.
    spec = hash_table_spec(unique_table_name())
    spec["AttributeDefinitions"][0]["AttributeType"] = "Q"
    with pytest.raises(ClientError) as e:
        ddb_raw.create_table(**spec)
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value 'Q' at 'attributeDefinitions.1.member.attributeType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
    )


def test_create_table_provisioned_without_throughput(ddb):
    # BillingMode PROVISIONED needs ProvisionedThroughput.
    spec = hash_table_spec(unique_table_name())
    spec["BillingMode"] = "PROVISIONED"
    with pytest.raises(ClientError) as e:
        ddb.create_table(**spec)
    assert_error(
        e,
        "ValidationException",
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits "
        "must both be specified when BillingMode is PROVISIONED",
        optional_envelope=True,
    )


def test_create_table_on_demand_with_throughput(ddb):
    # BillingMode PAY_PER_REQUEST forbids ProvisionedThroughput.
    spec = hash_table_spec(unique_table_name())
    spec["ProvisionedThroughput"] = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    with pytest.raises(ClientError) as e:
        ddb.create_table(**spec)
    assert_error(
        e,
        "ValidationException",
        "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
        "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        optional_envelope=True,
    )


def test_rejected_create_table_creates_nothing(ddb):
    # A rejected CreateTable leaves no table behind.
    name = unique_table_name()
    spec = hash_table_spec(name)
    spec["ProvisionedThroughput"] = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    with pytest.raises(ClientError):
        ddb.create_table(**spec)
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName=name)
    assert_error(e, "ResourceNotFoundException")


# ---- DescribeTable / ListTables -----------------------------------------------------------------


def test_describe_missing_table(ddb):
    # A missing table is ResourceNotFoundException whose message names the table.
    name = unique_table_name()
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName=name)
    assert_error(
        e, "ResourceNotFoundException", f"Requested resource not found: Table: {name} not found"
    )


def test_describe_table_item_count_starts_at_zero(ddb, table):
    # A new table reports no items and no bytes.
    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["ItemCount"] == 0
    assert desc["TableSizeBytes"] == 0


def all_table_names(ddb, page_size):
    names, start = [], None
    while True:
        kwargs = {"Limit": page_size}
        if start:
            kwargs["ExclusiveStartTableName"] = start
        page = ddb.list_tables(**kwargs)
        assert len(page["TableNames"]) <= page_size
        names += page["TableNames"]
        start = page.get("LastEvaluatedTableName")
        if not start:
            return names
        # The cursor is the last name of the page it ends.
        assert start == page["TableNames"][-1]


def test_list_tables_pages_in_name_order(ddb, make_table):
    # ListTables returns names in ascending order; Limit caps a page and LastEvaluatedTableName
    # resumes after it, so walking the pages visits each table exactly once.
    prefix = unique_table_name("fw_list")
    mine = [f"{prefix}_{i}" for i in range(3)]
    for name in mine:
        make_table(wait=False, **hash_table_spec(name))
    names = all_table_names(ddb, page_size=2)
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert [n for n in names if n.startswith(prefix)] == mine


def test_list_tables_exclusive_start_name_is_exclusive(ddb, make_table):
    # ExclusiveStartTableName starts strictly after that name, whether or not it exists.
    prefix = unique_table_name("fw_start")
    for i in range(2):
        make_table(wait=False, **hash_table_spec(f"{prefix}_{i}"))
    after_first = ddb.list_tables(ExclusiveStartTableName=f"{prefix}_0", Limit=1)["TableNames"]
    assert after_first == [f"{prefix}_1"]
    after_gap = ddb.list_tables(ExclusiveStartTableName=f"{prefix}_", Limit=1)["TableNames"]
    assert after_gap == [f"{prefix}_0"]


def test_list_tables_paginator_returns_every_table(ddb, make_table):
    # boto3's paginator follows LastEvaluatedTableName to the end.
    prefix = unique_table_name("fw_pager")
    mine = [f"{prefix}_{i}" for i in range(3)]
    for name in mine:
        make_table(wait=False, **hash_table_spec(name))
    pages = ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 1})
    names = [n for page in pages for n in page["TableNames"]]
    assert [n for n in names if n.startswith(prefix)] == mine


def test_list_tables_limit_zero(ddb_raw):
    # Limit is 1 to 100.
    with pytest.raises(ClientError) as e:
        ddb_raw.list_tables(Limit=0)
    assert_error(
        e,
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )


# ---- UpdateTable ------------------------------------------------------------------------------


def test_update_table_to_on_demand(ddb, make_table):
    # Switching a provisioned table to PAY_PER_REQUEST shows in BillingModeSummary.
    name = make_table(**provisioned_spec(unique_table_name()))["TableName"]
    response = ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    assert response["TableDescription"]["TableName"] == name
    desc = wait_active(ddb, name)
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_update_table_throughput(ddb, make_table):
    # New provisioned capacity is reported once the update is done.
    name = make_table(**provisioned_spec(unique_table_name(), read=5, write=5))["TableName"]
    ddb.update_table(
        TableName=name,
        ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 6},
    )
    throughput = wait_active(ddb, name)["ProvisionedThroughput"]
    assert throughput["ReadCapacityUnits"] == 10
    assert throughput["WriteCapacityUnits"] == 6


def test_update_table_enables_stream(ddb, table):
    # Turning a stream on gives the table a LatestStreamArn under its own ARN.
    ddb.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    desc = wait_active(ddb, table)
    assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    assert desc["LatestStreamArn"].startswith(desc["TableArn"] + "/stream/")


def test_update_missing_table(ddb):
    # UpdateTable on a missing table is ResourceNotFoundException naming it.
    name = unique_table_name()
    with pytest.raises(ClientError) as e:
        ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    assert_error(
        e, "ResourceNotFoundException", f"Requested resource not found: Table: {name} not found"
    )


def test_deletion_protection_blocks_delete_until_turned_off(ddb, table):
    # With deletion protection on, DeleteTable is refused and the table stays; once UpdateTable
    # turns it off, DeleteTable works.
    ddb.update_table(TableName=table, DeletionProtectionEnabled=True)
    assert wait_active(ddb, table)["DeletionProtectionEnabled"] is True
    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName=table)
    assert_error(
        e,
        "ValidationException",
        f"Table '{table}' can't be deleted while DeletionProtectionEnabled is set to True",
        optional_envelope=True,
    )
    assert ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    wait_active(ddb, table)
    assert ddb.delete_table(TableName=table)["TableDescription"]["TableStatus"] == "DELETING"


# ---- DeleteTable ------------------------------------------------------------------------------


def test_delete_table_returns_deleting_description(ddb, make_table):
    # DeleteTable answers with the table's description in DELETING; then the table is gone.
    desc = make_table(**hash_table_spec(unique_table_name()))
    response = ddb.delete_table(TableName=desc["TableName"])["TableDescription"]
    assert response["TableName"] == desc["TableName"]
    assert response["TableArn"] == desc["TableArn"]
    assert response["TableStatus"] == "DELETING"
    wait_gone(ddb, desc["TableName"])


def test_delete_missing_table(ddb):
    # Deleting a missing table is ResourceNotFoundException naming it.
    name = unique_table_name()
    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName=name)
    assert_error(
        e, "ResourceNotFoundException", f"Requested resource not found: Table: {name} not found"
    )


def test_deleted_table_name_can_be_reused(ddb, make_table):
    # Once a table is gone its name is free again, and the new table is a new table.
    name = unique_table_name()
    first = make_table(**hash_table_spec(name))
    ddb.delete_table(TableName=name)
    wait_gone(ddb, name)
    second = make_table(**hash_table_spec(name))
    assert second["TableId"] != first["TableId"]


# ---- Tags -------------------------------------------------------------------------------------


def wait_for_tags(ddb, arn, expected, timeout=30.0):
    # DynamoDB applies tags asynchronously; a freshly tagged table may lag briefly.
    deadline = time.monotonic() + timeout
    while True:
        tags = ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
        if sorted(tags, key=lambda t: t["Key"]) == expected or time.monotonic() > deadline:
            return sorted(tags, key=lambda t: t["Key"])
        time.sleep(0.1)


def test_tag_list_untag_round_trip(ddb, table):
    # Tags are set by TagResource, listed by ListTagsOfResource, removed by UntagResource.
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    assert ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", []) == []
    ddb.tag_resource(
        ResourceArn=arn, Tags=[{"Key": "team", "Value": "db"}, {"Key": "env", "Value": "test"}]
    )
    expected = [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "db"}]
    assert wait_for_tags(ddb, arn, expected) == expected
    ddb.untag_resource(ResourceArn=arn, TagKeys=["env"])
    expected = [{"Key": "team", "Value": "db"}]
    assert wait_for_tags(ddb, arn, expected) == expected


def test_tag_resource_overwrites_value(ddb, table):
    # Tagging an existing key replaces its value rather than adding a second tag.
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "1"}])
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "2"}])
    expected = [{"Key": "k", "Value": "2"}]
    assert wait_for_tags(ddb, arn, expected) == expected


def test_create_table_with_tags(ddb, make_table):
    # Tags given to CreateTable are listed on the new table.
    spec = hash_table_spec(unique_table_name())
    spec["Tags"] = [{"Key": "owner", "Value": "flywheel"}]
    arn = make_table(**spec)["TableArn"]
    expected = [{"Key": "owner", "Value": "flywheel"}]
    assert wait_for_tags(ddb, arn, expected) == expected


# ---- The describe operations SDKs call --------------------------------------------------------


def test_describe_limits_reports_default_quotas(ddb):
    # DescribeLimits reports DynamoDB's default capacity quotas: 80,000 units per account and
    # 40,000 per table, for reads and for writes.
    limits = ddb.describe_limits()
    assert limits["AccountMaxReadCapacityUnits"] == 80000
    assert limits["AccountMaxWriteCapacityUnits"] == 80000
    assert limits["TableMaxReadCapacityUnits"] == 40000
    assert limits["TableMaxWriteCapacityUnits"] == 40000


def test_describe_endpoints(ddb):
    # DescribeEndpoints names at least one endpoint, cached for a day (1440 minutes).
    endpoints = ddb.describe_endpoints()["Endpoints"]
    assert endpoints
    assert all(isinstance(e["Address"], str) and e["Address"] for e in endpoints)
    assert all(e["CachePeriodInMinutes"] == 1440 for e in endpoints)


def test_describe_time_to_live_is_disabled_on_new_table(ddb, table):
    # A new table has TTL off.
    response = ddb.describe_time_to_live(TableName=table)
    assert response["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}


def test_describe_continuous_backups_on_new_table(ddb, table):
    # A new table reports continuous backups ENABLED but point-in-time recovery DISABLED.
    response = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert response["ContinuousBackupsStatus"] == "ENABLED"
    assert response["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
