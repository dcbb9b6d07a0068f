"""GET /api/events/ — events with their seats still available, newest first (?limit=20&after=<event_id>)."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_query
from payments.models.tickets import PageQuery
from payments.presenters import event_body


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller_from_event(event)
    query = parse_query(event, PageQuery)
    events, next_after = wiring.event_service().list(query.limit, query.after)
    return json_response(200, {"events": [event_body(item) for item in events], "next_after": next_after})
