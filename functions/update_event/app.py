"""PATCH /api/events/{event_id}/ — staff edit an event: name, description, dates, sale window, pause, price, capacity."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.http import Event, Response, api_handler, json_response, parse_body, parse_path
from payments.models.tickets import EventPath, UpdateEventRequest
from payments.presenters import event_body
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    settings = get_settings()
    caller = caller_from_event(event)
    require_group(caller, settings.staff_group)
    path = parse_path(event, EventPath)
    request = parse_body(event, UpdateEventRequest, {"max_capacity": settings.max_event_capacity})
    return json_response(200, event_body(wiring.event_service().update(caller, path.event_id, request)))
