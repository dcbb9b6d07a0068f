"""The payment-intent and customer flows against localstripe, an independent stateful Stripe
emulator, so that our own fake cannot simply agree with our own mistakes.

localstripe covers payment intents (create, retrieve) and customers. It does not cover Prices,
Checkout, ``automatic_payment_methods`` (switched off here through STRIPE_AUTOMATIC_PAYMENT_METHODS),
``description``, confirming with a payment method id, idempotency keys, or subscriptions on
Prices: those run only against our fake, in test_stripe_payments.py."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.flows import stripe_call

LOCALSTRIPE = Path(sys.executable).with_name("localstripe")


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    if not LOCALSTRIPE.exists():
        pytest.skip("localstripe is not installed in this environment")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([str(LOCALSTRIPE), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/v1/customers", auth=("sk_test_x", ""), timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def on_localstripe(localstripe_url, dynamodb, monkeypatch):
    from tests.conftest import clear_container_caches

    monkeypatch.setenv("STRIPE_API_BASE", localstripe_url)
    monkeypatch.setenv("STRIPE_AUTOMATIC_PAYMENT_METHODS", "false")
    clear_container_caches()
    return localstripe_url


def test_create_and_retrieve_a_payment_intent(on_localstripe):
    created = stripe_call("stripe_create_payment_intent", {"amount": 29.99, "currency": "usd", "metadata": {"course_id": "123"}})
    assert created.status == 200, created.body
    body = created.body
    assert body["payment_intent_id"].startswith("pi_")
    assert body["client_secret"].startswith(body["payment_intent_id"])
    assert (body["status"], body["amount"], body["currency"]) == ("requires_payment_method", 2999, "usd")
    retrieved = stripe_call("stripe_retrieve_payment", {"payment_intent_id": body["payment_intent_id"]})
    assert retrieved.status == 200, retrieved.body
    assert (retrieved.body["amount"], retrieved.body["currency"], retrieved.body["status"]) == (2999, "usd", "requires_payment_method")
    assert isinstance(retrieved.body["created"], int)
    assert retrieved.body["metadata"] == {"course_id": "123", "user_id": "user-alice"}
    assert stripe_call("stripe_retrieve_payment", {"payment_intent_id": body["payment_intent_id"]}, user="user-bob").status == 403


def test_zero_decimal_amounts(on_localstripe):
    created = stripe_call("stripe_create_payment_intent", {"amount": 5000, "currency": "jpy"})
    assert (created.status, created.body["amount"], created.body["currency"]) == (200, 5000, "jpy")


def test_confirm_without_a_payment_method_is_a_clear_400(on_localstripe):
    intent_id = stripe_call("stripe_create_payment_intent", {"amount": 10, "currency": "usd"}).body["payment_intent_id"]
    confirmed = stripe_call("stripe_confirm_payment", {"payment_intent_id": intent_id})
    assert confirmed.status == 400
    assert confirmed.body["error"]


def test_create_a_customer(on_localstripe):
    created = stripe_call(
        "stripe_create_customer", {"email": "user@example.com", "name": "John Doe", "metadata": {"organization_id": "org_123"}}
    )
    assert created.status == 200, created.body
    assert created.body["customer_id"].startswith("cus_")
    assert (created.body["email"], created.body["name"]) == ("user@example.com", "John Doe")
