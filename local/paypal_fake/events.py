"""Event notifications as PayPal lists them (``GET /v1/notifications/webhooks-events``): newest
first, narrowed to one ``event_type`` and to ``create_time`` between ``start_time`` and
``end_time``, at most ``page_size`` of them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

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
    return {"events": matching[:size], "count": len(matching[:size]), "links": []}


ROUTES = (Route("GET", "/v1/notifications/webhooks-events", list_events),)
