"""POST /api/v1/payments/stripe/create-payment-intent/ — a payment intent in major units, converted by the currency's exponent."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, header, json_response, parse_body
from payments.models.stripe import CreatePaymentIntentRequest
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    settings = get_settings()
    request = parse_body(
        event, CreatePaymentIntentRequest, {"allowed_currencies": settings.allowed_currencies, "max_amount": settings.max_payment_amount}
    )
    return json_response(200, wiring.stripe_payments_service().create_payment_intent(caller, request, header(event, "idempotency-key")))
