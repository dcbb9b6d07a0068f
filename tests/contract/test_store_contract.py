"""One contract for every store port, run against both implementations: the in-memory twins
(``tests.support.memory_stores``) and the DynamoDB repositories over moto. Each test drives the
ports the domain uses and asserts only what the ports (and a small inspector per world: seats by
shard, the owners' seat counters, the payments table's records) observe, so that both worlds are
held to the same observations and cannot drift apart.

The life cycle's rows are generated from ``payments.domain.lifecycle.TRANSITIONS``: each row's write
succeeds from its own state with its effect on seats, counters and the unsettled index, and the
same write, read when the ticket was in its state but made after it moved to any other, is
StateChanged with nothing written."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from payments.domain.admission import PLACE_COUNTERS, QUIET_MS, Admission, QueueEntry, QueueState
from payments.domain.lifecycle import (
    SEAT_REFUND_FIELDS,
    TRANSITIONS,
    UNPAID_HOLDS,
    UNSETTLED,
    Event,
    Seats,
    Ticket,
    TicketStatus,
    Transition,
    Trigger,
)
from payments.domain.paypal_objects import capture_state
from payments.domain.paypal_refunds import NotRefundable, PayPalRefund, ReservationState
from payments.domain.ports import CAPTURE, AdmissionRefused, FreeSeatLimit, SoldOut, StateChanged, UnpaidLimit
from payments.domain.records import MoneyRecord, PaymentRecord, RefundRecord
from tests.support.store_worlds import MemoryWorld, StoreWorld, moto_world

S = TicketStatus
OWNER = "user-alice"
NOW = 1_700_000_000
LIMIT = 10


@pytest.fixture(params=["memory", "moto"])
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreWorld]:
    if request.param == "memory":
        yield MemoryWorld()
        return
    # The repository starts a sharded purchase's search at a random shard; the twin at shard 0.
    monkeypatch.setattr(secrets, "randbelow", lambda shards: 0)
    with moto_world() as dynamo:
        yield dynamo


# building blocks -------------------------------------------------------------------------------
def new_event(world: StoreWorld, capacity: int = 10, shards: int = 1, price: str = "25.00") -> Event:
    event_id = world.tickets.next_id("event")
    event = Event(event_id, f"Event {event_id}", Decimal(price), "eur", capacity, capacity, "staff-1", NOW, seat_shards=shards)
    world.tickets.put_event(event)
    found = world.tickets.get_event(event_id)
    assert found is not None
    return found


def new_ticket(
    world: StoreWorld,
    event: Event,
    quantity: int = 1,
    *,
    owner: str = OWNER,
    free: bool = False,
    expires_at: int | None = NOW + 1800,
    created_at: int | None = None,
    unpaid_limit: int = LIMIT,
    free_limit: int = LIMIT,
) -> Ticket:
    ticket_id = world.tickets.next_id("ticket")
    ticket = Ticket(
        ticket_id=ticket_id,
        event_id=event.event_id,
        owner=owner,
        quantity=quantity,
        status=S.PAID if free else S.RESERVED,
        ticket_code=f"code-{event.event_id}-{ticket_id}",
        currency="eur",
        unit_amount=0 if free else 2500,
        created_at=created_at if created_at is not None else NOW + ticket_id,
        expires_at=None if free else expires_at,
    )
    return world.tickets.create(ticket, unpaid_limit, event.seats_by_shard, free_limit=free_limit)


def refund_record(ticket: Ticket, refund_id: str, amount: int, status: str = "succeeded") -> RefundRecord:
    """A refund of the ticket's payment, as the domain plans its record."""
    intent = ticket.payment_intent
    return RefundRecord(refund_id, ticket.ticket_id, ticket.owner, ticket.session_id, intent, amount, ticket.currency, "staff", status, NOW)


def changes_for(row: Transition, ticket: Ticket) -> dict[str, Any]:
    """What the domain writes with each trigger (enough to exercise the conditions it adds)."""
    if row.trigger == Trigger.PAID:
        return {"session_id": f"cs_{ticket.ticket_id}", "payment_intent": f"pi_{ticket.ticket_id}", "paid_at": NOW}
    if row.trigger in (Trigger.REFUNDED, Trigger.REFUND_DUE):
        return {"refund_amount": ticket.amount_total, "refunded_at": NOW}
    if row.trigger in (Trigger.CANCEL, Trigger.EXPIRE, Trigger.PAYMENT_FAILED, Trigger.GIVE_BACK):
        return {"released_at": NOW}
    return {}


def ticket_in(world: StoreWorld, event: Event, status: TicketStatus, quantity: int = 2, *, free: bool = False) -> Ticket:
    """A ticket brought to ``status`` by the life cycle's own writes, as read afterwards."""
    ticket = new_ticket(world, event, quantity, free=free)
    paths: dict[TicketStatus, list[Trigger]] = {
        S.RESERVED: [],
        S.PROCESSING: [Trigger.PAYMENT_PROCESSING],
        S.PAID: [] if free else [Trigger.PAID],
        S.CANCELLED: [Trigger.GIVE_BACK] if free else [Trigger.CANCEL],
        S.EXPIRED: [Trigger.EXPIRE],
        S.REFUNDING: [Trigger.PAID, Trigger.REFUND_DUE],
        S.REFUNDED: [Trigger.PAID, Trigger.REFUND_DUE, Trigger.REFUNDED],
    }
    for trigger in paths[status]:
        row = TRANSITIONS[(ticket.status, trigger)]
        ticket = world.tickets.apply(ticket, trigger, changes_for(row, ticket))
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None and found.status == status
    return found


def observe(world: StoreWorld, event: Event, ticket: Ticket) -> dict[str, Any]:
    """Everything the ports and the inspector show of one ticket and its event."""
    return {
        "ticket": world.tickets.get_ticket(ticket.ticket_id),
        "seats": world.inspect.seats(event.event_id),
        "unpaid": world.inspect.unpaid(event.event_id, ticket.owner),
        "free": world.inspect.free(event.event_id, ticket.owner),
        "unsettled": {status: [t.ticket_id for t in world.tickets.unsettled(status)] for status in UNSETTLED},
        "lines": sorted(world.tickets.ticket_lines(event), key=lambda line: line.ticket_id),
        "mine": world.tickets.tickets_of(ticket.owner, 100),
        "record": world.inspect.record(f"REFUND#stripe#re_{ticket.ticket_id}", "REFUND"),
    }


# the life cycle, row by row --------------------------------------------------------------------
ROWS = [row for row in TRANSITIONS.values() if row.source is not None]


def row_id(row: Transition) -> str:
    return f"{row.source}-{row.trigger}"


def is_free_row(row: Transition) -> bool:
    return row.trigger == Trigger.GIVE_BACK


@pytest.mark.parametrize("shards", [1, 3], ids=["one-shard", "three-shards"])
@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_each_row_moves_its_state_with_its_seats_counters_and_records(world: StoreWorld, row: Transition, shards: int) -> None:
    # Given a ticket of 2 in the row's source state, on an event of 10 (in one shard, or three)
    event = new_event(world, shards=shards)
    assert row.source is not None
    ticket = ticket_in(world, event, row.source, free=is_free_row(row))
    before = observe(world, event, ticket)

    # When the row's trigger is applied, with a refund record
    record = refund_record(ticket, f"re_{ticket.ticket_id}", 100)
    written = world.tickets.apply(ticket, row.trigger, changes_for(row, ticket), [record])

    # Then the ticket is in the target state, as returned and as read
    after = observe(world, event, ticket)
    assert written.status == row.target
    assert after["ticket"] == replace(written, seat_parts=after["ticket"].seat_parts)
    # its seats moved as the row says
    moved = {Seats.TAKE: -2, Seats.RETURN: 2, Seats.KEEP: 0, Seats.NONE: 0}[row.seats]
    assert sum(after["seats"].values()) == sum(before["seats"].values()) + moved
    # the unpaid counter lost its seats when the ticket left the unpaid states, the free one when given back
    left_unpaid = row.source in UNPAID_HOLDS and row.target not in UNPAID_HOLDS
    assert after["unpaid"] == before["unpaid"] - (2 if left_unpaid else 0)
    assert after["free"] == before["free"] - (2 if is_free_row(row) else 0)
    # the unsettled index lists it under its new state only when that state is unsettled
    assert {status for status, ids in after["unsettled"].items() if ticket.ticket_id in ids} == ({row.target} & UNSETTLED)
    # the record is kept, and the sales view and the owner's list see the new state
    assert after["record"] is not None and after["record"]["amount"] == 100
    assert [line.status for line in after["lines"] if line.ticket_id == ticket.ticket_id] == [row.target]
    assert [line.status for line in after["mine"][0] if line.ticket_id == ticket.ticket_id] == [row.target]


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_each_row_from_any_other_state_is_state_changed_and_writes_nothing(world: StoreWorld, row: Transition) -> None:
    event = new_event(world, capacity=30)
    for actual in S:
        if actual == row.source or (is_free_row(row) and actual not in (S.PAID, S.CANCELLED)):
            continue
        # Given a ticket read in the row's source state that has moved to another state since
        ticket = ticket_in(world, event, actual, free=is_free_row(row))
        assert row.source is not None
        as_read = replace(ticket, status=row.source)
        before = observe(world, event, ticket)

        # When the row's write is made from the state as read, then it is refused, nothing written
        with pytest.raises(StateChanged):
            world.tickets.apply(as_read, row.trigger, changes_for(row, as_read), [refund_record(ticket, f"re_{ticket.ticket_id}", 100)])
        assert observe(world, event, ticket) == before, (row, actual)


def test_a_trigger_that_does_not_apply_to_the_state_is_a_value_error(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = new_ticket(world, event)
    with pytest.raises(ValueError, match="does not apply"):
        world.tickets.apply(ticket, Trigger.REFUND_FAILED)


# seats ------------------------------------------------------------------------------------------
def test_a_purchase_beyond_the_seats_left_is_sold_out_and_takes_nothing(world: StoreWorld) -> None:
    event = new_event(world, capacity=3)
    first = new_ticket(world, event, 2)
    with pytest.raises(SoldOut):
        new_ticket(world, event, 2, owner="user-bob")
    assert world.inspect.seats(event.event_id) == {0: 1}
    assert world.inspect.unpaid(event.event_id, "user-bob") == 0
    assert world.tickets.tickets_of("user-bob", 10) == ([], None)
    assert [line.ticket_id for line in world.tickets.ticket_lines(event)] == [first.ticket_id]
    # the last seat is still sold
    new_ticket(world, event, 1, owner="user-bob")
    assert world.inspect.seats(event.event_id) == {0: 0}


def test_a_sharded_event_places_a_ticket_in_one_shard_or_across_the_fullest(world: StoreWorld) -> None:
    event = new_event(world, capacity=9, shards=3)
    assert world.inspect.seats(event.event_id) == {0: 3, 1: 3, 2: 3}
    one = new_ticket(world, event, 2)
    assert one.seat_parts == {0: 2}
    across = new_ticket(world, event, 5, owner="user-bob")
    assert sum(across.parts.values()) == 5
    assert sum(world.inspect.seats(event.event_id).values()) == 2
    found = world.tickets.get_event(event.event_id)
    assert found is not None and found.available == 2 and found.seats_by_shard == world.inspect.seats(event.event_id)
    with pytest.raises(SoldOut):
        new_ticket(world, event, 3, owner="user-carol")
    assert sum(world.inspect.seats(event.event_id).values()) == 2
    # the sales view reads every shard
    assert sorted(line.ticket_id for line in world.tickets.ticket_lines(event)) == [one.ticket_id, across.ticket_id]


def test_a_stale_shard_plan_is_planned_again_from_a_fresh_read(world: StoreWorld) -> None:
    event = new_event(world, capacity=4, shards=2)
    new_ticket(world, event, 2)  # empties shard 0; ``event`` still says 2 there
    late = new_ticket(world, event, 2, owner="user-bob")
    assert late.seat_parts == {1: 2}
    assert world.inspect.seats(event.event_id) == {0: 0, 1: 0}


@pytest.mark.parametrize("trigger", [Trigger.PAID, Trigger.REFUND_REFUSED, Trigger.REFUND_FAILED])
def test_taking_seats_again_when_they_were_sold_meanwhile_is_sold_out_and_writes_nothing(world: StoreWorld, trigger: Trigger) -> None:
    event = new_event(world, capacity=2)
    source = {Trigger.PAID: S.CANCELLED, Trigger.REFUND_REFUSED: S.REFUNDING, Trigger.REFUND_FAILED: S.REFUNDED}[trigger]
    ticket = ticket_in(world, event, source)
    new_ticket(world, event, 1, owner="user-bob")
    before = observe(world, event, ticket)
    with pytest.raises(SoldOut):
        world.tickets.apply(ticket, trigger, changes_for(TRANSITIONS[(source, trigger)], ticket), [refund_record(ticket, "re_x", 1)])
    assert observe(world, event, ticket) == before
    assert world.inspect.record("REFUND#stripe#re_x", "REFUND") is None


def test_seats_given_back_are_those_of_people_not_admitted(world: StoreWorld) -> None:
    event = new_event(world, capacity=5)
    ticket = ticket_in(world, event, S.PAID, quantity=3)
    admitted = world.tickets.check_in(ticket, 1, NOW, event_id=event.event_id)
    # a refund planned from the read before the admission is refused
    with pytest.raises(StateChanged):
        world.tickets.apply(ticket, Trigger.REFUND_DUE)
    assert world.inspect.seats(event.event_id) == {0: 2}
    # from the ticket as read after it, only the two not admitted go back
    world.tickets.apply(admitted, Trigger.REFUND_DUE)
    assert world.inspect.seats(event.event_id) == {0: 4}


def test_seats_given_back_are_those_the_ticket_holds_now_not_as_read_before_it_moved(world: StoreWorld) -> None:
    """Found by the money model (stop 33): two staff refunds of one disputed payment. One read the
    paid ticket on one shard; the other gave that seat back, was refused by Stripe and took a seat
    again, from the other shard. The status read (paid) still matched, so the first gave its seat
    back to a shard where the ticket no longer held one: the other shard lost a seat for good."""
    event = new_event(world, capacity=4, shards=2)
    ticket = ticket_in(world, event, S.PAID, quantity=1)
    assert ticket.seat_parts is not None and len(ticket.seat_parts) == 1
    [(shard, _)] = ticket.seat_parts.items()
    stale = replace(ticket, seat_parts={1 - shard: 1})  # the same ticket, read when its seat was on the other shard
    before = world.inspect.seats(event.event_id)
    with pytest.raises(StateChanged):
        world.tickets.apply(stale, Trigger.REFUND_DUE)
    assert world.inspect.seats(event.event_id) == before
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None and found.status == S.PAID
    # from the ticket as it is, its own seat goes back
    world.tickets.apply(ticket, Trigger.REFUND_DUE)
    assert world.inspect.seats(event.event_id) == {0: 2, 1: 2}


@pytest.mark.parametrize("trigger", [Trigger.REFUND_REFUSED, Trigger.REFUND_FAILED])
def test_seats_taken_again_by_a_partly_admitted_ticket_come_from_any_shard(world: StoreWorld, trigger: Trigger) -> None:
    """Two shards of 2. Alice's 2 seats are on shard 1, one of her people admitted; her refund
    gives the other seat back and Carol buys it; shard 0 is free again. A refund refused (or failed
    later) seats her again: the admitted person's seat stays on shard 1, the other comes from shard
    0, and ``seat_parts`` says both, so that her next refund gives back the right one. From a read
    of her seats on other shards the write is StateChanged, nothing moved."""
    event = new_event(world, capacity=4, shards=2)
    bob = new_ticket(world, event, 2, owner="user-bob")
    assert bob.seat_parts == {0: 2}
    reserved = new_ticket(world, event, 2)
    alice = world.tickets.apply(reserved, Trigger.PAID, changes_for(TRANSITIONS[(S.RESERVED, Trigger.PAID)], reserved))
    assert alice.seat_parts == {1: 2}
    alice = world.tickets.check_in(alice, 1, NOW, event_id=event.event_id)
    alice = world.tickets.apply(alice, Trigger.REFUND_DUE)
    if trigger == Trigger.REFUND_FAILED:
        alice = world.tickets.apply(alice, Trigger.REFUNDED)
    carol = new_ticket(world, event, 1, owner="user-carol")
    assert carol.seat_parts == {1: 1}
    world.tickets.apply(bob, Trigger.CANCEL)
    assert world.inspect.seats(event.event_id) == {0: 2, 1: 0}
    read = world.tickets.get_ticket(alice.ticket_id)
    assert read is not None and read.seat_parts == {1: 2} and read.checked_in == 1

    before = observe(world, event, read)
    with pytest.raises(StateChanged):
        world.tickets.apply(replace(read, seat_parts={0: 2}), trigger)
    assert observe(world, event, read) == before

    again = world.tickets.apply(read, trigger)
    found = world.tickets.get_ticket(read.ticket_id)
    assert found is not None and again.seat_parts == found.seat_parts == {0: 1, 1: 1} and found.status == S.PAID
    # seats + held = capacity on each shard: Alice holds one on each, Carol one on shard 1
    assert world.inspect.seats(event.event_id) == {0: 1, 1: 0}
    # her next refund gives back one seat (her admitted person's is counted on the lowest shard)
    given = world.tickets.apply(found, Trigger.REFUND_DUE)
    assert world.inspect.seats(event.event_id) == {0: 1, 1: 1}
    # taken again while the seat it gave back is free, it is that very seat, not the first shard with room
    if trigger == Trigger.REFUND_FAILED:
        given = world.tickets.apply(given, Trigger.REFUNDED)
    back = world.tickets.apply(given, trigger)
    assert back.seat_parts == {0: 1, 1: 1} and world.inspect.seats(event.event_id) == {0: 1, 1: 0}


# limits -----------------------------------------------------------------------------------------
def test_the_unpaid_seat_limit_per_account_and_event(world: StoreWorld) -> None:
    event, other = new_event(world, capacity=20), new_event(world)
    # a first order larger than the limit is refused (a missing counter holds nothing)
    with pytest.raises(UnpaidLimit) as refused:
        new_ticket(world, event, 5, unpaid_limit=4)
    assert refused.value.held == 0
    assert world.inspect.unpaid(event.event_id, OWNER) == 0 and world.inspect.seats(event.event_id) == {0: 20}
    first = new_ticket(world, event, 3, unpaid_limit=4)
    with pytest.raises(UnpaidLimit) as refused:
        new_ticket(world, event, 2, unpaid_limit=4)
    assert refused.value.held == 3
    assert world.inspect.seats(event.event_id) == {0: 17}
    # another account, another event: their own counters
    new_ticket(world, event, 4, owner="user-bob", unpaid_limit=4)
    new_ticket(world, other, 4, unpaid_limit=4)
    # paying gives the unpaid seats back to the limit
    world.tickets.apply(first, Trigger.PAID, {"session_id": "cs_1"})
    assert world.inspect.unpaid(event.event_id, OWNER) == 0
    new_ticket(world, event, 4, unpaid_limit=4)


def test_the_limit_wins_over_sold_out_when_both_fail(world: StoreWorld) -> None:
    event = new_event(world, capacity=2)
    with pytest.raises(UnpaidLimit):
        new_ticket(world, event, 3, unpaid_limit=2)


def test_the_free_seat_limit_and_a_free_ticket_given_back(world: StoreWorld) -> None:
    event = new_event(world, price="0")
    with pytest.raises(FreeSeatLimit) as refused:
        new_ticket(world, event, 3, free=True, free_limit=2)
    assert refused.value.held == 0
    ticket = new_ticket(world, event, 2, free=True, free_limit=2)
    assert world.inspect.free(event.event_id, OWNER) == 2 and world.inspect.unpaid(event.event_id, OWNER) == 0
    with pytest.raises(FreeSeatLimit) as refused:
        new_ticket(world, event, 1, free=True, free_limit=2)
    assert refused.value.held == 2
    # no unsettled entry, no expiry: a free ticket is paid at once
    assert world.tickets.unsettled(S.RESERVED) == []
    world.tickets.apply(ticket, Trigger.GIVE_BACK)
    assert world.inspect.free(event.event_id, OWNER) == 0 and world.inspect.seats(event.event_id) == {0: 10}
    new_ticket(world, event, 2, free=True, free_limit=2)


def test_give_back_refuses_a_paid_ticket_and_an_admitted_one(world: StoreWorld) -> None:
    event = new_event(world)
    paid = ticket_in(world, event, S.PAID)
    with pytest.raises(StateChanged):
        world.tickets.apply(paid, Trigger.GIVE_BACK)
    free = new_ticket(world, event, 2, free=True)
    admitted = world.tickets.check_in(free, 1, NOW, event_id=event.event_id)
    with pytest.raises(StateChanged):
        world.tickets.apply(admitted, Trigger.GIVE_BACK)
    assert world.inspect.free(event.event_id, OWNER) == 2


def test_a_ticket_id_already_kept_is_state_changed(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = new_ticket(world, event)
    with pytest.raises(StateChanged):
        world.tickets.create(ticket, LIMIT, free_limit=LIMIT)
    assert world.inspect.seats(event.event_id) == {0: 9} and world.inspect.unpaid(event.event_id, OWNER) == 1


# conditions of the writes -----------------------------------------------------------------------
def test_paid_binds_one_session(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = new_ticket(world, event)
    world.tickets.attach_session(ticket.ticket_id, "cs_one", "https://checkout/one")
    world.tickets.attach_session(ticket.ticket_id, "cs_one", "https://checkout/one-again")
    bound = world.tickets.get_ticket(ticket.ticket_id)
    assert bound is not None and (bound.session_id, bound.checkout_url) == ("cs_one", "https://checkout/one-again")
    with pytest.raises(StateChanged):
        world.tickets.apply(bound, Trigger.PAID, {"session_id": "cs_other"})
    paid = world.tickets.apply(bound, Trigger.PAID, {"session_id": "cs_one", "payment_intent": "pi_one"})
    assert world.tickets.ticket_for_payment_intent("pi_one") == world.tickets.get_ticket(paid.ticket_id)
    assert world.tickets.ticket_for_payment_intent("pi_unknown") is None


def test_attaching_another_session_is_state_changed(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = new_ticket(world, event)
    world.tickets.attach_session(ticket.ticket_id, "cs_one", "https://checkout/one")
    with pytest.raises(StateChanged):
        world.tickets.attach_session(ticket.ticket_id, "cs_two", "https://checkout/two")
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None and found.session_id == "cs_one"


def test_attaching_a_session_to_another_or_unknown_ticket_writes_nothing(world: StoreWorld) -> None:
    # StateChanged (the test above), and nothing is written.
    event = new_event(world)
    ticket = new_ticket(world, event)
    world.tickets.attach_session(ticket.ticket_id, "cs_one", "https://checkout/one")
    with pytest.raises(StateChanged):
        world.tickets.attach_session(ticket.ticket_id, "cs_two", "https://checkout/two")
    with pytest.raises(StateChanged):
        world.tickets.attach_session(999_999, "cs_two", "https://checkout/two")
    assert world.tickets.get_ticket(999_999) is None
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None and (found.session_id, found.checkout_url) == ("cs_one", "https://checkout/one")


def test_expire_only_after_the_cutoff(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = new_ticket(world, event, expires_at=NOW + 100)
    with pytest.raises(StateChanged):
        world.tickets.apply(ticket, Trigger.EXPIRE, expired_before=NOW + 99)
    world.tickets.apply(ticket, Trigger.EXPIRE, expired_before=NOW + 100)
    free = new_ticket(world, event, free=True)  # no expiry at all: never "expired before"
    with pytest.raises(StateChanged):
        world.tickets.apply(free, Trigger.REFUND_DUE, expired_before=NOW + 10**6)


def test_removed_fields_are_cleared_and_a_none_change_is_not_written(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = ticket_in(world, event, S.REFUNDING)
    ticket = world.tickets.apply(ticket, Trigger.REFUNDED, {"refund_id": "re_1", "refund_reason": "staff", "paid_at": None})
    written = world.tickets.apply(ticket, Trigger.REFUND_FAILED, {"refund_reason": None}, removed=("refund_id", "refunded_at"))
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None
    assert (found.refund_id, found.refunded_at, found.refund_reason, found.paid_at) == (None, None, "staff", NOW)
    assert (written.refund_id, written.refunded_at, written.refund_reason) == (None, None, "staff")


def test_money_as_read_conditions_a_transition_on_what_went_back(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = ticket_in(world, event, S.PAID)
    moved = world.tickets.record_money_back(ticket, 1000, [refund_record(ticket, "re_1", 1000)], {"refunds_seen": "one"})
    with pytest.raises(StateChanged):
        world.tickets.apply(ticket, Trigger.REFUNDED, {"refund_amount": 5000}, money_as_read=True)
    with pytest.raises(StateChanged):
        world.tickets.apply(replace(moved, refunds_seen="other"), Trigger.REFUNDED, {"refund_amount": 5000}, money_as_read=True)
    world.tickets.apply(moved, Trigger.REFUNDED, {"refund_amount": 5000}, money_as_read=True)
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None and (found.status, found.refund_amount) == (S.REFUNDED, 5000)


def test_money_back_sets_the_sum_and_rewrites_the_records_conditioned_on_the_read(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = ticket_in(world, event, S.PAID)
    first = world.tickets.record_money_back(ticket, 1000, [refund_record(ticket, "re_1", 1000)], {"refunds_seen": "a", "refund_id": None})
    assert (first.refund_amount, first.refunds_seen, first.status) == (1000, "a", S.PAID)
    # the same read again (its refund_amount None) is refused: the sum moved meanwhile
    with pytest.raises(StateChanged):
        world.tickets.record_money_back(ticket, 2000, [refund_record(ticket, "re_2", 1000)])
    assert world.inspect.record("REFUND#stripe#re_2", "REFUND") is None
    # the sum is set, not added; the first refund's record is rewritten (failed), one record per refund
    second = world.tickets.record_money_back(
        first, 1000, [refund_record(ticket, "re_1", 1000, "failed"), refund_record(ticket, "re_2", 1000)], {"refunds_seen": "b"}
    )
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None and (found.refund_amount, found.refunds_seen) == (1000, "b") and second == replace(first, refunds_seen="b")
    kept = world.inspect.record("REFUND#stripe#re_1", "REFUND")
    assert kept is not None and kept["status"] == "failed" and kept["amount"] == Decimal(1000)
    # a status that moved is StateChanged too
    world.tickets.apply(found, Trigger.REFUND_DUE)
    with pytest.raises(StateChanged):
        world.tickets.record_money_back(found, 3000, [])
    assert [line.refund_amount for line in world.tickets.ticket_lines(event)] == [1000]


def test_records_are_kept_as_the_payments_table_items_they_always_were(world: StoreWorld) -> None:
    # The store builds the items from the domain's facts: keys and attributes as the domain's own
    # item builders wrote them before (existing tables read the same), None attributes not written.
    event = new_event(world)
    ticket = new_ticket(world, event)
    payment = PaymentRecord.of(ticket, "cs_1", None, NOW)
    paid = world.tickets.apply(ticket, Trigger.PAID, {"session_id": "cs_1"}, [payment])
    refund = RefundRecord("du_1", ticket.ticket_id, ticket.owner, None, "pi_1", 2500, "eur", "dispute_lost", "lost", NOW + 1)
    world.tickets.record_money_back(paid, 2500, [refund])
    common = {"provider": "stripe", "ticket_id": Decimal(ticket.ticket_id), "owner": ticket.owner, "currency": "eur"}
    assert world.inspect.record("PAYMENT#stripe#cs_1", "PAYMENT") == common | {
        "pk": "PAYMENT#stripe#cs_1",
        "sk": "PAYMENT",
        "kind": "ticket_checkout",
        "event_id": Decimal(event.event_id),
        "session_id": "cs_1",
        "amount": Decimal(2500),
        "status": "succeeded",
        "created_at": Decimal(NOW),
    }
    assert world.inspect.record("REFUND#stripe#du_1", "REFUND") == common | {
        "pk": "REFUND#stripe#du_1",
        "sk": "REFUND",
        "kind": "ticket_refund",
        "reason": "dispute_lost",
        "refund_id": "du_1",
        "payment_intent": "pi_1",
        "amount": Decimal(2500),
        "status": "lost",
        "created_at": Decimal(NOW + 1),
    }


def test_a_write_dynamodb_refuses_as_malformed_writes_nothing(world: StoreWorld) -> None:
    # Two records under one key in one transaction: refused before any condition, whatever the
    # state; the port names no exception (botocore's ClientError in DynamoDB, ValueError in memory).
    # (More than 100 actions were refused here too until a payment's records beyond what fits in
    # one transaction were written ahead of it: see the test below.)
    event = new_event(world)
    ticket = ticket_in(world, event, S.PAID)
    before = observe(world, event, ticket)
    twice: list[MoneyRecord] = [refund_record(ticket, f"re_{ticket.ticket_id}", 1), refund_record(ticket, f"re_{ticket.ticket_id}", 2)]
    with pytest.raises(Exception):  # noqa: B017 - the port names none
        world.tickets.record_money_back(ticket, 2, twice)
    with pytest.raises(Exception):  # noqa: B017
        world.tickets.apply(ticket, Trigger.REFUNDED, {"refund_amount": 5000}, twice)
    with pytest.raises(Exception):  # noqa: B017 - even from a state the write does not leave
        world.tickets.apply(replace(ticket, status=S.REFUNDING), Trigger.REFUNDED, {}, twice)
    assert observe(world, event, ticket) == before


def test_a_payment_with_more_refunds_than_a_transaction_takes_is_recorded_whole(world: StoreWorld) -> None:
    """DynamoDB takes 100 actions a transaction; a payment may have more refunds (cents from the
    Dashboard). Every record is written with the sum, whatever their number; a write from a stale
    read (the sum or the state moved) is StateChanged and writes none of them, not even those that
    do not fit with the ticket's change."""
    event = new_event(world)
    ticket = ticket_in(world, event, S.PAID)
    many: list[MoneyRecord] = [refund_record(ticket, f"re_{ticket.ticket_id}_{n}", 1) for n in range(250)]
    first = world.tickets.record_money_back(ticket, 250, many, {"refunds_seen": "a"})
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None and (found.refund_amount, found.refunds_seen) == (250, "a") == (first.refund_amount, first.refunds_seen)
    assert all(world.inspect.record(f"REFUND#stripe#re_{ticket.ticket_id}_{n}", "REFUND") is not None for n in range(250))
    # from the read before it (nothing back yet), and from a state it is not in: refused, nothing written
    stale: list[MoneyRecord] = [refund_record(ticket, f"re_stale_{n}", 1) for n in range(250)]
    before = observe(world, event, ticket)
    with pytest.raises(StateChanged):
        world.tickets.record_money_back(ticket, 250, stale)
    with pytest.raises(StateChanged):
        world.tickets.apply(replace(first, status=S.REFUNDING), Trigger.REFUNDED, {"refund_amount": 5000}, stale, money_as_read=True)
    assert observe(world, event, ticket) == before
    assert not any(world.inspect.record(f"REFUND#stripe#re_stale_{n}", "REFUND") for n in range(250))
    # a transition carries them too (with the payment's record): each rewritten as Stripe has it now
    now: list[MoneyRecord] = [
        refund_record(ticket, f"re_{ticket.ticket_id}_{n}", 1, "failed" if n % 2 else "succeeded") for n in range(250)
    ]
    now += [refund_record(ticket, "du_1", 5000, "lost"), PaymentRecord.of(ticket, "cs_many", None, NOW)]
    refunded = world.tickets.apply(first, Trigger.REFUNDED, {"refund_amount": 5125, "refunds_seen": "b"}, now, money_as_read=True)
    found = world.tickets.get_ticket(ticket.ticket_id)
    assert found is not None and found == replace(refunded, seat_parts=found.seat_parts)
    assert (found.status, found.refund_amount, found.refunds_seen) == (S.REFUNDED, 5125, "b")
    statuses = [(world.inspect.record(f"REFUND#stripe#re_{ticket.ticket_id}_{n}", "REFUND") or {}).get("status") for n in range(250)]
    assert statuses == ["failed" if n % 2 else "succeeded" for n in range(250)]
    assert world.inspect.record("REFUND#stripe#du_1", "REFUND") is not None
    assert world.inspect.record("PAYMENT#stripe#cs_many", "PAYMENT") is not None


# the door ---------------------------------------------------------------------------------------
def test_check_in_counts_people_up_to_the_quantity_on_a_paid_ticket_of_the_event(world: StoreWorld) -> None:
    event, other = new_event(world), new_event(world)
    ticket = ticket_in(world, event, S.PAID, quantity=3)
    assert world.tickets.ticket_by_code(ticket.ticket_code) == ticket
    assert world.tickets.ticket_by_code("no-such-code") is None
    with pytest.raises(StateChanged):
        world.tickets.check_in(ticket, 1, NOW, event_id=other.event_id)
    two = world.tickets.check_in(ticket, 2, NOW + 1, event_id=event.event_id)
    assert (two.checked_in, two.checked_in_at) == (2, NOW + 1)
    with pytest.raises(StateChanged):
        world.tickets.check_in(two, 2, NOW + 2, event_id=event.event_id)
    three = world.tickets.check_in(two, 1, NOW + 3, event_id=event.event_id)
    assert (three.checked_in, three.checked_in_at) == (3, NOW + 3)
    with pytest.raises(StateChanged):
        world.tickets.check_in(three, 1, NOW + 4, event_id=event.event_id)
    assert world.tickets.get_ticket(ticket.ticket_id) == three
    assert [line.checked_in for line in world.tickets.ticket_lines(event)] == [3]


def test_check_in_admits_the_whole_quantity_at_once_and_never_more(world: StoreWorld) -> None:
    event = new_event(world)
    ticket = ticket_in(world, event, S.PAID, quantity=3)
    with pytest.raises(StateChanged):
        world.tickets.check_in(ticket, 4, NOW, event_id=event.event_id)
    assert world.tickets.check_in(ticket, 3, NOW, event_id=event.event_id).checked_in == 3


@pytest.mark.parametrize("count", [0, -2])
def test_check_in_refuses_a_count_below_one(world: StoreWorld, count: int) -> None:
    event = new_event(world)
    ticket = world.tickets.check_in(ticket_in(world, event, S.PAID, quantity=3), 3, NOW, event_id=event.event_id)
    with pytest.raises(StateChanged):
        world.tickets.check_in(ticket, count, NOW + 1, event_id=event.event_id)
    assert world.tickets.get_ticket(ticket.ticket_id) == ticket


@pytest.mark.parametrize("status", [s for s in S if s != S.PAID])
def test_check_in_refuses_a_ticket_that_is_not_paid(world: StoreWorld, status: TicketStatus) -> None:
    event = new_event(world)
    ticket = ticket_in(world, event, status)
    with pytest.raises(StateChanged):
        world.tickets.check_in(replace(ticket, status=S.PAID), 1, NOW, event_id=event.event_id)
    assert world.tickets.get_ticket(ticket.ticket_id) == ticket
    with pytest.raises(StateChanged):
        world.tickets.check_in(replace(ticket, ticket_id=999_999), 1, NOW, event_id=event.event_id)


# staff refunds of some seats --------------------------------------------------------------------
@pytest.mark.parametrize("shards", [1, 3], ids=["one-shard", "three-shards"])
def test_a_seat_refund_owed_then_made_gives_back_its_seats_and_records_its_money(world: StoreWorld, shards: int) -> None:
    event = new_event(world, capacity=9, shards=shards)
    paid = ticket_in(world, event, S.PAID, quantity=3)
    seats = world.inspect.seats(event.event_id)
    owed = world.tickets.owe_seat_refund(paid, "key-1", 2, 5000, "staff")
    assert (owed.seat_refund_key, owed.seat_refund_quantity, owed.seat_refund_amount_minor, owed.seat_refund_reason) == (
        "key-1",
        2,
        5000,
        "staff",
    )
    assert world.tickets.get_ticket(paid.ticket_id) == owed
    # Listed with the refunds owed, no seat moved yet; a second one is refused while it is owed.
    assert [t.ticket_id for t in world.tickets.unsettled(S.REFUNDING)] == [paid.ticket_id]
    assert world.inspect.seats(event.event_id) == seats
    with pytest.raises(StateChanged):
        world.tickets.owe_seat_refund(paid, "key-2", 1, 2500, "staff")
    shard = min(owed.parts)
    back = {shard: 2}
    record = refund_record(owed, f"re_{paid.ticket_id}", 5000)
    done = world.tickets.refund_seats(owed, back, 5000, "seen", [record])
    assert (done.refunded_quantity, done.quantity_held, done.refund_amount, done.refunds_seen) == (2, 1, 5000, "seen")
    assert (done.seat_refund_key, done.parts) == (None, {shard: 1})
    assert world.tickets.get_ticket(paid.ticket_id) == done
    assert world.tickets.unsettled(S.REFUNDING) == []
    assert world.inspect.seats(event.event_id)[shard] == seats[shard] + 2
    assert (world.inspect.record(f"REFUND#stripe#re_{paid.ticket_id}", "REFUND") or {}).get("amount") == 5000
    [line] = world.tickets.ticket_lines(event)
    assert (line.quantity, line.refunded_quantity, line.refund_amount) == (3, 2, 5000)
    # Made once: the same refund owed, read before it was made, is refused and writes nothing.
    with pytest.raises(StateChanged):
        world.tickets.refund_seats(owed, back, 5000, "seen", [record])
    assert world.tickets.get_ticket(paid.ticket_id) == done
    # The next one is conditioned on the seats refunded as read.
    with pytest.raises(StateChanged):
        world.tickets.owe_seat_refund(paid, "key-2", 1, 2500, "staff")
    assert world.tickets.owe_seat_refund(done, "key-2", 1, 2500, "staff").seat_refund_key == "key-2"


def test_a_seat_refund_whose_ticket_moved_on_writes_nothing(world: StoreWorld) -> None:
    event = new_event(world, capacity=9)
    owed = world.tickets.owe_seat_refund(ticket_in(world, event, S.PAID, quantity=3), "key-1", 1, 2500, "staff")
    # A door admitted someone, or what went back changed, since the read: refused, nothing written.
    admitted = world.tickets.check_in(owed, 1, NOW, event_id=event.event_id)
    with pytest.raises(StateChanged):
        world.tickets.refund_seats(owed, {0: 1}, 2500, "seen", [])
    moved = world.tickets.record_money_back(admitted, 100, [], {"refunds_seen": "other"})
    with pytest.raises(StateChanged):
        world.tickets.refund_seats(admitted, {0: 1}, 2500, "seen", [])
    assert world.tickets.get_ticket(owed.ticket_id) == moved
    # Given up (Stripe refused): cleared, not listed any more; only the same one owed is given up.
    with pytest.raises(StateChanged):
        world.tickets.drop_seat_refund(replace(moved, seat_refund_key="key-other"))
    dropped = world.tickets.drop_seat_refund(moved)
    assert dropped.seat_refund_key is None and world.tickets.get_ticket(owed.ticket_id) == dropped
    assert world.tickets.unsettled(S.REFUNDING) == []
    with pytest.raises(StateChanged):
        world.tickets.drop_seat_refund(moved)


@pytest.mark.parametrize("shards", [1, 3], ids=["one-shard", "three-shards"])
def test_seats_given_back_are_those_held_as_read_not_before_a_seat_refund(world: StoreWorld, shards: int) -> None:
    """A whole refund read the ticket before a seat refund was recorded: its seats' return is
    conditioned on the seats refunded as read (and, a one-shard ticket read without seat_parts, on
    none written since), so it is refused and gives nothing back twice."""
    event = new_event(world, capacity=9, shards=shards)
    paid = ticket_in(world, event, S.PAID, quantity=3)
    owed = world.tickets.owe_seat_refund(paid, "key-1", 1, 2500, "staff")
    done = world.tickets.refund_seats(owed, {min(owed.parts): 1}, 2500, "seen", [])
    seats = world.inspect.seats(event.event_id)
    with pytest.raises(StateChanged):
        world.tickets.apply(paid, Trigger.REFUND_DUE, {"refund_reason": "staff"}, removed=SEAT_REFUND_FIELDS)
    assert world.tickets.get_ticket(paid.ticket_id) == done and world.inspect.seats(event.event_id) == seats
    # Read as it is: the two seats it still holds go back.
    due = world.tickets.apply(done, Trigger.REFUND_DUE, {"refund_reason": "staff"}, removed=SEAT_REFUND_FIELDS)
    assert due.status == S.REFUNDING
    assert sum(world.inspect.seats(event.event_id).values()) == sum(seats.values()) + 2


@pytest.mark.parametrize("shards", [1, 3], ids=["one-shard", "three-shards"])
def test_a_refund_that_counts_a_seat_refund_writes_the_seats_it_planned_and_gives_back_those_read(world: StoreWorld, shards: int) -> None:
    """A whole refund that counts a seat refund made and not yet recorded (the domain's
    ``refunded_quantity`` and ``seat_parts`` in its changes): both written as planned, the seats
    given back those the ticket held as read (all of them), and a later taking of seats takes only
    those the planned parts say."""
    event = new_event(world, capacity=9, shards=shards)
    paid = ticket_in(world, event, S.PAID, quantity=3)
    owed = world.tickets.owe_seat_refund(paid, "key-1", 1, 2500, "staff")
    seats = sum(world.inspect.seats(event.event_id).values())
    shard = max(owed.parts)
    planned = {s: c - (1 if s == shard else 0) for s, c in owed.parts.items() if c - (1 if s == shard else 0)}
    refunded = world.tickets.apply(
        owed,
        Trigger.REFUNDED,
        {"refund_id": "re_all", "refund_amount": 7500, "refunded_quantity": 1, "seat_parts": planned},
        removed=SEAT_REFUND_FIELDS,
        money_as_read=True,
    )
    assert (refunded.status, refunded.refunded_quantity, refunded.parts, refunded.seat_refund_key) == (S.REFUNDED, 1, planned, None)
    assert world.tickets.get_ticket(paid.ticket_id) == refunded
    assert sum(world.inspect.seats(event.event_id).values()) == seats + 3
    again = world.tickets.apply(refunded, Trigger.REFUND_FAILED, {"refund_amount": 2500}, removed=("refund_id",), money_as_read=True)
    assert (again.status, again.quantity_held, sum(again.parts.values())) == (S.PAID, 2, 2)
    assert world.tickets.get_ticket(paid.ticket_id) == again
    assert sum(world.inspect.seats(event.event_id).values()) == seats + 1


def test_a_seat_refund_owed_is_cleared_only_as_read(world: StoreWorld) -> None:
    """A write that clears the seat refund fields (a whole refund's decision) read the ticket with
    none owed: one decided since makes it refuse (it is finished first); read with it, it passes."""
    event = new_event(world, capacity=9)
    paid = ticket_in(world, event, S.PAID, quantity=3)
    owed = world.tickets.owe_seat_refund(paid, "key-1", 1, 2500, "staff")
    with pytest.raises(StateChanged):
        world.tickets.apply(paid, Trigger.REFUND_DUE, {"refund_reason": "staff"}, removed=SEAT_REFUND_FIELDS)
    with pytest.raises(StateChanged):
        world.tickets.apply(replace(owed, seat_refund_key="key-other"), Trigger.REFUND_DUE, {}, removed=SEAT_REFUND_FIELDS)
    assert world.tickets.get_ticket(paid.ticket_id) == owed
    due = world.tickets.apply(owed, Trigger.REFUND_DUE, {"refund_reason": "staff"}, removed=SEAT_REFUND_FIELDS)
    assert (due.status, due.seat_refund_key) == (S.REFUNDING, None)
    assert world.tickets.get_ticket(paid.ticket_id) == due


def test_a_seat_refund_is_given_up_only_as_decided_its_reason_included(world: StoreWorld) -> None:
    event = new_event(world, capacity=9)
    owed = world.tickets.owe_seat_refund(ticket_in(world, event, S.PAID, quantity=3), "key-1", 1, 2500, "staff")
    with pytest.raises(StateChanged):
        world.tickets.drop_seat_refund(replace(owed, seat_refund_reason="another reason"))
    assert world.tickets.get_ticket(owed.ticket_id) == owed
    assert world.tickets.drop_seat_refund(owed).seat_refund_key is None


@pytest.mark.parametrize("status", [s for s in S if s != S.PAID])
def test_a_seat_refund_is_owed_only_on_a_paid_ticket(world: StoreWorld, status: TicketStatus) -> None:
    event = new_event(world)
    ticket = ticket_in(world, event, status)
    with pytest.raises(StateChanged):
        world.tickets.owe_seat_refund(replace(ticket, status=S.PAID), "key-1", 1, 2500, "staff")
    assert world.tickets.get_ticket(ticket.ticket_id) == ticket


def test_check_in_counts_the_seats_a_ticket_still_holds_as_read(world: StoreWorld) -> None:
    event = new_event(world)
    paid = ticket_in(world, event, S.PAID, quantity=3)
    owed = world.tickets.owe_seat_refund(paid, "key-1", 2, 5000, "staff")
    done = world.tickets.refund_seats(owed, {0: 2}, 5000, "seen", [])
    # Read before the seats were refunded: its room is stale, refused.
    with pytest.raises(StateChanged):
        world.tickets.check_in(paid, 1, NOW, event_id=event.event_id)
    with pytest.raises(StateChanged):
        world.tickets.check_in(done, 2, NOW, event_id=event.event_id)
    assert world.tickets.check_in(done, 1, NOW, event_id=event.event_id).checked_in == 1


# reads: unsettled, pages, the sales view --------------------------------------------------------
def burn_ids_up_to(world: StoreWorld, last: int) -> None:
    """Ticket ids to cross from one digit to two next: DynamoDB's index orders ties by the table
    key, a string (TICKET#10 before TICKET#9), which the twin must follow."""
    while world.tickets.next_id("ticket") < last:
        pass


def test_unsettled_lists_by_state_oldest_expiry_first_with_cutoff_and_limit(world: StoreWorld) -> None:
    event = new_event(world, capacity=20)
    burn_ids_up_to(world, 6)
    late = new_ticket(world, event, expires_at=NOW + 300)
    early = new_ticket(world, event, expires_at=NOW + 100)
    middle = new_ticket(world, event, expires_at=NOW + 200)
    tied = new_ticket(world, event, expires_at=NOW + 200)
    processing = world.tickets.apply(new_ticket(world, event, expires_at=NOW + 50), Trigger.PAYMENT_PROCESSING)
    refunding = ticket_in(world, event, S.REFUNDING)
    world.tickets.apply(new_ticket(world, event, expires_at=NOW + 10), Trigger.PAID)  # settled: listed nowhere

    def ids(status: TicketStatus, cutoff: int | None = None, limit: int = 100) -> list[int]:
        return [ticket.ticket_id for ticket in world.tickets.unsettled(status, cutoff, limit)]

    # a tie in expiry goes by the index's bucket (the ticket id modulo 16), as the repository merges them
    assert (middle.ticket_id, tied.ticket_id) == (9, 10)
    assert ids(S.RESERVED) == [early.ticket_id, middle.ticket_id, tied.ticket_id, late.ticket_id]
    assert ids(S.RESERVED, NOW + 200) == [early.ticket_id, middle.ticket_id, tied.ticket_id]
    assert ids(S.RESERVED, NOW + 99) == []
    assert ids(S.RESERVED, limit=2) == [early.ticket_id, middle.ticket_id]
    assert ids(S.PROCESSING) == [processing.ticket_id]
    assert ids(S.REFUNDING) == [refunding.ticket_id]
    assert world.tickets.unsettled(S.RESERVED)[0] == world.tickets.get_ticket(early.ticket_id)
    assert ids(S.PAID) == []


def test_a_customers_tickets_page_by_page_newest_first(world: StoreWorld) -> None:
    event = new_event(world, capacity=20)
    burn_ids_up_to(world, 7)
    made = [new_ticket(world, event, created_at=NOW + n) for n in (5, 3, 3, 1, 9)]
    assert (made[1].ticket_id, made[2].ticket_id) == (9, 10)
    new_ticket(world, event, owner="user-bob")
    everything, cursor = world.tickets.tickets_of(OWNER, 100)
    assert cursor is None
    # newest first; two made at one second in the table key's order (moto's: the key as a string)
    assert [line.ticket_id for line in everything] == [
        made[4].ticket_id,
        made[0].ticket_id,
        made[1].ticket_id,  # TICKET#9 after TICKET#10 as strings: first, newest first
        made[2].ticket_id,
        made[3].ticket_id,
    ]
    pages, after = [], None
    while True:
        page, cursor = world.tickets.tickets_of(OWNER, 2, after)
        pages.append([line.ticket_id for line in page])
        if cursor is None:
            break
        after = world.tickets.get_ticket(cursor)
    assert pages == [[line.ticket_id for line in everything][i : i + 2] for i in range(0, 5, 2)]
    assert world.tickets.tickets_of("user-nobody", 5) == ([], None)


def test_events_page_by_page_newest_first(world: StoreWorld) -> None:
    events = [new_event(world, capacity=5, shards=1 + n % 2) for n in range(5)]
    new_ticket(world, events[1], 2)
    found, after, pages = [], None, 0
    while True:
        page, after = world.tickets.list_events(2, after)
        found += page
        pages += 1
        if after is None:
            break
    assert [event.event_id for event in found] == [event.event_id for event in reversed(events)]
    assert pages == 3
    by_id = {event.event_id: event for event in found}
    # a sharded event's seats are read by shard; a one-shard event's from its item
    assert by_id[events[1].event_id].available == 3 and by_id[events[1].event_id].seats_by_shard is not None
    assert by_id[events[0].event_id].available == 5 and by_id[events[0].event_id].seats_by_shard is None
    assert world.tickets.get_event(999_999) is None


def test_put_event_twice_is_refused_and_keeps_the_first(world: StoreWorld) -> None:
    event = new_event(world, capacity=4)
    new_ticket(world, event, 1)
    with pytest.raises(Exception):  # noqa: B017 - the port names none: ClientError or ValueError
        world.tickets.put_event(replace(event, name="again", capacity=50))
    found = world.tickets.get_event(event.event_id)
    assert found is not None and (found.name, found.capacity, found.available) == (event.name, 4, 3)


def test_next_id_is_unique_and_increasing_per_kind(world: StoreWorld) -> None:
    tickets = [world.tickets.next_id("ticket") for _ in range(5)]
    events = [world.tickets.next_id("event") for _ in range(3)]
    assert tickets == sorted(set(tickets)) and events == sorted(set(events))


def test_the_sales_view_sees_every_ticket_of_the_event_as_it_is(world: StoreWorld) -> None:
    event, other = new_event(world, capacity=30, shards=2), new_event(world)
    tickets = [ticket_in(world, event, status, quantity=1) for status in S]
    new_ticket(world, other)
    lines = sorted(world.tickets.ticket_lines(event), key=lambda line: line.ticket_id)
    assert [(line.ticket_id, line.status, line.quantity, line.unit_amount) for line in lines] == [
        (ticket.ticket_id, ticket.status, 1, 2500) for ticket in tickets
    ]
    refunded = [line for line in lines if line.status == S.REFUNDED]
    assert [line.refund_amount for line in refunded] == [2500]


# webhook ledger, transmissions, checkpoints -----------------------------------------------------
def test_the_webhook_ledger_marks_each_event_once(world: StoreWorld) -> None:
    assert not world.webhooks.is_processed("stripe", "evt_1")
    assert world.webhooks.mark_processed("stripe", "evt_1", "checkout.session.completed", NOW)
    assert not world.webhooks.mark_processed("stripe", "evt_1", "checkout.session.completed", NOW + 1)
    assert world.webhooks.is_processed("stripe", "evt_1")
    assert not world.webhooks.is_processed("paypal", "evt_1")
    assert world.webhooks.mark_processed("paypal", "evt_1", "PAYMENT.CAPTURE.COMPLETED", NOW)


def test_a_transmission_id_keeps_one_body(world: StoreWorld) -> None:
    assert world.webhooks.record_transmission("paypal", "t-1", "sha-a", NOW, NOW + 600)
    assert world.webhooks.record_transmission("paypal", "t-1", "sha-a", NOW + 1, NOW + 601)
    assert not world.webhooks.record_transmission("paypal", "t-1", "sha-b", NOW + 2, NOW + 602)
    assert world.webhooks.record_transmission("paypal", "t-1", "sha-a", NOW + 3, NOW + 603)
    assert world.webhooks.record_transmission("paypal", "t-2", "sha-b", NOW, NOW + 600)


def test_checkpoints_round_trip_as_dynamodb_keeps_them(world: StoreWorld) -> None:
    assert world.checkpoints.get("reconcile") == {}
    world.checkpoints.put("reconcile", {"after": 17, "cursor": "cs_9", "done": False, "gone": None, "window": [1, 2]})
    assert world.checkpoints.get("reconcile") == {"after": Decimal(17), "cursor": "cs_9", "done": False, "window": [Decimal(1), Decimal(2)]}
    world.checkpoints.put("reconcile", {"after": 18})
    assert world.checkpoints.get("reconcile") == {"after": Decimal(18)}
    assert world.checkpoints.get("other") == {}


# provider objects ------------------------------------------------------------------------------
def test_a_provider_object_is_recorded_once_for_its_owner(world: StoreWorld) -> None:
    objects = world.stripe_objects
    assert objects.record("payment_intent", "pi_1", OWNER, {"status": "requires_payment_method", "amount": 500}, NOW)
    assert not objects.record("payment_intent", "pi_1", OWNER, {"status": "succeeded"}, NOW + 1)
    with pytest.raises(PermissionError):
        objects.record("payment_intent", "pi_1", "user-bob", {}, NOW)
    assert objects.get("payment_intent", "pi_1") == {
        "pk": "STRIPE#payment_intent#pi_1",
        "sk": "OBJECT",
        "kind": "payment_intent",
        "object_id": "pi_1",
        "owner": OWNER,
        "created_at": Decimal(NOW),
        "status": "requires_payment_method",
        "amount": Decimal(500),
    }
    assert objects.get("payment_intent", "pi_2") is None
    assert world.paypal_objects.get("payment_intent", "pi_1") is None


def test_a_provider_objects_state_is_never_set_back_to_an_older_one(world: StoreWorld) -> None:
    objects = world.paypal_objects
    objects.record("order", "o_1", OWNER, {"status": "CREATED"}, NOW)
    assert objects.apply_state("order", "o_unknown", {"status": "APPROVED"}, as_of=NOW) is None
    applied = objects.apply_state("order", "o_1", {"status": "APPROVED"}, as_of=NOW + 10, rank=1)
    assert applied is not None and applied["status"] == "APPROVED" and applied["state_as_of"] == NOW + 10
    assert objects.apply_state("order", "o_1", {"status": "CREATED"}, as_of=NOW + 9, rank=9) is None
    assert objects.apply_state("order", "o_1", {"status": "CREATED"}, as_of=NOW + 10, rank=0) is None
    assert objects.apply_state("order", "o_1", {"status": "COMPLETED"}, as_of=NOW + 10, rank=1) is not None
    assert objects.apply_state("order", "o_1", {"status": "VOIDED"}, as_of=NOW + 10, rank=3) is not None
    # each aspect keeps its own clock
    assert objects.apply_state("order", "o_1", {"invoice": "in_1"}, as_of=NOW, aspect="invoice") is not None
    assert objects.apply_state("order", "o_1", {"invoice": "in_0"}, as_of=NOW - 1, aspect="invoice") is None
    kept = objects.get("order", "o_1")
    assert kept is not None and (kept["status"], kept["invoice"], kept["state_rank"]) == ("VOIDED", "in_1", 3)


def test_a_state_the_store_cannot_write_is_refused_and_writes_nothing(world: StoreWorld) -> None:
    objects = world.stripe_objects
    objects.record("subscription", "sub_1", OWNER, {"status": "incomplete"}, NOW)
    before = objects.get("subscription", "sub_1")
    with pytest.raises(Exception):  # noqa: B017 - the port names none: a None value has no attribute type
        objects.apply_state("subscription", "sub_1", {"status": None, "latest_invoice": "in_1"}, as_of=NOW)
    with pytest.raises(Exception):  # noqa: B017 - an empty IN () is no expression
        objects.unsettled("subscription", (), 0)
    assert objects.get("subscription", "sub_1") == before


def test_a_counter_is_only_raised(world: StoreWorld) -> None:
    objects = world.paypal_objects
    assert not objects.raise_to("capture", "c_unknown", "refunded_seen", 5)
    objects.record("capture", "c_1", OWNER, {"status": "COMPLETED"}, NOW)
    assert objects.raise_to("capture", "c_1", "refunded_seen", 5)
    assert not objects.raise_to("capture", "c_1", "refunded_seen", 5)
    assert not objects.raise_to("capture", "c_1", "refunded_seen", 4)
    assert objects.raise_to("capture", "c_1", "refunded_seen", 6)
    kept = objects.get("capture", "c_1")
    assert kept is not None and kept["refunded_seen"] == 6


def test_unsettled_provider_objects_by_kind_age_and_status(world: StoreWorld) -> None:
    objects = world.stripe_objects
    objects.record("subscription", "sub_open", OWNER, {"status": "incomplete"}, NOW)
    objects.record("subscription", "sub_done", OWNER, {"status": "canceled"}, NOW)
    objects.record("subscription", "sub_old", OWNER, {"status": "incomplete"}, NOW - 100)
    objects.record("subscription", "sub_nostatus", OWNER, {}, NOW)
    objects.record("subscriptionx", "sub_other_kind", OWNER, {"status": "incomplete"}, NOW)
    objects.record("customer", "cus_1", OWNER, {"status": "incomplete"}, NOW)
    world.paypal_objects.record("subscription", "sub_paypal", OWNER, {"status": "incomplete"}, NOW)
    found = sorted(item["object_id"] for item in objects.unsettled("subscription", ("canceled", "active"), NOW - 10))
    assert found == ["sub_nostatus", "sub_open"]


# PayPal refunds ---------------------------------------------------------------------------------
def captured(world: StoreWorld, capture_id: str = "cap_1", value: str = "10.00", status: str = "COMPLETED") -> None:
    capture = {"id": capture_id, "status": status, "amount": {"currency_code": "EUR", "value": value}}
    assert world.paypal_objects.record(CAPTURE, capture_id, OWNER, capture_state(capture, "order_1"), NOW)


def counters(world: StoreWorld, capture_id: str = "cap_1") -> tuple[Any, ...]:
    kept = world.paypal_objects.get(CAPTURE, capture_id)
    assert kept is not None
    return tuple(kept.get(name) for name in ("status", "amount_minor", "refunded_minor", "reserved_minor", "refundable_minor"))


def refund(refund_id: str, amount: int, custom_id: str | None = None, capture_id: str = "cap_1") -> PayPalRefund:
    return PayPalRefund(refund_id, capture_id, amount, f"{amount / 100:.2f}", "EUR", "COMPLETED", custom_id=custom_id)


def test_a_paypal_refund_reserves_from_the_remainder_and_settles_once(world: StoreWorld) -> None:
    store = world.paypal_refunds
    captured(world)
    reservation = store.reserve("res-1", "cap_1", 400, "staff-1", NOW)
    assert (reservation.amount_minor, reservation.state) == (400, ReservationState.RESERVED)
    assert store.reserve("res-1", "cap_1", 999, "staff-1", NOW) == reservation
    assert counters(world) == ("COMPLETED", 1000, 0, 400, 600)
    with pytest.raises(NotRefundable) as refused:
        store.reserve("res-2", "cap_1", 700, "staff-1", NOW)
    assert refused.value.remaining_minor == 600
    with pytest.raises(NotRefundable):
        store.reserve("res-2", "cap_1", 0, "staff-1", NOW)
    assert store.reservation("res-2") is None
    assert store.unsettled_reservations(NOW + 1) == [reservation]
    assert store.unsettled_reservations(NOW) == []
    # PayPal's refund under our reservation settles it, once
    assert store.record(refund("r_1", 400, custom_id="res-1"), OWNER, NOW + 5)
    assert not store.record(refund("r_1", 400, custom_id="res-1"), OWNER, NOW + 6)
    assert counters(world) == ("COMPLETED", 1000, 400, 0, 600)
    settled = store.reservation("res-1")
    assert settled is not None and settled.state == ReservationState.REFUNDED and settled.refund == refund("r_1", 400, custom_id="res-1")
    assert store.settle_status("cap_1", NOW + 7) == "PARTIALLY_REFUNDED"
    # all that remains (None), then nothing remains
    rest = store.reserve("res-3", "cap_1", None, "staff-1", NOW + 8)
    assert rest.amount_minor == 600
    assert store.record(refund("r_2", 600, custom_id="res-3"), OWNER, NOW + 9)
    assert store.settle_status("cap_1", NOW + 10) == "REFUNDED"
    assert counters(world) == ("REFUNDED", 1000, 1000, 0, 0)
    with pytest.raises(NotRefundable) as refused:
        store.reserve("res-4", "cap_1", 1, "staff-1", NOW + 11)
    assert refused.value.reason == "the capture is refunded"
    assert world.paypal_objects.unsettled("refund", ("COMPLETED",), 0) == []
    assert sorted(item["object_id"] for item in world.paypal_objects.unsettled("refund", ("PENDING",), 0)) == ["r_1", "r_2"]


def test_the_smallest_paypal_refund_one_minor_unit_is_reserved(world: StoreWorld) -> None:
    """A refund of one cent (PayPal's smallest amount) is money: reserved like any other, and the
    last cent of a capture can go back."""
    store = world.paypal_refunds
    captured(world, value="0.02")
    assert store.reserve("res-1", "cap_1", 1, "staff-1", NOW).amount_minor == 1
    assert counters(world) == ("COMPLETED", 2, 0, 1, 1)
    assert store.reserve("res-2", "cap_1", None, "staff-1", NOW).amount_minor == 1
    assert counters(world) == ("COMPLETED", 2, 0, 2, 0)


def test_a_refused_paypal_refund_gives_its_reservation_back_once(world: StoreWorld) -> None:
    store = world.paypal_refunds
    captured(world)
    reservation = store.reserve("res-1", "cap_1", 300, "staff-1", NOW)
    store.reserve("res-2", "cap_1", 200, "staff-1", NOW)
    store.release(reservation, "REFUND_REFUSED")
    store.release(reservation, "REFUND_REFUSED")
    assert counters(world) == ("COMPLETED", 1000, 0, 200, 800)
    released = store.reservation("res-1")
    assert released is not None and (released.state, released.refusal) == (ReservationState.RELEASED, "REFUND_REFUSED")
    # a refund that still comes under a released reservation takes its amount now
    assert store.record(refund("r_1", 300, custom_id="res-1"), OWNER, NOW)
    assert counters(world) == ("COMPLETED", 1000, 300, 200, 500)
    store.release(replace(reservation, capture_id="cap_unknown"), "x")


def test_a_dashboard_refund_beyond_the_remainder_holds_the_counters_in_range(world: StoreWorld) -> None:
    store = world.paypal_refunds
    captured(world)
    store.reserve("res-1", "cap_1", 800, "staff-1", NOW)
    assert store.record(refund("r_dash", 500), OWNER, NOW)
    assert counters(world) == ("COMPLETED", 1000, 500, 800, 0)
    assert store.settle_status("cap_1", NOW) == "PARTIALLY_REFUNDED"
    assert store.record(refund("r_dash_2", 900), OWNER, NOW)
    assert counters(world)[2:] == (1000, 800, 0)
    with pytest.raises(NotRefundable):
        store.record(refund("r_x", 1, capture_id="cap_unknown"), OWNER, NOW)
    assert store.settle_status("cap_unknown", NOW) is None


def test_a_paypal_refund_beyond_the_remainder_is_logged_for_the_operator(caplog: pytest.LogCaptureFixture) -> None:
    """DynamoDB only (the log line is the repository's): PayPal's word on a dashboard refund beyond
    what remained is recorded, the counters held in range, and a warning logged naming the refund:
    the operator's only signal that more went back than we thought remained. A refund within the
    remainder logs nothing."""
    with moto_world() as world:
        store = world.paypal_refunds
        captured(world)
        store.reserve("res-1", "cap_1", 800, "staff-1", NOW)
        with caplog.at_level("WARNING"):
            assert store.record(refund("r_in", 100), OWNER, NOW)
            assert caplog.records == []
            assert store.record(refund("r_dash", 500), OWNER, NOW)
        assert counters(world)[2:] == (600, 800, 0)
        logged = [(r.levelname, r.getMessage(), r.__dict__.get("refund_id"), r.__dict__.get("amount_minor")) for r in caplog.records]
        assert logged == [("WARNING", "PayPal refund beyond the capture's remainder", "r_dash", 500)]


def test_a_capture_kept_without_its_remainder_refuses_a_refund_as_busy_not_as_a_crash() -> None:
    """DynamoDB only: a capture item without ``refundable_minor`` (every capture is written with
    one; an item edited by hand or from before the counter) reads as nothing remaining, and the
    counters' condition on it never holds: recording a refund answers ``Busy`` (retry later, a
    handled error) and writes nothing, rather than failing on the missing number."""
    from payments.errors import Busy
    from payments.repositories.paypal_refunds import PayPalRefundRepository

    with moto_world() as world:
        store = world.paypal_refunds
        assert isinstance(store, PayPalRefundRepository)
        captured(world)
        store._client.update_item(
            TableName=store._table,
            Key={"pk": {"S": "PAYPAL#capture#cap_1"}, "sk": {"S": "OBJECT"}},
            UpdateExpression="REMOVE refundable_minor",
        )
        with pytest.raises(Busy):
            store.record(refund("r_dash", 300), OWNER, NOW)
        assert counters(world) == ("COMPLETED", 1000, 0, None, None)
        assert world.paypal_objects.get("refund", "r_dash") is None


def test_a_pending_capture_is_not_refundable(world: StoreWorld) -> None:
    captured(world, status="PENDING")
    with pytest.raises(NotRefundable) as refused:
        world.paypal_refunds.reserve("res-1", "cap_1", 100, "staff-1", NOW)
    assert (refused.value.remaining_minor, refused.value.reason) == (1000, "the capture is pending")
    with pytest.raises(NotRefundable) as refused:
        world.paypal_refunds.reserve("res-1", "cap_unknown", 100, "staff-1", NOW)
    assert (refused.value.remaining_minor, refused.value.reason) == (0, "the capture is unknown")


def test_one_reservation_per_identical_request(world: StoreWorld) -> None:
    store = world.paypal_refunds
    captured(world)
    first = store.reservation_for_request("fp-1", 60, NOW)
    assert store.reservation_for_request("fp-1", 60, NOW + 60) == first
    # after the window a new one, unless the first is still waiting for PayPal's answer
    later = store.reservation_for_request("fp-1", 60, NOW + 61)
    assert later != first
    store.reserve(later, "cap_1", 100, "staff-1", NOW + 61)
    assert store.reservation_for_request("fp-1", 60, NOW + 500) == later
    assert store.reservation_for_request("fp-2", 60, NOW) not in (first, later)


def test_the_ticket_twins_share_ids_and_nothing_else(world: StoreWorld) -> None:
    # two kinds, and many ids: a container's block of ids ends and the next is reserved
    ids = [world.tickets.next_id("ticket") for _ in range(150)]
    assert ids == sorted(set(ids))
    assert all(isinstance(i, int) for i in itertools.islice(ids, 3))


# the on-sale queues ---------------------------------------------------------------------------------
def queued_event(world: StoreWorld, capacity: int = 10) -> Event:
    event_id = world.tickets.next_id("event")
    world.tickets.put_event(
        Event(event_id, f"On-sale {event_id}", Decimal("25.00"), "eur", capacity, capacity, "staff-1", NOW, on_sale_queue=True)
    )
    found = world.tickets.get_event(event_id)
    assert found is not None and found.on_sale_queue
    return found


def admit_to(world: StoreWorld, event: Event, admitted_to: int, epoch: int = 7, lapsed_to: int = 0) -> QueueState:
    read = world.queues.state(event.event_id)
    wanted = QueueState(admitted_to=admitted_to, lapsed_to=lapsed_to, credited_ms=1, epochs={epoch: admitted_to}, updated_ms=1)
    assert world.queues.save(event.event_id, read, wanted)
    return world.queues.state(event.event_id)


def test_a_queued_event_starts_an_empty_queue_the_admitter_steps(world: StoreWorld) -> None:
    plain = new_event(world)
    event = queued_event(world)
    assert not plain.on_sale_queue
    assert world.queues.active_queues() == [event.event_id]
    assert world.queues.state(event.event_id) == QueueState()
    assert world.queues.view(event.event_id) == QueueState()
    assert world.queues.view(plain.event_id) is None
    assert world.queues.handed(event.event_id) == dict.fromkeys(range(PLACE_COUNTERS), 0)


def test_one_place_per_account_from_the_counter_behind(world: StoreWorld) -> None:
    event = queued_event(world)
    alice, new = world.queues.join(event.event_id, "user-alice", 1000)
    assert new and alice == QueueEntry(event.event_id, "user-alice", 1, 1000)
    again, new = world.queues.join(event.event_id, "user-alice", 2000)
    assert (again, new) == (alice, False)
    # The two counters compared (pinned: 0 and 1) hand out in turn, each time from the one behind.
    places = [world.queues.join(event.event_id, f"user-{number}", 3000)[0].place for number in range(3)]
    assert places == [2, 9, 10]
    assert world.queues.handed(event.event_id) == {0: 2, 1: 2} | dict.fromkeys(range(2, PLACE_COUNTERS), 0)
    assert world.queues.entry(event.event_id, "user-alice") == alice
    assert world.queues.entry(event.event_id, "user-nobody") is None


def test_joining_again_long_after_answers_the_same_place_and_draws_none(world: StoreWorld) -> None:
    """A buyer who comes back to the queue's page an hour later (a reload, another device) keeps
    their place: nothing is drawn from the counters, and it is not a new join."""
    event = queued_event(world)
    alice, _ = world.queues.join(event.event_id, "user-alice", 1000)
    handed = world.queues.handed(event.event_id)
    again, new = world.queues.join(event.event_id, "user-alice", 1000 + 3_600_000)
    assert (again, new) == (alice, False)
    assert world.queues.handed(event.event_id) == handed


def test_the_state_is_saved_only_over_the_state_read(world: StoreWorld) -> None:
    event = queued_event(world)
    read = world.queues.state(event.event_id)
    saved = admit_to(world, event, 5)
    assert (saved.admitted_to, dict(saved.epochs), saved.version) == (5, {7: 5}, 1)
    assert world.queues.view(event.event_id) == saved
    # A second admitter that read the state before: refused, nothing written.
    assert not world.queues.save(event.event_id, read, QueueState(admitted_to=9, epochs={7: 9}))
    assert world.queues.state(event.event_id) == saved


def test_places_are_closed_up_to_a_floor_and_never_lowered(world: StoreWorld) -> None:
    event = queued_event(world)
    world.queues.join(event.event_id, "user-alice", 1000)  # counter 0
    world.queues.close_places(event.event_id, {0: 1, 1: 2, 2: 0})
    assert world.queues.handed(event.event_id) == {0: 1, 1: 2} | dict.fromkeys(range(2, PLACE_COUNTERS), 0)
    world.queues.close_places(event.event_id, {1: 1})
    assert world.queues.handed(event.event_id)[1] == 2
    # The next join, within QUIET_MS of alice's, compares counters 0 and 1: 0 is behind, its second place is 9.
    assert world.queues.join(event.event_id, "user-bob", 1000 + QUIET_MS - 1)[0].place == 9
    # A join after a quiet spell takes the lowest next place of all: counter 2's first, 3.
    assert world.queues.join(event.event_id, "user-carol", 1000 + 2 * QUIET_MS)[0].place == 3


def test_joins_after_a_quiet_spell_are_placed_in_arrival_order(world: StoreWorld) -> None:
    event = queued_event(world)
    # Each join comes QUIET_MS after the one before: the lowest place each time, in arrival order.
    places = [world.queues.join(event.event_id, f"user-{n}", 1000 + n * QUIET_MS)[0].place for n in range(10)]
    assert places == list(range(1, 11))
    assert world.queues.handed(event.event_id) == {0: 2, 1: 2} | dict.fromkeys(range(2, PLACE_COUNTERS), 1)


def test_a_reservation_uses_its_admission_once(world: StoreWorld) -> None:
    event = queued_event(world)
    entry, _ = world.queues.join(event.event_id, OWNER, 1000)
    admit_to(world, event, 1)
    admission = Admission(event.event_id, OWNER, entry.place, 7)
    ticket = Ticket(world.tickets.next_id("ticket"), event.event_id, OWNER, 1, S.RESERVED, "code-q", "eur", 2500, NOW, NOW + 1800)
    made = world.tickets.create(ticket, LIMIT, event.seats_by_shard, free_limit=LIMIT, admission=admission)
    used = world.queues.entry(event.event_id, OWNER)
    assert used is not None and (used.used_ms, used.ticket_id) == (NOW * 1000, made.ticket_id)
    assert world.queues.used(event.event_id, [7, 8]) == {7: 1}
    # The same admission again (another tab): refused, nothing written.
    before = (world.inspect.seats(event.event_id), world.inspect.unpaid(event.event_id, OWNER))
    second = replace(ticket, ticket_id=world.tickets.next_id("ticket"), ticket_code="code-q2")
    with pytest.raises(AdmissionRefused):
        world.tickets.create(second, LIMIT, event.seats_by_shard, free_limit=LIMIT, admission=admission)
    assert world.tickets.get_ticket(second.ticket_id) is None
    assert (world.inspect.seats(event.event_id), world.inspect.unpaid(event.event_id, OWNER)) == before
    assert world.queues.used(event.event_id, [7]) == {7: 1}


@pytest.mark.parametrize("why", ["not admitted", "lapsed", "another place"])
def test_an_admission_the_queue_does_not_hold_is_refused_and_writes_nothing(world: StoreWorld, why: str) -> None:
    event = queued_event(world)
    entry, _ = world.queues.join(event.event_id, OWNER, 1000)
    place = entry.place
    if why == "not admitted":
        admit_to(world, event, 0)
    elif why == "lapsed":
        admit_to(world, event, 3, lapsed_to=2)
    else:
        admit_to(world, event, 3)
        place = 2
    ticket = Ticket(world.tickets.next_id("ticket"), event.event_id, OWNER, 1, S.RESERVED, "code-r", "eur", 2500, NOW, NOW + 1800)
    with pytest.raises(AdmissionRefused):
        world.tickets.create(ticket, LIMIT, event.seats_by_shard, free_limit=LIMIT, admission=Admission(event.event_id, OWNER, place, 7))
    assert world.tickets.get_ticket(ticket.ticket_id) is None
    assert world.inspect.seats(event.event_id) == {0: 10}
    assert world.queues.entry(event.event_id, OWNER) == entry
    assert world.queues.used(event.event_id, [7]) == {}


def test_an_admission_given_back_is_unused_again_and_only_by_its_ticket(world: StoreWorld) -> None:
    event = queued_event(world)
    entry, _ = world.queues.join(event.event_id, OWNER, 1000)
    admit_to(world, event, 1)
    admission = Admission(event.event_id, OWNER, entry.place, 7)
    ticket = Ticket(world.tickets.next_id("ticket"), event.event_id, OWNER, 1, S.RESERVED, "code-g", "eur", 2500, NOW, NOW + 1800)
    made = world.tickets.create(ticket, LIMIT, event.seats_by_shard, free_limit=LIMIT, admission=admission)
    # Another ticket's release gives nothing back.
    assert not world.queues.give_back(admission, made.ticket_id + 1)
    assert world.queues.used(event.event_id, [7]) == {7: 1}
    assert world.queues.give_back(admission, made.ticket_id)
    assert world.queues.entry(event.event_id, OWNER) == entry
    assert world.queues.used(event.event_id, [7]) == {7: 0}
    # Given back once: a second time finds no use.
    assert not world.queues.give_back(admission, made.ticket_id)


@pytest.mark.parametrize("shards", [1, 3])
def test_a_reservation_planned_before_the_queue_was_enabled_takes_no_seat_after_it(world: StoreWorld, shards: int) -> None:
    event = new_event(world, capacity=6, shards=shards)  # read by a purchase before staff enable the queue
    world.tickets.enable_queue(event)
    seats = world.inspect.seats(event.event_id)
    for shard_plan in (event.seats_by_shard, None):  # as read before, and read afresh
        ticket = Ticket(world.tickets.next_id("ticket"), event.event_id, OWNER, 1, S.RESERVED, "code-q", "eur", 2500, NOW, NOW + 1800)
        with pytest.raises(SoldOut):
            world.tickets.create(ticket, LIMIT, shard_plan, free_limit=LIMIT)
        assert world.tickets.get_ticket(ticket.ticket_id) is None
    assert world.inspect.seats(event.event_id) == seats


@pytest.mark.parametrize("shards", [1, 3])
def test_a_queue_is_enabled_only_while_no_seat_is_taken(world: StoreWorld, shards: int) -> None:
    event = new_event(world, capacity=6, shards=shards)
    world.tickets.enable_queue(event)
    found = world.tickets.get_event(event.event_id)
    assert found is not None and found.on_sale_queue
    assert world.queues.active_queues() == [event.event_id]
    assert world.queues.state(event.event_id) == QueueState()
    # Enabled already: refused, nothing written.
    with pytest.raises(StateChanged):
        world.tickets.enable_queue(event)
    # Another event whose sale has begun (one seat taken, on any shard): refused, nothing written.
    begun = new_event(world, capacity=6, shards=shards)
    new_ticket(world, begun)
    seats = world.inspect.seats(begun.event_id)
    with pytest.raises(StateChanged):
        world.tickets.enable_queue(begun)
    after = world.tickets.get_event(begun.event_id)
    assert after is not None and not after.on_sale_queue
    assert world.inspect.seats(begun.event_id) == seats
    assert world.queues.active_queues() == [event.event_id]
    assert world.queues.view(begun.event_id) is None


# event edits (issue 28) ------------------------------------------------------------------------
def test_an_event_edit_changes_its_fields_clears_nulls_and_counts_the_version(world: StoreWorld) -> None:
    event = new_event(world)
    world.tickets.update_event(event, {"name": "Renamed", "description": "Doors at 7", "opens_at": NOW + 60, "sales_paused": True}, {})
    edited = world.tickets.get_event(event.event_id)
    assert edited is not None
    assert (edited.name, edited.description, edited.opens_at, edited.sales_paused, edited.version) == (
        "Renamed",
        "Doors at 7",
        NOW + 60,
        True,
        1,
    )
    world.tickets.update_event(edited, {"description": None, "price": Decimal("30.00"), "closes_at": NOW + 120}, {})
    again = world.tickets.get_event(event.event_id)
    assert again is not None
    assert (again.description, again.price, again.opens_at, again.closes_at, again.version) == (
        None,
        Decimal("30.00"),
        NOW + 60,
        NOW + 120,
        2,
    )


def test_an_event_edit_made_from_a_stale_read_writes_nothing(world: StoreWorld) -> None:
    event = new_event(world, capacity=6, shards=3)
    world.tickets.update_event(event, {"name": "First"}, {})
    seats = world.inspect.seats(event.event_id)
    with pytest.raises(StateChanged):  # read before the first edit
        world.tickets.update_event(event, {"name": "Second", "capacity": 9}, {0: 1, 1: 1, 2: 1})
    found = world.tickets.get_event(event.event_id)
    assert found is not None and (found.name, found.capacity, found.version) == ("First", 6, 1)
    assert world.inspect.seats(event.event_id) == seats


@pytest.mark.parametrize("shards", [1, 3])
def test_a_capacity_change_moves_each_shards_seats_and_a_cut_needs_them_left(world: StoreWorld, shards: int) -> None:
    event = new_event(world, capacity=6, shards=shards)
    raised = {shard: 2 for shard in range(shards)}
    world.tickets.update_event(event, {"capacity": 6 + 2 * shards}, raised)
    grown = world.tickets.get_event(event.event_id)
    assert grown is not None and (grown.capacity, grown.available) == (6 + 2 * shards, 6 + 2 * shards)
    # A seat taken on shard 0 after the edit's read: a cut of every seat read there fails whole.
    new_ticket(world, grown)
    seats = world.inspect.seats(event.event_id)
    assert grown.seats_by_shard is not None
    with pytest.raises(StateChanged):
        world.tickets.update_event(grown, {"capacity": 1}, {shard: -left for shard, left in grown.seats_by_shard.items()})
    assert world.inspect.seats(event.event_id) == seats
    # A cut within what is left goes through, and the shards still hold their own capacity: with
    # every seat back, the queue may be enabled (every shard's seats left = its capacity).
    world.tickets.update_event(grown, {"capacity": grown.capacity - 1}, {0: -1})
    after = world.tickets.get_event(event.event_id)
    assert after is not None and (after.capacity, after.available, after.version) == (grown.capacity - 1, grown.available - 2, 2)
    fresh = new_event(world, capacity=4, shards=shards)
    world.tickets.update_event(fresh, {"capacity": 3}, {0: -1})
    world.tickets.enable_queue(fresh)
