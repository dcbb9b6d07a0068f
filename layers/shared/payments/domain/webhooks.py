"""What every provider's webhook shares: each event id applied once, and recorded as processed only
after its effects are written, so that a failed attempt is retried by the provider.

Only an explicit list of domain outcomes is a permanent rejection (acknowledged with 200 and
logged for a person): the event names an object we never made, or a fact that cannot apply to
our records. Anything else that goes wrong, a provider or DynamoDB failing, contention, or a bug
in a handler, propagates: the answer is 4xx/5xx and the provider retries (Stripe for 3 days,
PayPal up to 25 times), and the alarm on webhook failures fires."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from payments import metrics
from payments.context import system_time
from payments.domain.ports import WebhookEventStore
from payments.errors import BadRequest, NotApplicable, UnknownObject
from payments.json_input import load_json
from payments.observability import logger

PERMANENT_REJECTIONS = (NotApplicable, UnknownObject)
# What the reconciliation's apply_listed answers for a listed event not shaped as the handlers read
# it: never applicable, so logged and counted, not a failure that would hold every later pass.
MALFORMED = "malformed"
# A handler's outcome for an event that names an object not recorded yet (a PayPal refund or
# reversal overtaking its capture's webhook, PayPal promising no order): acknowledged, but not
# marked processed, so that the reconciliation's listing applies it again once the object is known.
DEFERRED = "deferred"

Handler = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    event_type: str
    outcome: str  # what the handler did ("paid", "released", "applied", ...), "duplicate", "ignored", "rejected"


def parse_event(payload: bytes, type_key: str, provider_name: str) -> dict[str, Any]:
    """The (already authenticated) body as an event with a string ``id`` and type."""
    event = load_json(payload, "Webhook body")
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get(type_key), str):
        raise BadRequest(f"Webhook body is not a {provider_name} event")
    return event


class WebhookLedger:
    def __init__(self, processed: WebhookEventStore, clock: Callable[[], float] = system_time) -> None:
        self._processed = processed
        self._clock = clock

    def apply_once(
        self, provider: str, event: dict[str, Any], event_id: str, event_type: str, handlers: dict[str, Handler]
    ) -> WebhookResult:
        if self._processed.is_processed(provider, event_id):
            return _counted(WebhookResult(event_id, event_type, "duplicate"), provider)
        handler = handlers.get(event_type)
        if handler is None:
            return _counted(WebhookResult(event_id, event_type, "ignored"), provider)
        try:
            outcome = handler(event)
        except PERMANENT_REJECTIONS as rejection:
            logger.error(
                "Webhook event rejected for good",
                extra={"provider": provider, "event_id": event_id, "event_type": event_type, "reason": rejection.message},
            )
            outcome = "rejected"
        if outcome != DEFERRED:
            self._processed.mark_processed(provider, event_id, event_type, int(self._clock()))
        logger.info(
            "Webhook event applied", extra={"provider": provider, "event_id": event_id, "event_type": event_type, "outcome": outcome}
        )
        return _counted(WebhookResult(event_id, event_type, outcome), provider)


def _counted(result: WebhookResult, provider: str) -> WebhookResult:
    metrics.webhook_outcome(provider, result.event_type, result.outcome)
    return result
