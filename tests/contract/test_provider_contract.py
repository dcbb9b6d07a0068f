"""One contract per provider port, run against every implementation of it that tests use: the real
gateways (the official ``stripe`` SDK, ``PayPalClient``, the signature checks) against the local
fakes over HTTP, and the in-process Stripe Checkout stub that the life-cycle rows use in place of
the gateway (``tests.support.lifecycle_world.Stripe``). Each test drives the port and asserts only
what the port answers, so that a double cannot do what the real path never does.

What a test needs to happen at the provider without our API (the customer pays, a refund is made in
the Dashboard, the bank fails a refund, a dispute opens) goes through a small world per
implementation (``tests.support.provider_worlds``): the fake's controls, or the stub's.

Where the claims come from: Stripe's idempotency (same key and parameters: the first answer; other
parameters: ``idempotency_error``; keys per account) from docs.stripe.com/api/idempotent_requests;
``expires_at`` between 30 minutes and 24 hours after creation from the SDK's own
``SessionCreateParams``; refunds default to what is left of the charge (``RefundCreateParams.amount``);
lists newest first; PayPal-Request-Id returns the previous request's result
(developer.paypal.com/reference/guidelines/idempotency); the fakes' objects are checked against
Stripe's and PayPal's definitions by the fixtures that serve them (``tests/conftest.py``)."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe

from local.paypal_fake import PayPalFake
from local.paypal_fake.objects import PayPalError
from local.stripe_fake import StripeFake
from local.stripe_fake.app import sign_payload
from payments import wiring
from payments.domain.ports import PayPalGateway, SignatureRefused, StripePayments
from payments.errors import ChargeDisputed, NotFound, ProviderFailure, ProviderRejected, ProviderUnavailable, Unprocessable
from payments.providers.paypal_signature import PayPalSignatureVerifier
from payments.providers.stripe_gateway import WebhookSignatures
from payments.settings import get_settings
from tests.conftest import WEBHOOK_SECRET
from tests.support.money_world import providers_in_process
from tests.support.provider_worlds import CheckoutWorld, FakeCheckoutWorld, StubCheckoutWorld

METADATA = {"ticket_id": "7", "event_id": "3"}


@contextmanager
def transport(request: pytest.FixtureRequest, fake: StripeFake | PayPalFake) -> Iterator[None]:
    """Over loopback HTTP, or handed to the fake's WSGI application in process (the money model's
    fast world, ``tests.support.money_world``): both must answer alike."""
    if request.param.endswith("in-process"):
        with providers_in_process({fake.public_url: fake}):
            yield
    else:
        yield


@pytest.fixture(params=["sdk+fake", "sdk+fake in-process", "stub"])
def world(request: pytest.FixtureRequest) -> Iterator[CheckoutWorld]:
    if request.param == "stub":
        yield StubCheckoutWorld()
        return
    fake: StripeFake = request.getfixturevalue("stripe_fake")
    with transport(request, fake):
        yield FakeCheckoutWorld(fake, wiring.stripe_gateway())


def open_session(
    world: CheckoutWorld,
    *,
    ticket_id: int = 7,
    currency: str = "eur",
    unit_amount: int = 2500,
    quantity: int = 2,
    expires_in: int = 1860,
    expires_at: int | None = None,
    key: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Any:
    return world.checkout.create_checkout_session(
        ticket_id=ticket_id,
        product_name="Concert",
        currency=currency,
        unit_amount=unit_amount,
        quantity=quantity,
        success_url="https://shop.example/paid?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="https://shop.example/cancelled",
        expires_at=world.now() + expires_in if expires_at is None else expires_at,
        metadata=dict(METADATA if metadata is None else metadata, ticket_id=str(ticket_id)),
        idempotency_key=key or f"ticket-checkout-{ticket_id}",
    )


def paid(world: CheckoutWorld, **order: Any) -> str:
    """A session paid by its customer: its payment intent."""
    return world.pay(open_session(world, **order).id)


# Checkout Sessions -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("currency", "unit_amount", "quantity", "total"),
    [("eur", 2500, 2, 5000), ("jpy", 5000, 3, 15000), ("kwd", 1250, 1, 1250)],
)
def test_a_session_is_open_and_unpaid_for_its_ticket_in_minor_units(
    world: CheckoutWorld, currency: str, unit_amount: int, quantity: int, total: int
) -> None:
    session = open_session(world, ticket_id=41, currency=currency, unit_amount=unit_amount, quantity=quantity)
    assert (session.status, session.payment_status, session.payment_intent) == ("open", "unpaid", None)
    assert (session.ticket_id, session.amount_total, session.currency) == (41, total, currency)
    assert session.url and not session.is_paid and not session.is_expired
    assert world.checkout.retrieve_checkout_session(session.id) == session


@pytest.mark.parametrize(
    ("currency", "unit_amount", "quantity"),
    [("eur", 25, 2), ("gbp", 30, 1), ("jpy", 50, 1), ("kwd", 200, 1), ("eur", 33_333_333, 3)],
)
def test_a_total_from_stripes_minimum_charge_to_its_maximum_is_taken(
    world: CheckoutWorld, currency: str, unit_amount: int, quantity: int
) -> None:
    assert open_session(world, currency=currency, unit_amount=unit_amount, quantity=quantity).amount_total == unit_amount * quantity


@pytest.mark.parametrize(
    ("currency", "unit_amount", "quantity"),
    [
        # below Stripe's minimum charge (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts:
        # "The Checkout Session's total amount due must add up to at least €0.50 eur")
        ("eur", 49, 1),
        ("eur", 12, 4),
        ("gbp", 29, 1),
        ("jpy", 49, 1),
        # a three-decimal currency's amount must end in 0; above eight digits of minor units
        ("kwd", 1255, 1),
        ("eur", 50_000_000, 2),
    ],
)
def test_a_total_stripe_does_not_charge_is_refused(world: CheckoutWorld, currency: str, unit_amount: int, quantity: int) -> None:
    with pytest.raises(ProviderRejected):
        open_session(world, currency=currency, unit_amount=unit_amount, quantity=quantity)


def test_the_same_key_and_order_answer_the_same_session(world: CheckoutWorld) -> None:
    # The same order, its expiry included: the domain sends a retry the ticket's own expires_at. An
    # expiry recomputed from a clock that moved a second would be other parameters under the same
    # key, which Stripe (and the fake) rightly refuse with a 422: the test failed so under load.
    expires_at = world.now() + 1860
    first = open_session(world, expires_at=expires_at)
    assert open_session(world, expires_at=expires_at) == first


def test_the_same_key_with_another_order_is_refused_and_the_first_session_stays(world: CheckoutWorld) -> None:
    first = open_session(world, quantity=2)
    with pytest.raises(Unprocessable):
        open_session(world, quantity=3)
    assert world.checkout.retrieve_checkout_session(first.id) == first


def test_a_key_is_the_accounts_and_refused_on_another_endpoint(world: CheckoutWorld) -> None:
    intent = paid(world, key="shared-key")
    with pytest.raises(Unprocessable):
        refund_rest(world, intent, key="shared-key")
    assert world.checkout.refunds_of(intent) == []


def test_another_key_makes_another_session(world: CheckoutWorld) -> None:
    first = open_session(world)
    second = open_session(world, key="ticket-checkout-7-again")
    assert second.id != first.id
    assert world.checkout.retrieve_checkout_session(first.id) == first


@pytest.mark.parametrize("expires_in", [1800 + 60, 86400 - 60])
def test_a_session_may_expire_from_30_minutes_to_24_hours_after_its_creation(world: CheckoutWorld, expires_in: int) -> None:
    assert open_session(world, expires_in=expires_in).status == "open"


@pytest.mark.parametrize("expires_in", [-60, 1800 - 60, 86400 + 60])
def test_an_expiry_outside_30_minutes_to_24_hours_is_refused(world: CheckoutWorld, expires_in: int) -> None:
    with pytest.raises(ProviderRejected):
        open_session(world, expires_in=expires_in)


def test_an_open_session_expires_at_its_expires_at(world: CheckoutWorld) -> None:
    session = open_session(world, expires_in=1860)
    world.pass_time(1800)
    assert world.checkout.retrieve_checkout_session(session.id) == session
    world.pass_time(61)
    expired = world.checkout.retrieve_checkout_session(session.id)
    assert expired is not None and expired.is_expired and expired.url is None
    assert world.checkout.expire_checkout_session(session.id) == expired


def test_expiring_an_open_session_closes_it_and_again_answers_it_expired(world: CheckoutWorld) -> None:
    session = open_session(world)
    expired = world.checkout.expire_checkout_session(session.id)
    assert expired.is_expired and expired.url is None and expired.payment_intent is None
    assert (expired.id, expired.ticket_id, expired.amount_total) == (session.id, session.ticket_id, session.amount_total)
    assert world.checkout.retrieve_checkout_session(session.id) == expired
    assert world.checkout.expire_checkout_session(session.id) == expired


def test_expiring_a_paid_session_answers_it_as_it_is(world: CheckoutWorld) -> None:
    session = open_session(world)
    intent = world.pay(session.id)
    answered = world.checkout.expire_checkout_session(session.id)
    assert answered.is_paid and answered.payment_intent == intent and not answered.is_expired
    assert world.checkout.retrieve_checkout_session(session.id) == answered


def test_an_unknown_session_is_none_to_read_and_refused_to_expire(world: CheckoutWorld) -> None:
    assert world.checkout.retrieve_checkout_session("cs_test_unknown") is None
    with pytest.raises(ProviderRejected):
        world.checkout.expire_checkout_session("cs_test_unknown")


# payment intents ---------------------------------------------------------------------------------
def test_a_paid_sessions_payment_intent_has_its_amount_currency_and_metadata(world: CheckoutWorld) -> None:
    session = open_session(world, currency="eur", unit_amount=2500, quantity=2)
    intent_id = world.pay(session.id)
    now = world.checkout.retrieve_checkout_session(session.id)
    assert now is not None and now.is_paid and now.payment_intent == intent_id
    intent = world.checkout.retrieve_payment_intent(intent_id)
    assert intent["id"] == intent_id
    assert (intent["amount"], intent["amount_received"], intent["currency"], intent["status"]) == (5000, 5000, "eur", "succeeded")
    assert intent["metadata"] == {**METADATA, "ticket_id": "7"}
    assert world.checkout.retrieve_payment_intent_status(intent_id) == "succeeded"


def test_a_delayed_payment_is_processing_then_succeeds_or_fails(world: CheckoutWorld) -> None:
    settles = open_session(world, ticket_id=1)
    fails = open_session(world, ticket_id=2)
    settling, failing = world.debit(settles.id), world.debit(fails.id)
    for session_id, intent in ((settles.id, settling), (fails.id, failing)):
        session = world.checkout.retrieve_checkout_session(session_id)
        assert session is not None and session.is_processing and session.payment_intent == intent
        assert world.checkout.retrieve_payment_intent_status(intent) == "processing"
        assert world.checkout.retrieve_payment_intent(intent)["amount_received"] == 0
    world.settle_debit(settles.id, succeeded=True)
    world.settle_debit(fails.id, succeeded=False)
    assert world.checkout.retrieve_payment_intent_status(settling) == "succeeded"
    assert world.checkout.retrieve_payment_intent_status(failing) == "requires_payment_method"


def test_an_unknown_payment_intent_is_refused(world: CheckoutWorld) -> None:
    with pytest.raises(ProviderRejected):
        world.checkout.retrieve_payment_intent("pi_unknown")
    with pytest.raises(ProviderRejected):
        world.checkout.retrieve_payment_intent_status("pi_unknown")


# refunds -----------------------------------------------------------------------------------------
def refund_rest(world: CheckoutWorld, intent: str, key: str = "ticket-refund-7", reason: str = "staff") -> Any:
    return world.checkout.refund_rest(intent, metadata={"ticket_id": "7", "reason": reason}, idempotency_key=key)


@pytest.mark.parametrize(("currency", "unit_amount", "total"), [("eur", 2500, 5000), ("jpy", 2500, 5000), ("kwd", 1250, 2500)])
def test_refund_rest_refunds_all_that_was_paid_with_our_reason(world: CheckoutWorld, currency: str, unit_amount: int, total: int) -> None:
    intent = paid(world, currency=currency, unit_amount=unit_amount)
    assert world.checkout.refunds_of(intent) == []
    refund = refund_rest(world, intent)
    assert refund is not None
    assert (refund.amount, refund.currency, refund.status, refund.reason, refund.returned) == (total, currency, "succeeded", "staff", True)
    assert world.checkout.refunds_of(intent) == [refund]


def test_the_same_refund_key_answers_the_same_refund_and_refunds_nothing_more(world: CheckoutWorld) -> None:
    intent = paid(world)
    refund = refund_rest(world, intent)
    assert refund_rest(world, intent) == refund
    assert world.checkout.refunds_of(intent) == [refund]


def test_the_same_refund_key_with_other_metadata_is_refused(world: CheckoutWorld) -> None:
    intent = paid(world)
    refund = refund_rest(world, intent, reason="staff")
    with pytest.raises(Unprocessable):
        refund_rest(world, intent, reason="cancelled")
    assert world.checkout.refunds_of(intent) == [refund]


def test_nothing_is_refunded_when_nothing_remains(world: CheckoutWorld) -> None:
    intent = paid(world)
    elsewhere = world.refund_elsewhere(intent)
    assert refund_rest(world, intent, key="ticket-refund-7") is None
    assert [(r.id, r.amount, r.reason) for r in world.checkout.refunds_of(intent)] == [(elsewhere, 5000, None)]


def test_partial_refunds_add_up_newest_first_and_the_rest_is_refunded(world: CheckoutWorld) -> None:
    intent = paid(world)
    first = world.refund_elsewhere(intent, 1500)
    second = world.refund_elsewhere(intent, 1000)
    rest = refund_rest(world, intent)
    assert rest is not None and rest.amount == 2500
    refunds = world.checkout.refunds_of(intent)
    assert [r.id for r in refunds] == [rest.id, second, first]
    assert sum(r.amount for r in refunds if r.returned) == 5000
    assert refund_rest(world, intent, key="ticket-refund-7-next") is None


def test_a_refund_that_fails_later_shows_failed_and_what_it_held_can_be_refunded_again(world: CheckoutWorld) -> None:
    intent = paid(world)
    refund = refund_rest(world, intent)
    assert refund is not None
    world.fail_refund(refund.id)
    (failed,) = world.checkout.refunds_of(intent)
    assert (failed.id, failed.amount, failed.status, failed.returned) == (refund.id, 5000, "failed", False)
    # Under the same key Stripe answers its first answer again (the refund as it was then); a new
    # key refunds what the failed refund did not return.
    assert refund_rest(world, intent).id == refund.id
    again = refund_rest(world, intent, key="ticket-refund-7-after-1-failed")
    assert again is not None and again.id != refund.id and again.amount == 5000
    assert [r.id for r in world.checkout.refunds_of(intent)] == [again.id, refund.id]


def test_a_refusal_is_answered_again_under_its_key(world: CheckoutWorld) -> None:
    """Stripe saves the first answer under a key once the endpoint began, a refusal too ("including
    500 errors"; only parameters that fail validation are not saved): docs.stripe.com/idempotency."""
    session = open_session(world)
    intent = world.debit(session.id)
    with pytest.raises(ProviderRejected):
        refund_rest(world, intent)  # not taken yet
    world.settle_debit(session.id, succeeded=True)
    with pytest.raises(ProviderRejected):
        refund_rest(world, intent)
    later = refund_rest(world, intent, key="ticket-refund-7-later")
    assert later is not None and later.amount == 5000


def test_nothing_left_under_a_key_is_refused_under_it_once_the_money_is_back(world: CheckoutWorld) -> None:
    """Stripe saves ``charge_already_refunded`` under the key (the gateway answers it None while
    nothing is left); once the Dashboard's refund failed, the saved refusal is all the key gets."""
    intent = paid(world)
    elsewhere = world.refund_elsewhere(intent)
    assert refund_rest(world, intent) is None
    world.fail_refund(elsewhere)
    with pytest.raises(ProviderRejected):
        refund_rest(world, intent)
    again = refund_rest(world, intent, key="ticket-refund-7-after-1-failed")
    assert again is not None and again.amount == 5000


def test_a_payment_not_taken_cannot_be_refunded(world: CheckoutWorld) -> None:
    processing = world.debit(open_session(world).id)
    for intent in (processing, "pi_unknown"):
        with pytest.raises(ProviderRejected):
            refund_rest(world, intent, key=f"refund-{intent}")
    assert world.checkout.refunds_of(processing) == []


# partial refunds of some seats (refund_part) ----------------------------------------------------
def refund_part(world: CheckoutWorld, intent: str, amount: int, key: str = "ticket-seat-refund-7-1-1-a") -> Any:
    return world.checkout.refund_part(
        intent, amount, metadata={"ticket_id": "7", "reason": "staff", "seat_refund": key}, idempotency_key=key
    )


def test_refund_part_refunds_that_amount_with_its_key_in_the_metadata_and_once_per_key(world: CheckoutWorld) -> None:
    intent = paid(world)
    refund = refund_part(world, intent, 2500)
    assert (refund.amount, refund.status, refund.reason, refund.seat_refund, refund.returned) == (
        2500,
        "succeeded",
        "staff",
        "ticket-seat-refund-7-1-1-a",
        True,
    )
    assert refund_part(world, intent, 2500) == refund
    assert world.checkout.refunds_of(intent) == [refund]
    second = refund_part(world, intent, 1000, key="ticket-seat-refund-7-2-2-b")
    assert [r.id for r in world.checkout.refunds_of(intent)] == [second.id, refund.id]
    # What a refund the key names is found by: its key in the metadata, listed for ever.
    assert [r.seat_refund for r in world.checkout.refunds_of(intent)] == ["ticket-seat-refund-7-2-2-b", "ticket-seat-refund-7-1-1-a"]


def test_refund_part_beyond_what_is_left_is_refused_and_refunds_nothing(world: CheckoutWorld) -> None:
    intent = paid(world)
    world.refund_elsewhere(intent, 3000)
    with pytest.raises(ProviderRejected):
        refund_part(world, intent, 2500)
    assert [r.amount for r in world.checkout.refunds_of(intent)] == [3000]
    assert refund_part(world, intent, 2000, key="ticket-seat-refund-7-1-1-c").amount == 2000


def test_refund_part_of_a_disputed_payment_is_refused(world: CheckoutWorld) -> None:
    intent = paid(world)
    world.dispute(intent)
    with pytest.raises(ChargeDisputed):
        refund_part(world, intent, 2500)
    assert world.checkout.refunds_of(intent) == []


# disputes ----------------------------------------------------------------------------------------
def test_a_disputed_payment_lists_its_dispute_and_is_not_refunded(world: CheckoutWorld) -> None:
    intent = paid(world)
    assert world.checkout.disputes_of(intent) == []
    dispute_id = world.dispute(intent)
    (dispute,) = world.checkout.disputes_of(intent)
    assert (dispute["id"], dispute["payment_intent"], dispute["currency"], dispute["amount"]) == (dispute_id, intent, "eur", 5000)
    with pytest.raises(ChargeDisputed):
        refund_rest(world, intent)
    assert world.checkout.refunds_of(intent) == []


def test_a_dispute_after_a_partial_refund_is_over_what_remains_at_most(world: CheckoutWorld) -> None:
    intent = paid(world)
    world.refund_elsewhere(intent, 2000)
    world.dispute(intent)
    (dispute,) = world.checkout.disputes_of(intent)
    assert 0 < dispute["amount"] <= 3000


# the real path's error translation (the stub raises only what a call's contract says) ------------
@pytest.mark.parametrize(
    ("status", "type_", "code", "raised"),
    [
        (400, "invalid_request_error", "resource_missing", ProviderRejected),
        (400, "idempotency_error", None, Unprocessable),
        (400, "invalid_request_error", "charge_disputed", ChargeDisputed),
        (401, "invalid_request_error", None, ProviderFailure),
        (429, "invalid_request_error", "rate_limit", ProviderUnavailable),
        (500, "api_error", None, ProviderFailure),
    ],
)
def test_stripes_errors_are_the_domains_exceptions(
    stripe_fake: StripeFake, status: int, type_: str, code: str | None, raised: type
) -> None:
    gateway = wiring.stripe_gateway()
    stripe_fake.fail_next("/v1/refunds", status, type_, "refused", code, times=10)
    with pytest.raises(raised):
        gateway.refunds_of("pi_any")


# StripePayments (only the real gateway implements it) ---------------------------------------------
@pytest.fixture
def payments(stripe_fake: StripeFake) -> StripePayments:
    return wiring.stripe_gateway()


def new_intent(payments: StripePayments, amount: int = 2500, currency: str = "eur", key: str = "intent-1") -> dict[str, Any]:
    return payments.create_payment_intent(amount=amount, currency=currency, metadata={"order": "1"}, description=None, idempotency_key=key)


@pytest.mark.parametrize(("amount", "currency"), [(2500, "eur"), (500, "jpy"), (1250, "kwd")])
def test_a_payment_intent_is_made_in_minor_units_and_the_same_key_answers_it_again(
    payments: StripePayments, amount: int, currency: str
) -> None:
    intent = new_intent(payments, amount, currency)
    assert (intent["amount"], intent["currency"], intent["status"], intent["metadata"]) == (
        amount,
        currency,
        "requires_payment_method",
        {"order": "1"},
    )
    assert new_intent(payments, amount, currency)["id"] == intent["id"]
    with pytest.raises(Unprocessable):
        new_intent(payments, amount + 100, currency)
    assert payments.retrieve_payment_intent(intent["id"])["amount"] == amount


@pytest.mark.parametrize(("amount", "currency"), [(49, "eur"), (1255, "kwd"), (100_000_000, "eur")])
def test_amounts_stripe_does_not_take_are_refused(payments: StripePayments, amount: int, currency: str) -> None:
    with pytest.raises(ProviderRejected):
        new_intent(payments, amount, currency)


def test_a_confirmed_intent_succeeds_and_a_declined_card_is_refused(payments: StripePayments) -> None:
    ok = new_intent(payments, key="ok")
    confirmed = payments.confirm_payment_intent(
        ok["id"], payment_method="pm_card_visa", return_url="https://x.example/r", idempotency_key="c1"
    )
    assert (confirmed["status"], confirmed["amount_received"]) == ("succeeded", 2500)
    assert payments.retrieve_payment_intent(ok["id"])["status"] == "succeeded"
    declined = new_intent(payments, key="declined")
    with pytest.raises(ProviderRejected):
        payments.confirm_payment_intent(
            declined["id"], payment_method="pm_card_chargeDeclined", return_url="https://x.example/r", idempotency_key="c2"
        )
    assert payments.retrieve_payment_intent(declined["id"])["status"] == "requires_payment_method"


def test_customers_and_subscriptions_keep_their_keys_and_a_cancel_is_final(payments: StripePayments) -> None:
    customer = payments.create_customer(email="a@example.com", name="A", metadata={}, idempotency_key="cust-1")
    assert payments.create_customer(email="a@example.com", name="A", metadata={}, idempotency_key="cust-1")["id"] == customer["id"]
    with pytest.raises(Unprocessable):
        payments.create_customer(email="b@example.com", name="A", metadata={}, idempotency_key="cust-1")
    subscription = payments.create_subscription(customer=customer["id"], price="price_local_monthly", metadata={}, idempotency_key="sub-1")
    assert subscription["status"] == "incomplete"
    again = payments.create_subscription(customer=customer["id"], price="price_local_monthly", metadata={}, idempotency_key="sub-1")
    assert again["id"] == subscription["id"]
    assert payments.cancel_subscription(subscription["id"])["status"] == "canceled"
    assert payments.retrieve_subscription(subscription["id"])["status"] == "canceled"
    with pytest.raises(ProviderRejected):
        payments.cancel_subscription(subscription["id"])
    with pytest.raises(ProviderRejected):
        payments.retrieve_subscription("sub_unknown")


# PayPalGateway (PayPalClient against the local PayPal) -------------------------------------------
@pytest.fixture(params=["client+fake", "client+fake in-process"])
def paypal(request: pytest.FixtureRequest, paypal_fake: PayPalFake) -> Iterator[PayPalGateway]:
    with transport(request, paypal_fake):
        yield wiring.paypal_client()


def order_body(value: str = "25.00", currency: str = "EUR", custom_id: str = "ticket-7") -> dict[str, Any]:
    return {"intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": currency, "value": value}, "custom_id": custom_id}]}


def captured(paypal: PayPalGateway, fake: PayPalFake, value: str = "25.00", currency: str = "EUR") -> tuple[str, dict[str, Any]]:
    order = paypal.create_order(order_body(value, currency), "order-1")
    fake.approve(order["id"])
    done = paypal.capture_order(order["id"], "capture-1")
    return order["id"], done["purchase_units"][0]["payments"]["captures"][0]


@pytest.mark.parametrize(("value", "currency"), [("25.00", "EUR"), ("2500", "JPY")])
def test_an_order_is_made_once_per_request_id(paypal: PayPalGateway, value: str, currency: str) -> None:
    order = paypal.create_order(order_body(value, currency), "order-1")
    assert order["status"] == "CREATED"
    assert order["purchase_units"][0]["amount"] == {"currency_code": currency, "value": value}
    assert paypal.create_order(order_body(value, currency), "order-1")["id"] == order["id"]
    assert paypal.create_order(order_body(value, currency), "order-2")["id"] != order["id"]
    assert paypal.get_order(order["id"])["status"] == "CREATED"


def test_an_order_is_captured_once_after_approval(paypal: PayPalGateway, paypal_fake: PayPalFake) -> None:
    order = paypal.create_order(order_body(), "order-1")
    with pytest.raises(ProviderRejected):
        paypal.capture_order(order["id"], "capture-0")
    paypal_fake.approve(order["id"])
    assert paypal.get_order(order["id"])["status"] == "APPROVED"
    done = paypal.capture_order(order["id"], "capture-1")
    capture = done["purchase_units"][0]["payments"]["captures"][0]
    assert (done["status"], capture["status"], capture["amount"]) == ("COMPLETED", "COMPLETED", {"currency_code": "EUR", "value": "25.00"})
    assert capture["custom_id"] == "ticket-7"
    replayed = paypal.capture_order(order["id"], "capture-1")
    assert replayed["purchase_units"][0]["payments"]["captures"][0]["id"] == capture["id"]
    with pytest.raises(ProviderRejected):
        paypal.capture_order(order["id"], "capture-2")
    assert paypal.get_capture(capture["id"])["status"] == "COMPLETED"
    assert paypal.get_order(order["id"])["status"] == "COMPLETED"


def test_unknown_orders_and_captures_are_not_found(paypal: PayPalGateway) -> None:
    with pytest.raises(NotFound):
        paypal.get_order("5O190127TN364715T")
    with pytest.raises(NotFound):
        paypal.get_capture("3C679366HH908993F")
    with pytest.raises(NotFound):
        paypal.refund_capture("3C679366HH908993F", {}, "refund-0")


def test_refunds_add_up_to_the_capture_and_never_beyond(paypal: PayPalGateway, paypal_fake: PayPalFake) -> None:
    order_id, capture = captured(paypal, paypal_fake)

    def refund(value: str | None, request_id: str) -> dict[str, Any]:
        body = {"amount": {"currency_code": "EUR", "value": value}} if value else {}
        return paypal.refund_capture(capture["id"], body, request_id)

    first = refund("10.00", "refund-1")
    assert (first["status"], first["amount"]) == ("COMPLETED", {"currency_code": "EUR", "value": "10.00"})
    assert paypal.get_capture(capture["id"])["status"] == "PARTIALLY_REFUNDED"
    assert refund("10.00", "refund-1")["id"] == first["id"]  # the same request: no second refund
    assert paypal_fake.refunded_total(capture["id"]) == Decimal("10.00")
    with pytest.raises(ProviderRejected):
        refund("15.01", "refund-2")
    rest = refund(None, "refund-3")  # no amount: what remains
    assert rest["amount"] == {"currency_code": "EUR", "value": "15.00"}
    assert paypal.get_capture(capture["id"])["status"] == "REFUNDED"
    with pytest.raises(ProviderRejected):
        refund("0.01", "refund-4")
    # The order shows its capture as it now is, and each refund once.
    payments = paypal.get_order(order_id)["purchase_units"][0]["payments"]
    assert [c["status"] for c in payments["captures"]] == ["REFUNDED"]
    assert sorted(r["amount"]["value"] for r in payments["refunds"]) == ["10.00", "15.00"]


def test_a_pending_capture_completes_later(paypal: PayPalGateway, paypal_fake: PayPalFake) -> None:
    paypal_fake.pend_next("PENDING_REVIEW")
    _, capture = captured(paypal, paypal_fake)
    assert (capture["status"], capture["status_details"]) == ("PENDING", {"reason": "PENDING_REVIEW"})
    # PayPal's own refusal for it (captures.refund-422 in payments_payment_v2.json), which the
    # client passes on as the reason
    with pytest.raises(ProviderRejected, match=r"^PENDING_CAPTURE: Cannot initiate a refund as the capture is pending"):
        paypal.refund_capture(capture["id"], {}, "refund-1")
    paypal_fake.complete_capture(capture["id"])
    assert paypal.get_capture(capture["id"])["status"] == "COMPLETED"


def test_a_refund_still_in_progress_is_waited_for_under_its_request_id(paypal: PayPalGateway, paypal_fake: PayPalFake) -> None:
    _, capture = captured(paypal, paypal_fake)
    in_progress = PayPalError(
        409,
        "RESOURCE_CONFLICT",
        "The server has detected a conflict while processing this request.",
        "PREVIOUS_REQUEST_IN_PROGRESS",
        "A previous request on this resource is currently in progress. Please wait for sometime and try again. It is best to "
        "space out the initial and the subsequent request(s) to avoid receiving this error.",
    )
    paypal_fake.fail_next(f"/v2/payments/captures/{capture['id']}/refund", in_progress)
    refund = paypal.refund_capture(capture["id"], {}, "refund-1")
    assert refund["amount"] == {"currency_code": "EUR", "value": "25.00"}


@pytest.mark.parametrize(("status", "raised"), [(429, ProviderUnavailable), (500, ProviderFailure), (503, ProviderUnavailable)])
def test_paypals_failures_are_the_domains_exceptions(paypal: PayPalGateway, paypal_fake: PayPalFake, status: int, raised: type) -> None:
    for _ in range(10):
        paypal_fake.fail_next("/v2/checkout/orders", status)
    with pytest.raises(raised):
        paypal.create_order(order_body(), "order-1")


# signatures --------------------------------------------------------------------------------------
class StripeSigned:
    """The Stripe signature port and what the local Stripe signs."""

    tolerance = 300

    def __init__(self) -> None:
        self.port = WebhookSignatures(get_settings())

    def sign(self, body: bytes, age: int = 0, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
        return {"Stripe-Signature": sign_payload(body, secret, int(time.time()) - age)}

    def foreign(self, body: bytes) -> dict[str, str]:
        return self.sign(body, secret="whsec_someone_else")

    def verify(self, headers: dict[str, str], body: bytes, age: int = 0) -> None:
        self.port.verify(body, headers["Stripe-Signature"])


class PayPalSigned:
    """The PayPal signature port (its certificate downloaded from the local PayPal) and what the
    local PayPal signs; an old delivery is checked with the verifier's clock moved on."""

    def __init__(self, fake: PayPalFake) -> None:
        self.fake = fake
        self.tolerance = get_settings().paypal_webhook_tolerance_seconds

    def port(self, age: int = 0) -> PayPalSignatureVerifier:
        clock: Callable[[], float] = lambda: time.time() + age  # noqa: E731
        return PayPalSignatureVerifier(
            self.fake.public_url, self.fake.certificate_roots_pem.encode(), clock=clock, tolerance_seconds=self.tolerance
        )

    def sign(self, body: bytes, age: int = 0) -> dict[str, str]:
        return {name.lower(): value for name, value in self.fake.sign(body, json.loads(body)).items()}

    def foreign(self, body: bytes) -> dict[str, str]:
        return {name.lower(): value for name, value in self.fake.sign(body, json.loads(body), webhook_id="WH-SOMEONE-ELSE").items()}

    def verify(self, headers: dict[str, str], body: bytes, age: int = 0) -> None:
        delivery = self.port(age).verify(headers, body, self.fake.webhook_id)
        sent_at = datetime.fromisoformat(headers["paypal-transmission-time"].replace("Z", "+00:00")).timestamp()
        assert (delivery.transmission_id, delivery.body_sha256) == (headers["paypal-transmission-id"], hashlib.sha256(body).hexdigest())
        assert delivery.acceptable_until == math.ceil(sent_at + self.tolerance)


Signed = StripeSigned | PayPalSigned
BODY = b'{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {"id": "cs_1"}}}'


@pytest.fixture(params=["stripe", "paypal"])
def signed(request: pytest.FixtureRequest) -> Iterator[Signed]:
    if request.param == "stripe":
        yield StripeSigned()
    else:
        yield PayPalSigned(request.getfixturevalue("paypal_fake"))


def test_a_delivery_the_fake_signs_verifies_within_the_tolerance(signed: Signed) -> None:
    signed.verify(signed.sign(BODY), BODY)
    old = signed.tolerance - 30
    signed.verify(signed.sign(BODY, age=old), BODY, age=old)


def test_a_tampered_body_a_stale_delivery_and_another_secret_are_refused(signed: Signed) -> None:
    with pytest.raises(SignatureRefused):
        signed.verify(signed.sign(BODY), BODY.replace(b"cs_1", b"cs_2"))
    stale = signed.tolerance + 30
    with pytest.raises(SignatureRefused):
        signed.verify(signed.sign(BODY, age=stale), BODY, age=stale)
    with pytest.raises(SignatureRefused):
        signed.verify(signed.foreign(BODY), BODY)


def test_the_local_stripe_signs_as_the_sdk_says_stripe_signs() -> None:
    at = int(time.time())
    assert sign_payload(BODY, WEBHOOK_SECRET, at) == stripe.WebhookSignature.generate_signature_header(BODY.decode(), WEBHOOK_SECRET, at)
