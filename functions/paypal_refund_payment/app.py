"""POST /api/v1/payments/paypal/refund-payment/ — staff refund a capture, in full or in part."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.http import Event, Response, api_handler, header, json_response, parse_body
from payments.models.paypal import RefundRequest
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    settings = get_settings()
    caller = caller_from_event(event)
    require_group(caller, settings.staff_group)
    request = parse_body(
        event, RefundRequest, {"allowed_currencies": settings.paypal_currencies, "max_amount": settings.max_payment_amount}
    )
    return json_response(200, wiring.paypal_refund_service().refund_payment(caller, request, header(event, "idempotency-key")))
