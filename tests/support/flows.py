"""Steps that many tests share: an event created by staff, a ticket bought, a checkout paid, a webhook delivered."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from local.stripe_fake import StripeFake, sign_payload
from tests.support.lambdas import ApiResult, api_event, call, invoke

WEBHOOK_SECRET = "whsec_test_local_only"
STAFF = "[staff]"


def create_event(
    price: Any = 25, capacity: int = 100, currency: str = "usd", name: str = "Summer Jazz Night", seat_shards: int | None = None
) -> int:
    body = {"name": name, "price": price, "currency": currency, "capacity": capacity}
    if seat_shards is not None:
        body["seat_shards"] = seat_shards
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 201, result.body
    return int(result.body["event_id"])


def get_event(event_id: int) -> dict[str, Any]:
    result = call("get_event", path_params={"event_id": str(event_id)})
    assert result.status == 200, result.body
    return dict(result.body)


def buy(event_id: int, quantity: int = 1, user: str = "user-alice") -> ApiResult:
    return call("create_ticket_checkout", {"event_id": event_id, "quantity": quantity}, user=user)


def verify(session_id: str, ticket_id: int, user: str = "user-alice") -> ApiResult:
    return call("verify_ticket_payment", {"session_id": session_id, "ticket_id": ticket_id}, user=user)


def cancel(ticket_id: int, user: str = "user-alice") -> ApiResult:
    return call("cancel_ticket_reservation", {"ticket_id": ticket_id}, user=user)


def deliver_webhook(
    event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None, base64_body: bool = False
) -> ApiResult:
    payload = json.dumps(event)
    signature = sign_payload(payload.encode(), secret, timestamp)
    return invoke(
        "stripe_webhook", api_event("stripe_webhook", raw_body=payload, headers={"stripe-signature": signature}, base64_body=base64_body)
    )


def pay(fake: StripeFake, session_id: str) -> dict[str, Any]:
    """The customer pays on the Checkout page; returns the ``checkout.session.completed`` event Stripe would send."""
    return fake.complete_session(session_id)


def reserved_checkout(
    fake: StripeFake, price: Any = Decimal("25.00"), quantity: int = 2, capacity: int = 10, user: str = "user-alice"
) -> tuple[int, dict[str, Any]]:
    event_id = create_event(price=price, capacity=capacity)
    result = buy(event_id, quantity, user=user)
    assert result.status == 200, result.body
    return event_id, dict(result.body)


def stripe_call(
    function: str, body: dict[str, Any] | None = None, user: str = "user-alice", key: str | None = None, raw: str | None = None
) -> ApiResult:
    headers = {"idempotency-key": key} if key else None
    event = api_event(function, body, user=user, headers=headers, raw_body=raw)
    if key is None:
        event["headers"].pop("idempotency-key", None)
    return invoke(function, event)


def paypal_call(
    function: str, body: dict[str, Any], user: str = "user-alice", key: str | None = None, groups: str | None = None
) -> ApiResult:
    event = api_event(function, body, user=user, groups=groups, headers={"idempotency-key": key} if key else None)
    return invoke(function, event)


def deliver_paypal_webhook(fake: Any, event: dict[str, Any], headers: dict[str, str] | None = None) -> ApiResult:
    payload = json.dumps(event)
    signed = headers if headers is not None else fake.sign(payload.encode(), event)
    request = api_event("paypal_webhook", raw_body=payload)
    request["headers"] = {"content-type": "application/json", **{name.lower(): value for name, value in signed.items()}}
    return invoke("paypal_webhook", request)


def late_payment_into_sold_out(fake: StripeFake) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A customer pays after their reservation was released (its expiry won the race) and somebody
    else bought every seat since: the event, the reservation, and the payment's webhook event, not
    yet delivered."""
    event_id, body = reserved_checkout(fake, quantity=2, capacity=2)
    completed = pay(fake, body["session_id"])
    deliver_webhook(expired_event_for(fake, body["session_id"]))
    other = buy(event_id, 2, user="user-bob").body
    pay(fake, other["session_id"])
    assert verify(other["session_id"], other["ticket_id"], user="user-bob").status == 200
    return event_id, body, completed


def expired_event_for(fake: StripeFake, session_id: str) -> dict[str, Any]:
    """The ``checkout.session.expired`` event of a session, as if expiry had won the race."""
    session = copy.deepcopy(fake.public(fake.sessions[session_id]))
    session.update(status="expired", payment_status="unpaid", payment_intent=None)
    return {"id": f"evt_expired_{session_id[-8:]}", "object": "event", "type": "checkout.session.expired", "data": {"object": session}}
