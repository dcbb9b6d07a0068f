"""Attacks on staff partial refunds (POST /api/payments/refund/ with ``quantity``), written by an
independent attack at 24f19a7 without reading the feature's tests: each failed there on a real break
of the contract in docs/lifecycle.md "Partial refunds by staff" (the docstrings say what broke) and
holds since the fixes that followed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from payments.domain.lifecycle import Ticket, TicketStatus
from payments.models.tickets import RefundTicketRequest
from tests.support.lifecycle_world import ALICE, STAFF, World
from tests.support.store_worlds import moto_world

S = TicketStatus


@pytest.fixture
def world() -> Iterator[World]:
    with moto_world() as stores:
        yield World(stores, capacity=4)


def paid(world: World, quantity: int) -> Ticket:
    ticket = world.reserve(ALICE, quantity)
    world.service.settle(world.stripe.pay(world.session(ticket)))
    return world.ticket(ticket.ticket_id)


class AnswerLostOnce:
    """A DynamoDB client whose first write matching ``marker`` (in its ConditionExpression) is
    applied and its answer lost on the wire; botocore (standard retry mode: a read timeout is a
    transient error) sends the very same request again, which DynamoDB then answers as any second
    conditional write: ConditionalCheckFailedException. (Transactions carry a ClientRequestToken
    and are idempotent across that retry; a single UpdateItem is not.)"""

    def __init__(self, client: Any, marker: str) -> None:
        self._client, self._marker, self.armed = client, marker, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **request: Any) -> Any:
        if self.armed and self._marker in request.get("ConditionExpression", ""):
            self.armed = False
            self._client.update_item(**request)  # applied; the answer lost
            return self._client.update_item(**request)  # botocore's retry of the same request
        return self._client.update_item(**request)


@pytest.mark.parametrize("bought", [3, 2], ids=["second-seat-refunded", "whole-ticket-refunded"])
def test_lost_answer_of_the_owed_write_refunds_one_request_twice(world: World, bought: int) -> None:
    """A keyless partial refund of 1 seat. The write that decides it (``owe_seat_refund``, a single
    conditional UpdateItem) is applied but its answer is lost; botocore retries the same request,
    which now fails its condition (a refund is owed), so the domain gets StateChanged, re-reads,
    finds *its own* owed refund, takes it for another request's (``own`` is only ever true with a
    request key, though the random tag of this very request ends the owed key), finishes it, and
    then decides itself again: of 3 seats a second seat is refunded (two refunds at Stripe); of 2
    seats the one left equals the seats held, so the ticket is refunded whole.
    Breaks: one request is one refund; money back is what staff asked (it is doubled)."""
    ticket = paid(world, bought)
    repository = world.stores.tickets
    repository._client = AnswerLostOnce(repository._client, "attribute_not_exists(#seat_refund_key)")  # type: ignore[attr-defined]

    world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=1))

    after = world.ticket(ticket.ticket_id)
    back = [r.amount for r in world.stripe.refunds_of(ticket.payment_intent or "") if r.returned]
    assert back == [ticket.unit_amount], f"one seat asked, refunds made: {back}"
    assert after.status == S.PAID and after.refunded_quantity == 1, after


def test_retry_with_another_reason_after_a_refused_attempt_leaves_nothing_owed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attempt 1 (Idempotency-Key k, 1 seat, reason "A") is decided, then a Dashboard refund races it
    and Stripe refuses the amount: given up, 400, nothing moved; Stripe keeps that refusal under the
    seat refund's key ``ticket-seat-refund-{t}-1-1-{tag(k)}``. The Dashboard refund then fails later
    (the money is refundable again). Attempt 2, same key k (no answer was kept: the first was an
    error) with reason "B": the contract says 422, nothing moved. The domain decides the very same
    Stripe key again with other metadata; Stripe answers idempotency_error, the request is a 409
    and the seat refund stays owed on the ticket, where it cannot be made for 24 hours: every later
    refund of the ticket (a whole refund included) finishes it first and gets 409 too.
    Breaks: same key + other body is a 422 that writes nothing; a refused request writes nothing."""
    from payments.errors import InvalidField

    ticket = paid(world, 3)
    intent = ticket.payment_intent or ""
    owe = world.store.owe_seat_refund
    dashboard: list[str] = []

    def owe_then_dashboard_refund(*args: Any, **kwargs: Any) -> Ticket:
        owed = owe(*args, **kwargs)
        if not dashboard:  # between our check and Stripe's answer
            dashboard.append(world.stripe.refund(intent, 6000, reason=None).id)
        return owed

    monkeypatch.setattr(world.store, "owe_seat_refund", owe_then_dashboard_refund)
    with pytest.raises(InvalidField):
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=1, reason="A"), "client-key-k")
    world.service.refunded_at_provider(intent)
    world.stripe.fail_refund(dashboard[0])  # charge.refund.updated: failed
    world.service.refunded_at_provider(intent)
    assert world.ticket(ticket.ticket_id).seat_refund_key is None

    answer = "200"
    try:
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=1, reason="B"), "client-key-k")
    except Exception as refused:
        answer = type(refused).__name__
    owed = world.ticket(ticket.ticket_id).seat_refund_key
    # Staff then refund the whole ticket (what is left of the payment is all refundable).
    try:
        whole = str(world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id))[0].status)
    except Exception as refused:
        whole = type(refused).__name__
    # The first attempt was refused and given up: nothing of it is kept (no answer under the key,
    # nothing owed, nothing made), so the retry with reason B is decided as a request of its own.
    # Stripe sees it under its own key (the key names the reason too): made, not refused as a reused
    # key, and nothing is left owed to block the whole refund that follows.
    assert (answer, owed, whole) == ("200", None, "refunded")
    made = [r for r in world.stripe.refunds_of(intent) if r.seat_refund]
    assert [(r.amount, r.reason) for r in made] == [(2500, "B")]


def test_retry_of_a_last_seats_refund_cut_off_at_stripe_is_refused_400(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff refund the 2 seats a 2-seat ticket holds with Idempotency-Key k (``quantity`` == the
    seats held: a whole refund). The ticket becomes refunding, then Stripe is unavailable: 503, and
    no answer is kept under k. The retry (same key, same body) should finish its own refund and
    answer it ("the retry finishes its own refund if owed ... and answers it"); instead it is
    decided as a new partial refund of a ticket no longer paid: 400 "Ticket is refunding", and the
    refund stays unfinished until the hourly reconciliation. (Once refunded, the same retry is a
    400 "Ticket is refunded" where a whole refund answers 200 with the refund.)
    Breaks: a retry with the same key after an error answer finishes and answers its refund."""
    from payments.errors import ProviderUnavailable

    ticket = paid(world, 2)
    refund_rest = world.stripe.refund_rest
    calls: list[int] = []

    def unavailable_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ProviderUnavailable("Stripe is unavailable")
        return refund_rest(*args, **kwargs)

    monkeypatch.setattr(world.stripe, "refund_rest", unavailable_once)
    request = RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=2)
    with pytest.raises(ProviderUnavailable):
        world.service.refund(STAFF, request, "client-key-k")
    assert world.ticket(ticket.ticket_id).status == S.REFUNDING

    refunded, refund = world.service.refund(STAFF, request, "client-key-k")  # the retry
    assert refunded.status == S.REFUNDED and refund.amount == ticket.amount_total


def test_retry_with_another_reason_after_its_refund_was_recorded_is_answered_200(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key k, 1 seat of 3, reason "A": made at Stripe, then the recording write fails (DynamoDB
    unavailable: 503, no answer kept under k); the reconciliation records it. A retry with key k,
    1 seat and reason "B" finds its refund at Stripe by its key and answers it 200: only the seats
    are compared with the first request, not the reason (the owed branch compares both).
    Breaks: "asked with another quantity or reason, a 422, nothing moved" (nothing moves; the
    answer is 200 instead of 422)."""
    from payments.errors import Busy, Unprocessable

    ticket = paid(world, 3)
    refund_seats = world.store.refund_seats
    calls: list[int] = []

    def unavailable_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise Busy("DynamoDB is unavailable")
        return refund_seats(*args, **kwargs)

    monkeypatch.setattr(world.store, "refund_seats", unavailable_once)
    with pytest.raises(Busy):
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=1, reason="A"), "client-key-k")
    world.service.settle_open_ticket(world.ticket(ticket.ticket_id))  # the reconciliation
    assert world.ticket(ticket.ticket_id).refunded_quantity == 1

    with pytest.raises(Unprocessable):
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=1, reason="B"), "client-key-k")


def test_seat_refund_superseded_by_a_whole_refund_that_fails_later_keeps_its_seat(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole refund W reads a paid 3-seat ticket; a partial refund A of 1 seat is decided (owed);
    W's write (refunding) supersedes it (it is conditioned on the seats refunded, not on no seat
    refund owed); A's refund is made at Stripe anyway (2500), its recording finds the ticket
    refunding and A answers 200 "quantity_refunded 1". W refunds the rest (5000). W's refund then
    fails at Stripe (charge.refund.updated failed): the ticket is paid again and takes back all 3
    seats, A's seat included, although A's 2500 is back. In the sequential order (A recorded, then
    W, then W fails) the same facts leave the ticket holding 2 seats.
    Breaks: each seat's price is refunded at most once while it is held (seat 1's price is back
    and the door admits its holder); a 200 partial refund gives its seat back."""
    from payments.domain.lifecycle import Trigger
    from payments.domain.ports import StateChanged

    ticket = paid(world, 3)
    intent = ticket.payment_intent or ""
    apply, owe = world.store.apply, world.store.owe_seat_refund
    pending: dict[str, Any] = {}

    def owe_then_w_writes(*args: Any, **kwargs: Any) -> Ticket:
        owed = owe(*args, **kwargs)
        if "w" in pending:  # W's write lands right after A's decision
            w_args, w_kwargs = pending.pop("w")
            try:
                pending["w_written"] = apply(*w_args, **w_kwargs)
            except StateChanged as refused:  # conditioned on no seat refund owed, as W read
                pending["w_refused"] = refused
        return owed

    def w_apply(read: Ticket, trigger: Trigger, *args: Any, **kwargs: Any) -> Ticket:
        if trigger == Trigger.REFUND_DUE and "a" not in pending:
            pending["a"] = True
            pending["w"] = ((read, trigger, *args), kwargs)
            pending["a_answer"] = world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id, quantity=1))
            if "w_refused" in pending:
                raise pending["w_refused"]  # W decides again: A's refund finished, then the rest
            written: Ticket = pending["w_written"]
            return written
        return apply(read, trigger, *args, **kwargs)

    monkeypatch.setattr(world.store, "owe_seat_refund", owe_then_w_writes)
    monkeypatch.setattr(world.store, "apply", w_apply)
    refunded, whole = world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id))
    monkeypatch.undo()
    _, a_refund = pending["a_answer"]
    assert refunded.status == S.REFUNDED and a_refund.amount == 2500 and whole.amount == 5000

    world.stripe.fail_refund(whole.id)  # W's refund fails later
    world.service.refunded_at_provider(intent)
    after = world.ticket(ticket.ticket_id)
    assert after.status == S.PAID and after.refund_amount == 2500
    assert after.quantity_held == 2, f"A's seat refunded (200, 2500 back) and still held: {after.quantity_held} seats"
