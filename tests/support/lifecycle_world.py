"""A ticket world for the life cycle's rows through the domain: ``TicketService`` built as
``payments.wiring`` builds it, over either world's stores (``tests.support.store_worlds``), with a
Stripe Checkout stub; one scenario per row of ``payments.domain.lifecycle.TRANSITIONS`` that brings a
ticket to the row's source the way the domain does and then makes the row's fact happen; and the
invariants of the whole world, read through the ports and the world's inspector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from payments.auth import Caller
from payments.domain.lifecycle import (
    HOLDS_SEATS,
    UNPAID_HOLDS,
    CheckoutSession,
    Event,
    StripeRefund,
    Ticket,
    TicketLine,
    TicketStatus,
    Trigger,
)
from payments.domain.ports import StripeCheckout, TicketStore
from payments.domain.tickets import CheckoutStarted, TicketService
from payments.errors import BadRequest, ChargeDisputed
from payments.models.tickets import CancelRequest, PurchaseRequest, RefundTicketRequest
from payments.settings import get_settings
from tests.support.store_worlds import StoreWorld, Tickets

S = TicketStatus
T = Trigger
ALICE = Caller("user-alice", frozenset())
BOB = Caller("user-bob", frozenset())
STAFF = Caller("staff-1", frozenset({"staff"}))
NOW = 1_700_000_000


class Stripe:
    """Stripe Checkout as the ticket service sees it: sessions, their payments, refunds and disputes."""

    def __init__(self) -> None:
        self.sessions: dict[str, CheckoutSession] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.refunds: dict[str, list[StripeRefund]] = {}
        self.disputes: dict[str, list[dict[str, Any]]] = {}
        self.disputed: set[str] = set()

    def create_checkout_session(self, **order: Any) -> CheckoutSession:
        ticket_id = order["ticket_id"]
        session = CheckoutSession(
            f"cs_{ticket_id}",
            f"https://stripe/cs_{ticket_id}",
            "open",
            "unpaid",
            None,
            ticket_id,
            order["unit_amount"] * order["quantity"],
            order["currency"],
        )
        self.sessions[session.id] = session
        self.metadata[f"pi_{ticket_id}"] = order["metadata"]
        return session

    def _set(self, session_id: str, status: str, payment_status: str) -> CheckoutSession:
        session = self.sessions[session_id]
        self.sessions[session_id] = replace(session, status=status, payment_status=payment_status, payment_intent=f"pi_{session.ticket_id}")
        return self.sessions[session_id]

    def pay(self, session_id: str) -> CheckoutSession:
        return self._set(session_id, "complete", "paid")

    def debit(self, session_id: str) -> CheckoutSession:
        """Complete, its bank debit not settled yet."""
        return self._set(session_id, "complete", "unpaid")

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession | None:
        return self.sessions.get(session_id)

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        session = self.sessions[session_id]
        if session.status == "open":
            self.sessions[session_id] = replace(session, status="expired")
        return self.sessions[session_id]

    def retrieve_payment_intent(self, intent_id: str) -> dict[str, Any]:
        return {"id": intent_id, "metadata": self.metadata.get(intent_id, {})}

    def retrieve_payment_intent_status(self, intent_id: str) -> str:
        return "processing"

    def refunds_of(self, payment_intent: str) -> list[StripeRefund]:
        return list(self.refunds.get(payment_intent, []))

    def disputes_of(self, payment_intent: str) -> list[dict[str, Any]]:
        return list(self.disputes.get(payment_intent, []))

    def amount_of(self, payment_intent: str) -> int:
        return next(s.amount_total or 0 for s in self.sessions.values() if s.payment_intent == payment_intent)

    def refund(self, payment_intent: str, amount: int | None = None, reason: str | None = None) -> StripeRefund:
        """A refund made (ours, or in the Dashboard): Stripe lists refunds newest first."""
        made = self.refunds.setdefault(payment_intent, [])
        returned = sum(r.amount for r in made if r.returned)
        refund = StripeRefund(f"re_{payment_intent}_{len(made)}", amount or self.amount_of(payment_intent) - returned, "eur", reason=reason)
        made.insert(0, refund)
        return refund

    def fail(self, payment_intent: str) -> None:
        """Every refund of the payment failed later."""
        self.refunds[payment_intent] = [replace(r, status="failed") for r in self.refunds[payment_intent]]

    def refund_rest(self, payment_intent: str, *, metadata: dict[str, str], idempotency_key: str) -> StripeRefund | None:
        if payment_intent in self.disputed:
            raise ChargeDisputed("The charge is disputed")
        return self.refund(payment_intent, reason=metadata.get("reason"))


class Recording:
    """A ticket store (either world's), noting each life-cycle write that went through: (from, trigger)."""

    def __init__(self, store: Tickets) -> None:
        self._store = store
        self.rows: list[tuple[TicketStatus | None, Trigger]] = []

    def create(self, ticket: Ticket, unpaid_limit: int, seats_by_shard: dict[int, int] | None = None, *, free_limit: int) -> Ticket:
        made = self._store.create(ticket, unpaid_limit, seats_by_shard, free_limit=free_limit)
        self.rows.append((None, T.ISSUE_FREE if made.status == S.PAID else T.RESERVE))
        return made

    def apply(
        self,
        ticket: Ticket,
        trigger: Trigger,
        changes: dict[str, Any] | None = None,
        records: list[dict[str, Any]] | None = None,
        expired_before: int | None = None,
        removed: tuple[str, ...] = (),
        money_as_read: bool = False,
    ) -> Ticket:
        written = self._store.apply(ticket, trigger, changes, records, expired_before, removed, money_as_read)
        self.rows.append((ticket.status, trigger))
        return written

    def record_money_back(
        self, ticket: Ticket, refund_amount: int, records: list[dict[str, Any]], changes: dict[str, Any] | None = None
    ) -> Ticket:
        return self._store.record_money_back(ticket, refund_amount, records, changes)

    def next_id(self, kind: str) -> int:
        return self._store.next_id(kind)

    def get_event(self, event_id: int) -> Event | None:
        return self._store.get_event(event_id)

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        return self._store.get_ticket(ticket_id)

    def ticket_for_payment_intent(self, payment_intent: str) -> Ticket | None:
        return self._store.ticket_for_payment_intent(payment_intent)

    def attach_session(self, ticket_id: int, session_id: str, checkout_url: str) -> None:
        self._store.attach_session(ticket_id, session_id, checkout_url)

    def unsettled(self, status: TicketStatus, expired_before: int | None = None, limit: int = 100) -> list[Ticket]:
        return self._store.unsettled(status, expired_before, limit)


class World:
    """One world's ticket service (``payments.wiring``'s, over the given stores) and Stripe stub,
    with a paid and a free event of ``capacity`` seats."""

    def __init__(self, stores: StoreWorld, capacity: int = 4) -> None:
        self.stores = stores
        self.store = Recording(stores.tickets)
        self.stripe = Stripe()
        self.clock = float(NOW)
        gateway: StripeCheckout = self.stripe
        store: TicketStore = self.store
        self.service = TicketService(store, lambda: gateway, get_settings(), clock=lambda: self.clock)
        self.paid_event = Event(self.store.next_id("event"), "Concert", Decimal("25.00"), "eur", capacity, capacity, "staff-1", NOW)
        self.free_event = Event(self.store.next_id("event"), "Talk", Decimal(0), "eur", capacity, capacity, "staff-1", NOW)
        for event in (self.paid_event, self.free_event):
            stores.tickets.put_event(event)

    def ticket(self, ticket_id: int) -> Ticket:
        found = self.store.get_ticket(ticket_id)
        assert found is not None
        return found

    def reserve(self, caller: Caller = ALICE, quantity: int = 2) -> Ticket:
        started = self.service.purchase(caller, PurchaseRequest(event_id=self.paid_event.event_id, quantity=quantity))
        assert isinstance(started, CheckoutStarted)
        return self.ticket(started.ticket.ticket_id)

    def free(self, quantity: int = 2) -> Ticket:
        issued = self.service.purchase(ALICE, PurchaseRequest(event_id=self.free_event.event_id, quantity=quantity))
        assert isinstance(issued, Ticket)
        return issued

    def session(self, ticket: Ticket) -> str:
        assert ticket.session_id is not None
        return ticket.session_id

    def paid(self) -> Ticket:
        ticket = self.reserve()
        self.service.settle(self.stripe.pay(self.session(ticket)))
        return self.ticket(ticket.ticket_id)

    def processing(self) -> Ticket:
        ticket = self.reserve()
        self.service.settle(self.stripe.debit(self.session(ticket)))
        return self.ticket(ticket.ticket_id)

    def cancelled(self) -> Ticket:
        ticket = self.reserve()
        self.service.cancel(ALICE, CancelRequest(ticket_id=ticket.ticket_id))
        return self.ticket(ticket.ticket_id)

    def expired(self) -> Ticket:
        ticket = self.reserve()
        self.clock += get_settings().reservation_seconds + get_settings().sweep_grace_seconds + 1
        self.service.sweep_expired()
        return self.ticket(ticket.ticket_id)

    def sold_out(self) -> None:
        """Someone else takes every seat left."""
        left = self.stores.inspect.seats(self.paid_event.event_id)[0]
        self.service.settle(self.stripe.pay(self.session(self.reserve(BOB, left))))

    def refunded_at_stripe(self, ticket: Ticket) -> Ticket:
        assert ticket.payment_intent is not None or ticket.session_id is not None
        intent = ticket.payment_intent or f"pi_{ticket.ticket_id}"
        self.stripe.refund(intent, reason=None)
        self.service.refunded_at_provider(intent)
        return self.ticket(ticket.ticket_id)


# one scenario per row: brings a ticket to the row's source, then makes the row's fact happen -------
def _late_paid(world: World, release: Callable[[], Ticket]) -> Ticket:
    ticket = release()
    world.service.settle(world.stripe.pay(world.session(ticket)))
    return world.ticket(ticket.ticket_id)


def _late_paid_sold_out(world: World, release: Callable[[], Ticket]) -> Ticket:
    ticket = release()
    world.sold_out()
    world.service.settle(world.stripe.pay(world.session(ticket)))
    return world.ticket(ticket.ticket_id)


def _refunded_before_its_webhook(world: World, reach: Callable[[], Ticket]) -> Ticket:
    ticket = reach()
    world.stripe.pay(world.session(ticket))  # paid at Stripe; its webhook has not come
    return world.refunded_at_stripe(ticket)


def _staff_refund(world: World) -> Ticket:
    ticket = world.paid()
    world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id))
    return world.ticket(ticket.ticket_id)


def _refund_refused(world: World) -> Ticket:
    ticket = world.paid()
    assert ticket.payment_intent is not None
    world.stripe.disputed.add(ticket.payment_intent)
    with pytest.raises(BadRequest, match="disputed"):
        world.service.refund(STAFF, RefundTicketRequest(ticket_id=ticket.ticket_id))
    return world.ticket(ticket.ticket_id)


def _refund_failed_later(world: World, sold_out: bool) -> Ticket:
    ticket = world.refunded_at_stripe(world.paid())
    assert ticket.payment_intent is not None
    if sold_out:
        world.sold_out()
    world.stripe.fail(ticket.payment_intent)
    world.service.refunded_at_provider(ticket.payment_intent)
    return world.ticket(ticket.ticket_id)


def _give_back(world: World) -> Ticket:
    ticket = world.free()
    world.service.cancel(ALICE, CancelRequest(ticket_id=ticket.ticket_id))
    return world.ticket(ticket.ticket_id)


def _payment_failed(world: World, reach: Callable[[], Ticket]) -> Ticket:
    ticket = reach()
    session = world.stripe.debit(world.session(ticket))
    world.service.payment_failed(session)
    return world.ticket(ticket.ticket_id)


Scenario = Callable[[World], Ticket]
SCENARIOS: dict[tuple[TicketStatus | None, Trigger], tuple[Scenario, TicketStatus]] = {
    # row: (scenario, the ticket's status when the domain is done: a refund owed is then made)
    (None, T.ISSUE_FREE): (lambda w: w.free(), S.PAID),
    (None, T.RESERVE): (lambda w: w.reserve(), S.RESERVED),
    (S.RESERVED, T.PAID): (lambda w: w.paid(), S.PAID),
    (S.PROCESSING, T.PAID): (lambda w: _late_paid(w, w.processing), S.PAID),
    (S.CANCELLED, T.PAID): (lambda w: _late_paid(w, w.cancelled), S.PAID),
    (S.EXPIRED, T.PAID): (lambda w: _late_paid(w, w.expired), S.PAID),
    (S.RESERVED, T.PAYMENT_PROCESSING): (lambda w: w.processing(), S.PROCESSING),
    (S.RESERVED, T.PAYMENT_FAILED): (lambda w: _payment_failed(w, w.reserve), S.CANCELLED),
    (S.PROCESSING, T.PAYMENT_FAILED): (lambda w: _payment_failed(w, w.processing), S.CANCELLED),
    (S.RESERVED, T.CANCEL): (lambda w: w.cancelled(), S.CANCELLED),
    (S.PAID, T.GIVE_BACK): (_give_back, S.CANCELLED),
    (S.RESERVED, T.EXPIRE): (lambda w: w.expired(), S.EXPIRED),
    (S.CANCELLED, T.REFUND_DUE): (lambda w: _late_paid_sold_out(w, w.cancelled), S.REFUNDED),
    (S.EXPIRED, T.REFUND_DUE): (lambda w: _late_paid_sold_out(w, w.expired), S.REFUNDED),
    (S.PAID, T.REFUND_DUE): (_staff_refund, S.REFUNDED),
    (S.REFUNDED, T.REFUND_DUE): (lambda w: _refund_failed_later(w, sold_out=True), S.REFUNDING),  # the reconciliation refunds it again
    (S.REFUNDING, T.REFUNDED): (_staff_refund, S.REFUNDED),
    (S.REFUNDING, T.REFUND_REFUSED): (_refund_refused, S.PAID),
    (S.PAID, T.REFUNDED): (lambda w: w.refunded_at_stripe(w.paid()), S.REFUNDED),
    (S.RESERVED, T.REFUNDED): (lambda w: _refunded_before_its_webhook(w, w.reserve), S.REFUNDED),
    (S.PROCESSING, T.REFUNDED): (lambda w: w.refunded_at_stripe(w.processing()), S.REFUNDED),
    (S.CANCELLED, T.REFUNDED): (lambda w: _refunded_before_its_webhook(w, w.cancelled), S.REFUNDED),
    (S.EXPIRED, T.REFUNDED): (lambda w: _refunded_before_its_webhook(w, w.expired), S.REFUNDED),
    (S.REFUNDED, T.REFUND_FAILED): (lambda w: _refund_failed_later(w, sold_out=False), S.PAID),
}


def lines(world: World) -> list[TicketLine]:
    """Every ticket of both events, as the sales view sees them."""
    return [line for event in (world.paid_event, world.free_event) for line in world.stores.tickets.ticket_lines(event)]


def invariants(world: World) -> None:
    """What must hold of the whole world after any step: seats held (reserved, processing, paid;
    refunding or refunded: only the admitted) + left == capacity; every owner's unpaid and free
    counters equal their seats; one payment record for every payment that reached a ticket."""
    tickets = [world.ticket(line.ticket_id) for line in lines(world)]
    inspect = world.stores.inspect
    for event in (world.paid_event, world.free_event):
        mine = [ticket for ticket in tickets if ticket.event_id == event.event_id]
        held = sum(t.quantity if t.status in HOLDS_SEATS else t.checked_in for t in mine)
        assert held + sum(inspect.seats(event.event_id).values()) == event.capacity
        for owner in {t.owner for t in mine}:
            unpaid = sum(t.quantity for t in mine if t.owner == owner and t.status in UNPAID_HOLDS)
            free = sum(t.quantity for t in mine if t.owner == owner and t.is_free and t.status == S.PAID)
            assert inspect.unpaid(event.event_id, owner) == unpaid
            assert inspect.free(event.event_id, owner) == free
    for ticket in tickets:
        if ticket.payment_intent and ticket.status in (S.PAID, S.REFUNDING, S.REFUNDED):
            assert ticket.session_id is not None
            assert inspect.record(f"PAYMENT#stripe#{ticket.session_id}", "PAYMENT") is not None, ticket
