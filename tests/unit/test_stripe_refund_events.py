"""A Stripe refund's later life (refund.failed, refund.updated, charge.refund.updated) without AWS:
a refund that failed or was canceled leaves an audit line for a person naming the refund, the
payment, the amount and Stripe's reason; any refund event has the ticket's money read again from
Stripe's lists for its payment; one naming no payment is only noted. (Through the webhook function,
DynamoDB and the Stripe fake: tests/integration/test_money_adds_up.py.)"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from payments.domain import stripe_webhooks
from payments.domain.stripe_webhooks import StripeWebhooks
from payments.domain.webhooks import WebhookLedger


class Processed:
    def is_processed(self, provider: str, event_id: str) -> bool:
        return False

    def mark_processed(self, provider: str, event_id: str, event_type: str, now: int) -> bool:
        return True


class Tickets:
    """The one call these events make: what Stripe now lists as gone back for a payment."""

    def __init__(self, outcome: str | None) -> None:
        self.outcome = outcome
        self.read: list[tuple[object, ...]] = []

    def refunded_at_provider(self, *args: object) -> object:
        self.read.append(args)
        return SimpleNamespace(outcome=self.outcome) if self.outcome else None


@pytest.fixture
def audited(monkeypatch):
    lines: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(stripe_webhooks, "audit", lambda action, **fields: lines.append((action, fields)))
    return lines


def listed(event_type: str, status: str, payment_intent: object = "pi_1") -> dict[str, object]:
    refund = {"id": "re_1", "object": "refund", "payment_intent": payment_intent, "amount": 2500, "status": status}
    refund["failure_reason"] = "expired_or_canceled_card" if status == "failed" else None
    return {"id": f"evt_{event_type}_{status}", "type": event_type, "created": 1_700_000_000, "data": {"object": refund}}


class NoObjects:
    """No direct payment intent recorded: a payment that is no ticket's is then only noted."""

    def get(self, kind: str, object_id: str) -> None:
        return None


def webhooks(tickets: Tickets) -> StripeWebhooks:
    ledger = WebhookLedger(Processed(), clock=lambda: 0.0)
    return StripeWebhooks(tickets, objects=NoObjects(), ledger=ledger, signatures=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("event_type", ["refund.failed", "refund.updated", "charge.refund.updated"])
@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_a_refund_that_did_not_return_the_money_is_audited_and_the_ticket_follows_stripe(audited, event_type, status):
    tickets = Tickets("paid")
    outcome = webhooks(tickets).apply_listed(listed(event_type, status))
    assert outcome == "paid"
    assert tickets.read == [("pi_1",)]
    reason = "expired_or_canceled_card" if status == "failed" else None
    assert audited == [("stripe.refund_failed", {"refund": "re_1", "payment_intent": "pi_1", "amount": 2500, "failure_reason": reason})]


@pytest.mark.parametrize("status", ["succeeded", "pending", "requires_action"])
def test_a_refund_still_on_its_way_is_not_audited_as_failed(audited, status):
    tickets = Tickets(None)
    assert webhooks(tickets).apply_listed(listed("refund.updated", status)) == "noted"
    assert tickets.read == [("pi_1",)]
    assert audited == []


def test_a_refund_of_no_payment_is_only_noted(audited):
    tickets = Tickets("paid")
    assert webhooks(tickets).apply_listed(listed("refund.failed", "failed", payment_intent=None)) == "noted"
    assert tickets.read == []
    assert audited == [
        ("stripe.refund_failed", {"refund": "re_1", "payment_intent": None, "amount": 2500, "failure_reason": "expired_or_canceled_card"})
    ]


# disputes: Stripe holds the disputed amount meanwhile (noted), a lost one returns it ------------
def disputed(event_type: str, status: str, payment_intent: object = "pi_1") -> dict[str, object]:
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": payment_intent, "amount": 2500, "status": status}
    dispute["reason"] = "fraudulent"
    return {"id": f"evt_{event_type}_{status}", "type": event_type, "created": 1_700_000_000, "data": {"object": dispute}}


@pytest.mark.parametrize("event_type", ["charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"])
def test_disputed_funds_moving_is_audited_naming_the_dispute_its_payment_and_amount(audited, event_type):
    # an expanded payment intent is named by its id, as a string one is
    for payment_intent in ("pi_1", {"id": "pi_1", "object": "payment_intent"}):
        tickets = Tickets("refunded")
        audited.clear()
        event = {**disputed(event_type, "needs_response", payment_intent), "id": f"evt_{event_type}_{type(payment_intent).__name__}"}
        assert webhooks(tickets).apply_listed(event) == "noted"
        action = "stripe." + event_type.removeprefix("charge.").replace(".", "_")
        assert audited == [(action, {"dispute": "dp_1", "payment_intent": "pi_1", "amount": 2500})]
        assert tickets.read == []  # not money returned: the ticket is not read again


@pytest.mark.parametrize(("status", "outcome", "read"), [("lost", "refunded", [("pi_1",)]), ("won", "noted", [])])
def test_a_closed_dispute_is_audited_naming_the_dispute_and_a_lost_one_has_the_ticket_follow_stripe(audited, status, outcome, read):
    tickets = Tickets("refunded")
    assert webhooks(tickets).apply_listed(disputed("charge.dispute.closed", status)) == outcome
    assert audited == [("stripe.dispute_closed", {"dispute": "dp_1", "payment_intent": "pi_1", "status": status})]
    # the event only says which payment to look at: Stripe's lists of its refunds and disputes say what went back
    assert tickets.read == read
