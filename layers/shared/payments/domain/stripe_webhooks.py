"""Stripe webhook events: signature checked over the raw body, each event applied once, the event
recorded as processed only after its effects are written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import stripe

from payments.domain import stripe_sync
from payments.domain.tickets import get_ticket_service
from payments.domain.webhooks import WebhookResult, apply_once, parse_event
from payments.errors import BadRequest
from payments.providers.stripe_gateway import checkout_session_from_dict, verify_webhook
from payments.repositories.tickets import CANCELLED, EXPIRED

PROVIDER = "stripe"


def _session(event: dict[str, Any]) -> dict[str, Any]:
    return dict((event.get("data") or {}).get("object") or {})


def _checkout_completed(event: dict[str, Any]) -> str:
    session = checkout_session_from_dict(_session(event))
    if session.ticket_id is None:
        return "ignored"
    if not session.is_paid:
        # Delayed payment methods: async_payment_succeeded or _failed follows.
        return "ignored"
    return get_ticket_service().fulfil(session).outcome


def _async_payment_failed(event: dict[str, Any]) -> str:
    session = checkout_session_from_dict(_session(event))
    return "released" if session.ticket_id and get_ticket_service().release_for_session(session, CANCELLED) else "ignored"


def _checkout_expired(event: dict[str, Any]) -> str:
    session = checkout_session_from_dict(_session(event))
    return "released" if session.ticket_id and get_ticket_service().release_for_session(session, EXPIRED) else "ignored"


HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "checkout.session.async_payment_failed": _async_payment_failed,
    "checkout.session.expired": _checkout_expired,
    "payment_intent.succeeded": stripe_sync.payment_intent_changed,
    "payment_intent.payment_failed": stripe_sync.payment_intent_changed,
    "payment_intent.canceled": stripe_sync.payment_intent_changed,
    "charge.refunded": stripe_sync.charge_refunded,
    "customer.subscription.created": stripe_sync.subscription_changed,
    "customer.subscription.updated": stripe_sync.subscription_changed,
    "customer.subscription.deleted": stripe_sync.subscription_changed,
    "invoice.paid": stripe_sync.invoice_settled,
    "invoice.payment_failed": stripe_sync.invoice_settled,
}


def parse_verified_event(payload: bytes, signature_header: str | None) -> dict[str, Any]:
    try:
        verify_webhook(payload, signature_header)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise BadRequest("Invalid Stripe signature") from None
    return parse_event(payload, "type", "Stripe")


def handle_stripe_webhook(payload: bytes, signature_header: str | None) -> WebhookResult:
    event = parse_verified_event(payload, signature_header)
    return apply_once(PROVIDER, event, event["id"], event["type"], HANDLERS)
