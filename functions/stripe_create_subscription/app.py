"""POST /api/v1/payments/stripe/create-subscription/ — a subscription for one of the caller's customers."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, header, json_response, parse_body
from payments.models.stripe import CreateSubscriptionRequest


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, CreateSubscriptionRequest)
    return json_response(200, wiring.stripe_payments_service().create_subscription(caller, request, header(event, "idempotency-key")))
