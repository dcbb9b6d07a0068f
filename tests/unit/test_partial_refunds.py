"""Staff refunds of some of a ticket's seats (issue 28), through the domain over the in-memory stores
and the Stripe stub of ``tests.support.lifecycle_world``: the amount (the price per seat paid x the
seats, exact in minor units), the seats back on sale (not those of people already admitted), the
ticket keeping the rest, the refund's key (one per partial refund, the same on a retry), a refund
cut off half-way and finished by the reconciliation, Stripe refusing, two at once, and the door."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from payments.domain.lifecycle import Outcome, Ticket, TicketStatus, Trigger
from payments.errors import ApiError, BadRequest, Conflict, InvalidField, Unprocessable
from payments.models.tickets import CheckInRequest, RefundTicketRequest
from tests.support.lifecycle_world import STAFF, World, invariants
from tests.support.store_worlds import MemoryWorld

S = TicketStatus


@contextmanager
def _memory() -> Iterator[MemoryWorld]:
    yield MemoryWorld()


def _paid(world: World, quantity: int) -> Ticket:
    ticket = world.reserve(quantity=quantity)
    world.service.settle(world.stripe.pay(world.session(ticket)))
    return world.ticket(ticket.ticket_id)


def _refund(world: World, ticket: Ticket, quantity: int | None = None, key: str | None = None) -> tuple[Ticket, Any]:
    return world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=quantity), key)


def _left(world: World) -> int:
    return sum(world.stores.inspect.seats(world.paid_event.event_id).values())


def _refunds(world: World, ticket: Ticket) -> list[Any]:
    assert ticket.payment_intent is not None
    return world.stripe.refunds.get(ticket.payment_intent, [])


def test_a_partial_refund_returns_the_seats_price_and_the_seats_and_the_ticket_keeps_the_rest() -> None:
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 3)
    assert _left(world) == 1
    kept, refund = _refund(world, ticket, 1)
    # The price per seat paid (25.00 EUR: 2500 cents) x 1, exactly; one seat back on sale.
    assert (refund.amount, refund.currency) == (2500, "eur")
    assert [r.amount for r in _refunds(world, ticket)] == [2500]
    assert (kept.status, kept.quantity, kept.refunded_quantity, kept.quantity_held) == (S.PAID, 3, 1, 2)
    assert kept.refund_amount == 2500 and kept.seat_refund_key is None
    assert _left(world) == 2
    stored = world.ticket(ticket.ticket_id)
    assert (stored.status, stored.refunded_quantity, stored.refund_amount, sum(stored.parts.values())) == (S.PAID, 1, 2500, 2)
    record = world.stores.inspect.record(f"REFUND#stripe#{refund.id}", "REFUND")
    assert record is not None and (record["amount"], record["reason"]) == (2500, "requested_by_staff")
    invariants(world)


def test_partial_refunds_each_have_their_own_key_and_the_last_seats_refund_the_ticket() -> None:
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 3)
    _refund(world, ticket, 1)
    _refund(world, world.ticket(ticket.ticket_id), 1)
    keys = [key for key in world.stripe._keys if key.startswith("ticket-seat-refund-")]
    assert len(keys) == 2 and len(set(keys)) == 2
    assert world.ticket(ticket.ticket_id).refunded_quantity == 2
    # The last seat: the ticket is refunded as a whole refund leaves it, all its money back.
    last, refund = _refund(world, world.ticket(ticket.ticket_id), 1)
    assert last.status == S.REFUNDED and refund.amount == 2500
    assert sum(r.amount for r in _refunds(world, ticket)) == 7500
    assert _left(world) == 4
    invariants(world)


def test_a_quantity_beyond_the_seats_the_ticket_holds_is_a_400_naming_quantity_and_writes_nothing() -> None:
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 2)
    for quantity in (3, 0):
        with pytest.raises(InvalidField) as refused:
            _refund(world, ticket, quantity)
        assert refused.value.field == "quantity" and "between 1 and 2" in refused.value.message
    _refund(world, ticket, 1)
    before = world.ticket(ticket.ticket_id)
    with pytest.raises(InvalidField, match="between 1 and 1"):
        _refund(world, before, 2)
    assert world.ticket(ticket.ticket_id) == before and len(_refunds(world, ticket)) == 1


def test_a_partial_refund_larger_than_what_stripe_can_still_refund_is_refused_and_nothing_moves() -> None:
    """Policy: the seats' price must still be refundable at Stripe (Dashboard refunds and lost
    disputes took the rest): else a 400 naming quantity that says how much is left; nothing written."""
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 3)
    assert ticket.payment_intent is not None
    world.stripe.refund(ticket.payment_intent, 6000)  # the Dashboard returned 60.00 of 75.00
    world.service.refunded_at_provider(ticket.payment_intent)
    before = world.ticket(ticket.ticket_id)
    with pytest.raises(InvalidField) as refused:
        _refund(world, before, 1)
    assert refused.value.field == "quantity"
    # What it returns, what is left, why, and what staff can do instead.
    assert refused.value.message == (
        "quantity: refunding 1 of its seats returns 25.00 EUR, and only 15.00 EUR of this payment can still be refunded "
        "(refunds in Stripe's Dashboard or a dispute returned the rest): refund fewer seats, or the whole ticket"
    )
    assert world.ticket(ticket.ticket_id) == before and _left(world) == 1
    # The whole ticket still can be refunded: the rest of the payment goes back.
    refunded, refund = _refund(world, before)
    assert refunded.status == S.REFUNDED and refund.amount == 1500


def test_a_partial_refund_of_a_disputed_payment_is_refused_and_leaves_the_ticket_as_it_was() -> None:
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 2)
    assert ticket.payment_intent is not None
    world.stripe.disputed.add(ticket.payment_intent)
    with pytest.raises(BadRequest, match="disputed"):
        _refund(world, ticket, 1)
    assert world.ticket(ticket.ticket_id) == ticket and _left(world) == 2
    invariants(world)


def test_a_partial_refund_cut_off_at_stripe_is_finished_once_by_the_reconciliation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stripe does not answer: the ticket holds the refund owed (its seats not back yet), listed with
    the tickets whose refund is owed; the reconciliation's step makes the refund once, under the
    same key, and returns the seat."""
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 2)
    refund_part = world.stripe.refund_part

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ApiError("Stripe is unavailable")

    monkeypatch.setattr(world.stripe, "refund_part", unavailable)
    with pytest.raises(ApiError):
        _refund(world, ticket, 1)
    owed = world.ticket(ticket.ticket_id)
    assert (owed.status, owed.seat_refund_quantity, owed.refunded_quantity, _left(world)) == (S.PAID, 1, 0, 2)
    assert [t.ticket_id for t in world.store.unsettled(S.REFUNDING)] == [ticket.ticket_id]
    monkeypatch.setattr(world.stripe, "refund_part", refund_part)
    assert world.service.settle_open_ticket(owed) == Outcome.SEATS_REFUNDED
    done = world.ticket(ticket.ticket_id)
    assert (done.status, done.refunded_quantity, done.seat_refund_key, done.refund_amount) == (S.PAID, 1, None, 2500)
    assert [r.amount for r in _refunds(world, ticket)] == [2500] and _left(world) == 3
    assert world.store.unsettled(S.REFUNDING) == []
    invariants(world)


def _lose_writes(monkeypatch: pytest.MonkeyPatch, world: World) -> Any:
    """The write that records a seat refund fails (DynamoDB unavailable); returns the real one."""
    finish = world.store.refund_seats

    def lost(*args: Any, **kwargs: Any) -> Any:
        raise ApiError("DynamoDB is unavailable")

    monkeypatch.setattr(world.store, "refund_seats", lost)
    return finish


def test_a_partial_refund_made_at_stripe_whose_write_was_lost_is_not_made_twice_by_its_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refund was made, then the write that finishes it failed: the retry (the same request key)
    finds the refund at Stripe by its key and records it; no second refund."""
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 2)
    finish = _lose_writes(monkeypatch, world)
    with pytest.raises(ApiError):
        _refund(world, ticket, 1, key="retry-1")
    assert len(_refunds(world, ticket)) == 1
    monkeypatch.setattr(world.store, "refund_seats", finish)
    kept, refund = _refund(world, world.ticket(ticket.ticket_id), 1, key="retry-1")
    assert [r.id for r in _refunds(world, ticket)] == [refund.id]
    assert (kept.refunded_quantity, kept.seat_refund_key, _left(world)) == (1, None, 3)
    # Asked once more (its first answer lost too): the same refund, nothing more.
    again, same = _refund(world, world.ticket(ticket.ticket_id), 1, key="retry-1")
    assert same.id == refund.id and again.refunded_quantity == 1 and len(_refunds(world, ticket)) == 1
    invariants(world)


def test_another_request_finds_a_cut_off_partial_refund_finishes_it_and_then_makes_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two staff each refund one seat; the first is cut off after Stripe made its refund. The second
    (another request: no key, or another key) is not taken for its retry: the first's refund is
    recorded, then the second's made. Two requests, two seats, two refunds."""
    world = World(MemoryWorld(), capacity=5)
    ticket = _paid(world, 4)
    finish = _lose_writes(monkeypatch, world)
    with pytest.raises(ApiError):
        _refund(world, ticket, 1, key="staff-a")
    monkeypatch.setattr(world.store, "refund_seats", finish)
    kept, refund = _refund(world, world.ticket(ticket.ticket_id), 1)
    assert [r.amount for r in _refunds(world, ticket)] == [2500, 2500]
    assert refund.id == _refunds(world, ticket)[0].id  # its own, the newer (Stripe lists newest first)
    assert (kept.refunded_quantity, kept.quantity_held, kept.refund_amount, _left(world)) == (2, 2, 5000, 3)
    invariants(world)


def test_a_retry_asking_other_seats_than_its_first_attempt_is_a_422_and_moves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same request key with another quantity after its first attempt was cut off (owed, or made
    and recorded): the key names a request that asked something else."""
    from payments.errors import Unprocessable

    world = World(MemoryWorld(), capacity=5)
    ticket = _paid(world, 4)
    finish = _lose_writes(monkeypatch, world)
    with pytest.raises(ApiError):
        _refund(world, ticket, 1, key="k")
    with pytest.raises(Unprocessable):
        _refund(world, world.ticket(ticket.ticket_id), 2, key="k")  # owed, made at Stripe, not recorded
    assert len(_refunds(world, ticket)) == 1 and world.ticket(ticket.ticket_id).refunded_quantity == 0
    monkeypatch.setattr(world.store, "refund_seats", finish)
    kept, _ = _refund(world, world.ticket(ticket.ticket_id), 1, key="k")
    assert kept.refunded_quantity == 1
    with pytest.raises(Unprocessable):
        _refund(world, world.ticket(ticket.ticket_id), 2, key="k")  # recorded: found at Stripe
    assert len(_refunds(world, ticket)) == 1 and world.ticket(ticket.ticket_id).refunded_quantity == 1
    assert _left(world) == 2
    invariants(world)


def test_a_retry_whose_refund_stripe_then_refuses_is_a_400_and_the_ticket_keeps_its_seats(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut off after its decision, before Stripe; meanwhile most of the payment went back in the
    Dashboard: the retry finishes its own refund, Stripe refuses it (less left), and it is told so
    as the first attempt would have been (a 400 naming quantity), no seat moved."""
    world = World(MemoryWorld(), capacity=5)
    ticket = _paid(world, 4)
    assert ticket.payment_intent is not None
    make = world.stripe.refund_part

    def cut_off(*args: Any, **kwargs: Any) -> Any:
        raise ApiError("the Lambda timed out")

    monkeypatch.setattr(world.stripe, "refund_part", cut_off)
    with pytest.raises(ApiError):
        _refund(world, ticket, 2, key="k")
    monkeypatch.setattr(world.stripe, "refund_part", make)
    world.stripe.refund(ticket.payment_intent, amount=9000)  # in the Dashboard: 10.00 EUR left
    with pytest.raises(InvalidField) as refused:
        _refund(world, world.ticket(ticket.ticket_id), 2, key="k")
    assert refused.value.field == "quantity"
    stored = world.ticket(ticket.ticket_id)
    assert (stored.status, stored.refunded_quantity, stored.seat_refund_key, _left(world)) == (S.PAID, 0, None, 1)


def test_two_partial_refunds_at_once_never_refund_the_same_seats(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second request reads the ticket, then the first one runs whole before its write: its write,
    conditioned on the ticket as read, fails; it decides again from the ticket as it is then."""
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 3)
    owe = world.store.owe_seat_refund
    raced: list[bool] = []

    def first_runs_first(read: Ticket, *args: Any, **kwargs: Any) -> Ticket:
        if not raced:
            raced.append(True)
            _refund(world, read, 2)
        return owe(read, *args, **kwargs)

    monkeypatch.setattr(world.store, "owe_seat_refund", first_runs_first)
    kept, _ = _refund(world, ticket, 1)
    assert kept.status == S.REFUNDED  # 2 + 1: the last seat refunds the ticket
    assert sorted(r.amount for r in _refunds(world, ticket)) == [2500, 5000]
    assert _left(world) == 4
    invariants(world)


def test_the_door_admits_only_the_seats_a_partly_refunded_ticket_still_holds() -> None:
    from payments.domain.door import DoorService
    from payments.errors import Conflict

    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 3)
    door = DoorService(world.stores.tickets, clock=lambda: world.clock)
    _refund(world, ticket, 2)
    with pytest.raises(Conflict):
        door.check_in(STAFF, CheckInRequest(ticket_code=ticket.ticket_code, event_id=world.paid_event.event_id, count=2))
    admitted = door.check_in(STAFF, CheckInRequest(ticket_code=ticket.ticket_code, event_id=world.paid_event.event_id))
    assert admitted.checked_in == 1
    invariants(world)


def test_a_partial_refund_after_admission_keeps_the_admitted_peoples_seats() -> None:
    """Two of three admitted, then two seats refunded: their money goes back, but only the seat of
    the one not admitted goes back on sale (the door policy: those in the venue keep theirs)."""
    from payments.domain.door import DoorService

    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 3)
    door = DoorService(world.stores.tickets, clock=lambda: world.clock)
    door.check_in(STAFF, CheckInRequest(ticket_code=ticket.ticket_code, event_id=world.paid_event.event_id, count=2))
    kept, refund = _refund(world, world.ticket(ticket.ticket_id), 2)
    assert refund.amount == 5000
    assert (kept.refunded_quantity, kept.quantity_held, kept.checked_in) == (2, 1, 2)
    assert _left(world) == 2  # 1 left before, + the one seat not admitted
    stored = world.ticket(ticket.ticket_id)
    assert sum(stored.parts.values()) == 2
    invariants(world)


def test_a_partial_refund_decided_meanwhile_is_finished_first_never_overwritten(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between this request's read and its decision, another request decided a refund of one seat
    and Stripe made it (its last write not done yet): this request's decision is refused (one owed
    at a time), the other one is finished first (found at Stripe by its key, not made again), then
    this one is decided from the ticket as that left it. Every seat refunded has its price back."""
    world = World(MemoryWorld(), capacity=5)
    ticket = _paid(world, 4)
    assert ticket.payment_intent is not None
    intent = ticket.payment_intent
    owe = world.store.owe_seat_refund
    other = "ticket-seat-refund-other"

    def another_decided_and_made_first(read: Ticket, *args: Any, **kwargs: Any) -> Ticket:
        if not world.stripe.refunds.get(intent):
            owe(read, other, 1, 2500, "requested_by_staff")
            metadata = {"ticket_id": str(read.ticket_id), "reason": "requested_by_staff", "seat_refund": other}
            world.stripe.refund_part(intent, 2500, metadata=metadata, idempotency_key=other)
        return owe(read, *args, **kwargs)

    monkeypatch.setattr(world.store, "owe_seat_refund", another_decided_and_made_first)
    kept, refund = _refund(world, ticket, 2)
    assert refund.amount == 5000
    assert sorted(r.amount for r in _refunds(world, ticket)) == [2500, 5000]
    assert (kept.status, kept.refunded_quantity, kept.quantity_held, kept.refund_amount) == (S.PAID, 3, 1, 7500)
    assert _left(world) == 4
    invariants(world)


@pytest.mark.parametrize("stores", ["memory", "moto"])
def test_a_whole_refund_read_before_a_partial_refund_finished_gives_back_only_the_seats_left(
    stores: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole refund reads the paid ticket (3 seats, none refunded), then a one-seat partial refund
    runs whole before its decision: the whole refund must give back the 2 seats the ticket still
    holds, not the 3 it read (the seats written back are conditioned on the seats refunded as read,
    on an unsharded ticket too). Capacity stays 4: never 5 seats for sale."""
    from tests.support.store_worlds import moto_world

    with moto_world() if stores == "moto" else _memory() as stores_world:
        world = World(stores_world, capacity=4)
        ticket = _paid(world, 3)
        assert ticket.seat_parts is None  # the one-shard event's ticket: its seats on the event's item
        apply = world.store.apply
        raced: list[bool] = []

        def partial_first(read: Ticket, trigger: Any, *args: Any, **kwargs: Any) -> Ticket:
            if not raced:
                raced.append(True)
                _refund(world, read, 1)
            return apply(read, trigger, *args, **kwargs)

        monkeypatch.setattr(world.store, "apply", partial_first)
        refunded, _ = _refund(world, ticket)
        assert raced and refunded.status == S.REFUNDED
        assert sorted(r.amount for r in _refunds(world, ticket)) == [2500, 5000]
        assert _left(world) == 4
        invariants(world)


# a retry whose refund failed later ------------------------------------------------------------------
@pytest.mark.parametrize("quantity", [1, None, 3], ids=["one seat", "whole", "last seats"])
def test_a_retry_whose_refund_failed_later_is_a_409_and_refunds_nothing_and_a_new_key_refunds(quantity: int | None) -> None:
    """One key, one refund: a request whose refund was made (its answer lost) and then failed at
    the customer's bank is told so on its retry (409 naming the refund), not refunded again; a
    new request with a new key refunds the ticket again."""
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 3)
    intent = ticket.payment_intent
    assert intent is not None
    _, made = _refund(world, ticket, quantity, key="K")
    world.stripe.fail_refund(made.id)
    world.service.refunded_at_provider(intent)
    assert world.ticket(ticket.ticket_id).status == S.PAID
    with pytest.raises(Conflict, match=f"{made.id}.*new Idempotency-Key"):
        _refund(world, ticket, quantity, key="K")
    assert [(r.id, r.status) for r in _refunds(world, ticket)] == [(made.id, "failed")]
    invariants(world)

    again, refund = _refund(world, ticket, quantity, key="K2")
    assert refund.id != made.id and refund.status == "succeeded"
    assert again.status == (S.PAID if quantity == 1 else S.REFUNDED)
    invariants(world)


def test_a_whole_refund_retried_under_its_key_with_another_reason_is_a_422() -> None:
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 2)
    world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, reason="Cancelled"), "K")
    with pytest.raises(Unprocessable):
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, reason="Another"), "K")
    # The same request again is answered with its refund.
    _, refund = world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, reason="Cancelled"), "K")
    assert [r.id for r in _refunds(world, ticket)] == [refund.id]


def test_a_whole_refund_refused_for_a_dispute_is_refused_again_on_its_retry_not_a_409() -> None:
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 2)
    assert ticket.payment_intent is not None
    world.stripe.dispute(ticket.payment_intent)
    for _ in range(2):
        with pytest.raises(BadRequest, match="disputed"):
            _refund(world, ticket, key="K")
    assert _refunds(world, ticket) == [] and world.ticket(ticket.ticket_id).status == S.PAID


def test_a_refused_whole_refund_keeps_no_tag_so_its_key_may_carry_another_body() -> None:
    """A first attempt Stripe refused (a disputed charge: 400) keeps nothing: the same key with
    another reason is a request of its own (refused again here), not a 422."""
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 2)
    assert ticket.payment_intent is not None
    world.stripe.dispute(ticket.payment_intent)
    with pytest.raises(BadRequest, match="disputed"):
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, reason="First"), "K")
    assert world.ticket(ticket.ticket_id).refund_request is None
    with pytest.raises(BadRequest, match="disputed"):
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, reason="Second"), "K")


def test_a_refund_without_a_key_is_no_earlier_requests_and_a_stored_tag_of_no_known_form_is_ignored() -> None:
    """A keyless whole refund clears an earlier request's tag from the ticket (its refund is not
    that request's: that request's retry is not told of a refund it never made); a tag in a form
    this code does not write (an older one) is ignored, not a 500."""
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 2)
    assert ticket.payment_intent is not None
    world.stores.tickets.apply(
        world.ticket(ticket.ticket_id), Trigger.REFUND_DUE, {"refund_reason": "staff", "refund_request": "1-2-abcdef"}
    )
    refunded, refund = _refund(world, ticket)
    assert refunded.status == S.REFUNDED and refund.request is None
    assert world.ticket(ticket.ticket_id).refund_request == "1-2-abcdef"  # finished, not decided anew: kept
    _, again = _refund(world, ticket, key="K")
    assert again.id == refund.id

    other = _paid(world, 1)
    world.stores.tickets.apply(
        world.ticket(other.ticket_id), Trigger.REFUND_DUE, {"refund_reason": "staff", "refund_request": "all-00000000-tagofk1"}
    )
    world.stores.tickets.apply(world.ticket(other.ticket_id), Trigger.REFUND_REFUSED, removed=("refund_reason",))
    assert world.ticket(other.ticket_id).status == S.PAID
    _, made = _refund(world, other)
    assert made.request is None and world.ticket(other.ticket_id).refund_request is None


def test_each_seat_refund_names_its_seats_in_its_key_and_stripes_metadata() -> None:
    """A seat refund's key names the seats it refunds, counted from 1 on from those refunded before
    (``ticket-seat-refund-{ticket}-{first}-{last}-{tag}``): Stripe's refund carries it in its
    metadata (``seat_refund``), which is what staff see in the Dashboard and what finds it again;
    the last seats, a whole refund, keep theirs in the ticket's ``refund_request``."""
    from payments.domain.tickets import _digest

    world = World(MemoryWorld(), capacity=5)
    ticket = _paid(world, 4)
    _refund(world, ticket, 1, key="first")
    _refund(world, world.ticket(ticket.ticket_id), 2, key="second")
    tid = ticket.ticket_id
    assert [r.seat_refund for r in reversed(_refunds(world, ticket))] == [
        f"ticket-seat-refund-{tid}-1-1-{_digest('first', 16)}",
        f"ticket-seat-refund-{tid}-2-3-{_digest('second', 16)}",
    ]
    last, _ = _refund(world, world.ticket(ticket.ticket_id), 1, key="third")
    assert last.status == S.REFUNDED
    assert last.refund_request is not None and last.refund_request.startswith("4-4-")
    invariants(world)


def test_a_seat_refund_that_completes_the_payment_answers_with_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of the payment went back between Stripe making the seat refund and its write (a
    Dashboard refund): the ticket is refunded, its seat refund counted, and the staff's answer is the
    seat refund they asked for, not a 400 saying too little is left."""
    world = World(MemoryWorld(), capacity=4)
    ticket = _paid(world, 3)
    assert ticket.payment_intent is not None
    intent = ticket.payment_intent
    refund_part = world.stripe.refund_part

    def and_the_dashboard_refunds_the_rest(*args: Any, **kwargs: Any) -> Any:
        made = refund_part(*args, **kwargs)
        world.stripe.refund(intent)  # the rest (50.00 EUR), in the Dashboard, before our write
        return made

    monkeypatch.setattr(world.stripe, "refund_part", and_the_dashboard_refunds_the_rest)
    refunded, refund = _refund(world, ticket, 1)
    seat_refund = next(r for r in _refunds(world, ticket) if r.seat_refund is not None)
    assert (refund.id, refund.amount, refund.seat_refund) == (seat_refund.id, 2500, seat_refund.seat_refund)
    assert (refunded.status, refunded.refund_amount, refunded.refunded_quantity) == (S.REFUNDED, 7500, 1)
    assert _left(world) == 4
    invariants(world)
