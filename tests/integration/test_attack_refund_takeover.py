"""Attacks on 1f95f60: a staff whole refund finishing a refund another request decided (and left,
cut off before Stripe) makes it under its own request's tag instead of the deciding request's.

Written by an independent helper without reading the tests. Its finding (the deciding request,
answered with the refund another request made, refunded anew on its retry after that refund failed:
the change moved the break from one request to the other) holds since the refund's metadata names
both requests, the one that made it and the one that decided it.

Each test runs on the in-memory stores and on DynamoDB (moto), through the domain as wiring builds
it (``tests.support.lifecycle_world.World``) with its Stripe stub."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from payments.errors import Conflict
from payments.models.tickets import RefundTicketRequest
from tests.support.lifecycle_world import STAFF, World, invariants
from tests.support.store_worlds import MemoryWorld, moto_world


@pytest.fixture(params=["memory", "moto"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "memory":
        yield World(MemoryWorld())
    else:
        with moto_world() as stores:
            yield World(stores)


class Died(Exception):
    """The Lambda cut off (a timeout) before its call reached Stripe."""


def _decided_and_died(world: World, monkeypatch: pytest.MonkeyPatch, key: str) -> int:
    """Staff refund a paid ticket with ``key``; the request writes its decision (refunding, its tag
    kept on the ticket) and dies before Stripe is asked."""
    ticket = world.paid()
    real = world.stripe.refund_rest

    def dies(*args: Any, **kwargs: Any) -> Any:
        raise Died

    monkeypatch.setattr(world.stripe, "refund_rest", dies)
    with pytest.raises(Died):
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id), request_key=key)
    monkeypatch.setattr(world.stripe, "refund_rest", real)
    assert world.ticket(ticket.ticket_id).status == "refunding"
    return ticket.ticket_id


def _refund(world: World, ticket_id: int, key: str) -> Any:
    return world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket_id), request_key=key)


@pytest.mark.parametrize("failure_webhook_first", [True, False])
def test_deciding_request_answered_with_the_takeover_refund_refunds_anew_after_it_failed(
    world: World, monkeypatch: pytest.MonkeyPatch, failure_webhook_first: bool
) -> None:
    """Scenario: staff refund a paid ticket with key K1; the request writes its decision (ticket
    ``refunding``, ``refund_request`` = K1's tag) and dies before Stripe. A second staff request K2
    finishes it: since 1f95f60 the refund re_0 is made under K2's tag. K1's client retries and is
    answered 200 naming re_0 as the refund of its request. re_0 then fails at the customer's bank
    (its webhook before or after K1's next retry). K1's client retries once more.

    Observed: the retry of K1 makes a second refund (re_1) of the ticket: K1 decided the refund,
    was told re_0 was it, and its retry after re_0 failed refunds anew (the ticket still carries
    K1's tag as its ``refund_request``, yet the refund at Stripe no longer does). Before 1f95f60
    this retry was a 409; the change moved the open finding from K2's retry to K1's.

    Expected: a 409 naming re_0 (the ticket paid again), as for any retry whose refund was made
    and then failed later; no new refund at Stripe.

    Rule broken: a retry whose own refund was made and then failed later is a 409, not a new
    refund (one Idempotency-Key, one refund)."""
    ticket_id = _decided_and_died(world, monkeypatch, "K1")
    _, made = _refund(world, ticket_id, "K2")
    intent = world.ticket(ticket_id).payment_intent
    assert intent is not None
    assert world.ticket(ticket_id).status == "refunded"
    _, answered = _refund(world, ticket_id, "K1")  # K1's retry: its answer names re_0
    assert answered.id == made.id
    world.stripe.fail_refund(made.id)
    if failure_webhook_first:
        world.service.refunded_at_provider(intent)
    with contextlib.suppress(Conflict):  # the expected answer: a 409 naming re_0
        _refund(world, ticket_id, "K1")
    refunds = world.stripe.refunds_of(intent)
    assert [r.id for r in refunds] == [made.id], f"K1's retry made a new refund: {refunds}"
    invariants(world)
