"""Sale windows, pause and edits through the local stack, over HTTP: the local runner serves the
template's PATCH route (and its CORS preflight), a paused sale and a sale not yet open refuse a
purchase with a 400 saying why, and a capacity lowered below the seats held is refused."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def edit(stack: RunningStack, http: requests.Session, event_id: int, body: dict[str, Any], staff: bool = True) -> requests.Response:
    return http.patch(f"{stack.api}/api/events/{event_id}/", json=body, headers=stack.headers("e2e-staff", staff=staff))


def purchase(stack: RunningStack, http: requests.Session, user: str, event_id: int) -> requests.Response:
    return http.post(
        f"{stack.api}/api/payments/create-payment-intent/", json={"event_id": event_id, "quantity": 1}, headers=stack.headers(user)
    )


def test_staff_pause_resume_window_and_capacity_over_http(stack: RunningStack, http: requests.Session) -> None:
    # Given a free event of three seats whose sale opens in an hour
    opens = int(time.time()) + 3600
    created = http.post(
        f"{stack.api}/api/events/",
        json={"name": "E2E edits", "price": 0, "currency": "usd", "capacity": 3, "opens_at": opens},
        headers=stack.headers("e2e-staff", staff=True),
    )
    assert created.status_code == 201, created.text
    event_id = int(created.json()["event_id"])
    # The purchase before it opens is told when
    early = purchase(stack, http, "e2e-edit-buyer", event_id)
    assert early.status_code == 400 and str(opens) in early.json()["error"], early.text
    # A customer cannot edit; staff open the sale now and it sells
    assert edit(stack, http, event_id, {"opens_at": None}, staff=False).status_code == 403
    opened = edit(stack, http, event_id, {"opens_at": None})
    assert opened.status_code == 200 and opened.json()["opens_at"] is None, opened.text
    assert purchase(stack, http, "e2e-edit-buyer", event_id).status_code == 200
    # Paused: refused with the reason; resumed: sells again
    assert edit(stack, http, event_id, {"sales_paused": True}).json()["sales_paused"] is True
    paused = purchase(stack, http, "e2e-edit-other", event_id)
    assert (paused.status_code, paused.json()) == (400, {"error": "Sales are paused"})
    assert edit(stack, http, event_id, {"sales_paused": False}).status_code == 200
    assert purchase(stack, http, "e2e-edit-other", event_id).status_code == 200
    # Capacity: never below the two seats taken
    refused = edit(stack, http, event_id, {"capacity": 1})
    assert refused.status_code == 400 and refused.json()["error"].startswith("capacity:"), refused.text
    lowered = edit(stack, http, event_id, {"capacity": 2})
    assert (lowered.status_code, lowered.json()["available"]) == (200, 0), lowered.text
    # The browser's preflight for PATCH is allowed
    preflight = http.options(
        f"{stack.api}/api/events/{event_id}/",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "PATCH"},
    )
    assert "PATCH" in preflight.headers.get("Access-Control-Allow-Methods", ""), preflight.headers
