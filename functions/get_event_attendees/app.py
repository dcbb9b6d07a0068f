"""GET /api/events/{event_id}/attendees/?limit=1000&cursor=... — staff download an event's tickets
as CSV, a page at a time; the next page's cursor is in the X-Next-Cursor and Link headers."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.http import Event, Response, api_handler, parse_path, parse_query, text_response
from payments.models.tickets import AttendeesQuery, EventPath
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    require_group(caller, get_settings().staff_group)
    path = parse_path(event, EventPath)
    query = parse_query(event, AttendeesQuery)
    page = wiring.attendee_service().export(caller, path.event_id, query.limit, query.cursor)
    headers = {
        "Content-Disposition": f'attachment; filename="event-{path.event_id}-attendees.csv"',
        # Buyers' data: kept by no cache on the way.
        "Cache-Control": "no-store",
    }
    if page.next_cursor is not None:
        # The cursor is URL-safe base64: it goes into the link as it is.
        headers["X-Next-Cursor"] = page.next_cursor
        headers["Link"] = f'<?limit={query.limit}&cursor={page.next_cursor}>; rel="next"'
    return text_response(200, page.text, "text/csv; charset=utf-8", headers)
