"""POST /api/v1/payments/paypal/capture-order/ — captures one of the caller's approved orders."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.paypal import OrderRequest


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, OrderRequest)
    return json_response(200, wiring.paypal_orders_service().capture_order(caller, request))
