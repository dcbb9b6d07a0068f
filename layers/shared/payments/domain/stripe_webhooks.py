"""Stripe webhook events: signature checked over the raw body, each event applied once, the event
recorded as processed only after its effects are written."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe

from payments.domain.tickets import TicketService, get_ticket_service
from payments.errors import BadRequest, NotFound
from payments.observability import logger
from payments.providers.stripe_gateway import checkout_session_from_dict, verify_webhook
from payments.repositories.tickets import CANCELLED, EXPIRED
from payments.repositories.wiring import get_webhook_event_repository

PROVIDER = "stripe"


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    event_type: str
    outcome: str  # "applied", "duplicate", "ignored"


def _checkout_completed(service: TicketService, data: dict[str, Any]) -> str:
    session = checkout_session_from_dict(data)
    if session.ticket_id is None:
        return "ignored"
    if not session.is_paid:
        # Delayed payment methods: async_payment_succeeded or _failed follows.
        return "ignored"
    return service.fulfil(session).outcome


def _async_payment_succeeded(service: TicketService, data: dict[str, Any]) -> str:
    return _checkout_completed(service, data)


def _async_payment_failed(service: TicketService, data: dict[str, Any]) -> str:
    session = checkout_session_from_dict(data)
    return "released" if session.ticket_id and service.release_for_session(session, CANCELLED) else "ignored"


def _checkout_expired(service: TicketService, data: dict[str, Any]) -> str:
    session = checkout_session_from_dict(data)
    return "released" if session.ticket_id and service.release_for_session(session, EXPIRED) else "ignored"


HANDLERS: dict[str, Callable[[TicketService, dict[str, Any]], str]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _async_payment_succeeded,
    "checkout.session.async_payment_failed": _async_payment_failed,
    "checkout.session.expired": _checkout_expired,
}


def parse_verified_event(payload: bytes, signature_header: str | None) -> dict[str, Any]:
    try:
        verify_webhook(payload, signature_header)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise BadRequest("Invalid Stripe signature") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadRequest("Webhook body is not valid JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise BadRequest("Webhook body is not a Stripe event")
    return event


def handle_stripe_webhook(payload: bytes, signature_header: str | None) -> WebhookResult:
    event = parse_verified_event(payload, signature_header)
    event_id, event_type = event["id"], event["type"]
    processed = get_webhook_event_repository()
    if processed.is_processed(PROVIDER, event_id):
        return WebhookResult(event_id, event_type, "duplicate")
    handler = HANDLERS.get(event_type)
    if handler is None:
        return WebhookResult(event_id, event_type, "ignored")
    data = (event.get("data") or {}).get("object") or {}
    try:
        outcome = handler(get_ticket_service(), data)
    except (BadRequest, NotFound) as error:
        # Not transient: a redelivery would fail the same way, so it is acknowledged and logged for a person.
        logger.error("Stripe event could not be applied", extra={"event_id": event_id, "event_type": event_type, "reason": error.message})
        outcome = "rejected"
    processed.mark_processed(PROVIDER, event_id, event_type, int(time.time()))
    logger.info("Stripe event applied", extra={"event_id": event_id, "event_type": event_type, "outcome": outcome})
    return WebhookResult(event_id, event_type, outcome)
