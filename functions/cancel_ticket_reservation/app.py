"""POST /api/payments/cancel/ — releases a reserved ticket's seats and expires its Checkout Session, or
gives back a free ticket that has admitted nobody yet (its seats return, and its holder's free seats)."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.tickets import CancelRequest


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, CancelRequest)
    wiring.ticket_service().cancel(caller, request)
    return json_response(200, {"detail": "Payment cancelled", "ticket_id": request.ticket_id})
