"""TransactWriteItems and TransactGetItems: all-or-nothing writes across tables, per-action
cancellation reasons, idempotency by ClientRequestToken, and serializable isolation under load."""

import random
import threading

import pytest
from botocore.exceptions import ClientError

import support
from support import assert_error


def put(table, pk, **attrs):
    item = {"pk": {"S": pk}}
    item.update(attrs)
    return {"Put": {"TableName": table, "Item": item}}


def test_writes_across_tables_commit_together(ddb, make_table):
    # A transaction's puts, updates and deletes on two tables all become visible together.
    a = make_table(**support.hash_table_spec(support.unique_table_name()))["TableName"]
    b = make_table(**support.hash_table_spec(support.unique_table_name()))["TableName"]
    ddb.put_item(TableName=b, Item={"pk": {"S": "gone"}})
    ddb.put_item(TableName=b, Item={"pk": {"S": "n"}, "v": {"N": "1"}})
    ddb.transact_write_items(TransactItems=[
        put(a, "x", v={"S": "new"}),
        {"Update": {"TableName": b, "Key": {"pk": {"S": "n"}}, "UpdateExpression": "ADD v :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": b, "Key": {"pk": {"S": "gone"}}}},
    ])
    got = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": a, "Key": {"pk": {"S": "x"}}}},
        {"Get": {"TableName": b, "Key": {"pk": {"S": "n"}}}},
        {"Get": {"TableName": b, "Key": {"pk": {"S": "gone"}}}},
    ])["Responses"]
    assert got[0]["Item"]["v"] == {"S": "new"}
    assert got[1]["Item"]["v"] == {"N": "2"}
    # A missing item answers with an empty response object, keeping positions aligned.
    assert got[2] == {}


def test_failed_condition_cancels_everything_with_reasons(ddb, table):
    # One failed ConditionCheck cancels the whole transaction; CancellationReasons has one entry
    # per action, in order, and ALL_OLD returns the item that failed.
    ddb.put_item(TableName=table, Item={"pk": {"S": "acct"}, "balance": {"N": "5"}})
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            put(table, "other", v={"S": "x"}),
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "acct"}},
                                "ConditionExpression": "balance >= :min",
                                "ExpressionAttributeValues": {":min": {"N": "10"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ])
    assert_error(e, "TransactionCanceledException",
                 "Transaction cancelled, please refer cancellation reasons for specific reasons "
                 "[None, ConditionalCheckFailed]")
    reasons = e.value.response["CancellationReasons"]
    assert reasons[0] == {"Code": "None"}
    assert reasons[1]["Code"] == "ConditionalCheckFailed"
    assert reasons[1]["Message"] == "The conditional request failed"
    assert reasons[1]["Item"] == {"pk": {"S": "acct"}, "balance": {"N": "5"}}
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "other"}})


def test_two_actions_on_one_item_are_refused(ddb, table):
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[put(table, "same"), {"Delete": {"TableName": table, "Key": {"pk": {"S": "same"}}}}])
    assert_error(e, "ValidationException", "Transaction request cannot include multiple operations on one item")


def test_more_than_100_actions_are_refused(ddb_raw, table):
    with pytest.raises(ClientError) as e:
        ddb_raw.transact_write_items(TransactItems=[put(table, f"k{i}") for i in range(101)])
    code, message, _ = support.error_of(e)
    assert code == "ValidationException"
    assert "Member must have length less than or equal to 100" in message


def test_client_request_token_makes_a_retry_idempotent(ddb, table):
    # A retried transaction with the same token within 10 minutes is not applied twice; the same
    # token with different parameters is IdempotentParameterMismatchException.
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}, "n": {"N": "0"}})
    request = dict(ClientRequestToken="token-1", TransactItems=[
        {"Update": {"TableName": table, "Key": {"pk": {"S": "c"}}, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
    ddb.transact_write_items(**request)
    ddb.transact_write_items(**request)
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "1"}
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(ClientRequestToken="token-1", TransactItems=[put(table, "different")])
    assert support.error_of(e)[0] == "IdempotentParameterMismatchException"


def test_bank_transfers_conserve_the_total(ddb, table, endpoint):
    # Serializable isolation: 16 clients move money between 10 accounts with conditional
    # transactions while readers take TransactGetItems snapshots. No balance goes negative and
    # every snapshot sums to the starting total.
    accounts = [f"acct{i}" for i in range(10)]
    start = 1000
    for a in accounts:
        ddb.put_item(TableName=table, Item={"pk": {"S": a}, "balance": {"N": str(start)}})
    total = start * len(accounts)
    # Bounded by counts, not time: the transfers run until `transfers_wanted` have committed
    # (each client gives up after `attempts_per_client` tries), the auditors until they are over.
    transfers_wanted, attempts_per_client = 400, 200
    errors, snapshots, committed = [], [], [0]
    lock = threading.Lock()
    transferring = threading.Event()
    transferring.set()

    def transfer(seed):
        rng = random.Random(seed)
        client = support.make_client(endpoint)
        for _ in range(attempts_per_client):
            if committed[0] >= transfers_wanted:
                break
            src, dst = rng.sample(accounts, 2)
            amount = rng.randint(1, 300)
            try:
                client.transact_write_items(TransactItems=[
                    {"Update": {"TableName": table, "Key": {"pk": {"S": src}},
                                "UpdateExpression": "SET balance = balance - :a",
                                "ConditionExpression": "balance >= :a",
                                "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
                    {"Update": {"TableName": table, "Key": {"pk": {"S": dst}},
                                "UpdateExpression": "SET balance = balance + :a",
                                "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
                ])
                with lock:
                    committed[0] += 1
            except ClientError as e:
                if e.response["Error"]["Code"] != "TransactionCanceledException":
                    errors.append(e)

    def audit():
        client = support.make_client(endpoint)
        # At least one snapshot each, however the threads are scheduled.
        while not snapshots or transferring.is_set():
            got = client.transact_get_items(TransactItems=[
                {"Get": {"TableName": table, "Key": {"pk": {"S": a}}}} for a in accounts])["Responses"]
            balances = [int(r["Item"]["balance"]["N"]) for r in got]
            snapshots.append(sum(balances))
            if min(balances) < 0:
                errors.append(f"negative balance {balances}")

    transfers = [threading.Thread(target=transfer, args=(i,)) for i in range(16)]
    audits = [threading.Thread(target=audit) for _ in range(2)]
    for t in transfers + audits:
        t.start()
    for t in transfers:
        t.join()
    transferring.clear()
    for t in audits:
        t.join()
    assert not errors, errors[:3]
    assert committed[0] >= transfers_wanted, f"only {committed[0]} transfers committed"
    print(f"{committed[0]} transfers committed, {len(snapshots)} snapshots audited")
    assert snapshots and all(s == total for s in snapshots), set(snapshots)
    final = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    assert sum(int(i["balance"]["N"]) for i in final) == total


def test_update_that_fails_on_the_stored_item_cancels_with_validation_error(ddb, table):
    # An update that is valid as an expression but fails on the stored item (ADD of a number to a
    # string attribute) cancels the transaction with reason code ValidationError for that action,
    # and nothing of the transaction is written.
    ddb.put_item(TableName=table, Item={"pk": {"S": "s"}, "name": {"S": "text"}})
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            put(table, "untouched"),
            {"Update": {"TableName": table, "Key": {"pk": {"S": "s"}}, "UpdateExpression": "ADD #n :one",
                        "ExpressionAttributeNames": {"#n": "name"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])
    assert support.error_of(e)[0] == "TransactionCanceledException"
    reasons = e.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ValidationError"]
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "untouched"}})
