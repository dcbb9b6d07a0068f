"""The webhook ledger without AWS: each event id applied once and recorded as processed (with the
clock's second) only after its handler returned; an event type with no handler neither applied nor
recorded; a permanent rejection recorded (the provider stops retrying), any other failure not (the
provider retries); every delivery counted by provider, type and outcome. And what is no event at all.
(The same through the webhook functions and DynamoDB: the tests/integration webhook tests.)"""

from __future__ import annotations

import pytest

from payments.domain import webhooks
from payments.domain.webhooks import WebhookLedger, WebhookResult, parse_event
from payments.errors import BadRequest, NotApplicable, UnknownObject


class Processed:
    def __init__(self, *already: tuple[str, str]) -> None:
        self.marked: list[tuple[str, str, str, int]] = []
        self.already = set(already)

    def is_processed(self, provider: str, event_id: str) -> bool:
        return (provider, event_id) in self.already

    def mark_processed(self, provider: str, event_id: str, event_type: str, now: int) -> bool:
        self.marked.append((provider, event_id, event_type, now))
        self.already.add((provider, event_id))
        return True


@pytest.fixture
def counted(monkeypatch):
    outcomes: list[tuple[str, str, str]] = []
    monkeypatch.setattr(webhooks.metrics, "webhook_outcome", lambda *args: outcomes.append(args))
    return outcomes


EVENT = {"id": "evt_1", "type": "checkout.session.completed"}


def test_an_event_is_applied_once_and_recorded_after_its_handler(counted):
    processed = Processed()
    ledger = WebhookLedger(processed, clock=lambda: 1_700_000_000.7)
    applied: list[dict[str, object]] = []

    def handler(event: dict[str, object]) -> str:
        assert processed.marked == []  # not yet recorded while its effects are being written
        applied.append(event)
        return "paid"

    first = ledger.apply_once("stripe", EVENT, "evt_1", EVENT["type"], {EVENT["type"]: handler})
    again = ledger.apply_once("stripe", EVENT, "evt_1", EVENT["type"], {EVENT["type"]: handler})

    assert (first, again) == (WebhookResult("evt_1", EVENT["type"], "paid"), WebhookResult("evt_1", EVENT["type"], "duplicate"))
    assert applied == [EVENT]
    assert processed.marked == [("stripe", "evt_1", EVENT["type"], 1_700_000_000)]
    assert counted == [("stripe", EVENT["type"], "paid"), ("stripe", EVENT["type"], "duplicate")]


def test_the_same_id_from_another_provider_is_another_event(counted):
    processed = Processed(("paypal", "evt_1"))
    result = WebhookLedger(processed, clock=lambda: 5.0).apply_once(
        "stripe", EVENT, "evt_1", EVENT["type"], {EVENT["type"]: lambda e: "paid"}
    )
    assert result.outcome == "paid"
    assert processed.marked == [("stripe", "evt_1", EVENT["type"], 5)]


def test_a_type_without_a_handler_is_ignored_and_not_recorded(counted):
    processed = Processed()
    result = WebhookLedger(processed).apply_once("paypal", EVENT, "evt_1", "PAYMENT.SALE.COMPLETED", {EVENT["type"]: lambda e: "paid"})
    assert result == WebhookResult("evt_1", "PAYMENT.SALE.COMPLETED", "ignored")
    assert processed.marked == []
    assert counted == [("paypal", "PAYMENT.SALE.COMPLETED", "ignored")]


@pytest.mark.parametrize("rejection", [NotApplicable("a refund of no payment of ours"), UnknownObject("no such ticket")])
def test_a_permanent_rejection_is_recorded_so_that_the_provider_stops(counted, rejection):
    processed = Processed()

    def handler(event: dict[str, object]) -> str:
        raise rejection

    result = WebhookLedger(processed, clock=lambda: 9.0).apply_once("stripe", EVENT, "evt_1", EVENT["type"], {EVENT["type"]: handler})
    assert result == WebhookResult("evt_1", EVENT["type"], "rejected")
    assert processed.marked == [("stripe", "evt_1", EVENT["type"], 9)]
    assert counted == [("stripe", EVENT["type"], "rejected")]


def test_any_other_failure_propagates_unrecorded_so_that_the_provider_retries(counted):
    processed = Processed()

    def handler(event: dict[str, object]) -> str:
        raise RuntimeError("DynamoDB throttled")

    with pytest.raises(RuntimeError):
        WebhookLedger(processed).apply_once("stripe", EVENT, "evt_1", EVENT["type"], {EVENT["type"]: handler})
    assert processed.marked == []
    assert counted == []


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"evt_1"',
        b'{"type": "checkout.session.completed"}',
        b'{"id": 1, "type": "x"}',
        b'{"id": "evt_1"}',
        b'{"id": "evt_1", "type": 2}',
    ],
)
def test_a_body_that_is_no_event_is_a_400_naming_the_provider(body):
    with pytest.raises(BadRequest) as refused:
        parse_event(body, "type", "Stripe")
    assert refused.value.message == "Webhook body is not a Stripe event"


def test_an_event_is_read_with_its_providers_type_key():
    body = b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}}'
    assert parse_event(body, "event_type", "PayPal") == {"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}}
    with pytest.raises(BadRequest, match="not a PayPal event"):
        parse_event(body, "type", "PayPal")
