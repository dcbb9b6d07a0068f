"""POST /api/v1/payments/stripe/cancel-subscription/ — cancels one of the caller's subscriptions."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.stripe import CancelSubscriptionRequest


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, CancelSubscriptionRequest)
    return json_response(200, wiring.stripe_payments_service().cancel_subscription(caller, request))
