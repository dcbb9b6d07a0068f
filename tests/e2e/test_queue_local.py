"""The on-sale queue through the local stack, over HTTP: the stack's own admitter (the template's
schedule) admits a buyer within seconds of the stack starting, the admitted buyer reserves with the
queue pass and reaches the local Checkout page, and the buyer behind hears "sold out"."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

# The admitter steps once a second; a few seconds covers a step, a poll answer kept for a second,
# and a loaded machine. A stack whose admitter first runs a minute after start-up fails this.
ADMITTED_WITHIN_S = 10.0


def place(stack: RunningStack, http: requests.Session, user: str, event_id: int, method: str = "GET") -> dict[str, Any]:
    response = http.request(method, f"{stack.api}/api/events/{event_id}/queue/", headers=stack.headers(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def poll_until(
    stack: RunningStack, http: requests.Session, user: str, event_id: int, wanted: Callable[[dict[str, Any]], bool], within_s: float
) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    while True:
        answer = place(stack, http, user, event_id)
        waited = time.monotonic() - started
        if wanted(answer):
            return answer, waited
        assert waited < within_s, f"still {answer} after {waited:.1f} s"
        time.sleep(0.25)


def purchase(stack: RunningStack, http: requests.Session, user: str, body: dict[str, Any]) -> requests.Response:
    return http.post(f"{stack.api}/api/payments/create-payment-intent/", json=body, headers=stack.headers(user))


def test_a_queued_event_admits_in_seconds_sells_its_seat_to_the_admitted_and_tells_the_next_sold_out(stack, http):
    # Given a paid event of one seat sold through its queue
    created = http.post(
        f"{stack.api}/api/events/",
        json={"name": "E2E queued", "price": 20, "currency": "usd", "capacity": 1, "on_sale_queue": True},
        headers=stack.headers("e2e-staff", staff=True),
    )
    assert created.status_code == 201, created.text
    assert created.json()["on_sale_queue"] is True
    event_id = created.json()["event_id"]
    # a purchase without a pass is refused
    refused = purchase(stack, http, "queue-a", {"event_id": event_id, "quantity": 1})
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("This event sells through its queue")

    # When buyer A joins, the answer comes at once with a place and a pass
    joined = place(stack, http, "queue-a", event_id, method="POST")
    assert joined["place"] == 1
    assert joined["queue_pass"]
    # Then the local admitter admits them within seconds
    admitted, waited = poll_until(stack, http, "queue-a", event_id, lambda answer: answer["status"] == "admitted", ADMITTED_WITHIN_S)
    assert admitted["admitted_to"] >= 1
    assert admitted["admission_expires_at"] > time.time()

    # Buyer B joins behind A while A's admission holds the only seat
    behind = place(stack, http, "queue-b", event_id, method="POST")
    assert behind["place"] == 2
    assert behind["status"] == "waiting"
    # and once the admitter has stepped with B waiting, no estimate is promised (the queue waits on
    # the seat, not on the rate). The join's own answer may still carry the rate's estimate: the
    # step before B joined did not stop at the seats.
    seat_bound, _ = poll_until(stack, http, "queue-b", event_id, lambda answer: answer["estimated_wait_seconds"] is None, ADMITTED_WITHIN_S)
    assert seat_bound["status"] == "waiting"
    # B's pass does not buy before B is admitted
    early = purchase(stack, http, "queue-b", {"event_id": event_id, "quantity": 1, "queue_pass": behind["queue_pass"]})
    assert early.status_code == 403
    assert early.json()["error"].startswith("Not admitted yet: your place is 2")

    # A reserves with the pass and gets a Checkout Session of the local Stripe
    bought = purchase(stack, http, "queue-a", {"event_id": event_id, "quantity": 1, "queue_pass": admitted["queue_pass"]})
    assert bought.status_code == 200, bought.text
    assert bought.json()["checkout_url"].startswith(stack.stripe)
    assert place(stack, http, "queue-a", event_id)["status"] == "used"

    # And B hears "sold out" within seconds: the last seat is held
    sold_out, _ = poll_until(stack, http, "queue-b", event_id, lambda answer: answer["status"] != "waiting", ADMITTED_WITHIN_S)
    assert sold_out["status"] == "sold_out"
    assert sold_out["estimated_wait_seconds"] is None

    # When A leaves the Checkout page and cancels, the seat comes back and the queue moves on to B
    cancelled = http.post(
        f"{stack.api}/api/payments/cancel/", json={"ticket_id": bought.json()["ticket_id"]}, headers=stack.headers("queue-a")
    )
    assert cancelled.status_code == 200, cancelled.text
    moved, _ = poll_until(stack, http, "queue-b", event_id, lambda answer: answer["status"] != "sold_out", ADMITTED_WITHIN_S)
    assert moved["status"] == "admitted"
    print(f"admitted {waited:.1f} s after joining")


def test_staff_put_an_event_through_its_queue_before_its_sale_and_a_buyer_then_joins(stack, http):
    created = http.post(
        f"{stack.api}/api/events/",
        json={"name": "E2E queued later", "price": 20, "currency": "usd", "capacity": 5},
        headers=stack.headers("e2e-staff", staff=True),
    ).json()
    assert created["on_sale_queue"] is False
    enabled = http.post(f"{stack.api}/api/events/{created['event_id']}/queue/enable/", headers=stack.headers("e2e-staff", staff=True))
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["on_sale_queue"] is True
    assert purchase(stack, http, "queue-c", {"event_id": created["event_id"], "quantity": 1}).status_code == 403
    assert place(stack, http, "queue-c", created["event_id"], method="POST")["place"] == 1
    admitted, _ = poll_until(stack, http, "queue-c", created["event_id"], lambda answer: answer["status"] == "admitted", ADMITTED_WITHIN_S)
    bought = purchase(stack, http, "queue-c", {"event_id": created["event_id"], "quantity": 2, "queue_pass": admitted["queue_pass"]})
    assert bought.status_code == 200, bought.text


def test_a_waiting_buyer_follows_the_queues_status_at_its_url_without_a_token(stack, http):
    """The status is the one answer for every waiting buyer (docs/on-sales.md, "The queue's status"):
    at the queue_status_url of a join, no bearer token, public for a second; refused without a pass."""
    created = http.post(
        f"{stack.api}/api/events/",
        json={"name": "E2E queue status", "price": 20, "currency": "usd", "capacity": 1, "on_sale_queue": True},
        headers=stack.headers("e2e-staff", staff=True),
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["event_id"]
    first = place(stack, http, "status-a", event_id, method="POST")
    behind = place(stack, http, "status-b", event_id, method="POST")
    url = behind["queue_status_url"]
    assert url.startswith(f"{stack.api}/api/events/{event_id}/queue/status/?queue_pass=")  # no CDN locally: the API itself

    started = time.monotonic()
    while True:
        answer = http.get(url)  # no Authorization header
        assert answer.status_code == 200, answer.text
        assert answer.headers["Cache-Control"] == "public, max-age=1, s-maxage=1"
        status = answer.json()
        if status["admitted_to"] >= first["place"]:
            break
        assert time.monotonic() - started < ADMITTED_WITHIN_S, status
        time.sleep(0.25)
    assert status["admitted_to"] < behind["place"] and status["poll_after_ms"] == 2000

    # Without a pass, with a token only, or with another event's path: 403, whoever asks
    bare = f"{stack.api}/api/events/{event_id}/queue/status/"
    assert http.get(bare).status_code == 403
    assert http.get(bare, headers=stack.headers("status-b")).status_code == 403
    other = http.get(f"{stack.api}/api/events/{event_id + 1000}/queue/status/", params={"queue_pass": behind["queue_pass"]})
    assert (other.status_code, other.json()) == (403, {"error": "queue_pass: a queue pass of another event"})

    # The first buyer takes the seat: the one behind hears "sold out" from the status
    admitted, _ = poll_until(stack, http, "status-a", event_id, lambda answer: answer["status"] == "admitted", ADMITTED_WITHIN_S)
    bought = purchase(stack, http, "status-a", {"event_id": event_id, "quantity": 1, "queue_pass": admitted["queue_pass"]})
    assert bought.status_code == 200, bought.text
    started = time.monotonic()
    while not http.get(url).json()["sold_out"]:
        assert time.monotonic() - started < ADMITTED_WITHIN_S
        time.sleep(0.25)
