"""POST /api/v1/payments/stripe/retrieve-payment/ — one of the caller's payment intents."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.stripe import PaymentIntentRequest


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, PaymentIntentRequest)
    return json_response(200, wiring.stripe_payments_service().retrieve_payment(caller, request))
