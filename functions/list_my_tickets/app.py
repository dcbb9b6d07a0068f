"""GET /api/tickets/ — the caller's tickets, newest first (?limit=20&after=<ticket_id>)."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, json_response, parse_query
from payments.models.tickets import PageQuery
from payments.presenters import ticket_body


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    query = parse_query(event, PageQuery)
    tickets, next_after = wiring.my_tickets_service().list(caller, query.limit, query.after)
    return json_response(200, {"tickets": [ticket_body(ticket) for ticket in tickets], "next_after": next_after})
