"""What every provider's webhook shares: each event id applied once, and recorded as processed only
after its effects are written, so that a failed attempt is retried by the provider."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from payments.errors import BadRequest, NotFound
from payments.observability import logger
from payments.repositories.wiring import get_webhook_event_repository

# Failures a redelivery would repeat: acknowledged and logged for a person, not retried for days.
PERMANENT_FAILURES = (BadRequest, NotFound, KeyError, TypeError, ValueError)


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    event_type: str
    outcome: str  # "applied", "paid", "released", ..., "duplicate", "ignored", "rejected"


def parse_event(payload: bytes, type_key: str, provider_name: str) -> dict[str, Any]:
    """The (already authenticated) body as an event with a string ``id`` and type."""
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadRequest("Webhook body is not valid JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get(type_key), str):
        raise BadRequest(f"Webhook body is not a {provider_name} event")
    return event


def apply_once(
    provider: str, event: dict[str, Any], event_id: str, event_type: str, handlers: dict[str, Callable[[dict[str, Any]], str]]
) -> WebhookResult:
    processed = get_webhook_event_repository()
    if processed.is_processed(provider, event_id):
        return WebhookResult(event_id, event_type, "duplicate")
    handler = handlers.get(event_type)
    if handler is None:
        return WebhookResult(event_id, event_type, "ignored")
    try:
        outcome = handler(event)
    except PERMANENT_FAILURES as error:
        logger.error(
            "Webhook event could not be applied",
            extra={"provider": provider, "event_id": event_id, "event_type": event_type, "reason": str(error)},
        )
        outcome = "rejected"
    processed.mark_processed(provider, event_id, event_type, int(time.time()))
    logger.info("Webhook event applied", extra={"provider": provider, "event_id": event_id, "event_type": event_type, "outcome": outcome})
    return WebhookResult(event_id, event_type, outcome)
