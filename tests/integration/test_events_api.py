"""POST /api/events/ and GET /api/events/{event_id}/."""

import pytest

from tests.support.dynamo import TICKETS, items_with_prefix
from tests.support.flows import STAFF, create_event, get_event
from tests.support.lambdas import call


def test_staff_create_an_event_and_anyone_signed_in_reads_it(dynamodb):
    # Given staff create a paid event
    event_id = create_event(price=25.5, capacity=40, currency="usd", name="Jazz")
    # When a customer reads it
    body = get_event(event_id)
    # Then every field is there with its JSON type
    assert body == {
        "event_id": event_id,
        "name": "Jazz",
        "price": 25.5,
        "currency": "usd",
        "capacity": 40,
        "available": 40,
        "is_free": False,
        "on_sale_queue": False,
        # Sale windows, pause and edits (issue 28): none set, the event sells as it always did.
        "description": None,
        "starts_at": None,
        "opens_at": None,
        "closes_at": None,
        "sales_paused": False,
    }


def test_event_ids_are_consecutive_integers(dynamodb):
    first, second = create_event(), create_event()
    assert isinstance(first, int)
    assert second == first + 1


def test_price_zero_makes_a_free_event(dynamodb):
    assert get_event(create_event(price=0))["is_free"] is True


def test_customers_cannot_create_events_and_nothing_is_written(dynamodb):
    result = call("create_event", {"name": "X", "price": 10, "currency": "usd", "capacity": 5}, user="user-alice", groups="[customers]")
    assert result.status == 403
    assert "error" in result.body
    assert items_with_prefix(dynamodb, TICKETS, "EVENT#") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price": 10, "currency": "usd", "capacity": 5}, "name"),
        ({"name": "X", "price": "ten", "currency": "usd", "capacity": 5}, "price"),
        ({"name": "X", "price": 10.001, "currency": "usd", "capacity": 5}, "price"),
        ({"name": "X", "price": 10, "currency": "btc", "capacity": 5}, "currency"),
        ({"name": "X", "price": 10, "currency": "usd", "capacity": -1}, "capacity"),
        ({"name": "X", "price": 1_000_000, "currency": "usd", "capacity": 5}, "price"),  # more than one charge can take
        ({"name": "X", "price": 100_000_000, "currency": "jpy", "capacity": 5}, "price"),
        ({"name": "X", "price": 1e30, "currency": "usd", "capacity": 5}, "price"),
        ({"name": "X", "price": 450.5, "currency": "isk", "capacity": 5}, "price"),
    ],
)
def test_bad_event_bodies_name_the_field_and_write_nothing(dynamodb, body, field):
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 400
    assert result.body["error"].startswith(f"{field}:")
    assert items_with_prefix(dynamodb, TICKETS, "EVENT#") == []


def test_unknown_event_is_404(dynamodb):
    result = call("get_event", path_params={"event_id": "999"})
    assert (result.status, result.body) == (404, {"error": "Event not found"})


def test_non_numeric_event_id_is_400(dynamodb):
    result = call("get_event", path_params={"event_id": "abc"})
    assert result.status == 400
    assert result.body["error"].startswith("event_id:")


def test_reading_an_event_requires_a_caller(dynamodb):
    assert call("get_event", path_params={"event_id": "1"}, user=None).status == 401


def test_events_are_listed_newest_first_a_page_at_a_time(dynamodb):
    ids = [create_event(name=f"E{n}") for n in range(5)]
    first = call("list_events")
    assert first.status == 200
    assert [event["event_id"] for event in first.body["events"]] == ids[::-1]
    page = call("list_events", headers={}, path_params=None)
    assert page.status == 200
    from tests.support.lambdas import api_event, invoke

    event = api_event("list_events")
    event["queryStringParameters"] = {"limit": "2"}
    two = invoke("list_events", event)
    assert [e["event_id"] for e in two.body["events"]] == ids[:-3:-1]
    event["queryStringParameters"] = {"limit": "2", "after": str(two.body["next_after"])}
    rest = invoke("list_events", event)
    assert [e["event_id"] for e in rest.body["events"]] == [ids[2], ids[1]]
    event["queryStringParameters"] = {"limit": "1000"}
    assert invoke("list_events", event).status == 400


def test_an_unreachable_dynamodb_is_503_with_retry_after(monkeypatch):
    """No moto here: botocore meets a closed port, retries as configured, and the answer is ours to
    give (503, retry shortly), not a 500 after Lambda's timeout."""
    import socket

    from tests.conftest import clear_container_caches

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("DYNAMODB_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clear_container_caches()
    try:
        result = call("get_event", path_params={"event_id": "1"})
        assert (result.status, result.headers.get("Retry-After")) == (503, "2")
        assert result.body == {"error": "The service is busy; please retry shortly"}
    finally:
        clear_container_caches()


def test_a_price_at_the_limit_sells_as_many_tickets_as_one_payment_can_take(dynamodb, stripe_fake):
    from tests.support.flows import buy

    event_id = create_event(price=400_000, capacity=10)
    too_many = buy(event_id, 3)
    assert (too_many.status, too_many.body) == (400, {"error": "quantity: at most 2 tickets of this event fit in one payment"})
    assert get_event(event_id)["available"] == 10
    bought = buy(event_id, 2)
    assert bought.status == 200
    assert stripe_fake.sessions[bought.body["session_id"]]["amount_total"] == 80_000_000
