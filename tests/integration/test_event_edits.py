"""Sale windows, pause and staff edits of an event (issue 28), through the handlers on moto with the
Stripe fake: POST /api/events/ with a window, PATCH /api/events/{event_id}/, and the purchase
(POST /api/payments/create-payment-intent/) refused outside the window or while paused."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local.stripe_fake import StripeFake
from tests.support.dynamo import TICKETS, scan
from tests.support.flows import STAFF, buy, create_event, get_event
from tests.support.lambdas import ApiResult, call


def edit(event_id: int | str, body: Any, user: str = "user-staff", groups: str = STAFF) -> ApiResult:
    return call("update_event", body, path_params={"event_id": str(event_id)}, user=user, groups=groups)


def windowed_event(**window: int) -> int:
    body = {"name": "Windowed", "price": 25, "currency": "usd", "capacity": 10, **window}
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 201, result.body
    return int(result.body["event_id"])


def tickets(dynamodb: Any) -> list[dict[str, Any]]:
    return [item for item in scan(dynamodb, TICKETS) if str(item["pk"]).startswith("TICKET#")]


# sale windows ----------------------------------------------------------------------------------
def test_a_purchase_before_the_sale_opens_is_400_saying_when_and_writes_nothing(dynamodb: Any, stripe_fake: StripeFake) -> None:
    opens = int(time.time()) + 3600
    event_id = windowed_event(opens_at=opens)
    before = scan(dynamodb, TICKETS)
    result = buy(event_id)
    assert result.status == 400, result.body
    assert "opens" in result.body["error"] and str(opens) in result.body["error"]
    assert scan(dynamodb, TICKETS) == before
    assert stripe_fake.sessions == {}


def test_a_purchase_after_the_sale_closed_is_400_and_writes_nothing(dynamodb: Any, stripe_fake: StripeFake) -> None:
    now = int(time.time())
    event_id = windowed_event(opens_at=now - 7200, closes_at=now - 60)
    result = buy(event_id)
    assert result.status == 400, result.body
    assert "closed" in result.body["error"]
    assert tickets(dynamodb) == []


def test_a_purchase_inside_the_window_goes_through(dynamodb: Any, stripe_fake: StripeFake) -> None:
    now = int(time.time())
    event_id = windowed_event(opens_at=now - 60, closes_at=now + 3600)
    assert buy(event_id).status == 200
    body = get_event(event_id)
    assert (body["opens_at"], body["closes_at"], body["sales_paused"]) == (now - 60, now + 3600, False)


def test_a_window_that_closes_before_it_opens_is_refused_at_creation(dynamodb: Any) -> None:
    result = call(
        "create_event",
        {"name": "X", "price": 10, "currency": "usd", "capacity": 5, "opens_at": 2_000_000_000, "closes_at": 1_999_999_999},
        user="user-staff",
        groups=STAFF,
    )
    assert result.status == 400 and result.body["error"].startswith("closes_at:"), result.body
    assert scan(dynamodb, TICKETS) == []


# pause and resume ------------------------------------------------------------------------------
def test_a_paused_sale_refuses_purchases_until_resumed(dynamodb: Any, stripe_fake: StripeFake) -> None:
    event_id = create_event(capacity=5)
    paused = edit(event_id, {"sales_paused": True})
    assert paused.status == 200 and paused.body["sales_paused"] is True, paused.body
    refused = buy(event_id)
    assert (refused.status, refused.body) == (400, {"error": "Sales are paused"})
    assert tickets(dynamodb) == []
    assert edit(event_id, {"sales_paused": False}).status == 200
    assert buy(event_id).status == 200


# edits -----------------------------------------------------------------------------------------
def test_staff_edit_name_description_and_dates_and_every_reader_sees_them(dynamodb: Any) -> None:
    event_id = create_event(name="Jazz", capacity=40)
    result = edit(event_id, {"name": "Jazz II", "description": "Doors at 7pm", "starts_at": 1_900_000_000})
    assert result.status == 200, result.body
    body = get_event(event_id)
    assert (body["name"], body["description"], body["starts_at"]) == ("Jazz II", "Doors at 7pm", 1_900_000_000)
    assert (body["capacity"], body["available"], body["price"]) == (40, 40, 25)


def test_a_price_change_applies_to_purchases_after_it_and_a_reservation_keeps_its_price(dynamodb: Any, stripe_fake: StripeFake) -> None:
    event_id = create_event(price=25, capacity=10)
    first = buy(event_id, user="user-alice")
    assert edit(event_id, {"price": 30}).status == 200
    second = buy(event_id, user="user-bob")
    amounts = {str(item["owner"]): int(item["unit_amount"]) for item in tickets(dynamodb)}
    assert amounts == {"user-alice": 2500, "user-bob": 3000}
    assert stripe_fake.sessions[first.body["session_id"]]["amount_total"] == 2500
    assert stripe_fake.sessions[second.body["session_id"]]["amount_total"] == 3000


def test_capacity_is_raised_over_every_shard(dynamodb: Any, stripe_fake: StripeFake) -> None:
    event_id = create_event(capacity=4, seat_shards=2)
    assert buy(event_id, quantity=2).status == 200
    result = edit(event_id, {"capacity": 10})
    assert result.status == 200, result.body
    assert (result.body["capacity"], result.body["available"]) == (10, 8)
    assert_shards_whole(dynamodb, event_id, 10)


def test_capacity_is_lowered_to_what_is_held_and_sold_and_never_below(dynamodb: Any, stripe_fake: StripeFake) -> None:
    event_id = create_event(capacity=10, seat_shards=3)
    assert buy(event_id, quantity=3).status == 200
    before = scan(dynamodb, TICKETS)
    refused = edit(event_id, {"capacity": 2})
    assert refused.status == 400 and refused.body["error"].startswith("capacity:") and "3" in refused.body["error"], refused.body
    assert scan(dynamodb, TICKETS) == before
    lowered = edit(event_id, {"capacity": 3})
    assert lowered.status == 200 and (lowered.body["capacity"], lowered.body["available"]) == (3, 0), lowered.body
    assert_shards_whole(dynamodb, event_id, 3)
    assert buy(event_id, user="user-bob").status == 400


def test_a_lowering_racing_a_purchase_never_oversells(dynamodb: Any, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff lower the capacity to exactly the seats left free as they read them; a purchase takes a
    seat between their read and their write. The edit's cut, conditioned on the seats left now,
    fails whole, is decided again from a fresh read, and is then refused (one seat more is sold than
    the capacity asked for): the shards never go negative and nothing is sold beyond capacity."""
    from payments import wiring

    event_id = create_event(capacity=6, seat_shards=2)
    assert buy(event_id, quantity=2, user="user-alice").status == 200
    repository: Any = wiring.event_service()._repository
    original = repository.update_event
    raced: list[ApiResult] = []

    def purchase_first(event: Any, changes: Any, seats: Any) -> None:
        if not raced:
            raced.append(buy(event_id, quantity=1, user="user-bob"))
        original(event, changes, seats)

    monkeypatch.setattr(repository, "update_event", purchase_first)
    result = edit(event_id, {"capacity": 2})
    assert raced[0].status == 200, raced[0].body
    assert result.status == 400 and result.body["error"].startswith("capacity: must be at least 3"), result.body
    body = get_event(event_id)
    assert (body["capacity"], body["available"]) == (6, 3)
    assert_shards_whole(dynamodb, event_id, 6)


def test_concurrent_lowerings_and_purchases_in_threads_never_oversell(
    dynamodb: Any, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Purchases and capacity cuts at once (moto's requests serialised, as DynamoDB applies each
    atomically): whatever order they land in, seats held + available == capacity on every shard."""
    import threading

    from payments import dynamodb as dynamo_module
    from tests.conftest import clear_container_caches
    from tests.support.dynamo import SerialisedClient

    event_id = create_event(capacity=20, seat_shards=4)
    serial = SerialisedClient(dynamo_module.get_client())
    monkeypatch.setattr(dynamo_module, "get_client", lambda: serial)
    clear_container_caches()
    results: list[ApiResult] = []
    barrier = threading.Barrier(9)

    def purchase(user: str) -> None:
        barrier.wait()
        results.append(buy(event_id, quantity=2, user=user))

    def lower(capacity: int) -> None:
        barrier.wait()
        results.append(edit(event_id, {"capacity": capacity}))

    threads = [threading.Thread(target=purchase, args=(f"user-{n}",)) for n in range(6)]
    threads += [threading.Thread(target=lower, args=(capacity,)) for capacity in (16, 12, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result.status in (200, 400, 409) for result in results), [r.body for r in results]
    body = get_event(event_id)
    held = sum(int(item["quantity"]) for item in tickets(dynamodb))
    assert body["available"] >= 0
    assert held + body["available"] == body["capacity"]
    assert_shards_whole(dynamodb, event_id, body["capacity"])


def assert_shards_whole(dynamodb: Any, event_id: int, capacity: int) -> None:
    """Every shard: its seats held (by the tickets' seat parts) + left == its own capacity; their
    capacities add up to the event's; none is negative."""
    shards = {
        (0 if item["sk"] == "EVENT" else int(str(item["sk"]).removeprefix("SEATS#"))): item
        for item in scan(dynamodb, TICKETS)
        if "shard_capacity" in item and int(item["event_id"]) == event_id
    }
    held = dict.fromkeys(shards, 0)
    for ticket in tickets(dynamodb):
        if int(ticket["event_id"]) == event_id and ticket["status"] in ("reserved", "processing", "paid"):
            parts = ticket.get("seat_parts") or {"0": ticket["quantity"]}
            for shard, count in parts.items():
                held[int(shard)] += int(count)
    for shard, item in shards.items():
        assert int(item["available"]) >= 0, shard
        assert held[shard] + int(item["available"]) == int(item["shard_capacity"]), shard
    assert sum(int(item["shard_capacity"]) for item in shards.values()) == capacity


# refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize("groups", ["[customers]", "[staff-readonly]", "[]"])
def test_an_edit_by_a_non_staff_caller_is_403_and_writes_nothing(dynamodb: Any, groups: str) -> None:
    event_id = create_event()
    before = scan(dynamodb, TICKETS)
    result = edit(event_id, {"name": "Mine now"}, user="user-alice", groups=groups)
    assert result.status == 403 and "error" in result.body
    assert scan(dynamodb, TICKETS) == before


def test_an_edit_of_an_unknown_event_is_404(dynamodb: Any) -> None:
    result = edit(999, {"name": "Ghost"})
    assert (result.status, result.body) == (404, {"error": "Event not found"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"name": None}, "name"),
        ({"price": "ten"}, "price"),
        ({"price": 10.001}, "price"),
        ({"price": 1_000_000}, "price"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 1.5}, "capacity"),
        ({"opens_at": "tomorrow"}, "opens_at"),
        ({"closes_at": -1}, "closes_at"),
        ({"sales_paused": "yes"}, "sales_paused"),
        ({"currency": "eur"}, "currency"),
        ({"seat_shards": 8}, "seat_shards"),
    ],
)
def test_bad_edits_are_400_naming_the_field_and_write_nothing(dynamodb: Any, body: Any, field: str) -> None:
    event_id = create_event()
    before = scan(dynamodb, TICKETS)
    result = edit(event_id, body)
    assert result.status == 400, result.body
    assert result.body["error"].startswith(f"{field}:"), result.body
    assert scan(dynamodb, TICKETS) == before


def test_an_edit_is_audited_with_who_and_what(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from payments.domain import events

    event_id = create_event()
    lines: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "audit", lambda action, **fields: lines.append((action, fields)))
    assert edit(event_id, {"sales_paused": True, "price": 40}).status == 200
    assert edit(event_id, {"price": "x"}).status == 400
    assert lines == [("event.edited", {"user_id": "user-staff", "event_id": event_id, "changed": ["price", "sales_paused"]})]


@pytest.mark.parametrize("moved", ["opens_at", "closes_at"])
def test_an_edit_that_would_close_the_sale_before_it_opens_names_the_field_it_moved(dynamodb, moved):
    now = int(time.time())
    event_id = windowed_event(opens_at=now + 3600, closes_at=now + 7200)
    at = now + 7200 if moved == "opens_at" else now + 3600  # the one moved onto the other
    refused = edit(event_id, {moved: at})
    says = f"must make the sale close after it opens (opens_at {at}, closes_at {at})"
    assert (refused.status, refused.body) == (400, {"error": f"{moved}: {says}"})
