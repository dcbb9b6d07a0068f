"""GET /api/events/{event_id}/queue/ — the caller's place in an event's on-sale queue: reads only."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_path
from payments.models.tickets import EventPath
from payments.presenters import queue_place_body
from payments.status_urls import api_url

# The queue moves once a second: an answer a second old is as good, and a private cache (the
# browser's) may keep it that long. Private: it names the caller's place and carries their pass.
CACHE_CONTROL = "private, max-age=1"


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    path = parse_path(event, EventPath)
    answer = wiring.queue_service().place(caller, path.event_id)
    status_url = wiring.queue_status_urls().url(answer.event_id, answer.queue_pass, answer.pass_expires_ms, api_url(event))
    return json_response(200, queue_place_body(answer, status_url), {"Cache-Control": CACHE_CONTROL})
