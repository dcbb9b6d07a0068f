"""The ticket checkout of seed 004 (purchase, verify, cancel), staff refunds, and the one idempotent
settlement that verify, the Stripe webhook, the sweep and the reconciliation share.

Every state change goes through ``TicketRepository.apply`` with a trigger of the life cycle in
``payments.domain.lifecycle``; a write that finds the ticket moved on re-reads it and decides again."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from payments import metrics, money
from payments.auth import Caller
from payments.context import system_time
from payments.domain.door import door_pass, with_door_pass
from payments.domain.events import check_on_sale
from payments.domain.lifecycle import (
    RELEASED,
    SEAT_REFUND_FIELDS,
    CheckoutSession,
    Outcome,
    StripeRefund,
    Ticket,
    TicketStatus,
    Trigger,
)
from payments.domain.ownership import owned_ticket
from payments.domain.ports import AdmissionRefused, FreeSeatLimit, SoldOut, StateChanged, StripeCheckout, TicketStore, UnpaidLimit
from payments.domain.queue import NotAdmitted
from payments.domain.records import MoneyRecord, PaymentRecord, RefundRecord
from payments.errors import (
    ApiError,
    BadRequest,
    ChargeDisputed,
    ConfigurationError,
    Conflict,
    InvalidField,
    NotApplicable,
    NotFound,
    ProviderRejected,
    UnknownObject,
    Unprocessable,
)
from payments.observability import audit, logger
from payments.settings import Settings

# Request models only annotate here: a function that validates none (a webhook) never imports them.
if TYPE_CHECKING:
    from payments.domain.admission import Admission
    from payments.domain.lifecycle import Event
    from payments.domain.pacing import SessionPacer
    from payments.domain.queue import QueueService
    from payments.models.tickets import CancelRequest, PurchaseRequest, RefundTicketRequest, VerifyRequest

# How often a settlement re-reads a ticket that changed under it before giving up (and letting the
# provider's retry or the reconciliation finish the job).
MAX_STATE_RETRIES = 4
# Stripe's reasons for a refund we make; kept in the refund's metadata and our records.
REASON_SOLD_OUT = metrics.LATE_PAYMENT_REASON
REASON_STAFF = "requested_by_staff"
REASON_DASHBOARD = "refunded_at_stripe"
REASON_DISPUTE_LOST = "dispute_lost"

S = TicketStatus


@dataclass(frozen=True)
class CheckoutStarted:
    ticket: Ticket
    session: CheckoutSession


@dataclass(frozen=True)
class Settlement:
    ticket: Ticket
    outcome: Outcome
    # The refund (or lost dispute) that completed a ticket's refund, when that is what happened.
    refund: StripeRefund | None = None


@dataclass
class SweepReport:
    examined: int = 0
    released: int = 0
    fulfilled: int = 0
    failed: int = 0
    # Reservations that moved on between the sweep's read and its write: whoever moved them handles them.
    skipped: int = 0
    ticket_ids: list[int] = field(default_factory=list)


def _seen(facts: list[StripeRefund]) -> str | None:
    """A digest of Stripe's refunds and lost disputes of a payment (id, status, amount): kept on the
    ticket with the sum, so that a change of any of them, not only of their sum, is written."""
    if not facts:
        return None
    listed = "\n".join(sorted(f"{fact.id}:{fact.status}:{fact.amount}" for fact in facts))
    return hashlib.sha256(listed.encode()).hexdigest()


def _refund_key(ticket_id: int, payment_intent: str, metadata: dict[str, str], failed: int) -> str:
    """The idempotency key of our refund of a ticket's payment. Stripe keeps a key's answer (a
    refund, or a refusal such as ``charge_disputed``) for 24 hours and answers ``idempotency_error``
    to the same key with other parameters: the key names the request whole (a digest of the payment
    and the metadata, our reason included), so that a retry of the same request gets Stripe's replay
    and a different one (another reason after a refusal) is a request of its own. A refund made
    again after ``failed`` refunds of the payment failed is new too: under the old key Stripe would
    replay the one that failed. No key can refund twice: we refund the rest of the charge, and once
    nothing is left Stripe answers ``charge_already_refunded`` (``refund_rest``: None)."""
    request = json.dumps({"payment_intent": payment_intent, "metadata": metadata}, sort_keys=True)
    digest = hashlib.sha256(request.encode()).hexdigest()[:16]
    return f"ticket-refund-{ticket_id}" + (f"-after-{failed}-failed" if failed else "") + f"-{digest}"


class TicketService:
    def __init__(
        self,
        repository: TicketStore,
        gateway: Callable[[], StripeCheckout],
        settings: Settings,
        clock: Callable[[], float] = system_time,
        queue: Callable[[], QueueService] | None = None,
        pacer: SessionPacer | None = None,
    ) -> None:
        self._repository = repository
        self._gateway = gateway  # resolved on first use: free tickets never need Stripe
        self._settings = settings
        self._clock = clock
        self._queue = queue  # resolved on first use: only an event sold through a queue needs it
        # Checkout Sessions at Stripe's rate (payments.domain.pacing); None: unpaced (tests of other things).
        self._pacer = pacer

    def _now(self) -> int:
        return int(self._clock())

    # purchase --------------------------------------------------------------------------------
    def purchase(self, caller: Caller, request: PurchaseRequest) -> Ticket | CheckoutStarted:
        """A free event's ticket is issued at once; a paid one is reserved and sent to Stripe Checkout."""
        event = self._repository.get_event(request.event_id)
        if event is None:
            raise NotFound("Event not found")
        check_on_sale(event, self._now())  # outside its sale window, or paused: 400, nothing written
        if event.available < request.quantity:
            raise BadRequest(f"Not enough tickets available: {event.available} left")
        if event.price * request.quantity > money.maximum_charge(event.currency):
            most = int(money.maximum_charge(event.currency) // event.price)
            raise InvalidField("quantity", f"at most {most} tickets of this event fit in one payment")
        admission = self._admission(caller, event, request) if event.on_sale_queue else None
        # The session's slot at Stripe's rate, claimed before anything of the purchase is written:
        # none free within a second is Busy (503, Retry-After: 1) with nothing to undo.
        slot = self._pacer.claim() if self._pacer is not None and not event.is_free else None
        limit, free_limit = self._settings.unpaid_seat_limit, self._settings.free_seat_limit
        try:
            # A refused reservation gives its slot back: nothing of the refused request stays written.
            with self._pacer.given_back_on_failure(slot) if self._pacer is not None else nullcontext():
                ticket = self._repository.create(
                    self._new_ticket(caller, event, request.quantity),
                    unpaid_limit=limit,
                    seats_by_shard=event.seats_by_shard,
                    free_limit=free_limit,
                    admission=admission,
                )
        except AdmissionRefused:
            assert admission is not None and self._queue is not None  # only a queued purchase carries one
            raise self._queue().refused(admission) from None
        except SoldOut:
            if admission is None and self._queued_since_read(event.event_id):
                raise NotAdmitted("This event now sells through its queue: join it, and send your queue_pass once admitted") from None
            raise BadRequest("Not enough tickets available") from None
        except FreeSeatLimit as over:
            # A free ticket cannot be cancelled unpaid nor refunded: without this, one account could take every seat.
            raise _over_limit("free", over.held, free_limit, request.quantity, "give some back first") from None
        except UnpaidLimit as over:
            raise _over_limit("unpaid", over.held, limit, request.quantity, "pay for or cancel them first") from None
        if event.is_free:
            audit(
                "ticket.issued_free", user_id=caller.user_id, ticket_id=ticket.ticket_id, event_id=event.event_id, quantity=ticket.quantity
            )
            return ticket

        frontend = self._settings.frontend_url.rstrip("/")
        now = ticket.created_at
        try:
            if slot is not None and self._pacer is not None:
                self._pacer.ready(slot)  # its slot's start, or a new slot if the reservation outlasted it
            session = self._gateway().create_checkout_session(
                ticket_id=ticket.ticket_id,
                product_name=event.name,
                currency=event.currency,
                unit_amount=ticket.unit_amount,
                quantity=ticket.quantity,
                success_url=f"{frontend}/payment/success?session_id={{CHECKOUT_SESSION_ID}}&ticket_id={ticket.ticket_id}",
                cancel_url=f"{frontend}/payment/cancel?ticket_id={ticket.ticket_id}",
                expires_at=ticket.expires_at or now,
                metadata={"ticket_id": str(ticket.ticket_id), "event_id": str(event.event_id), "user_id": caller.user_id},
                idempotency_key=f"ticket-checkout-{ticket.ticket_id}",
            )
        except ApiError:
            if admission is not None and self._queue is not None:
                # No checkout opened: the queue admission is not spent on it. Given back before the
                # seat is released, so that no admitter step sees the seat free while the admission
                # still counts as used (it would admit a second buyer for that seat). Should the
                # release fail, the sweep releases the seat at its expiry: until then the seat and
                # the admission both count against the room (the safe side).
                self._queue().give_back(admission, ticket.ticket_id)
            self._release_quietly(ticket)
            raise
        self._repository.attach_session(ticket.ticket_id, session.id, session.url or "")
        ticket.session_id, ticket.checkout_url = session.id, session.url
        audit(
            "ticket.checkout_started",
            user_id=caller.user_id,
            ticket_id=ticket.ticket_id,
            event_id=event.event_id,
            amount=ticket.amount_total,
            currency=ticket.currency,
            session_id=session.id,
        )
        return CheckoutStarted(ticket=ticket, session=session)

    def _new_ticket(self, caller: Caller, event: Event, quantity: int) -> Ticket:
        """The ticket a purchase writes (its id drawn: a write, hence inside the slot's give-back)."""
        now = self._now()
        ticket = Ticket(
            ticket_id=self._repository.next_id("ticket"),
            event_id=event.event_id,
            owner=caller.user_id,
            quantity=quantity,
            status=S.PAID if event.is_free else S.RESERVED,
            ticket_code=str(uuid.uuid4()),
            currency=event.currency,
            unit_amount=money.to_minor_units(event.price, event.currency),
            created_at=now,
            expires_at=None if event.is_free else now + self._settings.reservation_seconds,
            paid_at=now if event.is_free else None,
        )
        if event.is_free:
            ticket.qr_png = door_pass(ticket)  # valid at the door from the start: its pass is kept with it
        return ticket

    def _queued_since_read(self, event_id: int) -> bool:
        """Staff enabled the event's queue after this purchase read it: its seats, marked queued in
        the same write, refused the purchase's unqueued seat write (reported as SoldOut)."""
        event = self._repository.get_event(event_id)
        return event is not None and event.on_sale_queue

    def _admission(self, caller: Caller, event: Event, request: PurchaseRequest) -> Admission:
        """A queued event's buyer's admission (their ``queue_pass``), refused before anything is written."""
        if self._queue is None:
            raise ConfigurationError("An event sold through a queue, and no queue configured")
        return self._queue().admission(caller, event, request.queue_pass)

    # verify ----------------------------------------------------------------------------------
    def verify(self, caller: Caller, request: VerifyRequest) -> Ticket:
        ticket = self._owned_ticket(caller, request.ticket_id)
        if ticket.session_id is None:
            if ticket.status != S.RESERVED:
                raise BadRequest("This ticket has no payment to verify")
        elif ticket.session_id != request.session_id:
            raise BadRequest("session_id does not belong to this ticket")
        if ticket.status == S.PAID:
            return with_door_pass(ticket)
        if ticket.status in (S.REFUNDING, S.REFUNDED):
            raise BadRequest("The payment of this ticket has been refunded")
        session = self._gateway().retrieve_checkout_session(request.session_id)
        if session is None:
            raise NotFound("Payment not found")
        if session.ticket_id != ticket.ticket_id:
            raise BadRequest("session_id does not belong to this ticket")
        if not (session.is_paid or session.is_processing):
            raise BadRequest("Payment not completed")
        result = self.settle(session, ticket)
        if result.ticket.status == S.PROCESSING:
            raise BadRequest("Payment is processing; the ticket is issued when the payment completes")
        if result.ticket.status in (S.REFUNDING, S.REFUNDED):
            raise BadRequest("The reservation had expired and the event sold out; the payment has been refunded")
        if result.ticket.status != S.PAID:
            raise BadRequest(f"Ticket is {result.ticket.status}")
        return with_door_pass(result.ticket)

    # cancel ----------------------------------------------------------------------------------
    def cancel(self, caller: Caller, request: CancelRequest) -> None:
        """Releases the caller's reservation, or gives back their free ticket while nobody it admits
        has come in (its seats go back on sale, and back to the holder's free seats). A ticket
        already released or given back (by Stripe's expiry, the sweep, an earlier cancel) is what the
        caller asked for: success, not an error."""
        ticket = self._owned_ticket(caller, request.ticket_id)
        for _ in range(MAX_STATE_RETRIES):
            if ticket.status in RELEASED:
                return
            if ticket.is_free and ticket.status == S.PAID:
                try:
                    self._give_back(caller, ticket)
                except StateChanged:
                    ticket = self._reread(ticket)
                    continue
                return
            self._require_cancellable(ticket)
            if ticket.session_id:
                # Close the door at Stripe first, so that nobody pays for seats we are giving back.
                session = self._gateway().expire_checkout_session(ticket.session_id)
                if session.is_paid or session.is_processing:
                    ticket = self.settle(session, ticket).ticket
                    continue
            try:
                self._repository.apply(ticket, Trigger.CANCEL, {"released_at": self._now()})
            except StateChanged:
                ticket = self._reread(ticket)
                continue
            audit("ticket.cancelled", user_id=caller.user_id, ticket_id=ticket.ticket_id, quantity=ticket.quantity)
            return
        raise Conflict("Ticket changed while cancelling; retry")

    def _give_back(self, caller: Caller, ticket: Ticket) -> None:
        """A free ticket returned by its holder: one conditional write on its status, its price and
        nobody admitted. StateChanged when the ticket moved on meanwhile (a door admitted someone)."""
        if ticket.checked_in:
            # They are in the venue: their seats are theirs.
            raise BadRequest(
                f"{ticket.checked_in} of this ticket's {ticket.quantity} people were admitted at the door: it can no longer be given back"
            )
        self._repository.apply(ticket, Trigger.GIVE_BACK, {"released_at": self._now()})
        audit("ticket.given_back", user_id=caller.user_id, ticket_id=ticket.ticket_id, event_id=ticket.event_id, quantity=ticket.quantity)

    # settlement ------------------------------------------------------------------------------
    def settle(self, session: CheckoutSession, ticket: Ticket | None = None) -> Settlement:
        """Applies what Stripe says of a ticket's Checkout Session, exactly once, whoever calls first:
        paid pays the ticket (taking the seats again after a release, or refunding when they are
        gone); complete but unpaid (a bank debit) holds it as processing; expired releases it."""
        ticket = self._ticket_of(session, ticket)
        self._check_bound(session, ticket)
        for _ in range(MAX_STATE_RETRIES):
            try:
                if session.is_paid:
                    return self._paid(session, ticket)
                if session.is_processing:
                    return self._processing(session, ticket)
                if session.is_expired and ticket.status == S.RESERVED:
                    ticket = self._repository.apply(ticket, Trigger.EXPIRE, {"released_at": self._now()})
                    audit("ticket.reservation_released", user_id=ticket.owner, ticket_id=ticket.ticket_id, quantity=ticket.quantity)
                    return Settlement(ticket, Outcome.RELEASED)
                return Settlement(ticket, Outcome.NOTHING)
            except StateChanged:
                ticket = self._reread(ticket)
        raise Conflict("Ticket changed during settlement; retry")

    def payment_failed(self, session: CheckoutSession) -> Settlement:
        """A delayed payment that failed: the reservation is released."""
        ticket = self._ticket_of(session, None)
        self._check_bound(session, ticket)
        for _ in range(MAX_STATE_RETRIES):
            if ticket.status not in (S.RESERVED, S.PROCESSING):
                return Settlement(ticket, Outcome.NOTHING)
            try:
                ticket = self._repository.apply(ticket, Trigger.PAYMENT_FAILED, {"released_at": self._now()})
            except StateChanged:
                ticket = self._reread(ticket)
                continue
            audit("ticket.payment_failed", user_id=ticket.owner, ticket_id=ticket.ticket_id, quantity=ticket.quantity)
            return Settlement(ticket, Outcome.RELEASED)
        raise Conflict("Ticket changed during settlement; retry")

    def _paid(self, session: CheckoutSession, ticket: Ticket) -> Settlement:
        if ticket.status == S.PAID:
            return Settlement(ticket, Outcome.ALREADY_PAID)
        if ticket.status == S.REFUNDING:
            return self._finish_refund(ticket)
        if ticket.status == S.REFUNDED:
            return Settlement(ticket, Outcome.ALREADY_REFUNDED)
        # What already went back of this payment (a Dashboard refund before this fact reached us) is
        # applied in the same step: a payment all gone back never seats the ticket. One Stripe call,
        # the payment's refunds; a lost dispute is weeks away and comes with its own webhook. A
        # ticket that already holds money-back facts (a dispute's webhook came first) is brought to
        # all of them, disputes too: the write below replaces the sum, it must not forget one.
        facts: list[StripeRefund] = []
        if session.payment_intent:
            facts = self._money_back(session.payment_intent) if ticket.refunds_seen else self._gateway().refunds_of(session.payment_intent)
        returned = sum(fact.amount for fact in facts if fact.returned)
        if facts and session.payment_intent and returned >= ticket.amount_total:
            return self._money_step(ticket, session.payment_intent, facts, None)
        late = ticket.status in RELEASED
        now = self._now()
        records: list[MoneyRecord] = [
            PaymentRecord.of(ticket, session.id, session.payment_intent, now),
            *self._refund_records(ticket, session.payment_intent, facts, now),
        ]
        changes = {
            "session_id": session.id,
            "payment_intent": session.payment_intent,
            "paid_at": now,
            "late_payment": late,
            # Valid at the door from now on: its pass is drawn once and kept in the same write.
            "qr_png": ticket.qr_png or door_pass(ticket),
            "refund_amount": returned if facts else None,
            "refunds_seen": _seen(facts),
        }
        try:
            paid = self._repository.apply(ticket, Trigger.PAID, changes, records, money_as_read=True)
        except SoldOut:
            # The payment reaches the ticket here: recorded now, whatever happens to its refund.
            refunding = self._repository.apply(
                ticket,
                Trigger.REFUND_DUE,
                {"session_id": session.id, "payment_intent": session.payment_intent, "refund_reason": REASON_SOLD_OUT},
                [PaymentRecord.of(ticket, session.id, session.payment_intent, now)],
            )
            return self._finish_refund(refunding)
        audit(
            "ticket.paid",
            user_id=ticket.owner,
            ticket_id=ticket.ticket_id,
            quantity=ticket.quantity,
            amount=ticket.amount_total,
            currency=ticket.currency,
            session_id=session.id,
            payment_intent=session.payment_intent,
            late_payment=late,
        )
        return Settlement(paid, Outcome.PAID)

    def _processing(self, session: CheckoutSession, ticket: Ticket) -> Settlement:
        if ticket.status != S.RESERVED:
            return Settlement(ticket, Outcome.NOTHING)
        processing = self._repository.apply(
            ticket, Trigger.PAYMENT_PROCESSING, {"session_id": session.id, "payment_intent": session.payment_intent}
        )
        audit("ticket.payment_processing", user_id=ticket.owner, ticket_id=ticket.ticket_id, session_id=session.id)
        return Settlement(processing, Outcome.PROCESSING)

    # refunds ---------------------------------------------------------------------------------
    def refund(self, caller: Caller, request: RefundTicketRequest, request_key: str | None = None) -> tuple[Ticket, StripeRefund]:
        """Staff refund a paid ticket in full (what has not gone back yet): the seats of its people
        not yet admitted go back on sale and its QR code stops admitting anyone. Idempotent: a
        retry finishes the refund it started and never makes a second. Returns the ticket and the
        refund (or lost dispute) that completed it. A refund of some seats is not idempotent by
        itself (each refunds more): ``request_key`` (derived from the client's Idempotency-Key)
        names the request, so that its retry, cut off at any point, refunds its seats once."""
        ticket = self._repository.get_ticket(request.ticket_id)
        if ticket is None:
            raise NotFound("Ticket not found")
        if ticket.is_free or not ticket.payment_intent:
            raise BadRequest("This ticket has no payment to refund")
        intent = ticket.payment_intent
        reason = request.reason or REASON_STAFF
        if request.quantity is not None:
            return self._refund_seats(caller, ticket, request.quantity, reason, request_key)
        if request_key is None:
            return self._refund_whole(caller, ticket, reason)
        tag = _request_tag(request_key)
        facts = self._money_back(intent)  # read once: what this key's first attempt asked or made
        if _asked_seats(ticket, tag, facts):
            # The key's first attempt asked for some seats (cut off, so no answer was kept): this
            # body (the whole ticket) is another request under the same key.
            raise Unprocessable("Idempotency-Key was already used with a different request body")
        asked = _asked(ticket.refund_request)
        if asked is not None and asked.tag == tag:
            _same_request(asked.seats, None, asked.reason, _digest(reason, 8))
        ticket = self._own_refund_failed(ticket, [fact for fact in facts if _made_for(fact, tag)])
        return self._refund_whole(caller, ticket, reason, request=_whole_request(None, reason, tag))

    def _own_refund_failed(self, ticket: Ticket, own: list[StripeRefund]) -> Ticket:
        """A retry of a staff request whose refunds (``own``, found at Stripe by its tag) were made
        and failed later (the card's bank returned them): the ticket is brought to Stripe's facts
        first (the failure's webhook may not have come yet: the end must not depend on it), and
        when that makes it paid again, the retry is a 409, not a second refund under the same key
        (one request, one refund; a new refund of the ticket is a new request with a new key).
        Refunding again (its seats sold meanwhile), the refund owed is finished as any other."""
        if not own or any(fact.returned for fact in own):
            return ticket
        if ticket.status == S.REFUNDED:
            intent = ticket.payment_intent
            assert intent is not None
            ticket = self._apply_money_back(ticket, intent).ticket
        if ticket.status == S.PAID:
            raise Conflict(
                f"This request's refund ({own[0].id}) failed at the customer's bank after it was made; the ticket is "
                "paid again. To refund it again, send a new request with a new Idempotency-Key"
            )
        return ticket

    def _refund_whole(self, caller: Caller, ticket: Ticket, reason: str, request: str | None = None) -> tuple[Ticket, StripeRefund]:
        """``request``: what the staff request asked (``_whole_request``: the whole ticket, or a
        refund of some seats that asked all those left), kept on the ticket and its tag put in the
        refund's metadata at Stripe, so that its retry finds this refund its own, failed or not."""
        intent = ticket.payment_intent
        assert intent is not None
        for _ in range(MAX_STATE_RETRIES):
            if ticket.status == S.PAID and ticket.seat_refund_key:
                # A refund of some of its seats, cut off before it was finished: finished first, so
                # that it is made once and counted in what went back before the rest goes back.
                self._finish_seat_refund(ticket, refunded_by=caller.user_id)
                ticket = self._reread(ticket)
                continue
            if ticket.status == S.REFUNDED:
                # A retry of a refund that finished (its answer lost, a double click, the webhook
                # first): the refund made, read again from Stripe; nothing that moves money. Unless
                # it failed meanwhile: the ticket is then paid or refunding again, and refunded anew.
                settlement = self._apply_money_back(ticket, intent, refunded_by=caller.user_id)
                if settlement.ticket.status == S.REFUNDED and settlement.refund is not None:
                    return settlement.ticket, settlement.refund
                ticket = settlement.ticket
                continue
            if ticket.status == S.PAID:
                try:
                    # Conditioned on no seat refund owed, as read: one decided since is finished first
                    # (its refund would otherwise be made and its seats still held, should ours fail).
                    # An earlier request's tag is cleared (a change of None writes nothing): this
                    # refund is this request's, or no request's, never that one's.
                    ticket = self._repository.apply(
                        ticket,
                        Trigger.REFUND_DUE,
                        {"refund_reason": reason, "refund_request": request},
                        removed=(*SEAT_REFUND_FIELDS, "refund_request"),
                    )
                except StateChanged:
                    ticket = self._reread(ticket)
                    continue
            if ticket.status != S.REFUNDING:
                raise BadRequest(f"Ticket is {ticket.status}; only a paid ticket can be refunded")
            # Made under this request's tag when it has one (a request finishing a refund another
            # decided and left, cut off before Stripe, makes it its own: its retry then finds it).
            asked = _asked(request)
            settlement = self._finish_refund(ticket, refunded_by=caller.user_id, tag=asked.tag if asked else None)
            if settlement.outcome == Outcome.REFUND_REFUSED:
                raise BadRequest("The payment is disputed: Stripe returns its money only through the dispute; the ticket stays paid")
            refunded = settlement.ticket
            if refunded.status != S.REFUNDED or settlement.refund is None:
                raise Conflict("The refund is not finished yet; retry")
            return refunded, settlement.refund
        raise Conflict("Ticket changed while refunding; retry")

    def _refund_seats(
        self, caller: Caller, ticket: Ticket, quantity: int, reason: str, request_key: str | None
    ) -> tuple[Ticket, StripeRefund]:
        """Staff refund ``quantity`` of a paid ticket's seats: the price per seat paid x ``quantity``
        goes back (exact in minor units), the seats of people not admitted go back on sale, and the
        ticket keeps the rest. The last seats it holds are a whole refund. Decided in one write on
        the ticket as read (its seats refunded so far), before Stripe is asked, then made under that
        refund's own key and recorded with its seats in a second write: two at once never refund
        one seat twice, and one cut off half-way is finished, once, by a retry or the reconciliation.
        Another request's refund found owed is finished first, then this one is decided: two
        requests are two refunds. Only ``request_key`` says a request is a retry of an earlier one
        (its tag ends the refund's key, owed on the ticket or in the refund's metadata at Stripe)."""
        intent = ticket.payment_intent
        assert intent is not None
        tag = _request_tag(request_key)
        for _ in range(MAX_STATE_RETRIES):
            facts = self._money_back(intent)
            made = next((fact for fact in facts if _of_request(fact.seat_refund, tag)), None)
            if made is not None and made.seat_refund != ticket.seat_refund_key:
                # This request's refund, made and recorded before its answer was lost: the answer,
                # unless it failed later (then a retry is not a new refund: that takes a new key).
                _same_request(_seats_in(made.seat_refund), quantity, made.reason, reason)
                return self._own_refund_failed(ticket, [made]), made
            ticket = self._own_refund_failed(ticket, [fact for fact in facts if _made_for(fact, tag)])
            if ticket.status == S.PAID and ticket.seat_refund_key:
                # One decided before and not finished (cut off): finished first. When it is this very
                # request's (its retry, or its own write whose answer was lost and whose retry then
                # found it done), its refund is the answer; another request's, then this one.
                own = _of_request(ticket.seat_refund_key, tag)
                if own:
                    _same_request(ticket.seat_refund_quantity, quantity, ticket.seat_refund_reason, reason)
                settlement = self._finish_seat_refund(ticket, refunded_by=caller.user_id)
                if own:
                    return _seats_refunded(settlement, quantity, ticket)
                ticket = self._reread(ticket)
                continue
            asked = _asked(ticket.refund_request)
            if ticket.status in (S.REFUNDING, S.REFUNDED) and asked is not None and asked.tag == tag:
                # Its last seats, so a whole refund (decided by this request, then cut off): finished.
                # (What it asked is compared with what it keeps: the ticket's refund_reason becomes
                # that of whichever refund completed it, a Dashboard refund or a lost dispute too.)
                _same_request(asked.seats, quantity, asked.reason, _digest(reason, 8))
                return self._refund_whole(caller, ticket, reason)
            if ticket.status != S.PAID:
                raise BadRequest(f"Ticket is {ticket.status}; only a paid ticket can be refunded")
            held = ticket.quantity_held
            if not 1 <= quantity <= held:
                raise InvalidField("quantity", f"must be between 1 and {held}, the seats this ticket holds")
            first = ticket.refunded_quantity + 1
            seats = f"{first}-{first + quantity - 1}"
            if quantity == held:
                return self._refund_whole(caller, ticket, reason, request=_whole_request(seats, reason, tag))
            amount = ticket.unit_amount * quantity
            left = ticket.amount_total - sum(fact.amount for fact in facts if fact.returned)
            if amount > left:
                raise InvalidField("quantity", _too_much(quantity, amount, left, ticket.currency))
            try:
                owed = self._repository.owe_seat_refund(
                    ticket, f"ticket-seat-refund-{ticket.ticket_id}-{seats}-{tag}", quantity, amount, reason
                )
            except StateChanged:
                ticket = self._reread(ticket)
                continue
            return _seats_refunded(self._finish_seat_refund(owed, refunded_by=caller.user_id), quantity, ticket)
        raise Conflict("Ticket changed while refunding; retry")

    def _finish_seat_refund(self, ticket: Ticket, refunded_by: str | None = None) -> Settlement:
        """The seat refund owed on a paid ticket made at Stripe (or found made: its key is in the
        refund's metadata, so it is found for ever, past the key's 24 hours) and recorded with its
        seats. Stripe refusing it (a disputed charge, less left than its amount) gives it up,
        nothing moved; all of the payment back by then refunds the ticket instead."""
        intent, key, amount = ticket.payment_intent, ticket.seat_refund_key, ticket.seat_refund_amount_minor
        assert intent is not None and key is not None and amount is not None
        for _ in range(MAX_STATE_RETRIES):
            facts = self._money_back(intent)
            made = next((fact for fact in facts if fact.seat_refund == key), None)
            if made is None:
                reason = ticket.seat_refund_reason or REASON_STAFF
                metadata = {"ticket_id": str(ticket.ticket_id), "reason": reason, "seat_refund": key}
                # Stripe's key names the parameters too: a decision given up (Stripe refused it) and
                # decided again with another reason is another request to Stripe, not a reused key.
                stripe_key = f"{key}-{_digest(reason, 8)}"
                try:
                    made = self._gateway().refund_part(intent, amount, metadata=metadata, idempotency_key=stripe_key)
                except ChargeDisputed:
                    return self._seat_refund_refused(ticket, Outcome.REFUND_REFUSED)
                except Unprocessable:
                    logger.error("Stripe holds another request under a seat refund's key", extra={"ticket_id": ticket.ticket_id})
                    raise Conflict("Stripe refused this refund as a repeat of another request; retry later") from None
                except ProviderRejected:
                    # Less left than its amount: refunds in the Dashboard or a lost dispute raced it.
                    facts = self._money_back(intent)
                    if sum(fact.amount for fact in facts if fact.returned) >= ticket.amount_total:
                        return self._apply_money_back(ticket, intent, refunded_by, facts)
                    return self._seat_refund_refused(ticket, Outcome.NOTHING)
                facts = self._money_back(intent)
                if all(fact.id != made.id for fact in facts):
                    facts = [made, *facts]
            if sum(fact.amount for fact in facts if fact.returned) >= ticket.amount_total:
                # All of the payment back with it (the last of it): the ticket is refunded.
                settlement = self._apply_money_back(ticket, intent, refunded_by, facts)
                return Settlement(settlement.ticket, settlement.outcome, made)
            returned = sum(fact.amount for fact in facts if fact.returned)
            now = self._now()
            try:
                done = self._repository.refund_seats(
                    ticket, _seats_back(ticket), returned, _seen(facts), self._refund_records(ticket, intent, facts, now)
                )
            except StateChanged:
                ticket = self._reread(ticket)
                if ticket.status == S.PAID and ticket.seat_refund_key == key:
                    continue  # another fact of the payment was written meanwhile: again, from it
                # Finished by another request, or the ticket refunded whole meanwhile (its refund
                # counts this one): what went back is recorded; this refund is the answer.
                return Settlement(ticket, Outcome.NOTHING, made)
            audit(
                "ticket.seats_refunded",
                user_id=ticket.owner,
                ticket_id=ticket.ticket_id,
                quantity=ticket.seat_refund_quantity,
                amount=made.amount,
                currency=ticket.currency,
                payment_intent=intent,
                refund_id=made.id,
                reason=ticket.seat_refund_reason or REASON_STAFF,
                refunded_by=refunded_by,
            )
            return Settlement(done, Outcome.SEATS_REFUNDED, made)
        raise Conflict("Ticket changed while refunding; retry")

    def _seat_refund_refused(self, ticket: Ticket, outcome: Outcome) -> Settlement:
        """Stripe will not make the seat refund owed: given up, nothing moved (no seat, no money)."""
        try:
            dropped = self._repository.drop_seat_refund(ticket)
        except StateChanged:
            dropped = self._reread(ticket)
            if dropped.seat_refund_key == ticket.seat_refund_key:
                raise Conflict("Ticket changed during refund; retry") from None
            return Settlement(dropped, outcome)  # given up or superseded meanwhile
        audit("ticket.seat_refund_refused", ticket_id=ticket.ticket_id, payment_intent=ticket.payment_intent, outcome=str(outcome))
        return Settlement(dropped, outcome)

    def refunded_at_provider(self, payment_intent: str) -> Settlement | None:
        """A refund or a dispute of a payment changed at Stripe (made in the Dashboard, by us, lost,
        failed later): what went back of the payment is read from Stripe and applied to its ticket.
        The fact that prompted it is not taken from the event (its amount, its reason): Stripe's
        lists of the payment's refunds and disputes are the truth. None when the payment is not a
        ticket's."""
        ticket = self._ticket_paid_by(payment_intent)
        if ticket is None:
            return None
        return self._apply_money_back(ticket, payment_intent)

    def _ticket_paid_by(self, payment_intent: str) -> Ticket | None:
        """The ticket a payment is for: through our link, written when the payment reached the ticket,
        or else (a refund or dispute whose payment's webhook has not come yet) through the ticket id
        we put in the payment's metadata, believed only when the ticket's Checkout Session names
        this very payment and its amount."""
        ticket = self._repository.ticket_for_payment_intent(payment_intent)
        if ticket is not None:
            return ticket
        gateway = self._gateway()
        try:
            intent = gateway.retrieve_payment_intent(payment_intent)
        except ProviderRejected:
            return None
        reference = str((intent.get("metadata") or {}).get("ticket_id") or "")
        ticket = self._repository.get_ticket(int(reference)) if reference.isdigit() else None
        if ticket is None or not ticket.session_id:
            return None
        session = gateway.retrieve_checkout_session(ticket.session_id)
        if session is None or session.payment_intent != payment_intent or session.ticket_id != ticket.ticket_id:
            logger.error("A payment names a ticket whose session it did not pay", extra={"ticket_id": ticket.ticket_id})
            return None
        try:
            self._check_bound(session, ticket)
        except NotApplicable:
            return None
        return ticket

    def money_back(self, payment_intent: str) -> list[StripeRefund]:
        """What went back of any payment, a ticket's or not (the direct endpoints' payment intents
        are kept true with it too, ``StripeObjectSync.money_back``)."""
        return self._money_back(payment_intent)

    def _money_back(self, payment_intent: str) -> list[StripeRefund]:
        """Every refund of the payment (any status) and every lost dispute, as Stripe has them now."""
        gateway = self._gateway()
        facts = gateway.refunds_of(payment_intent)
        for dispute in gateway.disputes_of(payment_intent):
            if dispute.get("status") == "lost":
                facts.append(
                    StripeRefund(
                        str(dispute["id"]), int(dispute.get("amount") or 0), str(dispute.get("currency")), "lost", REASON_DISPUTE_LOST
                    )
                )
        return facts

    def _apply_money_back(
        self, ticket: Ticket, payment_intent: str, refunded_by: str | None = None, facts: list[StripeRefund] | None = None
    ) -> Settlement:
        """Brings the ticket to what went back of its payment, re-reading both when the ticket
        changed under the write (another fact, the door)."""
        for _ in range(MAX_STATE_RETRIES):
            facts = self._money_back(payment_intent) if facts is None else facts
            try:
                return self._money_step(ticket, payment_intent, facts, refunded_by)
            except StateChanged:
                ticket, facts = self._reread(ticket), None
        raise Conflict("Ticket changed while recording a refund; retry")

    @staticmethod
    def _refund_records(ticket: Ticket, payment_intent: str | None, facts: list[StripeRefund], now: int) -> list[MoneyRecord]:
        """One record per refund and lost dispute of the payment, each with its status as Stripe has it."""
        return [RefundRecord.of(ticket, fact, fact.reason or REASON_DASHBOARD, payment_intent, now) for fact in facts]

    @staticmethod
    def _payment_overtaken(ticket: Ticket, payment_intent: str, now: int) -> list[MoneyRecord]:
        """The payment's record, when money went back of it before the payment reached the ticket
        (no PAID, no REFUND_DUE of a late payment wrote it): written with the first refund record,
        so that money taken = money kept + money returned holds in the payments table at every step.
        A refund proves the money was taken; the payment's own webhook later writes the same record
        (one per session) again."""
        if ticket.status in (S.RESERVED, S.PROCESSING, S.CANCELLED, S.EXPIRED) and ticket.session_id:
            return [PaymentRecord.of(ticket, ticket.session_id, payment_intent, now)]
        return []

    def _money_step(self, ticket: Ticket, payment_intent: str, facts: list[StripeRefund], refunded_by: str | None) -> Settlement:
        """One conditional write of what went back of the payment (on the sum and the facts as read):
        the records mirror Stripe's refunds and lost disputes one to one, rewritten whenever any of
        them changed (its status, a new one), not only when their sum did."""
        returned = sum(fact.amount for fact in facts if fact.returned)
        now = self._now()
        seen = _seen(facts)
        records = self._refund_records(ticket, payment_intent, facts, now)
        made = [fact for fact in facts if fact.returned]
        if made and returned >= ticket.amount_total:
            last = made[-1] if made[-1].status == "lost" else made[0]  # Stripe lists refunds newest first
            if ticket.status == S.REFUNDED:
                named = next((fact for fact in made if fact.id == ticket.refund_id), None)
                if named is None or seen != ticket.refunds_seen or ticket.refund_amount != returned:
                    changes: dict[str, Any] = {"refunds_seen": seen}
                    if named is None:
                        # The refund that named it no longer returns anything (it failed, another
                        # refund took its place): the ticket names the one that completes it now.
                        changes |= {"refund_id": last.id, "refund_reason": last.reason or REASON_DASHBOARD}
                    ticket = self._repository.record_money_back(ticket, returned, records, changes)
                return Settlement(ticket, Outcome.ALREADY_REFUNDED, named or last)
            # The reason of the fact that completed it: ours from our refund's metadata (the staff's,
            # a late payment's), a lost dispute's, or the Dashboard's, never one left from before.
            reason = last.reason or REASON_DASHBOARD
            records += self._payment_overtaken(ticket, payment_intent, now)
            refunded = self._repository.apply(
                ticket,
                Trigger.REFUNDED,
                {
                    "payment_intent": None if ticket.payment_intent else payment_intent,
                    "refund_id": last.id,
                    "refund_reason": reason,
                    "refunded_at": now,
                    "refund_amount": returned,
                    "refunds_seen": seen,
                }
                | _seat_refund_counted(ticket, made),
                records,
                # A seat refund owed is moot: all of the payment is back, and every seat not admitted.
                removed=SEAT_REFUND_FIELDS,
                money_as_read=True,
            )
            audit(
                "ticket.refunded",
                user_id=ticket.owner,
                ticket_id=ticket.ticket_id,
                amount=returned,
                currency=ticket.currency,
                payment_intent=payment_intent,
                refund_id=last.id,
                reason=reason,
                refunded_by=refunded_by,
            )
            return Settlement(refunded, Outcome.REFUNDED, last)
        if ticket.status == S.REFUNDED:
            # Paid again only when the refund that completed it (and gave its seats back) is the one
            # that failed; an earlier one failing (a seat refund, a partial one in the Dashboard)
            # leaves the seats given back where they are, and what it no longer returns is owed.
            # Unless a dispute was lost: Stripe refunds nothing more of a disputed charge, so it
            # could never be made (paid again while its seats are free, as before).
            standing = any(fact.id == ticket.refund_id for fact in made) and all(fact.status != "lost" for fact in facts)
            return self._refund_failed(ticket, payment_intent, returned, records, seen, owed_again=standing)
        if seen != ticket.refunds_seen or (ticket.refund_amount or 0) != returned or (records and ticket.refund_amount is None):
            dropped = returned < (ticket.refund_amount or 0)
            if records:
                records += self._payment_overtaken(ticket, payment_intent, now)
            ticket = self._repository.record_money_back(ticket, returned, records, {"refunds_seen": seen})
            if dropped:
                audit(
                    "ticket.refund_failed",
                    user_id=ticket.owner,
                    ticket_id=ticket.ticket_id,
                    payment_intent=payment_intent,
                    returned=returned,
                )
        if made:
            logger.info("Part of a ticket's payment went back: the ticket stays as it is", extra={"ticket_id": ticket.ticket_id})
        return Settlement(ticket, Outcome.NOTHING)

    def _refund_failed(
        self, ticket: Ticket, payment_intent: str, returned: int, records: list[MoneyRecord], seen: str | None, owed_again: bool
    ) -> Settlement:
        """A refunded ticket whose money is no longer all back (a refund failed later): paid again
        while its seats are free, else its refund is owed again (the reconciliation makes it). Owed
        again at once (``owed_again``) when the refund that completed it still stands."""
        ticket_now = None
        if not owed_again:  # else nothing to take back: its seats went back with a refund that stands
            with suppress(SoldOut):  # its seats were sold meanwhile: owed again
                ticket_now = self._repository.apply(
                    ticket,
                    Trigger.REFUND_FAILED,
                    {
                        "refund_amount": returned,
                        "refunds_seen": seen,
                        "paid_at": ticket.paid_at or self._now(),
                        "qr_png": ticket.qr_png or door_pass(ticket),
                    },
                    records,
                    removed=("refund_id", "refund_reason", "refunded_at"),
                    money_as_read=True,
                )
        if ticket_now is None:
            ticket_now = self._repository.apply(
                ticket, Trigger.REFUND_DUE, {"refund_amount": returned, "refunds_seen": seen}, records, money_as_read=True
            )
        audit(
            "ticket.refund_failed",
            user_id=ticket.owner,
            ticket_id=ticket.ticket_id,
            payment_intent=payment_intent,
            returned=returned,
            status=str(ticket_now.status),
        )
        return Settlement(ticket_now, Outcome.REFUND_FAILED)

    def _finish_refund(self, ticket: Ticket, refunded_by: str | None = None, tag: str | None = None) -> Settlement:
        """A ticket in ``refunding``: what has not gone back of its payment is refunded at Stripe
        (or found gone back already, by refunds or a lost dispute) and the ticket becomes ``refunded``.
        The refund carries ``tag``, the staff request making it, and that of the request that
        decided it (``refund_request``), both its own. Two requests at once with two tags are two
        Stripe keys, yet one refund: each refunds what is left, and the second finds nothing left."""
        intent = ticket.payment_intent
        if not intent:
            logger.error("A refunding ticket without a payment intent", extra={"ticket_id": ticket.ticket_id})
            raise NotApplicable("Payment cannot be refunded automatically")
        facts = self._money_back(intent)
        if sum(fact.amount for fact in facts if fact.returned) < ticket.amount_total:
            failed = sum(1 for fact in facts if fact.status in ("failed", "canceled"))
            metadata = {"ticket_id": str(ticket.ticket_id), "reason": ticket.refund_reason or REASON_STAFF}
            decided = _asked(ticket.refund_request)
            tags = dict.fromkeys(known for known in (tag, decided.tag if decided else None) if known)
            if tags:
                # The staff requests it is made for (the one making it, the one that decided it), so
                # that the retry of either finds it for ever, failed or not.
                metadata["refund_request"] = " ".join(tags)
            key = _refund_key(ticket.ticket_id, intent, metadata, failed)
            try:
                made = self._gateway().refund_rest(intent, metadata=metadata, idempotency_key=key)
            except Unprocessable:
                # Stripe holds another request under the key. Our keys are drawn from the request
                # itself, so this is a bug or a key some other code used: nothing moved, the ticket
                # stays refunding (the reconciliation retries; Stripe forgets a key after 24 hours).
                logger.error("Stripe holds another request under a refund's key", extra={"ticket_id": ticket.ticket_id})
                raise Conflict(
                    "Stripe refused this refund as a repeat of another request; the ticket stays refunding, retry later"
                ) from None
            except ChargeDisputed:
                facts = self._money_back(intent)
                if sum(fact.amount for fact in facts if fact.returned) < ticket.amount_total:
                    return self._refund_refused(ticket, intent)
                made = None
            # What went back is read again after the call (a refund may have failed, or been made, while
            # it was in flight); Stripe's list may not show the refund just made yet: then it is put
            # first, as the newest. The write is conditioned on the ticket's sum as read.
            facts = self._money_back(intent)
            if made is not None and all(fact.id != made.id for fact in facts):
                facts = [made, *facts]
        return self._apply_money_back(ticket, intent, refunded_by, facts)

    def _refund_refused(self, ticket: Ticket, payment_intent: str) -> Settlement:
        """Stripe will not refund a disputed charge and the dispute has not returned the money: the
        ticket is paid again while its seats are free (its refund reason cleared: nothing is being
        refunded), and otherwise it stays refunding for a person (NotApplicable: reported, alarmed)."""
        try:
            # Nothing is being refunded, for no request: a refused first attempt keeps nothing.
            restored = self._repository.apply(ticket, Trigger.REFUND_REFUSED, removed=("refund_reason", "refund_request"))
        except SoldOut:
            logger.error("A disputed payment's ticket cannot be refunded nor seated again", extra={"ticket_id": ticket.ticket_id})
            raise NotApplicable("The payment is disputed and the event is sold out: a person must settle this ticket") from None
        except StateChanged:
            raise Conflict("Ticket changed during refund; retry") from None
        audit("ticket.refund_refused_disputed", ticket_id=ticket.ticket_id, payment_intent=payment_intent)
        return Settlement(restored, Outcome.REFUND_REFUSED)

    # unsettled tickets -----------------------------------------------------------------------
    def sweep_expired(self, limit: int = 100) -> SweepReport:
        """Releases reservations past their expiry whose webhook never came; a session that turns out
        to be paid is settled instead, and one whose bank debit is still on its way is held."""
        now = self._now()
        cutoff = now - self._settings.sweep_grace_seconds
        report = SweepReport()
        for ticket in self._repository.unsettled(S.RESERVED, expired_before=cutoff, limit=limit):
            report.examined += 1
            try:
                outcome = self.settle_open_ticket(ticket, expired_before=cutoff)
            except StateChanged:
                # Cancelled, paid or released meanwhile: not this run's to settle, and no failure.
                report.skipped += 1
                logger.info("Sweep skipped a reservation that changed meanwhile", extra={"ticket_id": ticket.ticket_id})
                continue
            except (ApiError, SoldOut):
                # SoldOut: its seats had nowhere to go back to (a shard item missing). Counted as a
                # failure for a person, and the reservations behind it are still settled.
                report.failed += 1
                logger.exception("Sweep could not settle a reservation", extra={"ticket_id": ticket.ticket_id})
                continue
            if outcome == Outcome.RELEASED:
                report.released += 1
            elif outcome.changed:
                report.fulfilled += 1
            if outcome.changed:
                report.ticket_ids.append(ticket.ticket_id)
        return report

    def settle_open_ticket(self, ticket: Ticket, expired_before: int | None = None) -> Outcome:
        """Brings one reserved, processing or refunding ticket to what Stripe knows of its payment:
        the sweep's and the reconciliation's one step."""
        if ticket.status == S.REFUNDING:
            return self._finish_refund(ticket).outcome
        if ticket.status == S.PAID:
            # Listed with the refunds owed: a staff refund of some of its seats not finished. Read
            # again first (the index trails the table): only a refund still owed is made.
            current = self._reread(ticket)
            if current.status == S.PAID and current.seat_refund_key:
                return self._finish_seat_refund(current).outcome
            return Outcome.NOTHING
        if not ticket.session_id:
            if ticket.status == S.RESERVED and expired_before is not None:
                self._repository.apply(ticket, Trigger.EXPIRE, {"released_at": self._now()}, expired_before=expired_before)
                return Outcome.RELEASED
            return Outcome.NOTHING
        gateway = self._gateway()
        if ticket.status == S.RESERVED and expired_before is not None:
            session = gateway.expire_checkout_session(ticket.session_id)
        else:
            found = gateway.retrieve_checkout_session(ticket.session_id)
            if found is None:
                raise UnknownObject("Checkout Session not found at Stripe")
            session = found
        intent = session.payment_intent or ticket.payment_intent
        if session.is_processing and intent and gateway.retrieve_payment_intent_status(intent) in ("requires_payment_method", "canceled"):
            return self.payment_failed(session).outcome
        return self.settle(session, ticket).outcome

    # helpers ---------------------------------------------------------------------------------
    def _ticket_of(self, session: CheckoutSession, ticket: Ticket | None) -> Ticket:
        if ticket is not None:
            return ticket
        found = self._repository.get_ticket(session.ticket_id) if session.ticket_id else None
        if found is None:
            logger.error("Checkout session for an unknown ticket", extra={"session_id": session.id})
            raise UnknownObject("Ticket not found")
        return found

    @staticmethod
    def _check_bound(session: CheckoutSession, ticket: Ticket) -> None:
        """A signed event is still only applied when it is about this ticket and this price: the
        session and the ticket name each other, and a paid session paid exactly what is due."""
        problem = None
        if session.ticket_id != ticket.ticket_id or (ticket.session_id and ticket.session_id != session.id):
            problem = "Checkout session does not belong to this ticket"
        elif session.is_paid or session.is_processing:
            if session.amount_total is None or session.amount_total != ticket.amount_total:
                problem = "Payment amount does not match the ticket"
            elif (session.currency or "").lower() != ticket.currency.lower():
                problem = "Payment currency does not match the ticket"
        if problem:
            logger.error(
                problem,
                extra={"session_id": session.id, "ticket_id": ticket.ticket_id, "paid": session.amount_total, "due": ticket.amount_total},
            )
            raise NotApplicable(problem)

    def _owned_ticket(self, caller: Caller, ticket_id: int) -> Ticket:
        return owned_ticket(self._repository, caller, ticket_id)

    def _reread(self, ticket: Ticket) -> Ticket:
        current = self._repository.get_ticket(ticket.ticket_id)
        if current is None:
            raise NotFound("Ticket not found")
        return current

    @staticmethod
    def _require_cancellable(ticket: Ticket) -> None:
        if ticket.status == S.PAID:
            raise BadRequest("Ticket already paid")
        if ticket.status == S.PROCESSING:
            raise BadRequest("The payment is processing and cannot be cancelled; the ticket is issued or released when it completes")
        if ticket.status != S.RESERVED:
            raise BadRequest(f"Ticket already {ticket.status}")

    def _release_quietly(self, ticket: Ticket) -> None:
        try:
            self._repository.apply(ticket, Trigger.CANCEL, {"released_at": self._now()})
        except Exception:
            # The sweep releases it at its expiry; the original error is the one to report.
            logger.exception("Could not release a reservation after a checkout failure", extra={"ticket_id": ticket.ticket_id})


def _over_limit(kind: str, held: int, limit: int, quantity: int, remedy: str) -> InvalidField:
    """The refusal of an order past the seats of ``kind`` (free, unpaid) one account may hold for an event."""
    if not held:
        return InvalidField("quantity", f"you may hold at most {limit} {kind} seats for this event, not {quantity}")
    return InvalidField("quantity", f"you already hold {held} {kind} seats for this event and may hold at most {limit}; {remedy}")


def _seats_back(ticket: Ticket) -> dict[int, int]:
    """The seats a seat refund owed gives back, by shard: as many of those of people not admitted as
    it refunds, from the highest shard down (the admitted are counted from the lowest up, so the
    ones left stay theirs)."""
    wanted = min(ticket.seat_refund_quantity or 0, sum(ticket.unadmitted_parts.values()))
    back: dict[int, int] = {}
    for shard, count in sorted(ticket.unadmitted_parts.items(), reverse=True):
        taken = min(count, wanted - sum(back.values()))
        if taken > 0:
            back[shard] = taken
    return back


def _seat_refund_counted(ticket: Ticket, made: list[StripeRefund]) -> dict[str, Any]:
    """A staff seat refund owed and made at Stripe, not yet recorded, when the rest of the payment
    goes back too (a Dashboard refund or a lost dispute completing it first): its seats counted in
    the same write as refunded (``refunded_quantity``, and ``seat_parts`` without them, as
    ``refund_seats`` would have written), so that should the completing refund fail later the ticket
    is paid again holding only the seats whose price it keeps."""
    key, quantity = ticket.seat_refund_key, ticket.seat_refund_quantity
    if key is None or quantity is None or not any(fact.seat_refund == key for fact in made):
        return {}
    back = _seats_back(ticket)
    parts = {shard: count - back.get(shard, 0) for shard, count in ticket.parts.items() if count > back.get(shard, 0)}
    return {"refunded_quantity": ticket.refunded_quantity + quantity, "seat_parts": parts}


def _request_tag(request_key: str | None) -> str:
    """What ends the key of a seat refund: a digest of the request's key, or with none, a random
    tag (a request without a key is never a retry of another)."""
    return uuid.uuid4().hex[:16] if request_key is None else _digest(request_key, 16)


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _whole_request(seats: str | None, reason: str, tag: str) -> str:
    """What a whole refund asked by a staff request with a key keeps on the ticket
    (``refund_request``): the seats asked (``first-last`` for a refund of the last seats, ``all``
    for the whole ticket), a digest of its reason, and its request's tag."""
    return f"{seats or 'all'}-{_digest(reason, 8)}-{tag}"


@dataclass(frozen=True)
class _Asked:
    """A ticket's ``refund_request`` read back: the seats asked (None: the whole ticket), the
    reason's digest and the request's tag."""

    seats: int | None
    reason: str
    tag: str


def _asked(refund_request: str | None) -> _Asked | None:
    """None when there is none, or in no form this code writes (nothing to compare a retry with)."""
    parts = (refund_request or "").split("-")
    if len(parts) < 3:
        return None
    *seats, reason, tag = parts
    if seats == ["all"]:
        return _Asked(None, reason, tag)
    if len(seats) != 2 or not all(seat.isdigit() for seat in seats):
        return None
    return _Asked(int(seats[1]) - int(seats[0]) + 1, reason, tag)


def _of_request(seat_refund_key: str | None, tag: str) -> bool:
    return seat_refund_key is not None and seat_refund_key.endswith(f"-{tag}")


def _asked_seats(ticket: Ticket, tag: str, facts: list[StripeRefund]) -> bool:
    """Whether the request of ``tag`` decided a refund of some of the ticket's seats: owed on it,
    made at Stripe (its key in the refund's metadata, ``facts``), or its last seats refunded whole."""
    asked = _asked(ticket.refund_request)
    if _of_request(ticket.seat_refund_key, tag) or (asked is not None and asked.tag == tag and asked.seats is not None):
        return True
    return any(_of_request(fact.seat_refund, tag) for fact in facts)


def _made_for(fact: StripeRefund, tag: str) -> bool:
    """Whether a whole refund was made for the staff request of ``tag`` (its metadata names the
    request that made it and the one that decided it)."""
    return tag in (fact.request or "").split()


def _seats_in(seat_refund_key: str | None) -> int:
    """How many seats a seat refund's key (``...-{first}-{last}-{tag}``) names."""
    assert seat_refund_key is not None
    first, last = seat_refund_key.split("-")[-3:-1]
    return int(last) - int(first) + 1


def _same_request(quantity: int | None, wanted: int | None, reason: str | None = None, wanted_reason: str | None = None) -> None:
    """A retry must ask what its first attempt asked (as an Idempotency-Key replay checks the body)."""
    if quantity != wanted or reason != wanted_reason:
        raise Unprocessable("Idempotency-Key was already used with a different request body")


def _seats_refunded(settlement: Settlement, quantity: int, ticket: Ticket) -> tuple[Ticket, StripeRefund]:
    """The answer to a seat refund once its finishing is done: the ticket and the refund, or why not."""
    if settlement.outcome == Outcome.REFUND_REFUSED:
        raise BadRequest("The payment is disputed: Stripe returns its money only through the dispute; the ticket stays paid")
    if settlement.refund is None:
        raise InvalidField("quantity", _too_much(quantity, ticket.unit_amount * quantity, None, ticket.currency))
    return settlement.ticket, settlement.refund


def _too_much(quantity: int, amount: int, left: int | None, currency: str) -> str:
    """Why a refund of ``quantity`` seats (``amount`` minor units) cannot be made: less than that is left."""
    price = f"{money.to_major_units(amount, currency):f} {currency.upper()}"
    still = "less than that" if left is None else f"only {money.to_major_units(max(left, 0), currency):f} {currency.upper()}"
    return (
        f"refunding {quantity} of its seats returns {price}, and {still} of this payment can still be refunded (refunds in "
        "Stripe's Dashboard or a dispute returned the rest): refund fewer seats, or the whole ticket"
    )
