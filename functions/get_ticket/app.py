"""GET /api/tickets/{ticket_id}/ — one of the caller's tickets, with its QR code while it is valid at the door."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_path
from payments.models.tickets import TicketPath
from payments.presenters import ticket_body


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    path = parse_path(event, TicketPath)
    return json_response(200, ticket_body(wiring.my_tickets_service().get(caller, path.ticket_id)))
