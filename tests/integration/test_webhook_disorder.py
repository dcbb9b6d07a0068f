"""Whole payment stories with their webhooks delivered as Stripe and PayPal deliver them: by the
local fakes' own sender under the run's seed (WEBHOOK_DISORDER_SEED, printed in the header), out of
order, several at once and some twice, straight into the webhook functions. What must hold once
every delivery is made holds whatever the order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.dynamo import SerialisedClient
from tests.support.flows import WEBHOOK_SECRET, paypal_call, reserved_checkout
from tests.support.lambdas import api_event, invoke


@pytest.fixture
def serialised(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each DynamoDB request atomic, as in AWS (moto itself does not lock)."""
    from payments import dynamodb as layer_dynamodb
    from payments import wiring

    client = SerialisedClient(dynamodb)
    wiring.reset()
    monkeypatch.setattr(layer_dynamodb, "get_client", lambda: client)
    return dynamodb


def into(function: str) -> Any:
    def transport(payload: bytes, headers: dict[str, str]) -> int:
        request = api_event(function, raw_body=payload.decode())
        request["headers"] = {name.lower(): value for name, value in headers.items()}
        return invoke(function, request).status

    return transport


@pytest.fixture
def disorderly_stripe(stripe_fake: Any, serialised: Any) -> Iterator[Any]:
    stripe_fake.webhook_secret = WEBHOOK_SECRET
    stripe_fake.deliver_webhooks("in-process", into("stripe_webhook"))
    yield stripe_fake
    stripe_fake.deliver_webhooks(None)
    stripe_fake.webhook_secret = None


@pytest.fixture
def disorderly_paypal(paypal_fake: Any, serialised: Any) -> Iterator[Any]:
    paypal_fake.deliver_webhooks("in-process", into("paypal_webhook"))
    yield paypal_fake
    paypal_fake.deliver_webhooks(None)


def ticket(ticket_id: int) -> Any:
    from payments import wiring

    return wiring.ticket_repository().get_ticket(ticket_id)


def test_a_paid_ticket_refunded_in_the_dashboard_ends_refunded(disorderly_stripe):
    _, body = reserved_checkout(disorderly_stripe)
    disorderly_stripe.complete_session(body["session_id"])
    intent = disorderly_stripe.sessions[body["session_id"]]["payment_intent"]
    disorderly_stripe.dashboard_refund(intent)
    assert disorderly_stripe.drain_webhooks(60)
    assert ticket(body["ticket_id"]).status == "refunded"


def test_a_paid_ticket_whose_dispute_is_lost_ends_refunded(disorderly_stripe):
    _, body = reserved_checkout(disorderly_stripe)
    disorderly_stripe.complete_session(body["session_id"])
    dispute = disorderly_stripe.open_dispute(disorderly_stripe.sessions[body["session_id"]]["payment_intent"])
    disorderly_stripe.close_dispute(dispute["id"], won=False)
    assert disorderly_stripe.drain_webhooks(60)
    assert ticket(body["ticket_id"]).status == "refunded"


def test_a_paypal_capture_refunded_in_the_dashboard_ends_refunded(disorderly_paypal):
    from payments import wiring

    created = paypal_call("paypal_create_order", {"amount": 40, "currency": "USD", "description": "Course", "custom_id": "p-1"})
    disorderly_paypal.approve(created.body["order_id"])
    captured = paypal_call("paypal_capture_order", {"order_id": created.body["order_id"]})
    assert captured.status == 200, captured.body
    disorderly_paypal.dashboard_refund(captured.body["capture_id"], "15.00")
    disorderly_paypal.dashboard_refund(captured.body["capture_id"])
    assert disorderly_paypal.drain_webhooks(60)
    capture = wiring.paypal_objects().get("capture", captured.body["capture_id"])
    assert (capture["status"], int(capture["refunded_minor"])) == ("REFUNDED", 4000)
