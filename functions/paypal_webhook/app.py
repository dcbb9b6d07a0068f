"""POST /api/v1/payments/webhooks/paypal/ — no JWT: authenticated by PayPal's signature, verified with PayPal."""

from typing import Any

from payments import wiring
from payments.http import Event, Response, api_handler, headers, json_response, raw_body


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    result = wiring.paypal_webhooks().handle(raw_body(event), headers(event))
    return json_response(200, {"received": True, "event_id": result.event_id, "outcome": result.outcome})
