"""POST /api/payments/verify/ — pays the ticket if its Checkout Session is paid, and returns its QR code."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.tickets import VerifyRequest
from payments.presenters import ticket_with_qr


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, VerifyRequest)
    ticket = wiring.ticket_service().verify(caller, request)
    return json_response(200, ticket_with_qr("Payment successful", ticket))
