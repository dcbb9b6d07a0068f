"""The ticket checkout of seed 004: purchase, verify, cancel, and the one idempotent fulfilment
that verify, the Stripe webhook and the sweep share."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from payments import money
from payments.auth import Caller
from payments.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from payments.models.tickets import CancelRequest, PurchaseRequest, VerifyRequest
from payments.observability import audit, logger
from payments.providers.stripe_gateway import CheckoutSession, StripeGateway, get_stripe_gateway
from payments.repositories.tickets import (
    CANCELLED,
    EXPIRED,
    PAID,
    REFUNDED,
    RELEASED_STATES,
    RESERVED,
    SoldOut,
    StateChanged,
    Ticket,
    TicketRepository,
)
from payments.repositories.wiring import get_ticket_repository
from payments.settings import Settings, get_settings

# How often a fulfilment re-reads a ticket that changed under it before giving up (and letting the
# provider's retry or the sweep finish the job).
MAX_STATE_RETRIES = 4


@dataclass(frozen=True)
class CheckoutStarted:
    ticket: Ticket
    session: CheckoutSession


@dataclass(frozen=True)
class Fulfilment:
    ticket: Ticket
    outcome: str  # "paid", "already_paid", "refunded", "ignored"


@dataclass
class SweepReport:
    examined: int = 0
    released: int = 0
    fulfilled: int = 0
    failed: int = 0
    ticket_ids: list[int] = field(default_factory=list)


class TicketService:
    def __init__(
        self,
        repository: TicketRepository,
        gateway: Callable[[], StripeGateway],
        settings: Settings,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._repository = repository
        self._gateway = gateway  # resolved on first use: free tickets never need Stripe
        self._settings = settings
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock() if self._clock else time.time())

    # purchase --------------------------------------------------------------------------------
    def purchase(self, caller: Caller, request: PurchaseRequest) -> Ticket | CheckoutStarted:
        """A free event's ticket is issued at once; a paid one is reserved and sent to Stripe Checkout."""
        event = self._repository.get_event(request.event_id)
        if event is None:
            raise NotFound("Event not found")
        if event.available < request.quantity:
            raise BadRequest(f"Not enough tickets available: {event.available} left")
        now = self._now()
        ticket = Ticket(
            ticket_id=self._repository.next_id("ticket"),
            event_id=event.event_id,
            owner=caller.user_id,
            quantity=request.quantity,
            status=PAID if event.is_free else RESERVED,
            ticket_code=str(uuid.uuid4()),
            currency=event.currency,
            unit_amount=money.to_minor_units(event.price, event.currency),
            created_at=now,
            expires_at=None if event.is_free else now + self._settings.reservation_seconds,
            paid_at=now if event.is_free else None,
        )
        try:
            self._repository.take_seats_and_create(ticket)
        except SoldOut:
            raise BadRequest("Not enough tickets available") from None
        if event.is_free:
            audit(
                "ticket.issued_free", user_id=caller.user_id, ticket_id=ticket.ticket_id, event_id=event.event_id, quantity=ticket.quantity
            )
            return ticket

        frontend = self._settings.frontend_url.rstrip("/")
        try:
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
            self._release_quietly(ticket, CANCELLED)
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

    # verify ----------------------------------------------------------------------------------
    def verify(self, caller: Caller, request: VerifyRequest) -> Ticket:
        ticket = self._owned_ticket(caller, request.ticket_id)
        if ticket.session_id is None:
            if ticket.status != RESERVED:
                raise BadRequest("This ticket has no payment to verify")
        elif ticket.session_id != request.session_id:
            raise BadRequest("session_id does not belong to this ticket")
        if ticket.status == PAID:
            return ticket
        session = self._gateway().retrieve_checkout_session(request.session_id)
        if session is None:
            raise NotFound("Payment not found")
        if session.ticket_id != ticket.ticket_id:
            raise BadRequest("session_id does not belong to this ticket")
        if not session.is_paid:
            raise BadRequest("Payment not completed")
        result = self.fulfil(session, ticket)
        if result.outcome == "refunded":
            raise BadRequest("The reservation had expired and the event sold out; the payment has been refunded")
        if result.ticket.status != PAID:
            raise BadRequest(f"Ticket is {result.ticket.status}")
        return result.ticket

    # cancel ----------------------------------------------------------------------------------
    def cancel(self, caller: Caller, request: CancelRequest) -> None:
        ticket = self._owned_ticket(caller, request.ticket_id)
        self._require_reserved(ticket)
        if ticket.session_id:
            # Close the door at Stripe first, so that nobody pays for seats we are giving back.
            session = self._gateway().expire_checkout_session(ticket.session_id)
            if session.is_paid:
                self.fulfil(session, ticket)
                raise BadRequest("Ticket already paid")
        try:
            self._repository.release(ticket, CANCELLED, self._now())
        except StateChanged:
            self._require_reserved(self._reread(ticket))
            raise Conflict("Ticket changed while cancelling; retry") from None
        audit("ticket.cancelled", user_id=caller.user_id, ticket_id=ticket.ticket_id, quantity=ticket.quantity)

    # fulfilment ------------------------------------------------------------------------------
    def fulfil(self, session: CheckoutSession, ticket: Ticket | None = None) -> Fulfilment:
        """Pays the ticket a paid session belongs to, exactly once, whoever calls first.

        A payment that arrives after the reservation was released takes the seats again if they
        are free, and is otherwise refunded and recorded: a paying customer is never dropped."""
        if ticket is None:
            found = self._repository.get_ticket(session.ticket_id) if session.ticket_id else None
            if found is None:
                logger.error("Paid checkout session for an unknown ticket", extra={"session_id": session.id})
                raise NotFound("Ticket not found")
            ticket = found
        if session.amount_total is not None and session.amount_total != ticket.amount_total:
            logger.error(
                "Checkout amount does not match the ticket",
                extra={"session_id": session.id, "ticket_id": ticket.ticket_id, "paid": session.amount_total, "due": ticket.amount_total},
            )
            raise BadRequest("Payment amount does not match the ticket")
        for _ in range(MAX_STATE_RETRIES):
            if ticket.status == PAID:
                return Fulfilment(ticket, "already_paid" if ticket.session_id == session.id else "ignored")
            if ticket.status == REFUNDED:
                return Fulfilment(ticket, "refunded")
            if ticket.session_id and ticket.session_id != session.id:
                logger.error(
                    "Checkout session does not belong to the ticket", extra={"session_id": session.id, "ticket_id": ticket.ticket_id}
                )
                return Fulfilment(ticket, "ignored")
            late = ticket.status in RELEASED_STATES
            now = self._now()
            try:
                self._repository.mark_paid(ticket, session.id, session.payment_intent, now, retake_seats=late)
            except SoldOut:
                return self._refund_late_payment(ticket, session)
            except StateChanged:
                ticket = self._reread(ticket)
                continue
            audit(
                "ticket.paid",
                user_id=ticket.owner,
                ticket_id=ticket.ticket_id,
                amount=ticket.amount_total,
                currency=ticket.currency,
                session_id=session.id,
                payment_intent=session.payment_intent,
                late_payment=late,
            )
            # The conditional write succeeded, so the stored ticket is exactly this: no read-back needed.
            paid = replace(
                ticket, status=PAID, session_id=session.id, payment_intent=session.payment_intent, paid_at=now, late_payment=late
            )
            return Fulfilment(paid, "paid")
        raise Conflict("Ticket changed during fulfilment; retry")

    def _refund_late_payment(self, ticket: Ticket, session: CheckoutSession) -> Fulfilment:
        if not session.payment_intent:
            logger.error("Late payment without a payment intent cannot be refunded", extra={"session_id": session.id})
            raise BadRequest("Payment cannot be refunded automatically")
        refund_id = self._gateway().refund_payment_intent(
            session.payment_intent,
            metadata={"ticket_id": str(ticket.ticket_id), "reason": "reservation_released_and_sold_out"},
            idempotency_key=f"ticket-refund-{session.id}",
        )
        try:
            self._repository.mark_refunded(ticket, refund_id, session.id, session.payment_intent, self._now())
        except StateChanged:
            current = self._reread(ticket)
            if current.status != REFUNDED:
                raise Conflict("Ticket changed during refund; retry") from None
            return Fulfilment(current, "refunded")
        audit(
            "ticket.late_payment_refunded",
            user_id=ticket.owner,
            ticket_id=ticket.ticket_id,
            amount=ticket.amount_total,
            currency=ticket.currency,
            session_id=session.id,
            payment_intent=session.payment_intent,
            refund_id=refund_id,
        )
        return Fulfilment(self._reread(ticket), "refunded")

    # releases --------------------------------------------------------------------------------
    def release_for_session(self, session: CheckoutSession, status: str) -> bool:
        """Gives back the seats of a reservation whose checkout expired or failed."""
        ticket = self._repository.get_ticket(session.ticket_id) if session.ticket_id else None
        if ticket is None or ticket.status != RESERVED or (ticket.session_id and ticket.session_id != session.id):
            return False
        try:
            self._repository.release(ticket, status, self._now())
        except StateChanged:
            return False
        audit("ticket.reservation_released", user_id=ticket.owner, ticket_id=ticket.ticket_id, quantity=ticket.quantity, status=status)
        return True

    def sweep_expired(self, limit: int = 100) -> SweepReport:
        """Releases reservations past their expiry whose webhook never came; a session that turns out
        to be paid is fulfilled instead."""
        now = self._now()
        cutoff = now - self._settings.sweep_grace_seconds
        report = SweepReport()
        for ticket in self._repository.expired_reservations(cutoff, limit):
            report.examined += 1
            try:
                if ticket.session_id:
                    session = self._gateway().expire_checkout_session(ticket.session_id)
                    if session.is_paid:
                        self.fulfil(session, ticket)
                        report.fulfilled += 1
                        report.ticket_ids.append(ticket.ticket_id)
                        continue
                self._repository.release(ticket, EXPIRED, now, expired_before=cutoff)
                report.released += 1
                report.ticket_ids.append(ticket.ticket_id)
                audit("ticket.reservation_expired", user_id=ticket.owner, ticket_id=ticket.ticket_id, quantity=ticket.quantity)
            except StateChanged:
                continue
            except ApiError:
                report.failed += 1
                logger.exception("Sweep could not settle a reservation", extra={"ticket_id": ticket.ticket_id})
        return report

    # helpers ---------------------------------------------------------------------------------
    def _owned_ticket(self, caller: Caller, ticket_id: int) -> Ticket:
        ticket = self._repository.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound("Ticket not found")
        if ticket.owner != caller.user_id:
            raise Forbidden("You do not have permission to access this ticket")
        return ticket

    def _reread(self, ticket: Ticket) -> Ticket:
        current = self._repository.get_ticket(ticket.ticket_id)
        if current is None:
            raise NotFound("Ticket not found")
        return current

    @staticmethod
    def _require_reserved(ticket: Ticket) -> None:
        if ticket.status == PAID:
            raise BadRequest("Ticket already paid")
        if ticket.status != RESERVED:
            raise BadRequest(f"Ticket already {ticket.status}")

    def _release_quietly(self, ticket: Ticket, status: str) -> None:
        try:
            self._repository.release(ticket, status, self._now())
        except Exception:
            # The sweep releases it at its expiry; the original error is the one to report.
            logger.exception("Could not release a reservation after a checkout failure", extra={"ticket_id": ticket.ticket_id})


@functools.cache
def get_ticket_service() -> TicketService:
    return TicketService(get_ticket_repository(), get_stripe_gateway, get_settings())
