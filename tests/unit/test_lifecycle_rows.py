"""Every row of the ticket life cycle (``payments.domain.lifecycle.TRANSITIONS``) driven through the
domain's own services (``TicketService``: purchase, settle, payment_failed, cancel, the sweep, staff
refunds, what Stripe says went back), built as ``payments.wiring`` builds them but over the
in-memory stores (``tests.support.memory_stores``, held to the DynamoDB repository by
``tests/contract``) and a small Stripe stub: no AWS, no HTTP, milliseconds a row.

Each scenario brings a ticket to the row's source state the way the domain does, then makes the
fact that fires the row happen. The test checks that the row's write is the one the store saw, and
after it the invariants of the whole event: seats held + available == capacity, every owner's unpaid
and free counters equal their seats, one payment record for every payment that reached a ticket."""

from __future__ import annotations

from typing import Any

import pytest

from payments.domain.lifecycle import TRANSITIONS, Outcome, Ticket, TicketStatus, Trigger
from payments.domain.ports import StateChanged
from payments.errors import BadRequest, Conflict
from payments.models.tickets import CancelRequest, RefundTicketRequest
from tests.support.lifecycle_world import ALICE, SCENARIOS, STAFF, World, invariants
from tests.support.store_worlds import MemoryWorld


def test_every_row_of_the_life_cycle_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(TRANSITIONS)


@pytest.mark.parametrize("row", list(TRANSITIONS), ids=lambda row: f"{row[0]}-{row[1]}")
def test_each_row_runs_through_the_domain_without_aws(row: tuple[TicketStatus | None, Trigger]) -> None:
    scenario, final = SCENARIOS[row]
    world = World(MemoryWorld())
    ticket = scenario(world)
    assert row in world.store.rows, world.store.rows
    assert ticket.status == final
    if TRANSITIONS[row].target == final:
        # nothing moved the ticket after the row's write (else the domain went on: a refund owed was made)
        assert world.store.rows[-1] == row or row[0] is None
    invariants(world)


def test_a_failed_payment_answers_the_ticket_it_released_as_stored() -> None:
    """Every settlement answers the ticket as the fact left it (``Settlement.ticket``, as the paid path's
    verify reads it): a failed delayed payment's is the released ticket, and a second delivery's the same."""
    world = World(MemoryWorld())
    ticket = world.processing()
    session = world.stripe.debit(world.session(ticket))
    released = world.service.payment_failed(session)
    assert (released.outcome, released.ticket) == (Outcome.RELEASED, world.ticket(ticket.ticket_id))
    assert released.ticket.status == TicketStatus.CANCELLED
    again = world.service.payment_failed(session)
    assert (again.outcome, again.ticket) == (Outcome.NOTHING, released.ticket)


def test_a_payment_still_processing_is_recorded_with_the_ticket_and_is_not_refundable_yet() -> None:
    """A bank debit not settled yet: the ticket knows its payment from then on (a refund or dispute
    of it finds the ticket); staff asking to refund it, and its buyer cancelling it, are told it is
    still processing."""
    world = World(MemoryWorld())
    ticket = world.processing()
    intent = world.stripe.intent_of(world.session(ticket))
    assert (ticket.status, ticket.payment_intent) == (TicketStatus.PROCESSING, intent)
    assert world.store.ticket_for_payment_intent(intent) == ticket
    with pytest.raises(BadRequest) as refused:
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id))
    assert refused.value.message == "Ticket is processing; only a paid ticket can be refunded"
    # nor can its buyer cancel it: the debit decides
    with pytest.raises(BadRequest) as kept:
        world.service.cancel(ALICE, CancelRequest(ticket_id=ticket.ticket_id))
    assert kept.value.message == "The payment is processing and cannot be cancelled; the ticket is issued or released when it completes"
    assert world.ticket(ticket.ticket_id) == ticket


def test_a_staff_refund_is_audited_and_recorded_with_its_payment_and_who_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The money trail of a staff refund: the audit line names the payment, the refund and the staff
    member who asked; the refund's record in the payments table names the payment it returned."""
    from payments.domain import tickets as tickets_module

    lines: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(tickets_module, "audit", lambda action, **fields: lines.append((action, fields)))
    world = World(MemoryWorld())
    paid = world.paid()
    refunded, refund = world.service.refund(STAFF, RefundTicketRequest(ticket_id=paid.ticket_id))
    assert refunded.status == TicketStatus.REFUNDED
    [line] = [fields for action, fields in lines if action == "ticket.refunded"]
    assert line == {
        "user_id": paid.owner,
        "ticket_id": paid.ticket_id,
        "amount": paid.amount_total,
        "currency": paid.currency,
        "payment_intent": paid.payment_intent,
        "refund_id": refund.id,
        "reason": "requested_by_staff",
        "refunded_by": STAFF.user_id,
    }
    record = world.stores.inspect.record(f"REFUND#stripe#{refund.id}", "REFUND")
    assert record is not None and (record["payment_intent"], record["ticket_id"]) == (paid.payment_intent, paid.ticket_id)


def test_a_staff_refund_whose_ticket_keeps_changing_under_it_gives_up_with_a_409_and_refunds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each attempt to mark the ticket refunding finds it changed (another writer each time): after
    its retries the refund stops with a 409 that says so, nothing asked of Stripe, the ticket paid."""
    world = World(MemoryWorld())
    paid = world.paid()
    apply = world.store.apply

    def changed_under_the_refund(ticket: Ticket, trigger: Trigger, *args: Any, **kwargs: Any) -> Ticket:
        if trigger == Trigger.REFUND_DUE:
            raise StateChanged()
        return apply(ticket, trigger, *args, **kwargs)

    monkeypatch.setattr(world.store, "apply", changed_under_the_refund)
    with pytest.raises(Conflict) as gave_up:
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=paid.ticket_id))
    assert (gave_up.value.status_code, gave_up.value.message) == (409, "Ticket changed while refunding; retry")
    assert world.stripe.refunds == {} and world.ticket(paid.ticket_id) == paid
