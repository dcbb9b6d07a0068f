"""The local stack's patches to moto (local/moto_patches.py) behave as moto itself: the same
transactions and queries, through stock moto and through the patches, give the same answers and
leave the same items, committed or rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from local import moto_patches
from local.template import create_tables

TABLES = {"TicketsTable": "t-tickets", "PaymentsTable": "t-payments", "IdempotencyTable": "t-idempotency"}


def key(pk: str, sk: str = "X") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def put(table: str, pk: str, value: int, condition: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "TableName": table,
        "Item": {**key(pk), "value": {"N": str(value)}, "entity": {"S": "EVENT"}, "event_id": {"N": "1"}},
    }
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def add(table: str, pk: str, amount: int, at_least: int | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "TableName": table,
        "Key": key(pk),
        "UpdateExpression": "ADD #v :a",
        "ExpressionAttributeNames": {"#v": "value"},
        "ExpressionAttributeValues": {":a": {"N": str(amount)}},
    }
    if at_least is not None:
        op["ConditionExpression"] = "#v >= :m"
        op["ExpressionAttributeValues"][":m"] = {"N": str(at_least)}
    return {"Update": op}


def delete(table: str, pk: str) -> dict[str, Any]:
    return {"Delete": {"TableName": table, "Key": key(pk)}}


def check(table: str, pk: str) -> dict[str, Any]:
    return {"ConditionCheck": {"TableName": table, "Key": key(pk), "ConditionExpression": "attribute_exists(pk)"}}


def run(transactions: list[list[dict[str, Any]]], patched: bool) -> tuple[list[Any], dict[str, list[Any]]]:
    """Each transaction's answer (ok, or the error code and cancellation reasons) and every item after."""
    if patched:
        moto_patches.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="eu-west-1")
            create_tables(client, TABLES)
            client.put_item(TableName="t-tickets", Item={**key("seed"), "value": {"N": "5"}})
            for sort_key in ("A", "B", "C", "D"):  # a partition of several items, for the queries
                client.put_item(TableName="t-tickets", Item={**key("p", sort_key), "value": {"N": "1"}})
            answers: list[Any] = []
            for items in transactions:
                try:
                    client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                    answers.append("ok")
                except ClientError as error:
                    reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
                    answers.append((error.response["Error"]["Code"], reasons))
            tables: dict[str, Any] = {
                name: sorted((item for item in client.scan(TableName=name)["Items"]), key=lambda item: str(item["pk"]))
                for name in TABLES.values()
            }
            events = client.query(
                TableName="t-tickets",
                IndexName="EventsById",
                KeyConditionExpression="entity = :e",
                ExpressionAttributeValues={":e": {"S": "EVENT"}},
            )["Items"]
            tables["EventsById"] = sorted(events, key=lambda item: str(item["pk"]))
            for pk in ("a", "seed", "missing", "p"):
                for forward in (True, False):
                    found = client.query(
                        TableName="t-tickets",
                        KeyConditionExpression="pk = :pk AND sk >= :low",
                        ExpressionAttributeValues={":pk": {"S": pk}, ":low": {"S": "B"}},
                        ScanIndexForward=forward,
                        Limit=2,
                        ConsistentRead=True,
                    )
                    tables[f"query {pk} {forward}"] = [found["Items"], found.get("LastEvaluatedKey")]
            return answers, tables
    finally:
        moto_patches.uninstall()


SCRIPTED = [
    [put("t-tickets", "a", 1), add("t-payments", "b", 2)],  # commits across tables
    [add("t-tickets", "a", 10), put("t-tickets", "new", 7), add("t-tickets", "seed", -1, at_least=100)],  # third fails: all undone
    [delete("t-tickets", "a"), check("t-tickets", "missing")],  # the deleted item comes back
    [add("t-tickets", "seed", 1), add("t-tickets", "seed", 1)],  # the same item twice: refused whole
    [put("t-tickets", "c", 3, condition="attribute_not_exists(pk)"), put("t-tickets", "c2", 3)],
    [put("t-tickets", "c", 4, condition="attribute_not_exists(pk)")],  # exists: cancelled
    [add("t-tickets", "seed", -5, at_least=5), delete("t-payments", "b")],
]


@pytest.fixture(autouse=True)
def stock_moto_afterwards() -> Iterator[None]:
    yield
    moto_patches.uninstall()


def test_scripted_transactions_answer_and_leave_the_same_items_as_stock_moto() -> None:
    stock = run(SCRIPTED, patched=False)
    assert run(SCRIPTED, patched=True) == stock
    answers, tables = stock
    assert answers[0] == "ok" and answers[1][0] == "TransactionCanceledException" and answers[3][0] == "ValidationException"
    assert [item["pk"]["S"] for item in tables["t-tickets"]] == ["a", "c", "c2", "p", "p", "p", "p", "seed"]
    assert [item["sk"]["S"] for item in tables["query p False"][0]] == ["D", "C"] and tables["query p False"][1] is not None


operations = st.lists(
    st.one_of(
        st.builds(put, st.sampled_from(["t-tickets", "t-payments"]), st.sampled_from(["a", "b", "c"]), st.integers(0, 9)),
        st.builds(
            add,
            st.sampled_from(["t-tickets", "t-payments"]),
            st.sampled_from(["a", "b", "seed"]),
            st.integers(-3, 3),
            st.none() | st.integers(0, 6),
        ),
        st.builds(delete, st.sampled_from(["t-tickets", "t-payments"]), st.sampled_from(["a", "b", "seed"])),
        st.builds(check, st.sampled_from(["t-tickets", "t-payments"]), st.sampled_from(["a", "seed", "missing"])),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transactions=st.lists(operations, min_size=1, max_size=6))
def test_any_transactions_answer_and_leave_the_same_items_as_stock_moto(transactions: list[list[dict[str, Any]]]) -> None:
    assert run(transactions, patched=True) == run(transactions, patched=False)


# DynamoDB's own refusal that moto's transactions leave out ------------------------------------------
def _one_table() -> Any:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    return client


def test_a_transacted_update_with_a_value_its_expressions_never_use_is_cancelled_as_dynamodb_does() -> None:
    """DynamoDB refuses a value no expression uses (UpdateItem: ValidationException, which moto
    does too; in a transaction's Update: the transaction cancelled with a ValidationError reason,
    which moto does not). Installed for the tests (tests/conftest.py) and the local stack."""
    update = {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = :x", "ConditionExpression": "v = :was"}
    values = {":x": {"N": "2"}, ":was": {"N": "1"}}
    with mock_aws():
        client = _one_table()
        with pytest.raises(ClientError) as refused:
            client.transact_write_items(TransactItems=[{"Update": {**update, "ExpressionAttributeValues": {**values, ":cut": {"N": "3"}}}}])
        assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
        [reason] = refused.value.response["CancellationReasons"]
        assert reason == {
            "Code": "ValidationError",
            "Message": "Value provided in ExpressionAttributeValues unused in expressions: keys: {:cut}",
        }
        assert client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["v"] == {"N": "1"}  # nothing written
        # Every value used: written. A ConditionCheck's values are not checked (DynamoDB does not either).
        client.transact_write_items(
            TransactItems=[
                {"Update": {**update, "ExpressionAttributeValues": values}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "b"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ExpressionAttributeValues": {":spare": {"N": "0"}},
                    }
                },
            ]
        )
        assert client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["v"] == {"N": "2"}
