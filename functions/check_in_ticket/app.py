"""POST /api/tickets/check-in/ — staff at the door admit a ticket's people by its code (what its QR holds)."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.tickets import CheckInRequest
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    settings = get_settings()
    caller = caller_from_event(event)
    require_group(caller, settings.staff_group)
    request = parse_body(event, CheckInRequest, {"max_quantity": settings.max_tickets_per_order})
    ticket = wiring.door_service().check_in(caller, request)
    return json_response(
        200,
        {
            "detail": "Checked in",
            "ticket_id": ticket.ticket_id,
            "event_id": ticket.event_id,
            "quantity": ticket.quantity,
            "checked_in": ticket.checked_in,
            "checked_in_at": ticket.checked_in_at,
        },
    )
