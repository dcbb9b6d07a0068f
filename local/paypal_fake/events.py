"""Event notifications as PayPal lists them (``GET /v1/notifications/webhooks-events``): newest
first, narrowed to one ``event_type`` and to ``create_time`` between ``start_time`` and
``end_time``, at most ``page_size`` of them; a page followed by more has a ``links`` entry with
``rel`` "next" (its ``href`` is opaque to the caller: here the same query with the page number)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from local.paypal_fake.objects import Body, invalid
from local.provider_fake import Route

if TYPE_CHECKING:
    from local.paypal_fake.app import PayPalFake

MAX_PAGE_SIZE = 300


def _moment(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid("INVALID_PARAMETER_VALUE", "A parameter value is not valid.", f"/{field}") from None


def list_events(fake: PayPalFake, query: Body) -> dict[str, Any]:
    start = _moment(str(query["start_time"]), "start_time") if query.get("start_time") else None
    end = _moment(str(query["end_time"]), "end_time") if query.get("end_time") else None
    size = int(query["page_size"]) if str(query.get("page_size", "10")).isdigit() else 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid("INVALID_PARAMETER_VALUE", "A parameter value is not valid.", "/page_size")
    wanted = query.get("event_type")
    matching = [
        event
        for event in reversed(fake.events)
        if (not wanted or event["event_type"] == wanted)
        and (start is None or _moment(event["create_time"], "create_time") >= start)
        and (end is None or _moment(event["create_time"], "create_time") <= end)
    ]
    page = int(str(query.get("page", "1"))) if str(query.get("page", "1")).isdigit() else 0
    if page < 1:
        raise invalid("INVALID_PARAMETER_VALUE", "A parameter value is not valid.", "/page")
    listed = matching[(page - 1) * size : page * size]
    links = []
    if len(matching) > page * size:
        following = urlencode({**{name: str(value) for name, value in query.items()}, "page": str(page + 1)})
        links.append(fake.link(f"/v1/notifications/webhooks-events?{following}", "next"))
    return {"events": listed, "count": len(listed), "links": links}


ROUTES = (Route("GET", "/v1/notifications/webhooks-events", list_events),)
