"""Events as Stripe lists them (``GET /v1/events``): newest first, narrowed by ``type`` or ``types``
(at most 20) and ``created``, the reconciliation's view of what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from local.provider_fake import Route
from local.stripe_fake.objects import Params, StripeError, list_of

if TYPE_CHECKING:
    from local.stripe_fake.app import StripeFake

MAX_TYPES = 20


def list_events(fake: StripeFake, params: Params) -> dict[str, Any]:
    types = params.get("types")
    if types is not None and (not isinstance(types, list) or not 1 <= len(types) <= MAX_TYPES):
        raise StripeError(400, "invalid_request_error", "Invalid array", None, "types")  # no Stripe code names this
    wanted = set(types or []) | ({str(params["type"])} if params.get("type") else set())
    return list_of("/v1/events", (event for event in fake.events if not wanted or event["type"] in wanted), params)


ROUTES = (Route("GET", "/v1/events", list_events, params="EventListParams"),)
