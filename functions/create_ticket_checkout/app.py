"""POST /api/payments/create-payment-intent/ — a free ticket at once, or a reservation and a Stripe Checkout Session."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.domain.tickets import CheckoutStarted
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.tickets import PurchaseRequest
from payments.presenters import ticket_with_qr
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, PurchaseRequest, {"max_quantity": get_settings().max_tickets_per_order})
    result = wiring.ticket_service().purchase(caller, request)
    if not isinstance(result, CheckoutStarted):
        return json_response(200, ticket_with_qr("Successfully purchased tickets", result))
    return json_response(
        200,
        {
            "checkout_url": result.session.url,
            "session_id": result.session.id,
            "ticket_id": result.ticket.ticket_id,
            "ticket_code": result.ticket.ticket_code,
            "expires_at": result.ticket.expires_at,
        },
    )
