"""Account-level limits that a server flag configures (DynamoDB: service quotas)."""

import pytest

import support
from support import assert_error


def test_table_quota_per_region_is_enforced_and_configurable():
    # DynamoDB refuses a table past the account's per-region quota with LimitExceededException;
    # Flywheel's quota is --tables-per-region-max (default 2,500, DynamoDB's default). Another
    # region has its own count.
    server = support.Server(args=["--tables-per-region-max", "3"]).start()
    try:
        ddb = support.make_client(server.endpoint)
        for i in range(3):
            ddb.create_table(**support.hash_table_spec(f"quota_{i}"))
        with pytest.raises(Exception) as e:
            ddb.create_table(**support.hash_table_spec("quota_3"))
        assert_error(e, "LimitExceededException", "Subscriber limit exceeded: Only 3 tables can be created per region")
        ddb.delete_table(TableName="quota_0")
        ddb.create_table(**support.hash_table_spec("quota_3"))
        west = support.boto3.client(
            "dynamodb",
            endpoint_url=server.endpoint,
            region_name="us-west-2",
            aws_access_key_id=support.ACCESS_KEY,
            aws_secret_access_key=support.SECRET_KEY,
        )
        west.create_table(**support.hash_table_spec("quota_0"))
    finally:
        server.stop()
