"""POST /api/v1/payments/stripe/confirm-payment/ — confirms the caller's payment intent; says when the customer must act (3-D Secure)."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, header, json_response, parse_body
from payments.models.stripe import ConfirmPaymentRequest


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, ConfirmPaymentRequest)
    return json_response(200, wiring.stripe_payments_service().confirm_payment(caller, request, header(event, "idempotency-key")))
