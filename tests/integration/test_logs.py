"""All log output of every flow, scanned: no secret, client secret, token or card data in any line;
every money event leaves one structured audit line (who, what, amount, provider ids, correlation id)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tests.conftest import STRIPE_KEY, WEBHOOK_SECRET
from tests.support.flows import buy, create_event, deliver_paypal_webhook, deliver_webhook, pay, paypal_call, stripe_call, verify
from tests.support.lambdas import api_event


def run_every_flow(stripe_fake, paypal_fake):
    """Returns the secrets that crossed the API during the flows."""
    free, paid = create_event(price=0, capacity=5), create_event(price=10, capacity=5)
    buy(free, 1)
    ticket = buy(paid, 1).body
    deliver_webhook(pay(stripe_fake, ticket["session_id"]))
    verify(ticket["session_id"], ticket["ticket_id"])
    other = buy(paid, 1).body
    stripe_call("cancel_ticket_reservation", {"ticket_id": other["ticket_id"]})
    intent = stripe_call("stripe_create_payment_intent", {"amount": 42, "currency": "usd"}, key="log-scan").body
    stripe_call("stripe_confirm_payment", {"payment_intent_id": intent["payment_intent_id"], "payment_method": "pm_card_visa"})
    stripe_call("stripe_confirm_payment", {"payment_intent_id": intent["payment_intent_id"], "payment_method": "pm_card_chargeDeclined"})
    deliver_webhook(stripe_fake.events[-1])
    order = paypal_call("paypal_create_order", {"amount": 30, "currency": "USD"}).body
    paypal_fake.approve(order["order_id"])
    capture = paypal_call("paypal_capture_order", {"order_id": order["order_id"]}).body
    paypal_call(
        "paypal_refund_payment", {"capture_id": capture["capture_id"], "amount": 5, "currency": "USD"}, user="staff", groups="[staff]"
    )
    deliver_paypal_webhook(paypal_fake, paypal_fake.events[-1])
    tokens = set(paypal_fake.tokens)
    bearer = api_event("verify_ticket_payment")["headers"]["authorization"].split()[1]
    return {
        "stripe secret key": STRIPE_KEY,
        "stripe webhook secret": WEBHOOK_SECRET,
        "client secret": intent["client_secret"],
        "paypal client secret": paypal_fake.client_secret,
        "bearer token": bearer,
        **{f"paypal access token {n}": token for n, token in enumerate(tokens)},
    }


@pytest.fixture
def log_lines():
    """Every line the functions log, formatted as in Lambda (Powertools JSON)."""
    from payments.observability import logger

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(handler)
    yield buffer
    logger._logger.removeHandler(handler)


def test_no_log_line_carries_a_secret_or_card_data(dynamodb, stripe_fake, paypal_fake, log_lines):
    secrets = run_every_flow(stripe_fake, paypal_fake)
    logs = log_lines.getvalue()
    assert logs.count("\n") > 10
    for name, value in secrets.items():
        assert value not in logs, f"{name} appears in the logs"
    for pattern in ("4242424242424242", "pm_card_", "whsec_", "sk_test_"):
        assert pattern not in logs


def test_every_money_event_leaves_one_structured_audit_line(dynamodb, stripe_fake, paypal_fake, log_lines):
    run_every_flow(stripe_fake, paypal_fake)
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.startswith("{")]
    audits = [line for line in lines if line.get("audit")]
    actions = [line["action"] for line in audits]
    expected = {
        "ticket.issued_free": 1,
        "ticket.checkout_started": 2,
        "ticket.paid": 1,
        "ticket.cancelled": 1,
        "stripe.payment_intent_created": 1,
        "stripe.payment_intent_confirmed": 1,
        "paypal.order_created": 1,
        "paypal.order_captured": 1,
        "paypal.capture_refunded": 1,
    }
    for action, count in expected.items():
        assert actions.count(action) == count, (action, actions)
    for line in audits:
        assert line["correlation_id"], line
        assert line.get("user_id"), line
        assert any(key in line for key in ("amount", "quantity", "amount_refunded")), line
        assert any(key in line for key in ("session_id", "payment_intent", "order_id", "capture_id", "ticket_id", "subscription")), line


def test_a_ticket_paid_audit_line_names_the_payment_currency(dynamodb, stripe_fake, log_lines):
    # The audit line is the operator's record of the money: its currency is the ticket's, not absent.
    paid = create_event(price=10, capacity=5)
    ticket = buy(paid, 1).body
    deliver_webhook(pay(stripe_fake, ticket["session_id"]))
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line.get("action") == "ticket.paid"]
    assert (line["ticket_id"], line["amount"], line["currency"]) == (ticket["ticket_id"], 1000, "usd")


def test_a_checkout_session_for_an_unknown_ticket_logs_an_error_naming_the_session(dynamodb, stripe_fake, log_lines):
    # A signed session naming a ticket we never made: an operator finds it by this line's message
    # (what went wrong, at ERROR) and its session id.
    paid = create_event(price=10, capacity=5)
    ticket = buy(paid, 1).body
    event = pay(stripe_fake, ticket["session_id"])
    event["data"]["object"]["metadata"]["ticket_id"] = "999999"
    event["data"]["object"]["client_reference_id"] = "999999"
    assert deliver_webhook(event).status == 200
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line.get("session_id") == ticket["session_id"] and line["level"] == "ERROR"]
    assert line["message"] == "Checkout session for an unknown ticket"


def test_a_dispute_opened_audit_line_names_the_banks_reason(dynamodb, stripe_fake, log_lines):
    # Staff answer a dispute with evidence for its reason (fraudulent, product not received, ...):
    # the audit line is where they first read it (run 7's open survivor `_dispute_opened`).
    paid = create_event(price=10, capacity=5)
    ticket = buy(paid, 1).body
    assert deliver_webhook(pay(stripe_fake, ticket["session_id"])).status == 200
    intent = stripe_fake.sessions[ticket["session_id"]]["payment_intent"]
    dispute = stripe_fake.open_dispute(intent)
    assert dispute["reason"]
    (created,) = [event for event in stripe_fake.events if event["type"] == "charge.dispute.created"]
    assert deliver_webhook(created).status == 200
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line.get("action") == "stripe.dispute_opened"]
    assert (line["dispute"], line["payment_intent"], line["amount"], line["reason"]) == (dispute["id"], intent, 1000, dispute["reason"])
