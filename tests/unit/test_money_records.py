"""The money records are facts the domain plans (``payments.domain.records``: a ticket's payment, each
refund and lost dispute of it) and hands to the store with the transition that leaves them; the store
only writes them, in the payments table's shape of before (``payments.repositories.records``): the
items below are the ones the domain's former item builders wrote, attribute for attribute. Through
``TicketService`` over the in-memory stores and the Stripe stub of ``tests.support.lifecycle_world``:
no AWS."""

from __future__ import annotations

from typing import Any

import pytest

from payments.domain.lifecycle import TRANSITIONS, TicketStatus, Trigger
from payments.domain.records import MoneyRecord, PaymentRecord, RefundRecord
from payments.domain.tickets import REASON_DASHBOARD, REASON_DISPUTE_LOST, REASON_SOLD_OUT
from payments.dynamodb import to_attributes
from payments.repositories.records import record_item, record_key
from tests.support.lifecycle_world import ALICE, NOW, SCENARIOS, World
from tests.support.store_worlds import MemoryWorld

S = TicketStatus
T = Trigger

PAYMENT = PaymentRecord(
    ticket_id=42,
    event_id=7,
    owner="user-alice",
    session_id="cs_42",
    payment_intent="pi_42",
    amount=5000,
    currency="eur",
    created_at=1_700_000_100,
)
# As the domain's payment_record wrote it (payments.repositories.tickets before the facts), through to_attributes.
PAYMENT_ITEM = {
    "pk": {"S": "PAYMENT#stripe#cs_42"},
    "sk": {"S": "PAYMENT"},
    "provider": {"S": "stripe"},
    "kind": {"S": "ticket_checkout"},
    "owner": {"S": "user-alice"},
    "ticket_id": {"N": "42"},
    "event_id": {"N": "7"},
    "session_id": {"S": "cs_42"},
    "payment_intent": {"S": "pi_42"},
    "amount": {"N": "5000"},
    "currency": {"S": "eur"},
    "status": {"S": "succeeded"},
    "created_at": {"N": "1700000100"},
}
REFUND = RefundRecord(
    refund_id="re_1",
    ticket_id=42,
    owner="user-alice",
    session_id="cs_42",
    payment_intent="pi_42",
    amount=1000,
    currency="eur",
    reason="refunded_at_stripe",
    status="failed",
    created_at=1_700_000_200,
)
# As refund_record wrote it.
REFUND_ITEM = {
    "pk": {"S": "REFUND#stripe#re_1"},
    "sk": {"S": "REFUND"},
    "provider": {"S": "stripe"},
    "kind": {"S": "ticket_refund"},
    "reason": {"S": "refunded_at_stripe"},
    "refund_id": {"S": "re_1"},
    "ticket_id": {"N": "42"},
    "owner": {"S": "user-alice"},
    "session_id": {"S": "cs_42"},
    "payment_intent": {"S": "pi_42"},
    "amount": {"N": "1000"},
    "currency": {"S": "eur"},
    "status": {"S": "failed"},
    "created_at": {"N": "1700000200"},
}


def test_each_record_is_the_payments_table_item_it_always_was() -> None:
    assert to_attributes(record_item(PAYMENT)) == PAYMENT_ITEM
    assert to_attributes(record_item(REFUND)) == REFUND_ITEM
    # a payment whose session named no payment intent: the attribute is absent, not null
    without = {name: value for name, value in PAYMENT_ITEM.items() if name != "payment_intent"}
    assert to_attributes(record_item(PaymentRecord(**(vars(PAYMENT) | {"payment_intent": None})))) == without
    assert [record_key(PAYMENT), record_key(REFUND)] == [("PAYMENT#stripe#cs_42", "PAYMENT"), ("REFUND#stripe#re_1", "REFUND")]


def planned(world: World, row: tuple[TicketStatus | None, Trigger] | None) -> list[list[MoneyRecord]]:
    """The records each write of ``row`` (None: a money-back write, no transition) carried."""
    return [records for written, records in world.store.plans if written == row]


def test_a_payment_reaching_its_ticket_plans_its_payment_record() -> None:
    world = World(MemoryWorld())
    ticket = world.paid()
    assert planned(world, (S.RESERVED, T.PAID)) == [
        [
            PaymentRecord(
                ticket.ticket_id, ticket.event_id, ALICE.user_id, f"cs_{ticket.ticket_id}", f"pi_{ticket.ticket_id}", 5000, "eur", NOW
            )
        ]
    ]


def test_a_payment_refunded_in_part_before_its_webhook_plans_the_payment_and_the_refund() -> None:
    world = World(MemoryWorld())
    ticket = world.reserve()
    session = world.stripe.pay(world.session(ticket))
    assert session.payment_intent is not None
    made = world.stripe.refund(session.payment_intent, 1000)
    world.service.settle(session)
    payment = PaymentRecord.of(ticket, session.id, session.payment_intent, NOW)
    refund = RefundRecord(
        made.id, ticket.ticket_id, ALICE.user_id, session.id, session.payment_intent, 1000, "eur", REASON_DASHBOARD, "succeeded", NOW
    )
    assert planned(world, (S.RESERVED, T.PAID)) == [[payment, refund]]


def test_a_payment_refunded_whole_before_its_webhook_plans_the_payment_with_its_intent_and_the_refund() -> None:
    # The refund's webhook comes first and refunds the ticket: the payment's record, written with it,
    # names the payment intent the money was taken by (its own webhook later writes the same record).
    world = World(MemoryWorld())
    ticket = world.reserve()
    session = world.stripe.pay(world.session(ticket))
    assert session.payment_intent is not None
    made = world.stripe.refund(session.payment_intent, reason=None)
    world.service.refunded_at_provider(session.payment_intent)
    payment = PaymentRecord.of(ticket, session.id, session.payment_intent, NOW)
    refund = RefundRecord(
        made.id, ticket.ticket_id, ALICE.user_id, session.id, session.payment_intent, 5000, "eur", REASON_DASHBOARD, "succeeded", NOW
    )
    assert planned(world, (S.RESERVED, T.REFUNDED)) == [[refund, payment]]
    assert world.ticket(ticket.ticket_id).payment_intent == session.payment_intent


def test_a_lost_dispute_and_a_late_payment_of_a_sold_out_event_plan_their_records() -> None:
    world = World(MemoryWorld())
    paid = world.paid()
    assert paid.payment_intent is not None
    dispute = world.stripe.dispute(paid.payment_intent)
    dispute["status"] = "lost"
    world.service.refunded_at_provider(paid.payment_intent)
    lost = RefundRecord(
        dispute["id"], paid.ticket_id, ALICE.user_id, paid.session_id, paid.payment_intent, 5000, "eur", REASON_DISPUTE_LOST, "lost", NOW
    )
    assert planned(world, (S.PAID, T.REFUNDED)) == [[lost]]

    late = world.cancelled()
    world.sold_out()
    session = world.stripe.pay(world.session(late))
    world.service.settle(session)
    payment = PaymentRecord.of(late, session.id, session.payment_intent, NOW)
    assert planned(world, (S.CANCELLED, T.REFUND_DUE)) == [[payment]]
    [[refund]] = planned(world, (S.REFUNDING, T.REFUNDED))
    assert isinstance(refund, RefundRecord) and (refund.ticket_id, refund.reason, refund.amount) == (late.ticket_id, REASON_SOLD_OUT, 5000)


def test_a_refund_failing_later_plans_its_record_again_with_its_new_status() -> None:
    world = World(MemoryWorld())
    ticket = world.paid()
    assert ticket.payment_intent is not None
    made = world.stripe.refund(ticket.payment_intent, 1000)
    world.service.refunded_at_provider(ticket.payment_intent)
    world.stripe.fail_refund(made.id)
    world.service.refunded_at_provider(ticket.payment_intent)
    statuses = [[(r.refund_id, r.status) for r in records if isinstance(r, RefundRecord)] for records in planned(world, None)]
    assert statuses == [[(made.id, "succeeded")], [(made.id, "failed")]]


def test_a_staff_refund_retried_after_its_refund_failed_unseen_refunds_anew_and_records_both() -> None:
    """The staff refund finished, then failed at Stripe with its webhook lost (the ticket still reads
    refunded): a retry reads the money again, finds it no longer back, and refunds anew from the
    ticket as that left it; the failed refund's record says failed, the new one succeeded."""
    from payments.models.tickets import RefundTicketRequest
    from tests.support.lifecycle_world import STAFF

    world = World(MemoryWorld())
    ticket = world.paid()
    assert ticket.payment_intent is not None
    done, first = world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id))
    assert done.status == TicketStatus.REFUNDED
    world.stripe.fail_refund(first.id)  # its webhook lost
    again, second = world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id))
    assert (again.status, again.refund_id) == (TicketStatus.REFUNDED, second.id) and second.id != first.id
    stored = [world.stores.inspect.record(f"REFUND#stripe#{made.id}", "REFUND") or {} for made in (first, second)]
    assert [record.get("status") for record in stored] == ["failed", "succeeded"]


@pytest.mark.parametrize("row", list(TRANSITIONS), ids=lambda row: f"{row[0]}-{row[1]}")
def test_every_record_written_is_the_item_of_a_fact_the_domain_planned(row: tuple[TicketStatus | None, Trigger]) -> None:
    scenario, _ = SCENARIOS[row]
    world = World(MemoryWorld())
    scenario(world)
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for _, records in world.store.plans:
        assert all(isinstance(record, PaymentRecord | RefundRecord) for record in records)
        last |= {record_key(record): record_item(record) for record in records}
    for (pk, sk), item in last.items():
        assert world.stores.inspect.record(pk, sk) == {name: value for name, value in item.items() if value is not None}


def test_money_back_is_written_only_when_what_went_back_changed() -> None:
    """Every money-back fact re-reads Stripe's lists; the ticket is written (records and sum, one
    conditional write that races the door and the other facts) only when they say something new. A
    refund event can come before Stripe lists its refund (the lists lag the events): nothing went
    back yet, so the paid ticket stays as it was (no sum back, not a sum of 0) and nothing is
    written; the same facts read again write nothing either."""
    world = World(MemoryWorld())
    ticket = world.paid()
    assert ticket.payment_intent is not None and ticket.refund_amount is None
    writes = len(world.store.plans)
    world.service.refunded_at_provider(ticket.payment_intent)  # Stripe lists no refund yet
    assert (world.ticket(ticket.ticket_id), len(world.store.plans)) == (ticket, writes)
    made = world.stripe.refund(ticket.payment_intent, 1000)
    world.service.refunded_at_provider(ticket.payment_intent)
    partly = world.ticket(ticket.ticket_id)
    assert (partly.status, partly.refund_amount, len(world.store.plans)) == (S.PAID, 1000, writes + 1)
    assert [(r.refund_id, r.amount) for r in world.store.plans[-1][1] if isinstance(r, RefundRecord)] == [(made.id, 1000)]
    world.service.refunded_at_provider(ticket.payment_intent)  # another event of the same refund
    assert (world.ticket(ticket.ticket_id), len(world.store.plans)) == (partly, writes + 1)


def test_a_payment_refunded_in_full_before_its_webhook_names_its_payment_intent() -> None:
    """The whole payment went back (a Dashboard refund) before its webhook: the ticket never seats,
    it ends refunded, and both it and its refund record name the payment intent the money was on
    (the only link from the ticket to Stripe's payment)."""
    world = World(MemoryWorld())
    ticket = world.reserve()
    session = world.stripe.pay(world.session(ticket))
    assert session.payment_intent is not None
    made = world.stripe.refund(session.payment_intent, 5000)
    world.service.settle(session)
    refunded = world.ticket(ticket.ticket_id)
    assert (refunded.status, refunded.payment_intent, refunded.refund_id) == (S.REFUNDED, session.payment_intent, made.id)
    [[*records]] = planned(world, (S.RESERVED, T.REFUNDED))
    refunds = [record for record in records if isinstance(record, RefundRecord)]
    assert [(r.refund_id, r.payment_intent, r.amount) for r in refunds] == [(made.id, session.payment_intent, 5000)]


def test_a_refund_failure_read_before_a_newer_refund_does_not_seat_a_ticket_whose_money_is_all_back() -> None:
    """Two deliveries at once: one read the ticket refunded and Stripe's facts with its refund r1
    failed; before it wrote, another applied newer facts (r1 failed, then a Dashboard refund r2 of
    everything: all back again, the ticket still refunded, now named by r2). The first one's write
    (paid again: REFUND_FAILED) is conditioned on what went back as read, so it is refused and
    decided again from the facts as they are: the ticket stays refunded (run 7's open survivor
    `_refund_failed`: the write without that condition seated a ticket whose money is all back)."""
    world = World(MemoryWorld(), capacity=4)
    ticket = world.reserve(quantity=2)
    world.service.settle(world.stripe.pay(world.session(ticket)))
    intent = world.ticket(ticket.ticket_id).payment_intent
    assert intent is not None
    world.stripe.refund(intent, reason="staff")
    world.service.refunded_at_provider(intent)
    first = world.stripe.refunds[intent][0]
    world.stripe.fail_refund(first.id)
    stale_ticket, stale_facts = world.ticket(ticket.ticket_id), world.service.money_back(intent)
    assert stale_ticket.status == TicketStatus.REFUNDED and not any(fact.returned for fact in stale_facts)

    second = world.stripe.refund(intent, reason=None)  # in the Dashboard: everything again
    world.service.refunded_at_provider(intent)
    assert world.ticket(ticket.ticket_id).refund_id == second.id

    settled = world.service._apply_money_back(stale_ticket, intent, None, stale_facts)
    assert settled.ticket.status == TicketStatus.REFUNDED
    after = world.ticket(ticket.ticket_id)
    assert (after.status, after.refund_id, after.refund_amount) == (TicketStatus.REFUNDED, second.id, 5000)
