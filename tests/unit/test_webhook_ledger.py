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


class Lines:
    """The ledger's log lines: (level, message, extra)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, object]]] = []

    def info(self, message: str, extra: dict[str, object]) -> None:
        self.lines.append(("info", message, extra))

    def error(self, message: str, extra: dict[str, object]) -> None:
        self.lines.append(("error", message, extra))


@pytest.fixture
def logged(monkeypatch):
    lines = Lines()
    monkeypatch.setattr(webhooks, "logger", lines)
    return lines.lines


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


def test_each_applied_event_leaves_one_line_with_its_outcome_and_a_rejection_one_more_with_why(counted, logged):
    # Given an event its handler applies, and one the handler rejects for good
    def reject(event: dict[str, object]) -> str:
        raise UnknownObject("no ticket 9 of ours")

    ledger = WebhookLedger(Processed())
    ledger.apply_once("stripe", EVENT, "evt_1", EVENT["type"], {EVENT["type"]: lambda event: "paid"})
    ledger.apply_once("paypal", EVENT, "WH-2", "PAYMENT.CAPTURE.REFUNDED", {"PAYMENT.CAPTURE.REFUNDED": reject})

    # Then the applied one is logged with what it did; the rejected one says why, for a person, then that it was applied
    assert logged == [
        ("info", "Webhook event applied", {"provider": "stripe", "event_id": "evt_1", "event_type": EVENT["type"], "outcome": "paid"}),
        (
            "error",
            "Webhook event rejected for good",
            {"provider": "paypal", "event_id": "WH-2", "event_type": "PAYMENT.CAPTURE.REFUNDED", "reason": "no ticket 9 of ours"},
        ),
        (
            "info",
            "Webhook event applied",
            {"provider": "paypal", "event_id": "WH-2", "event_type": "PAYMENT.CAPTURE.REFUNDED", "outcome": "rejected"},
        ),
    ]


def test_a_deferred_event_is_acknowledged_but_not_recorded_so_that_it_is_applied_again(counted, logged):
    # Given a handler that finds the event names an object not recorded yet
    processed = Processed()
    ledger = WebhookLedger(processed, clock=lambda: 7.0)

    result = ledger.apply_once(
        "paypal", EVENT, "WH-3", "PAYMENT.CAPTURE.REFUNDED", {"PAYMENT.CAPTURE.REFUNDED": lambda event: webhooks.DEFERRED}
    )

    # Then it is answered and counted as deferred, and not marked processed: the next delivery applies it
    assert result == WebhookResult("WH-3", "PAYMENT.CAPTURE.REFUNDED", "deferred")
    assert processed.marked == []
    assert counted == [("paypal", "PAYMENT.CAPTURE.REFUNDED", "deferred")]
    assert logged[-1][2]["outcome"] == "deferred"


def test_a_duplicate_or_ignored_event_is_counted_but_not_logged_as_applied(counted, logged):
    ledger = WebhookLedger(Processed(("stripe", "evt_1")))

    ledger.apply_once("stripe", EVENT, "evt_1", EVENT["type"], {EVENT["type"]: lambda event: "paid"})
    ledger.apply_once("stripe", EVENT, "evt_2", "customer.created", {EVENT["type"]: lambda event: "paid"})

    assert counted == [("stripe", EVENT["type"], "duplicate"), ("stripe", "customer.created", "ignored")]
    assert logged == []


def test_a_body_that_is_not_json_is_a_400_naming_the_webhook_body():
    with pytest.raises(BadRequest) as refused:
        parse_event(b"{not json", "type", "Stripe")
    assert refused.value.message == "Webhook body is not valid JSON"
