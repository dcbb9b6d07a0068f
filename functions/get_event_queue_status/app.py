"""GET /api/events/{event_id}/queue/status/?queue_pass=... — the queue's shared state, the same
for every waiting buyer of the event, so that a CDN keeps one answer for all of them
(docs/on-sales.md#the-queues-status). Outside the JWT authorizer (a shared cache cannot key on each
buyer's token): CloudFront checks the URL's signature at the edge, and this checks the buyer's
queue pass of this event before any read, whether reached through CloudFront or directly."""

from typing import Any

from payments import wiring
from payments.http import Event, Response, api_handler, json_response, parse_path, parse_query
from payments.models.tickets import EventPath, QueueStatusQuery
from payments.presenters import queue_status_body

# The admitter steps once a second: every buyer's page, and CloudFront (s-maxage), may keep the
# answer that long. Public: it carries nothing of any buyer.
CACHE_CONTROL = "public, max-age=1, s-maxage=1"


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    path = parse_path(event, EventPath)
    query = parse_query(event, QueueStatusQuery)
    status = wiring.queue_service().status(path.event_id, query.queue_pass)
    return json_response(200, queue_status_body(status), {"Cache-Control": CACHE_CONTROL})
