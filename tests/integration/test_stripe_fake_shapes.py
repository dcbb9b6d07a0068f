"""The local Stripe's objects carry at least the fields of Stripe's own examples, with their types."""

import json
from pathlib import Path

import pytest

from local.stripe_fake import charges
from tests.support.flows import pay, reserved_checkout

SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "provider-specs" / "stripe" / "fixtures3.json"
VENDORED = Path(__file__).resolve().parents[2] / "local" / "stripe_fake" / "fixtures3.json"


def reference(name):
    return json.loads(VENDORED.read_text())["resources"][name]


def assert_shape(obj, example, path=""):
    for key, expected in example.items():
        assert key in obj, f"{path}{key} missing"
        actual = obj[key]
        if expected is None or actual is None:
            continue
        if isinstance(expected, bool):
            assert isinstance(actual, bool), f"{path}{key}"
        elif isinstance(expected, int):
            assert isinstance(actual, int) and not isinstance(actual, bool), f"{path}{key}"
        elif isinstance(expected, dict) and expected:
            assert isinstance(actual, dict), f"{path}{key}"
            if key not in ("metadata",):
                assert_shape(actual, expected, f"{path}{key}.")
        else:
            assert isinstance(actual, type(expected)), f"{path}{key}: {type(actual).__name__}"


@pytest.mark.skipif(not SHARED_FIXTURES.exists(), reason="shared/provider-specs is not beside this checkout")
def test_vendored_fixtures_are_stripes_unchanged():
    assert VENDORED.read_bytes() == SHARED_FIXTURES.read_bytes()


def test_checkout_session_payment_intent_refund_and_event_match_stripes_examples(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    event = pay(stripe_fake, body["session_id"])
    session = stripe_fake.public(stripe_fake.sessions[body["session_id"]])
    intent = stripe_fake.payment_intents[session["payment_intent"]]
    refund = charges.create_refund(stripe_fake, {"payment_intent": intent["id"]})
    assert_shape(session, reference("checkout.session"))
    assert_shape(intent, reference("payment_intent"))
    assert_shape(refund, reference("refund"))
    # The example event wraps a plan; its envelope is what every event shares.
    assert_shape(event, {key: value for key, value in reference("event").items() if key != "data"})
    assert event["data"]["object"]["object"] == "checkout.session"


def test_objects_have_the_shape_of_the_pinned_api_version(dynamodb, stripe_fake):
    """What the 2025-03-31 and later versions changed: invoices name their subscription under
    parent.subscription_details only; subscription items still carry their legacy plan; events say
    the API version the pinned SDK sends."""
    import stripe

    from tests.support.flows import stripe_call

    customer_id = stripe_call("stripe_create_customer", {"email": "shape@example.com"}).body["customer_id"]
    created = stripe_call("stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly"}).body
    invoice = stripe_fake.invoices[created["latest_invoice"]]
    assert "subscription" not in invoice
    assert invoice["parent"]["subscription_details"]["subscription"] == created["subscription_id"]
    [item] = stripe_fake.subscriptions[created["subscription_id"]]["items"]["data"]
    assert item["plan"]["id"] == item["price"]["id"] and item["plan"]["object"] == "plan"
    assert {event["api_version"] for event in stripe_fake.events} == {stripe.api_version}


# Events Stripe sends that the local Stripe once did not (issue 25) -----------------------------
def types_since(fake, count):
    return [event["type"] for event in fake.events[count:]]


def paid_intent(fake):
    import requests

    auth = {"Authorization": "Bearer sk_test_local"}
    created = requests.post(f"{fake.public_url}/v1/payment_intents", data={"amount": 2000, "currency": "usd"}, headers=auth, timeout=5)
    pid = created.json()["id"]
    requests.post(f"{fake.public_url}/v1/payment_intents/{pid}/confirm", data={"payment_method": "pm_card_visa"}, headers=auth, timeout=5)
    return pid


def test_updated_events_carry_the_previous_attributes_and_only_they(dynamodb, stripe_fake):
    from tests.support.flows import stripe_call

    customer_id = stripe_call("stripe_create_customer", {"email": "prev@example.com"}).body["customer_id"]
    stripe_call("stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly"})
    [intent_id] = [pid for pid in stripe_fake.invoice_payments]
    from local.stripe_fake import payment_intents

    payment_intents.confirm(stripe_fake, {"payment_method": "pm_card_visa"}, intent_id)
    [updated] = [event for event in stripe_fake.events if event["type"] == "customer.subscription.updated"]
    assert updated["data"]["previous_attributes"] == {"status": "incomplete"}
    assert updated["data"]["object"]["status"] == "active"
    for event in stripe_fake.events:
        assert ("previous_attributes" in event["data"]) == event["type"].endswith(".updated"), event["type"]


def test_a_refund_sends_refund_created_and_can_fail_later(stripe_fake):
    import requests

    pid = paid_intent(stripe_fake)
    seen = len(stripe_fake.events)
    refund = charges.create_refund(stripe_fake, {"payment_intent": pid})
    assert sorted(types_since(stripe_fake, seen)) == ["charge.refunded", "refund.created"]
    seen = len(stripe_fake.events)
    failed = requests.post(f"{stripe_fake.public_url}/_fake/refunds/{refund['id']}/fail", json={}, timeout=5).json()
    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    assert types_since(stripe_fake, seen) == ["refund.updated", "charge.refund.updated", "refund.failed"]
    for event in stripe_fake.events[seen : seen + 2]:
        assert event["data"]["previous_attributes"]["status"] == "succeeded"
        assert event["data"]["object"]["status"] == "failed"
    assert stripe_fake.refunded_amount(pid) == 0  # the money is the merchant's again; it may be refunded anew
    assert charges.create_refund(stripe_fake, {"payment_intent": pid})["amount"] == 2000


CLOSING = [(True, ["charge.dispute.closed", "charge.dispute.funds_reinstated"]), (False, ["charge.dispute.closed"])]


@pytest.mark.parametrize(("won", "closing"), CLOSING)
def test_a_dispute_withdraws_the_funds_and_a_won_one_reinstates_them(stripe_fake, won, closing):
    import requests

    pid = paid_intent(stripe_fake)
    seen = len(stripe_fake.events)
    dispute = requests.post(f"{stripe_fake.public_url}/_fake/payment_intents/{pid}/dispute", timeout=5).json()
    assert types_since(stripe_fake, seen) == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    assert dispute["evidence_details"]["submission_method"] == "not_submitted"
    seen = len(stripe_fake.events)
    closed = requests.post(f"{stripe_fake.public_url}/_fake/disputes/{dispute['id']}/close", json={"won": won}, timeout=5).json()
    assert closed["status"] == ("won" if won else "lost")
    assert types_since(stripe_fake, seen) == closing
