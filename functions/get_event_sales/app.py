"""GET /api/events/{event_id}/sales/ — staff see an event's seats and money, counted from its tickets."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.http import Event, Response, api_handler, json_response, parse_path
from payments.models.tickets import EventPath
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    require_group(caller, get_settings().staff_group)
    path = parse_path(event, EventPath)
    sales = wiring.event_service().sales(path.event_id)
    return json_response(
        200,
        {
            "event_id": sales.event.event_id,
            "capacity": sales.event.capacity,
            "sold": sales.sold,
            "held": sales.held,
            "available": sales.event.available,
            "checked_in": sales.checked_in,
            "refunded": sales.refunded,
            "currency": sales.event.currency,
            "gross": sales.gross,
            "refunded_amount": sales.refunded_amount,
        },
    )
