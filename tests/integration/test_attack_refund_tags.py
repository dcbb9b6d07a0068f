"""Attack on the staff refund's request tags (927f190: a whole refund's retry under its
Idempotency-Key whose refund failed later is a 409, not a second refund) and on the seat refund
counted with a whole refund (c144407).

Written by an independent helper without reading the tests; each test failed at 927f190 and
c144407. All three hold since: findings 1 and 3 since the retry brings the ticket to Stripe's facts
before it decides (a 409 in either order); finding 2 since a request finishing a refund another
decided makes it under its own tag (its retry then finds it). Each test is a break
of the rules: one Idempotency-Key makes one refund (a retry whose refund was
made and then failed at the customer's bank is a 409 naming it), and the final state depends only on
Stripe's facts, not on the order its webhooks arrive. The domain scenarios run through
``TicketService`` over both stores (in memory, and DynamoDB via moto) with the Stripe stub of
``tests.support.lifecycle_world``; one runs through the real handlers against moto and the local
Stripe."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from local.stripe_fake import StripeFake
from payments.domain.lifecycle import StripeRefund, Ticket, TicketStatus
from payments.errors import Conflict
from payments.models.tickets import RefundTicketRequest
from tests.support.flows import STAFF as STAFF_GROUPS
from tests.support.flows import buy, create_event, deliver_webhook, pay
from tests.support.lambdas import ApiResult, api_event, invoke
from tests.support.lifecycle_world import STAFF, World, invariants
from tests.support.store_worlds import MemoryWorld, moto_world

S = TicketStatus
KEY = "ticket-refund-1-provider-key-of-the-first-request"


class CutOff(Exception):
    """The request's Lambda dies here (a timeout): nothing after it runs, no answer is kept."""


@pytest.fixture(params=["memory", "moto"])
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(secrets, "randbelow", lambda shards: 0)
    if request.param == "memory":
        yield World(MemoryWorld(), capacity=4)
    else:
        with moto_world() as stores:
            yield World(stores, capacity=4)


def _refund(world: World, ticket_id: int, key: str | None, quantity: int | None = None) -> tuple[Ticket, StripeRefund]:
    return world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket_id, quantity=quantity), key)


def _refunds_at_stripe(world: World, intent: str) -> list[StripeRefund]:
    return world.stripe.refunds_of(intent)


# 1. the 409 depends on the failure's webhook having come first --------------------------------
@pytest.mark.parametrize("quantity", [None, 2], ids=["whole", "last_seats"])
def test_retry_whose_refund_failed_before_its_webhook_came_makes_a_second_refund(world: World, quantity: int | None) -> None:
    """Scenario: a paid ticket of 2 seats; staff refund it with an Idempotency-Key (the whole
    ticket, or ``quantity`` 2: its last seats, a whole refund too); the refund r1 is made (its
    metadata names the request's tag) and the ticket is refunded. The card's bank then returns r1
    (failed at Stripe) and its webhook has not been delivered yet (Stripe delivers late: an
    endpoint down, retried for up to 3 days). The request is retried under the same key with the
    same body (its first answer not kept: cut off, or past the 24-hour idempotency record).

    Observed: the retry reads the ticket ``refunded``, so ``_own_refund_failed`` (which only looks
    at a ``paid`` ticket) lets it through; ``_refund_whole`` reads the money back, finds r1 failed,
    makes the ticket paid again, then decides and makes a NEW refund r2 under the same request tag:
    200 naming r2, two refunds at Stripe carrying the same ``refund_request`` tag, ticket refunded.
    Had the failure's webhook come first (the ticket ``paid``), the very same retry is a 409 naming
    r1 and moves nothing, and the ticket stays paid.

    Expected: the 409 naming r1 in both orders, one refund at Stripe for the key, the ticket paid
    (seats held) as the webhook leaves it.

    Rules broken: one Idempotency-Key makes one refund (927f190's promise: "a retry whose refund was
    made and then failed ... is a 409 naming that refund, not a second refund"); the final state
    depends only on Stripe's facts, not on the order its webhooks arrive (same facts, same request:
    paid + 409 one way, refunded + a second refund the other)."""
    ticket = world.paid()
    intent = ticket.payment_intent
    assert intent is not None
    _, first = _refund(world, ticket.ticket_id, KEY, quantity)
    assert world.ticket(ticket.ticket_id).status == S.REFUNDED
    world.stripe.fail_refund(first.id)  # the bank returns it; refund.failed not delivered yet

    with pytest.raises(Conflict, match=first.id):
        _refund(world, ticket.ticket_id, KEY, quantity)

    assert [(r.id, r.status) for r in _refunds_at_stripe(world, intent)] == [(first.id, "failed")]
    invariants(world)


# 2. the refund the request made is tagged with another request ---------------------------------
def test_retry_whose_refund_another_request_decided_makes_a_second_refund(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenario: staff refund a paid ticket with key K1; the request writes its decision (ticket
    ``refunding``, ``refund_request`` = all-...-tag(K1)) and dies before calling Stripe (a Lambda
    timeout: no answer). Staff send the refund again with a new key K2 (their client drew a new
    one); K2 finishes it: r is made and K2 is answered 200 naming r. The card's bank returns r, and
    its webhook makes the ticket paid again. K2 is retried under the same key and body (its answer
    not kept: past the 24-hour record, or cut off on the way back).

    Observed: r carries K1's tag in its metadata (``_finish_refund`` tags it with the ticket's
    ``refund_request``, whoever makes it) and K2's own decision was never written (the ticket was
    already refunding), so the retry finds no refund of K2: 200 with a NEW refund r2 under K2.

    Expected: a 409 naming r (the refund K2 made and answered with), nothing moved: the ticket
    stays paid.

    Rule broken: one Idempotency-Key makes one refund; a retry whose refund was made and then
    failed is a 409 naming it (927f190), not a second refund."""
    ticket = world.paid()
    intent = ticket.payment_intent
    assert intent is not None
    made_for_real = world.stripe.refund_rest

    def dies_before_stripe(*args: Any, **kwargs: Any) -> Any:
        raise CutOff()

    monkeypatch.setattr(world.stripe, "refund_rest", dies_before_stripe)
    with pytest.raises(CutOff):
        _refund(world, ticket.ticket_id, "k1-provider-key")
    monkeypatch.setattr(world.stripe, "refund_rest", made_for_real)
    assert world.ticket(ticket.ticket_id).status == S.REFUNDING

    _, made = _refund(world, ticket.ticket_id, "k2-provider-key")  # K2 is answered with r
    world.stripe.fail_refund(made.id)
    world.service.refunded_at_provider(intent)  # the failure's webhook: paid again
    assert world.ticket(ticket.ticket_id).status == S.PAID

    with pytest.raises(Conflict, match=made.id):
        _refund(world, ticket.ticket_id, "k2-provider-key")

    assert [(r.id, r.status) for r in _refunds_at_stripe(world, intent)] == [(made.id, "failed")]
    assert world.ticket(ticket.ticket_id).status == S.PAID
    invariants(world)


# 3. finding 1 through the real handler, moto and the local Stripe ---------------------------------
def _http_refund(ticket_id: int, key: str) -> ApiResult:
    event = api_event("refund_ticket", {"ticket_id": ticket_id}, user="user-staff", groups=STAFF_GROUPS, headers={"idempotency-key": key})
    return invoke("refund_ticket", event)


@pytest.mark.usefixtures("dynamodb")
def test_http_retry_after_a_5xx_refunds_twice_when_the_failure_webhook_is_late(
    stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario (POST /api/payments/refund/, Idempotency-Key "staff-key-1"): the refund is made at
    Stripe and its answer is lost on the way back (503 for staff: Powertools keeps no answer for
    the key); charge.refunded is delivered, the ticket is refunded. The card's bank returns the
    refund (refund.failed emitted, not delivered yet). Staff retry, as the 503 invites, same key,
    same body.

    Observed: 200 "Ticket refunded" with a second refund; the local Stripe holds two refunds of the
    payment, both with metadata refund_request = the key's tag. With refund.failed delivered before
    the retry, the same retry is a 409 naming the first refund (checked by hand while attacking).

    Expected: 409 naming the failed refund, one refund at Stripe, whatever the webhook's timing.

    Rules broken: one Idempotency-Key, one refund; the final state depends on Stripe's facts, not
    on the order (and lateness) of its webhooks."""
    from payments.errors import ProviderUnavailable
    from payments.providers.stripe_gateway import StripeGateway

    event_id = create_event(price=Decimal("25.00"), capacity=10)
    bought = buy(event_id, 2)
    assert bought.status == 200, bought.body
    assert deliver_webhook(pay(stripe_fake, bought.body["session_id"])).status == 200
    ticket_id = int(bought.body["ticket_id"])
    made_for_real = StripeGateway.refund_rest

    def answer_lost(self: StripeGateway, *args: Any, **kwargs: Any) -> Any:
        made_for_real(self, *args, **kwargs)  # made at Stripe; the answer never comes back
        raise ProviderUnavailable()

    monkeypatch.setattr(StripeGateway, "refund_rest", answer_lost)
    first = _http_refund(ticket_id, "staff-key-1")
    monkeypatch.undo()
    assert first.status == 503, first.body
    (refund_id,) = stripe_fake.refunds
    for event in [e for e in stripe_fake.events if e["type"] == "charge.refunded"]:
        assert deliver_webhook(event).status == 200
    stripe_fake.fail_refund(refund_id)  # refund.failed and friends emitted, delivered late

    again = _http_refund(ticket_id, "staff-key-1")

    assert again.status == 409, again.body
    assert refund_id in again.body["error"]
    assert [(r["id"], r["status"]) for r in stripe_fake.refunds.values()] == [(refund_id, "failed")]
