"""A second independent attack on staff partial refunds, at 4979784 (after the first attack's
fixes), without reading the feature's tests: each test failed there on a real break (the docstrings
say what broke) and holds since the fixes that followed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from payments.domain.lifecycle import Outcome, TicketStatus
from payments.models.tickets import RefundTicketRequest
from tests.support.lifecycle_world import STAFF, World, invariants
from tests.support.store_worlds import MemoryWorld, moto_world

S = TicketStatus


@pytest.fixture(params=["memory", "moto"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "memory":
        yield World(MemoryWorld(), capacity=4)
    else:
        with moto_world() as stores:
            yield World(stores, capacity=4)


def _paid(world: World, quantity: int = 3):
    ticket = world.reserve(quantity=quantity)
    world.service.settle(world.stripe.pay(world.session(ticket)))
    return world.ticket(ticket.ticket_id)


def test_seat_refund_failing_after_the_whole_refund_gives_the_refunded_seats_back_for_free(world: World) -> None:
    """A ticket of 3 seats at 25: staff refund 1 seat (25 back, P), then the whole ticket (the
    rest, 50 back, R): refunded, every seat back on sale. Days later P fails at Stripe (the bank
    returns it); R stands. Rule: money never lost; a ticket re-takes seats only when their money
    is not back (docs: a failed partial refund's seats stay on sale and the ticket keeps the rest;
    here the rest was refunded). Observed: the ticket is `paid` again holding 2 seats (and its pass
    admits 2 people) though R returned those 2 seats' price: 75 paid, 50 back, 2 seats kept for 25
    net. (When the event is sold out instead, the same failure makes it `refunding` and the 25 is
    refunded again, as it should be.)"""
    ticket = _paid(world, 3)
    intent = ticket.payment_intent
    assert intent is not None
    _, partial = world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=1))
    refunded, whole = world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id))
    assert refunded.status == S.REFUNDED and whole.amount == 5000 and partial.amount == 2500
    assert sum(world.stores.inspect.seats(world.paid_event.event_id).values()) == 4
    world.stripe.fail_refund(partial.id)
    world.service.refunded_at_provider(intent)
    after = world.ticket(ticket.ticket_id)
    invariants(world)
    back = sum(r.amount for r in world.stripe.refunds_of(intent) if r.returned)
    assert back == 5000
    # R stands: the 2 seats it refunded must not be held (nor admitted) again for nothing.
    assert not (after.status == S.PAID and after.quantity_held == 2), (after.status, after.quantity_held, after.refund_amount)
    # What the failed refund no longer returns is owed again (the seats stay on sale), and the step
    # the reconciliation runs makes it: all 75 back, once, the ticket refunded.
    assert (after.status, after.refund_amount) == (S.REFUNDING, 5000)
    assert sum(world.stores.inspect.seats(world.paid_event.event_id).values()) == 4
    assert world.service.settle_open_ticket(after) == Outcome.REFUNDED
    assert sum(r.amount for r in world.stripe.refunds_of(intent) if r.returned) == 7500
    assert world.ticket(ticket.ticket_id).status == S.REFUNDED
    invariants(world)


def _refund_call(body: dict[str, Any], key: str | None = None) -> Any:
    from tests.support.flows import STAFF as STAFF_GROUP
    from tests.support.lambdas import api_event, invoke

    event = api_event("refund_ticket", body, user="user-staff", groups=STAFF_GROUP, headers={"idempotency-key": key} if key else None)
    if key is None:
        event["headers"].pop("idempotency-key", None)
    return invoke("refund_ticket", event)


def _bought_and_paid(stripe_fake: Any, quantity: int = 3, capacity: int = 10) -> tuple[int, dict[str, Any]]:
    from tests.support.flows import buy, create_event, pay, verify

    event_id = create_event(price=25, capacity=capacity)
    body = buy(event_id, quantity).body
    pay(stripe_fake, body["session_id"])
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    return event_id, body


def test_same_idempotency_key_with_the_quantity_dropped_refunds_the_whole_ticket(dynamodb, stripe_fake) -> None:
    """Staff refund 1 seat of a ticket of 3 with Idempotency-Key K (200, answer kept). The same key
    K is then sent with another body: the same ticket without `quantity`. Rule (docs/api.md,
    lifecycle.md 'Retries'): the same key with another body, while the first answer is kept, is a
    422 and moves nothing. Observed: the key is ignored without `quantity`; it is a 200 that
    refunds the other 2 seats (50.00 more back)."""
    _, body = _bought_and_paid(stripe_fake, 3)
    first = _refund_call({"ticket_id": body["ticket_id"], "quantity": 1}, key="refund-k-1")
    assert first.status == 200, first.body
    again = _refund_call({"ticket_id": body["ticket_id"]}, key="refund-k-1")
    assert again.status == 422, again.body


def test_retry_of_a_last_seats_refund_completed_with_a_dashboard_refund_is_refused_as_another_body(world: World) -> None:
    """A ticket of 3 at 25: 1 seat refunded by staff. Staff refund the rest in Stripe's Dashboard
    (50), its webhook not in yet; then request K asks `quantity` 2 (its last seats: a whole refund,
    `refund_request` kept): nothing is left to refund, the ticket is `refunded`, answered 200. K's
    answer is lost (cut off before it was kept) and K is sent again, the very same body. Rule
    (lifecycle.md 'Retries'): the retry finds its refund its own and answers it; 422 only for
    another body. Observed: 422 'Idempotency-Key was already used with a different request body':
    the retry compares the request's reason with the ticket's `refund_reason`, which the money step
    set to the reason of the fact that completed it (the Dashboard's)."""
    ticket = _paid(world, 3)
    intent = ticket.payment_intent
    assert intent is not None
    world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=1))
    world.stripe.refund(intent, 5000, reason=None)  # the Dashboard; its webhook not delivered yet
    request = RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=2)
    done, first = world.service.refund(STAFF, request, "ticket-seat-refund-key-K")
    assert done.status == S.REFUNDED
    again, second = world.service.refund(STAFF, request, "ticket-seat-refund-key-K")
    assert second.id == first.id and again.status == S.REFUNDED
