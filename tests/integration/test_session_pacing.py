"""Checkout Sessions paced at Stripe's rate through the purchase handler (payments.domain.pacing):
a paid purchase claims one slot before it writes anything, a purchase that finds no slot free
within a second is 503 with ``Retry-After: 1`` and writes nothing, a free one takes no slot; and a
Stripe that stays throttled past our backoff is a 503 that says when to come back."""

from __future__ import annotations

import math
import time
from typing import Any

from payments.domain.pacing import slots_per_second
from payments.repositories.stripe_slots import slot_key
from tests.support.dynamo import TICKETS, items_with_prefix, scan
from tests.support.flows import buy, create_event, deliver_webhook, pay, reserved_checkout, verify

PER_SECOND = slots_per_second(25)  # the default STRIPE_SESSION_RATE_PER_SECOND


def _slots(client: Any) -> list[dict[str, Any]]:
    return items_with_prefix(client, TICKETS, "STRIPE#SLOT#")


def test_a_paid_purchase_claims_one_slot_ahead_and_calls_stripe_within_it(dynamodb: Any, stripe_fake: Any) -> None:
    event_id = create_event(price=25, capacity=5)
    before = time.time()
    result = buy(event_id, 1)
    after = time.time()
    assert result.status == 200, result.body
    # One slot, or more when the reservation outlasted the slot (a loaded machine): the call is in the last.
    slot = max(_slots(dynamodb), key=lambda item: int(item["slot"]))
    start = int(slot["slot"]) / PER_SECOND
    assert before < start <= after  # a slot that began after the request came, and was waited for
    assert slot["sk"] == "SLOT"
    assert start + 60 <= int(slot["ttl"]) <= start + 3600  # DynamoDB deletes it minutes after its slot
    assert [path for _, path, _ in stripe_fake.requests] == ["/v1/checkout/sessions"]


def test_when_no_slot_is_free_within_a_second_the_purchase_is_503_and_writes_nothing(dynamodb: Any, stripe_fake: Any) -> None:
    event_id = create_event(price=25, capacity=5)
    now = time.time()
    # Every slot from now to three seconds ahead is someone else's (the test's own time included).
    for number in range(math.floor(now * PER_SECOND), math.floor((now + 3) * PER_SECOND) + 1):
        dynamodb.put_item(TableName=TICKETS, Item={**slot_key(number), "slot": {"N": str(number)}, "ttl": {"N": str(int(now) + 600)}})
    table_before = scan(dynamodb, TICKETS)
    result = buy(event_id, 2)
    assert (result.status, result.body) == (503, {"error": "Checkout is busy right now; please retry in a second"})
    assert result.headers["Retry-After"] == "1"
    # No ticket, no seat, no counter, no id: the table is as it was; and Stripe was not asked.
    assert sorted(scan(dynamodb, TICKETS), key=str) == sorted(table_before, key=str)
    assert stripe_fake.requests == []


def test_a_paid_purchase_refused_by_its_reservation_gives_its_slot_back(dynamodb: Any, stripe_fake: Any) -> None:
    event_id = create_event(price=25, capacity=20)
    assert buy(event_id, 6).status == 200
    table_before = scan(dynamodb, TICKETS)
    sent = len(stripe_fake.requests)
    # 6 held unpaid and 5 more: past the 10 one account may hold, refused by the reservation's transaction.
    result = buy(event_id, 5)
    assert result.status == 400, result.body
    assert result.body["error"].startswith("quantity: you already hold 6 unpaid seats")
    assert sorted(scan(dynamodb, TICKETS), key=str) == sorted(table_before, key=str)  # its slot too
    assert len(stripe_fake.requests) == sent


def test_a_free_purchase_takes_no_slot(dynamodb: Any, stripe_fake: Any) -> None:
    event_id = create_event(price=0, capacity=5)
    assert buy(event_id, 1).status == 200
    assert _slots(dynamodb) == []


def test_stripe_throttling_past_our_backoff_is_503_with_retry_after(dynamodb: Any, stripe_fake: Any) -> None:
    event_id = create_event(price=25, capacity=5)
    stripe_fake.rate_limit_next("/v1/checkout/sessions", times=20)
    result = buy(event_id, 1)
    assert (result.status, result.body) == (503, {"error": "The payment provider is unavailable; please retry shortly"})
    assert result.headers["Retry-After"] == "2"


# What a paid order costs Stripe after its session (the account's 100 requests a second are shared
# by them and the sessions; the pacer counts only the sessions) ---------------------------------
def _after(stripe_fake: Any, count: int) -> list[str]:
    return [path.split("?")[0] for _, path, _ in stripe_fake.requests[count:]]


def test_the_webhook_first_costs_one_request_and_verify_then_answers_from_the_ticket(dynamodb: Any, stripe_fake: Any) -> None:
    _, body = reserved_checkout(stripe_fake)
    completed = pay(stripe_fake, body["session_id"])
    sent = len(stripe_fake.requests)
    assert deliver_webhook(completed).status == 200
    assert _after(stripe_fake, sent) == ["/v1/refunds"]  # the settlement's list of the payment's refunds
    sent = len(stripe_fake.requests)
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    assert _after(stripe_fake, sent) == []


def test_verify_first_costs_two_requests_and_the_webhook_then_asks_nothing(dynamodb: Any, stripe_fake: Any) -> None:
    _, body = reserved_checkout(stripe_fake)
    completed = pay(stripe_fake, body["session_id"])
    sent = len(stripe_fake.requests)
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    assert _after(stripe_fake, sent) == [f"/v1/checkout/sessions/{body['session_id']}", "/v1/refunds"]
    sent = len(stripe_fake.requests)
    assert deliver_webhook(completed).status == 200
    assert _after(stripe_fake, sent) == []
