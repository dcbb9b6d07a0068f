"""POST /api/v1/payments/webhooks/stripe/ — no JWT: authenticated by Stripe's signature over the raw body."""

from typing import Any

from payments import wiring
from payments.http import Event, Response, api_handler, header, json_response, raw_body


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    result = wiring.stripe_webhooks().handle(raw_body(event), header(event, "stripe-signature"))
    return json_response(200, {"received": True, "event_id": result.event_id, "outcome": result.outcome})
