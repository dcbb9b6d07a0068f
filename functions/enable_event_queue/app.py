"""POST /api/events/{event_id}/queue/enable/ — staff put an event's sale through an on-sale queue, before it begins."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.http import Event, Response, api_handler, json_response, parse_path
from payments.models.tickets import EventPath
from payments.presenters import event_body
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    require_group(caller, get_settings().staff_group)
    path = parse_path(event, EventPath)
    return json_response(200, event_body(wiring.event_service().enable_queue(caller, path.event_id)))
