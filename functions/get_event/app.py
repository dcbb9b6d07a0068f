"""GET /api/events/{event_id}/ — an event with the seats still available."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_path
from payments.models.tickets import EventPath
from payments.presenters import event_body


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller_from_event(event)
    path = parse_path(event, EventPath)
    return json_response(200, event_body(wiring.event_service().get(path.event_id)))
