"""Sale windows, pause and edits of an event (issue 28), in the domain alone: the rules that say
whether a purchase may happen now, and how a capacity change moves the seat shards' seats, through
the in-memory store (no AWS)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from payments.auth import Caller
from payments.domain import events
from payments.domain.events import EventService, capacity_changes, sale_refusal
from payments.domain.lifecycle import Event
from payments.errors import BadRequest, InvalidField, NotFound
from payments.models.common import validate
from payments.models.tickets import UpdateEventRequest
from tests.support.memory_stores import MemoryTicketStore

NOW = 1_800_000_000
STAFF = Caller("user-staff", frozenset({"staff"}))


def event(**fields: Any) -> Event:
    return Event(1, "Gig", Decimal("25.00"), "eur", 10, 10, "staff", NOW, **fields)


# the sale window -------------------------------------------------------------------------------
def test_an_event_without_a_window_or_a_pause_is_on_sale() -> None:
    assert sale_refusal(event(), NOW) is None


def test_before_opens_at_the_sale_says_when_it_opens() -> None:
    refusal = sale_refusal(event(opens_at=NOW + 3600), NOW)
    assert refusal is not None
    assert "opens" in refusal and "2027-01-15T09:00:00Z" in refusal


def test_the_sale_window_moments_are_utc_whatever_the_process_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Lambda runs in UTC, but a local run (sam local, a developer's machine) may not: the refusal
    # names the moment in UTC (its "Z") either way, as the Unix seconds beside it say.
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        opens = sale_refusal(event(opens_at=NOW + 3600), NOW)
        closed = sale_refusal(event(opens_at=NOW - 60, closes_at=NOW), NOW)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert opens == f"The sale opens at 2027-01-15T09:00:00Z ({NOW + 3600})"
    assert closed == f"The sale closed at 2027-01-15T08:00:00Z ({NOW})"


def test_at_opens_at_and_until_closes_at_the_sale_is_open() -> None:
    window = event(opens_at=NOW, closes_at=NOW + 60)
    assert sale_refusal(window, NOW) is None
    assert sale_refusal(window, NOW + 59) is None


def test_at_closes_at_the_sale_has_closed() -> None:
    refusal = sale_refusal(event(opens_at=NOW - 60, closes_at=NOW), NOW)
    assert refusal is not None and "closed" in refusal


def test_a_paused_sale_is_refused_as_paused() -> None:
    assert sale_refusal(event(sales_paused=True), NOW) == "Sales are paused"


# capacity changes ------------------------------------------------------------------------------
def test_raising_capacity_spreads_the_new_seats_over_the_shards() -> None:
    assert capacity_changes({0: 0, 1: 3, 2: 5}, 30, 35) == {0: 2, 1: 2, 2: 1}


def test_lowering_capacity_takes_seats_from_the_shards_with_most_left() -> None:
    assert capacity_changes({0: 0, 1: 3, 2: 5}, 30, 24) == {2: -5, 1: -1}


def test_lowering_capacity_to_what_is_held_and_sold_empties_every_shard() -> None:
    assert capacity_changes({0: 1, 1: 3}, 10, 6) == {1: -3, 0: -1}


def test_lowering_capacity_below_what_is_held_and_sold_names_the_field() -> None:
    with pytest.raises(InvalidField) as refused:
        capacity_changes({0: 1, 1: 3}, 10, 5)
    assert str(refused.value).startswith("capacity:")
    assert "6" in str(refused.value)


def test_the_same_capacity_changes_no_shard() -> None:
    assert capacity_changes({0: 4}, 10, 10) == {}


# the service over the in-memory store ----------------------------------------------------------
def service(store: MemoryTicketStore) -> EventService:
    return EventService(store, clock=lambda: NOW)


def edit(**body: Any) -> UpdateEventRequest:
    return validate(UpdateEventRequest, body, {"max_capacity": 1000})


def created(store: MemoryTicketStore, capacity: int = 10, shards: int = 1) -> Event:
    made = event(seat_shards=shards)
    made.capacity = made.available = capacity
    store.put_event(made)
    return made


def test_an_edit_changes_the_fields_sent_and_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "audit", lambda action, **fields: lines.append((action, fields)))
    store = MemoryTicketStore()
    created(store)
    edited = service(store).update(STAFF, 1, edit(name="Gig II", description="Doors at 7", opens_at=NOW + 10, sales_paused=True))
    read = store.get_event(1)
    assert read is not None and edited == read
    assert (read.name, read.description, read.opens_at, read.closes_at, read.sales_paused) == ("Gig II", "Doors at 7", NOW + 10, None, True)
    assert (read.price, read.capacity, read.available, read.version) == (Decimal("25.00"), 10, 10, 1)
    assert lines == [
        ("event.edited", {"user_id": "user-staff", "event_id": 1, "changed": ["description", "name", "opens_at", "sales_paused"]})
    ]


def test_a_null_clears_a_window_and_a_description() -> None:
    store = MemoryTicketStore()
    created(store)
    service(store).update(STAFF, 1, edit(description="x", opens_at=NOW + 10, closes_at=NOW + 20))
    service(store).update(STAFF, 1, edit(description=None, opens_at=None))
    read = store.get_event(1)
    assert read is not None and (read.description, read.opens_at, read.closes_at) == (None, None, NOW + 20)


def test_a_window_that_closes_before_it_opens_is_refused_against_the_stored_other_end() -> None:
    store = MemoryTicketStore()
    created(store)
    service(store).update(STAFF, 1, edit(opens_at=NOW + 100))
    with pytest.raises(InvalidField) as refused:
        service(store).update(STAFF, 1, edit(closes_at=NOW + 50))
    assert str(refused.value).startswith("closes_at:")
    read = store.get_event(1)
    assert read is not None and (read.closes_at, read.version) == (None, 1)


def test_a_price_finer_than_the_events_currency_is_refused() -> None:
    store = MemoryTicketStore()
    created(store)
    with pytest.raises(InvalidField) as refused:
        service(store).update(STAFF, 1, edit(price=Decimal("10.001")))
    assert str(refused.value).startswith("price:")


def test_raising_and_lowering_a_sharded_capacity_keeps_every_shard_whole() -> None:
    store = MemoryTicketStore()
    created(store, capacity=9, shards=3)
    service(store).update(STAFF, 1, edit(capacity=12))
    assert store.availability(1) == {0: 4, 1: 4, 2: 4}
    service(store).update(STAFF, 1, edit(capacity=5))
    read = store.get_event(1)
    assert read is not None and (read.capacity, read.available) == (5, 5)
    assert sum(store.availability(1).values()) == 5


def test_an_unknown_event_is_not_found() -> None:
    with pytest.raises(NotFound):
        service(MemoryTicketStore()).update(STAFF, 7, edit(name="x"))


def test_an_empty_edit_is_refused() -> None:
    with pytest.raises(BadRequest):
        edit()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"price": None}, "price"),
        ({"capacity": None}, "capacity"),
        ({"sales_paused": None}, "sales_paused"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 1001}, "capacity"),
        ({"price": -1}, "price"),
        ({"opens_at": -5}, "opens_at"),
        ({"opens_at": 10**12}, "opens_at"),
        ({"opens_at": NOW + 10, "closes_at": NOW}, "closes_at"),
        ({"description": "x" * 2001}, "description"),
        ({"sales_paused": "yes"}, "sales_paused"),
        ({"seat_shards": 3}, "seat_shards"),
    ],
)
def test_bad_edits_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidField) as refused:
        edit(**body)
    assert str(refused.value).startswith(f"{field}:")
