"""The money records a ticket's transitions leave: what we keep of a ticket's payment, and of each
refund and lost dispute of it, so that money taken = money kept + money returned can be read from
them. The domain decides them (``TicketService`` plans each transition's records with its changes);
the store writes them in its own shape (``payments.repositories.records`` builds the payments table's
items from these facts, for the DynamoDB repository and its in-memory twin alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from payments.domain.lifecycle import StripeRefund, Ticket


@dataclass(frozen=True)
class PaymentRecord:
    """A ticket's Checkout Session paid: ``amount`` (minor units of ``currency``) taken from
    ``owner`` for ticket ``ticket_id``; ``created_at`` when the payment reached the ticket. One per
    session: a payment recorded again (a retried write) is the same record."""

    ticket_id: int
    event_id: int
    owner: str
    session_id: str
    payment_intent: str | None  # None: the session named none when it reached us
    amount: int
    currency: str
    created_at: int
    status: str = "succeeded"

    @classmethod
    def of(cls, ticket: Ticket, session_id: str, payment_intent: str | None, now: int) -> PaymentRecord:
        """The ticket's whole amount, paid through ``session_id``."""
        return cls(
            ticket_id=ticket.ticket_id,
            event_id=ticket.event_id,
            owner=ticket.owner,
            session_id=session_id,
            payment_intent=payment_intent,
            amount=ticket.amount_total,
            currency=ticket.currency,
            created_at=now,
        )


@dataclass(frozen=True)
class RefundRecord:
    """One refund (or lost dispute, ``refund_id`` its id) of a ticket's payment: ``amount`` (minor
    units of ``currency``) with its ``status`` as Stripe last said (``failed``: the money did not go
    back after all; ``lost``: a dispute), and why (``reason``). One per refund: a later record of the
    same refund (its status changed) replaces it."""

    refund_id: str
    ticket_id: int
    owner: str
    session_id: str | None
    payment_intent: str | None
    amount: int
    currency: str
    reason: str
    status: str
    created_at: int

    @classmethod
    def of(cls, ticket: Ticket, fact: StripeRefund, reason: str, payment_intent: str | None, now: int) -> RefundRecord:
        """The record of ``fact``, a refund or lost dispute of the ticket's payment (``payment_intent``,
        or else the ticket's own); ``reason`` the fact's, or the caller's default for one we did not make."""
        return cls(
            refund_id=fact.id,
            ticket_id=ticket.ticket_id,
            owner=ticket.owner,
            session_id=ticket.session_id,
            payment_intent=payment_intent or ticket.payment_intent,
            amount=fact.amount,
            currency=ticket.currency,
            reason=reason,
            status=fact.status,
            created_at=now,
        )


# What a transition's money records may be (``TicketStore.apply``, ``record_money_back``).
MoneyRecord = PaymentRecord | RefundRecord
