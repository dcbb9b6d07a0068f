"""A ticket world for the life cycle's rows through the domain: ``TicketService`` built as
``payments.wiring`` builds it, over either world's stores (``tests.support.store_worlds``), with a
Stripe Checkout stub; one scenario per row of ``payments.domain.lifecycle.TRANSITIONS`` that brings a
ticket to the row's source the way the domain does and then makes the row's fact happen; and the
invariants of the whole world, read through the ports and the world's inspector."""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from payments import money
from payments.auth import Caller
from payments.domain.admission import Admission
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
from payments.domain.records import MoneyRecord
from payments.domain.tickets import CheckoutStarted, TicketService
from payments.errors import BadRequest, ChargeDisputed, ProviderRejected, Unprocessable
from payments.models.tickets import CancelRequest, PurchaseRequest, RefundTicketRequest
from payments.settings import get_settings
from tests.support.store_worlds import StoreWorld, Tickets

S = TicketStatus
T = Trigger
ALICE = Caller("user-alice", frozenset())
BOB = Caller("user-bob", frozenset())
STAFF = Caller("staff-1", frozenset({"staff"}))
NOW = 1_700_000_000
ALREADY_REFUNDED = object()  # Stripe's charge_already_refunded, saved under a refund's key


class Stripe:
    """Stripe Checkout as the ticket service sees it: sessions, their payments, refunds and disputes.
    Held to the gateway's own contract (``tests/contract/test_provider_contract.py`` runs one suite
    on this stub and on the SDK against the local Stripe): idempotency keys per account (the same key
    and request: the first answer; another request: refused), ``expires_at`` within 30 minutes to 24
    hours of creation, nothing refunded when nothing remains, a payment not taken never refunded.
    The controls (``pay``, ``debit``, ``refund`` as the Dashboard, ``fail``, ``dispute``) are what
    happens at Stripe without our API; they are as permissive as the rows need."""

    def __init__(self, clock: Callable[[], float] = lambda: float(NOW)) -> None:
        self.clock = clock
        self.sessions: dict[str, CheckoutSession] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.intent_status: dict[str, str] = {}  # a completed session's payment intent: its status
        self.expires_at: dict[str, int] = {}
        self.refunds: dict[str, list[StripeRefund]] = {}
        self.disputes: dict[str, list[dict[str, Any]]] = {}
        self.disputed: set[str] = set()
        self._keys: dict[str, tuple[Any, Any]] = {}  # idempotency key -> (the request, its answer)

    def _replayed(self, key: str, request: Any) -> tuple[bool, Any]:
        if key not in self._keys:
            return False, None
        first, answer = self._keys[key]
        if first != request:
            raise Unprocessable("Idempotency-Key was already used with a different request body")
        return True, answer

    @staticmethod
    def intent_of(session_id: str) -> str:
        return "pi_" + session_id.removeprefix("cs_")

    def create_checkout_session(self, **order: Any) -> CheckoutSession:
        key = order.pop("idempotency_key")
        request = ("checkout.sessions.create", order)
        seen, answer = self._replayed(key, request)
        if seen:
            return typing.cast(CheckoutSession, answer)
        self._check_chargeable(order["currency"], order["unit_amount"], order["quantity"])
        now = int(self.clock())
        if not now + 1800 <= order["expires_at"] <= now + 86400:
            raise ProviderRejected("The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.")
        ticket_id = order["ticket_id"]
        made = sum(1 for s in self.sessions.values() if s.ticket_id == ticket_id)
        session_id = f"cs_{ticket_id}" + (f"_{made + 1}" if made else "")
        session = CheckoutSession(
            session_id,
            f"https://stripe/{session_id}",
            "open",
            "unpaid",
            None,
            ticket_id,
            order["unit_amount"] * order["quantity"],
            order["currency"].lower(),
        )
        self.sessions[session.id] = session
        self.expires_at[session.id] = order["expires_at"]
        self.metadata[self.intent_of(session.id)] = order["metadata"]
        self._keys[key] = (request, session)
        return session

    @staticmethod
    def _check_chargeable(currency: str, unit_amount: int, quantity: int) -> None:
        """Stripe charges from its minimum to eight digits of minor units, each unit amount a
        multiple of the currency's step (a three-decimal currency's amounts end in 0): the domain's
        own money tables, which the contract holds to what the local Stripe refuses."""
        currency_rule = money.rule(currency)
        total = unit_amount * quantity
        if unit_amount % 10 ** (currency_rule.exponent - currency_rule.places):
            raise ProviderRejected(f"Invalid amount. Currency {currency.upper()} amounts must be evenly divisible")
        if not money.to_minor_units(money.minimum_charge(currency), currency) <= total <= 99_999_999:
            raise ProviderRejected("The Checkout Session's total amount due is not one Stripe charges")

    def _set(self, session_id: str, status: str, payment_status: str, intent_status: str) -> CheckoutSession:
        session = self.sessions[session_id]
        intent = self.intent_of(session_id)
        self.sessions[session_id] = replace(session, status=status, payment_status=payment_status, payment_intent=intent, url=None)
        self.intent_status[intent] = intent_status
        return self.sessions[session_id]

    def pay(self, session_id: str) -> CheckoutSession:
        return self._set(session_id, "complete", "paid", "succeeded")

    def debit(self, session_id: str) -> CheckoutSession:
        """Complete, its bank debit not settled yet."""
        return self._set(session_id, "complete", "unpaid", "processing")

    def settle_debit(self, session_id: str, succeeded: bool) -> None:
        """The bank debit settles (the session is paid) or fails (the payment needs another method)."""
        if succeeded:
            self.pay(session_id)
        else:
            self.intent_status[self.intent_of(session_id)] = "requires_payment_method"

    def _expire_due(self) -> None:
        """Stripe expires an open session at its ``expires_at``."""
        now = self.clock()
        for session_id, session in list(self.sessions.items()):
            if session.status == "open" and self.expires_at[session_id] <= now:
                self.sessions[session_id] = replace(session, status="expired", url=None)

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession | None:
        self._expire_due()
        return self.sessions.get(session_id)

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        self._expire_due()
        session = self.sessions.get(session_id)
        if session is None:
            raise ProviderRejected(f"No such checkout.session: '{session_id}'")
        if session.status == "open":
            self.sessions[session_id] = replace(session, status="expired", url=None)
        return self.sessions[session_id]

    def retrieve_payment_intent(self, intent_id: str) -> dict[str, Any]:
        status = self.intent_status.get(intent_id)
        session = next((s for s in self.sessions.values() if s.payment_intent == intent_id), None)
        if status is None or session is None:
            raise ProviderRejected(f"No such payment_intent: '{intent_id}'")
        amount = session.amount_total or 0
        return {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount if status == "succeeded" else 0,
            "currency": session.currency,
            "status": status,
            "metadata": self.metadata.get(intent_id, {}),
        }

    def retrieve_payment_intent_status(self, intent_id: str) -> str:
        return str(self.retrieve_payment_intent(intent_id)["status"])

    def refunds_of(self, payment_intent: str) -> list[StripeRefund]:
        return list(self.refunds.get(payment_intent, []))

    def disputes_of(self, payment_intent: str) -> list[dict[str, Any]]:
        return list(self.disputes.get(payment_intent, []))

    def amount_of(self, payment_intent: str) -> int:
        return next(s.amount_total or 0 for s in self.sessions.values() if s.payment_intent == payment_intent)

    def _currency_of(self, payment_intent: str) -> str:
        return next(s.currency or "eur" for s in self.sessions.values() if s.payment_intent == payment_intent)

    def _left(self, payment_intent: str) -> int:
        return self.amount_of(payment_intent) - sum(r.amount for r in self.refunds.get(payment_intent, []) if r.returned)

    def refund(
        self,
        payment_intent: str,
        amount: int | None = None,
        reason: str | None = None,
        seat_refund: str | None = None,
        request: str | None = None,
    ) -> StripeRefund:
        """A refund made (ours, or in the Dashboard): Stripe lists refunds newest first."""
        made = self.refunds.setdefault(payment_intent, [])
        left = self._left(payment_intent)
        amount = left if amount is None else amount
        if not 0 < amount <= left:
            raise ValueError(f"Stripe refunds {left} at most of {payment_intent}, not {amount}")
        refund = StripeRefund(
            f"re_{payment_intent}_{len(made)}",
            amount,
            self._currency_of(payment_intent),
            reason=reason,
            seat_refund=seat_refund,
            request=request,
        )
        made.insert(0, refund)
        return refund

    def fail(self, payment_intent: str) -> None:
        """Every refund of the payment failed later."""
        self.refunds[payment_intent] = [replace(r, status="failed") for r in self.refunds[payment_intent]]

    def fail_refund(self, refund_id: str) -> None:
        """The card's bank returns one refund that had succeeded."""
        for intent, made in self.refunds.items():
            self.refunds[intent] = [replace(r, status="failed") if r.id == refund_id else r for r in made]

    def dispute(self, payment_intent: str) -> dict[str, Any]:
        """The customer's bank disputes what is left of the charge: Stripe refuses refunds from then on."""
        made = self.disputes.setdefault(payment_intent, [])
        dispute = {
            "id": f"dp_{payment_intent}_{len(made)}",
            "object": "dispute",
            "payment_intent": payment_intent,
            "amount": self._left(payment_intent),
            "currency": self._currency_of(payment_intent),
            "status": "needs_response",
            "created": int(self.clock()),
        }
        made.insert(0, dispute)
        self.disputed.add(payment_intent)
        return dispute

    def refund_rest(self, payment_intent: str, *, metadata: dict[str, str], idempotency_key: str) -> StripeRefund | None:
        request = ("refunds.create", payment_intent, metadata)
        seen, answer = self._replayed(idempotency_key, request)
        if seen:
            return self._answered_again(payment_intent, answer)
        try:
            made = self._refund_what_is_left(payment_intent, metadata)
        except (ChargeDisputed, ProviderRejected) as refused:
            # Stripe saves a refusal under the key as it saves a refund (docs.stripe.com/idempotency).
            self._keys[idempotency_key] = (request, refused)
            raise
        self._keys[idempotency_key] = (request, ALREADY_REFUNDED if made is None else made)
        return made

    def refund_part(self, payment_intent: str, amount: int, *, metadata: dict[str, str], idempotency_key: str) -> StripeRefund:
        request = ("refunds.create", payment_intent, amount, metadata)
        seen, answer = self._replayed(idempotency_key, request)
        if seen:
            if isinstance(answer, Exception):
                raise type(answer)(*answer.args)
            return typing.cast(StripeRefund, answer)
        try:
            if payment_intent in self.disputed:
                raise ChargeDisputed("The charge is disputed")
            if self.retrieve_payment_intent(payment_intent)["status"] != "succeeded":
                raise ProviderRejected(f"This PaymentIntent ({payment_intent}) does not have a successful charge to refund.")
            if not 0 < amount <= self._left(payment_intent):
                raise ProviderRejected(f"Refund amount ({amount}) is greater than unrefunded amount on charge")
        except (ChargeDisputed, ProviderRejected) as refused:
            self._keys[idempotency_key] = (request, refused)
            raise
        made = self.refund(payment_intent, amount, reason=metadata.get("reason"), seat_refund=metadata.get("seat_refund"))
        self._keys[idempotency_key] = (request, made)
        return made

    def _refund_what_is_left(self, payment_intent: str, metadata: dict[str, str]) -> StripeRefund | None:
        if payment_intent in self.disputed:
            raise ChargeDisputed("The charge is disputed")
        if self.retrieve_payment_intent(payment_intent)["status"] != "succeeded":
            raise ProviderRejected(f"This PaymentIntent ({payment_intent}) does not have a successful charge to refund.")
        if self._left(payment_intent) <= 0:
            return None  # Stripe's charge_already_refunded, which the gateway answers as None
        return self.refund(payment_intent, reason=metadata.get("reason"), request=metadata.get("refund_request"))

    def _answered_again(self, payment_intent: str, answer: Any) -> StripeRefund | None:
        """The answer saved under a key, as the gateway reads it: a refusal again, and Stripe's
        charge_already_refunded None only while nothing is left of the payment."""
        if answer is ALREADY_REFUNDED:
            if self._left(payment_intent) <= 0:
                return None
            raise ProviderRejected(f"The charge of {payment_intent} has already been refunded.")
        if isinstance(answer, Exception):
            raise type(answer)(*answer.args)
        return typing.cast(StripeRefund, answer)


class Recording:
    """A ticket store (either world's), noting each life-cycle write that went through: (from, trigger)."""

    def __init__(self, store: Tickets) -> None:
        self._store = store
        self.rows: list[tuple[TicketStatus | None, Trigger]] = []
        # Each write's money records as planned by the domain: its row, or None for a money-back write.
        self.plans: list[tuple[tuple[TicketStatus | None, Trigger] | None, list[MoneyRecord]]] = []

    def create(
        self,
        ticket: Ticket,
        unpaid_limit: int,
        seats_by_shard: dict[int, int] | None = None,
        *,
        free_limit: int,
        admission: Admission | None = None,
    ) -> Ticket:
        made = self._store.create(ticket, unpaid_limit, seats_by_shard, free_limit=free_limit, admission=admission)
        self.rows.append((None, T.ISSUE_FREE if made.status == S.PAID else T.RESERVE))
        return made

    def apply(
        self,
        ticket: Ticket,
        trigger: Trigger,
        changes: dict[str, Any] | None = None,
        records: list[MoneyRecord] | None = None,
        expired_before: int | None = None,
        removed: tuple[str, ...] = (),
        money_as_read: bool = False,
    ) -> Ticket:
        written = self._store.apply(ticket, trigger, changes, records, expired_before, removed, money_as_read)
        self.rows.append((ticket.status, trigger))
        self.plans.append(((ticket.status, trigger), list(records or [])))
        return written

    def record_money_back(
        self, ticket: Ticket, refund_amount: int, records: list[MoneyRecord], changes: dict[str, Any] | None = None
    ) -> Ticket:
        written = self._store.record_money_back(ticket, refund_amount, records, changes)
        self.plans.append((None, list(records)))
        return written

    def owe_seat_refund(self, ticket: Ticket, key: str, quantity: int, amount: int, reason: str) -> Ticket:
        return self._store.owe_seat_refund(ticket, key, quantity, amount, reason)

    def refund_seats(
        self, ticket: Ticket, returned: dict[int, int], refund_amount: int, refunds_seen: str | None, records: list[MoneyRecord]
    ) -> Ticket:
        written = self._store.refund_seats(ticket, returned, refund_amount, refunds_seen, records)
        self.plans.append((None, list(records)))
        return written

    def drop_seat_refund(self, ticket: Ticket) -> Ticket:
        return self._store.drop_seat_refund(ticket)

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
        self.clock = float(NOW)
        self.stripe = Stripe(clock=lambda: self.clock)
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
        # A ticket holding seats takes those it still holds (its admitted people's, if more: admitted
        # before some seats were refunded), shard by shard as its parts say; one whose money went
        # back only its admitted people's.
        held = sum(t.seats_taken if t.status in HOLDS_SEATS else t.checked_in for t in mine)
        for t in mine:
            if t.status in HOLDS_SEATS:
                assert sum(t.parts.values()) == t.seats_taken, t
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
