"""Attacks on the unknown-fields contract (docs/api.md "Unknown fields"): every body, path and query a
route reads refuses a field it does not declare with a 400 naming it, writes nothing, calls no provider."""

from __future__ import annotations

from typing import Any

from tests.support.dynamo import PAYMENTS, TICKETS, scan
from tests.support.flows import STAFF, create_event
from tests.support.lambdas import api_event, invoke

IDEMPOTENCY = "test-idempotency"


def _rows(client: Any) -> int:
    return sum(len(scan(client, table)) for table in (TICKETS, PAYMENTS, IDEMPOTENCY))


def test_duplicate_key_is_refused_not_last_wins(dynamodb: Any) -> None:
    event_id = create_event(price=0, capacity=50)
    before = _rows(dynamodb)
    raw = f'{{"event_id": {event_id}, "quantity": 50, "quantity": 1}}'
    result = invoke("create_ticket_checkout", api_event("create_ticket_checkout", raw_body=raw))
    assert result.status == 400, result.body
    assert result.body == {"error": "quantity: repeated field"}
    assert _rows(dynamodb) == before


def test_escaped_duplicate_of_a_declared_key_is_refused(dynamodb: Any) -> None:
    free = create_event(price=0, capacity=50)
    other = create_event(price=0, capacity=50)
    before = _rows(dynamodb)
    raw = f'{{"event_id": {other}, "quantity": 1, "event_\\u0069d": {free}}}'
    result = invoke("create_ticket_checkout", api_event("create_ticket_checkout", raw_body=raw))
    assert result.status == 400, result.body
    assert _rows(dynamodb) == before


def test_unknown_field_with_out_of_range_number_says_unknown(dynamodb: Any) -> None:
    event_id = create_event(price=0, capacity=5)
    before = _rows(dynamodb)
    raw = f'{{"event_id": {event_id}, "quantity": 1, "x": 1e999}}'
    result = invoke("create_ticket_checkout", api_event("create_ticket_checkout", raw_body=raw))
    assert (result.status, result.body) == (400, {"error": "x: unknown field"})
    assert _rows(dynamodb) == before


def test_empty_query_parameter_name_is_a_400(dynamodb: Any) -> None:
    event = api_event("list_events")
    event["queryStringParameters"] = {"": "x"}
    result = invoke("list_events", event)
    assert result.status == 400, result.body
    # A 400, but the field it names is the empty string: ": unknown field".
    assert result.body == {"error": ": unknown field"}


def test_repeated_query_parameter_is_refused(dynamodb: Any) -> None:
    event = api_event("list_my_tickets")
    event["queryStringParameters"] = {"limit": "5,50"}  # API Gateway joins ?limit=5&limit=50
    result = invoke("list_my_tickets", event)
    assert result.status == 400, result.body
    assert result.body["error"].startswith("limit:")


def test_case_variant_of_a_declared_field_is_unknown(dynamodb: Any) -> None:
    event_id = create_event(price=0, capacity=5)
    before = _rows(dynamodb)
    result = invoke("create_ticket_checkout", api_event("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "Quantity": 3}))
    assert (result.status, result.body) == (400, {"error": "Quantity: unknown field"})
    assert _rows(dynamodb) == before


def test_unknown_field_in_an_extra_path_parameter(dynamodb: Any) -> None:
    event_id = create_event(price=0, capacity=5)
    result = invoke("get_event", api_event("get_event", path_params={"event_id": str(event_id), "ticket_id": "1"}))
    assert (result.status, result.body) == (400, {"error": "ticket_id: unknown field"})


def test_total_amount_must_be_a_number_and_other_route_fields_refused(dynamodb: Any) -> None:
    event_id = create_event(price=0, capacity=5)
    before = _rows(dynamodb)
    for body, field in (
        ({"event_id": event_id, "quantity": 1, "total_amount": {"amount": 1}}, "total_amount"),
        ({"event_id": event_id, "quantity": 1, "amount": 1}, "amount"),
        ({"event_id": event_id, "quantity": 1, "currency": "usd"}, "currency"),
    ):
        result = invoke("create_ticket_checkout", api_event("create_ticket_checkout", body))
        assert result.status == 400, (body, result.body)
        assert result.body["error"].startswith(f"{field}:"), result.body
    assert _rows(dynamodb) == before


def test_nested_unknown_in_metadata_value_and_event_id_on_stripe(dynamodb: Any) -> None:
    before = _rows(dynamodb)
    for body, field in (
        ({"amount": 10, "currency": "usd", "metadata": {"a": {"b": "c"}}}, "metadata"),
        ({"amount": 10, "currency": "usd", "event_id": 1}, "event_id"),
        ({"amount": 10, "currency": "usd", "quantity": 2}, "quantity"),
    ):
        result = invoke("stripe_create_payment_intent", api_event("stripe_create_payment_intent", body))
        assert result.status == 400, (body, result.body)
        assert result.body["error"].startswith(f"{field}:"), result.body
    assert _rows(dynamodb) == before


def test_create_event_unknown_field_writes_nothing(dynamodb: Any) -> None:
    before = _rows(dynamodb)
    body = {"name": "X", "price": 0, "currency": "usd", "capacity": 5, "event_id": 7}
    result = invoke("create_event", api_event("create_event", body, user="user-staff", groups=STAFF))
    assert (result.status, result.body) == (400, {"error": "event_id: unknown field"})
    assert _rows(dynamodb) == before
