"""POST /api/events/ — staff create an event (price 0 makes it free)."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.tickets import CreateEventRequest
from payments.presenters import event_body
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    settings = get_settings()
    caller = caller_from_event(event)
    require_group(caller, settings.staff_group)
    request = parse_body(
        event,
        CreateEventRequest,
        {"allowed_currencies": settings.allowed_currencies, "max_capacity": settings.max_event_capacity},
    )
    return json_response(201, event_body(wiring.event_service().create(caller, request)))
