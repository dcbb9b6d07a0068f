"""Stripe webhook events: signature checked over the raw body before anything is parsed, each event
applied once, the event recorded as processed only after its effects are written.

Ticket payments go through the ticket life cycle (``TicketService``); the objects of the direct
Stripe endpoints through ``StripeObjectSync``. A refund or a lost dispute of a ticket's payment
reaches the ticket, whoever made it."""

from __future__ import annotations

from typing import Any

from payments.context import system_time
from payments.domain.ports import ProviderObjectStore, SignatureRefused, StripeSignatures
from payments.domain.stripe_objects import checkout_session_from_dict, expandable_id
from payments.domain.stripe_sync import StripeObjectSync
from payments.domain.tickets import TicketService
from payments.domain.webhooks import MALFORMED, Handler, WebhookLedger, WebhookResult, parse_event
from payments.errors import BadRequest, NotApplicable
from payments.models.stripe_events import check_event
from payments.observability import audit, logger

PROVIDER = "stripe"


def _object(event: dict[str, Any]) -> dict[str, Any]:
    found = (event.get("data") or {}).get("object")
    if not isinstance(found, dict):
        raise NotApplicable("Event without an object")
    return found


class StripeWebhooks:
    def __init__(self, tickets: TicketService, objects: ProviderObjectStore, ledger: WebhookLedger, signatures: StripeSignatures) -> None:
        self._tickets = tickets
        self._sync = StripeObjectSync(objects)
        self._ledger = ledger
        self._signatures = signatures
        self._handlers: dict[str, Handler] = {
            "checkout.session.completed": self._session_settled,
            "checkout.session.async_payment_succeeded": self._session_settled,
            "checkout.session.expired": self._session_settled,
            "checkout.session.async_payment_failed": self._async_payment_failed,
            "charge.refunded": self._charge_refunded,
            # A refund's later life (it may fail days later): the older and the newer event names.
            "charge.refund.updated": self._refund_changed,
            "refund.updated": self._refund_changed,
            "refund.failed": self._refund_changed,
            "charge.dispute.created": self._dispute_opened,
            "charge.dispute.closed": self._dispute_closed,
            # Stripe holds the disputed amount meanwhile: not money returned to the customer (only a
            # lost dispute is), so these are noted, not applied.
            "charge.dispute.funds_withdrawn": self._dispute_funds_moved,
            "charge.dispute.funds_reinstated": self._dispute_funds_moved,
            "payment_intent.succeeded": self._sync.payment_intent_changed,
            "payment_intent.payment_failed": self._sync.payment_intent_changed,
            "payment_intent.canceled": self._sync.payment_intent_changed,
            "customer.subscription.created": self._sync.subscription_changed,
            "customer.subscription.updated": self._sync.subscription_changed,
            "customer.subscription.deleted": self._sync.subscription_changed,
            "invoice.paid": self._sync.invoice_settled,
            "invoice.payment_failed": self._sync.invoice_settled,
        }

    def handle(self, payload: bytes, signature_header: str | None) -> WebhookResult:
        try:
            self._signatures.verify(payload, signature_header)
        except SignatureRefused:
            raise BadRequest("Invalid Stripe signature") from None
        event = parse_event(payload, "type", "Stripe")
        check_event(event)  # signed is not well-formed: a malformed event is a 400, and nothing is written
        return self._ledger.apply_once(PROVIDER, event, event["id"], event["type"], self._handlers)

    # the reconciliation ------------------------------------------------------------------------
    def event_types(self) -> list[str]:
        """The event types this webhook applies: those the reconciliation lists from Stripe."""
        return sorted(self._handlers)

    def apply_listed(self, event: dict[str, Any]) -> str:
        """An event the reconciliation read from Stripe's API (over TLS with our key: no signature to
        check), applied once through the same ledger and handlers as a delivery; its outcome. One
        that is not shaped as the handlers read it can never be applied: MALFORMED, logged for a
        person (by check_event, without values), rather than a failure that would hold every later
        pass's window."""
        try:
            check_event(event)
        except BadRequest as malformed:
            logger.error("Listed Stripe event malformed", extra={"reason": malformed.message})
            return MALFORMED
        return self._ledger.apply_once(PROVIDER, event, str(event["id"]), str(event["type"]), self._handlers).outcome

    # checkout sessions -----------------------------------------------------------------------
    def _session_settled(self, event: dict[str, Any]) -> str:
        session = checkout_session_from_dict(_object(event))
        if session.ticket_id is None:
            return "ignored"
        return str(self._tickets.settle(session).outcome)

    def _async_payment_failed(self, event: dict[str, Any]) -> str:
        session = checkout_session_from_dict(_object(event))
        if session.ticket_id is None:
            return "ignored"
        return str(self._tickets.payment_failed(session).outcome)

    # refunds and disputes --------------------------------------------------------------------
    def _charge_refunded(self, event: dict[str, Any]) -> str:
        charge = _object(event)
        intent = expandable_id(charge.get("payment_intent"))
        refunded = int(charge.get("amount_refunded") or 0)
        if refunded > int(charge.get("amount_captured") or charge.get("amount") or 0):
            raise NotApplicable("Refunded amount exceeds the charge")
        if not intent:
            return "skipped"
        settled = self._tickets.refunded_at_provider(intent)
        if settled is not None:
            return str(settled.outcome)
        return self._sync.charge_refunded(event, lambda: self._tickets.money_back(intent), int(system_time()))

    def _refund_changed(self, event: dict[str, Any]) -> str:
        """A refund changed after it was made: one that failed or was canceled did not return the
        money, and the ticket's sum (and state) follow what Stripe now lists."""
        refund = _object(event)
        intent = expandable_id(refund.get("payment_intent"))
        if refund.get("status") in ("failed", "canceled"):
            audit(
                "stripe.refund_failed",
                refund=refund.get("id"),
                payment_intent=intent,
                amount=refund.get("amount"),
                failure_reason=refund.get("failure_reason"),
            )
        if not intent:
            return "noted"
        # The event only says which payment to look at: Stripe's lists of its refunds and disputes say what went back.
        settled = self._tickets.refunded_at_provider(intent)
        return str(settled.outcome) if settled else self._direct_money_back(intent)

    def _dispute_opened(self, event: dict[str, Any]) -> str:
        dispute = _object(event)
        audit(
            "stripe.dispute_opened",
            dispute=dispute.get("id"),
            payment_intent=expandable_id(dispute.get("payment_intent")),
            amount=dispute.get("amount"),
            reason=dispute.get("reason"),
        )
        return "noted"

    def _dispute_funds_moved(self, event: dict[str, Any]) -> str:
        dispute = _object(event)
        audit(
            f"stripe.{str(event['type']).removeprefix('charge.').replace('.', '_')}",
            dispute=dispute.get("id"),
            payment_intent=expandable_id(dispute.get("payment_intent")),
            amount=dispute.get("amount"),
        )
        return "noted"

    def _dispute_closed(self, event: dict[str, Any]) -> str:
        """A lost dispute returns the money to the customer, as a refund does; a won one changes nothing."""
        dispute = _object(event)
        intent = expandable_id(dispute.get("payment_intent"))
        audit("stripe.dispute_closed", dispute=dispute.get("id"), payment_intent=intent, status=dispute.get("status"))
        if dispute.get("status") != "lost" or not intent:
            return "noted"
        settled = self._tickets.refunded_at_provider(intent)
        return str(settled.outcome) if settled else self._direct_money_back(intent)

    def _direct_money_back(self, intent: str) -> str:
        """A payment that is no ticket's: one of the direct endpoints' payment intents (if we made
        it) follows what Stripe lists as gone back of it."""
        return self._sync.money_back(intent, lambda: self._tickets.money_back(intent), int(system_time()))
