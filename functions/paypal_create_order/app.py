"""POST /api/v1/payments/paypal/create-order/ — creates a PayPal order (intent CAPTURE) owned by the caller."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, header, json_response, parse_body
from payments.models.paypal import CreateOrderRequest
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    settings = get_settings()
    caller = caller_from_event(event)
    request = parse_body(
        event, CreateOrderRequest, {"allowed_currencies": settings.paypal_currencies, "max_amount": settings.max_payment_amount}
    )
    return json_response(200, wiring.paypal_orders_service().create_order(caller, request, header(event, "idempotency-key")))
