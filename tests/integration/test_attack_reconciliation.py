"""Attack tests on the reconciliation, the sweep, PayPal money and the direct Stripe endpoints
(helper's independent attack, written without reading these paths' own tests).

Each test drives the handlers in process (moto DynamoDB, the local Stripe and PayPal fakes) through a
sequence a provider really produces: answers lost, webhooks in another order, events listed in pages.
A failing test is a break of the contract in /work/shared/DESIGN.md ("Money", "Providers") and is
marked ``xfail(strict=True, reason="attack: ...")``; the others are attacks that held."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local.paypal_fake import PayPalFake
from local.paypal_fake.objects import server_error
from local.stripe_fake import StripeFake
from tests.conftest import clear_container_caches
from tests.support.flows import STAFF, deliver_paypal_webhook, deliver_webhook, paypal_call, stripe_call

pytestmark = pytest.mark.usefixtures("dynamodb")


# helpers ---------------------------------------------------------------------------------------
def _events_of(fake: Any, event_type: str, key: str = "event_type") -> list[dict[str, Any]]:
    return [event for event in fake.events if event[key] == event_type]


def _paypal_order(fake: PayPalFake, value: str = "50.00") -> str:
    created = paypal_call("paypal_create_order", {"currency": "USD", "amount": float(value)})
    assert created.status == 200, created.body
    order_id = str(created.body["order_id"])
    fake.approve(order_id)
    return order_id


def _capture_answer_lost(fake: PayPalFake, order_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PayPal captures the order and the answer never reaches us (no retry within the budget: a
    retry would be PayPal's replay and learn it): our API answers 5xx and records no capture."""
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "0")
    clear_container_caches()
    fake.lose_next_answer(f"/v2/checkout/orders/{order_id}/capture")
    lost = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert lost.status >= 500, lost.body
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "1")
    clear_container_caches()


def _capture_record(capture_id: str) -> dict[str, Any]:
    from payments import wiring
    from payments.domain.ports import CAPTURE

    record = wiring.paypal_objects().get(CAPTURE, capture_id)
    assert record is not None, "the capture is not recorded"
    return dict(record)


def _reconcile() -> Any:
    from payments import wiring

    return wiring.reconciler().run()


# PayPal ----------------------------------------------------------------------------------------
@pytest.mark.xfail(
    strict=True,
    reason="attack: a PAYMENT.CAPTURE.REVERSED delivered before the capture is recorded is marked processed "
    "as 'skipped'; the reconciliation then finds it a duplicate and the order lists no reversal: never recorded",
)
def test_reversal_delivered_before_its_capture_is_known_counts_as_money_returned(
    paypal_fake: PayPalFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture call's answer is lost (the customer closed the page), PayPal reverses the capture,
    and its webhooks come in the other order: REVERSED first, then COMPLETED (PayPal promises no
    order). Then the reconciliation runs. A reversal counts as money returned: the capture must end
    with all of it returned and nothing left to refund.

    Found: ``PayPalWebhooks._capture_reversed`` answers "skipped" for a capture not yet recorded, and
    the ledger (``WebhookLedger.apply_once``) records the event as processed anyway; COMPLETED then
    records the capture whole. The reconciliation lists REVERSED again but the ledger calls it a
    duplicate, and ``catch_up`` reads the order's refunds, where PayPal lists no reversal. The capture
    stays COMPLETED with everything refundable, forever."""
    order_id = _paypal_order(paypal_fake)
    _capture_answer_lost(paypal_fake, order_id, monkeypatch)
    (capture_id,) = list(paypal_fake.captures)
    paypal_fake.reverse_capture(capture_id)

    (reversed_event,) = _events_of(paypal_fake, "PAYMENT.CAPTURE.REVERSED")
    (completed_event,) = _events_of(paypal_fake, "PAYMENT.CAPTURE.COMPLETED")
    assert deliver_paypal_webhook(paypal_fake, reversed_event).status == 200
    assert deliver_paypal_webhook(paypal_fake, completed_event).status == 200
    _reconcile()

    capture = _capture_record(capture_id)
    assert (int(capture["refunded_minor"]), int(capture["refundable_minor"]), capture["status"]) == (5000, 0, "REFUNDED")


def _captured(fake: PayPalFake, value: str = "50.00") -> tuple[str, str]:
    order_id = _paypal_order(fake, value)
    captured = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert captured.status == 200 and captured.body["captured"], captured.body
    return order_id, str(captured.body["capture_id"])


def _staff_refund(capture_id: str, **fields: Any) -> Any:
    return paypal_call("paypal_refund_payment", {"capture_id": capture_id, **fields}, user="user-staff", groups=STAFF)


@pytest.mark.xfail(
    strict=True,
    reason="attack: settle_unanswered is guarded as one step: the first reservation whose order PayPal "
    "cannot read stops every other unanswered reservation of the run",
)
def test_one_unreadable_refund_reservation_does_not_hold_the_others(paypal_fake: PayPalFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two staff refunds of two captures never reach PayPal (a 500, no retry): each keeps its amount
    reserved until the reconciliation learns PayPal made no refund. A quarter of an hour later the
    reconciliation runs while PayPal cannot answer for the first reservation's order. The other
    reservation's order reads fine: it must be released (its amount refundable again) in this run;
    one object failing is counted, and the run goes on with the next.

    Found: ``Reconciler._paypal_side`` guards ``PayPalRefundService.settle_unanswered`` as a single
    step; its loop over reservations raises out at the first failure, so every reservation after it
    is left reserved (and its amount unrefundable) for as long as that one keeps failing."""
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "0")
    clear_container_caches()
    captures = {capture_id: order_id for order_id, capture_id in (_captured(paypal_fake), _captured(paypal_fake))}
    for capture_id in captures:
        paypal_fake.fail_next(f"/v2/payments/captures/{capture_id}/refund", 500)
        assert _staff_refund(capture_id, amount=10.0, currency="USD").status >= 500
    assert all(int(_capture_record(capture_id)["refundable_minor"]) == 4000 for capture_id in captures)

    later = time.time() + 1000
    monkeypatch.setattr(time, "time", lambda: later)
    from payments import wiring
    from payments.repositories.paypal_refunds import PayPalRefundRepository

    pending = PayPalRefundRepository(wiring.dynamodb.get_client(), "test-payments").unsettled_reservations(int(later))
    assert len(pending) == 2
    first, second = pending[0].capture_id, pending[1].capture_id
    paypal_fake.arm_failure(f"/v2/checkout/orders/{captures[first]}", server_error(500), times=10)

    report = _reconcile()

    assert report.failed >= 1
    assert int(_capture_record(second)["refundable_minor"]) == 5000, "the readable reservation was not released"


# direct Stripe payment intents -----------------------------------------------------------------
def _paid_intent(amount: float = 20.0) -> str:
    created = stripe_call("stripe_create_payment_intent", {"currency": "usd", "amount": amount})
    assert created.status == 200, created.body
    intent_id = str(created.body["payment_intent_id"])
    confirmed = stripe_call("stripe_confirm_payment", {"payment_intent_id": intent_id, "payment_method": "pm_card_visa"})
    assert confirmed.status == 200 and confirmed.body["status"] == "succeeded", confirmed.body
    return intent_id


def _intent_record(intent_id: str) -> dict[str, Any]:
    from payments import wiring
    from payments.domain.ports import PAYMENT_INTENT

    record = wiring.stripe_objects().get(PAYMENT_INTENT, intent_id)
    assert record is not None
    return dict(record)


@pytest.mark.xfail(
    strict=True,
    reason="attack: a direct payment intent's Dashboard refund that fails later stays recorded as refunded "
    "(StripeObjectSync.charge_refunded only raises amount_refunded; refund failures are 'noted' for non-tickets)",
)
def test_direct_intent_refund_that_failed_later_is_not_recorded_as_refunded(stripe_fake: StripeFake) -> None:
    """A direct payment intent (seed 000's endpoints) is refunded in the Dashboard; its webhook
    comes. Days later the bank returns the refund (``refund.failed``, ``charge.refund.updated``,
    ``refund.updated``): the money did not go back. Every event is delivered, then the
    reconciliation runs. Our record of the intent must say what Stripe says: nothing refunded.

    Found: ``StripeObjectSync.charge_refunded`` keeps ``amount_refunded`` with ``raise_to`` (it can
    only go up), and ``StripeWebhooks._refund_changed`` asks only the tickets: for an intent that is
    no ticket's it answers "noted". The record keeps 2000 refunded that never were."""
    intent_id = _paid_intent()
    refund = stripe_fake.dashboard_refund(intent_id)
    for event in _events_of(stripe_fake, "charge.refunded", key="type"):
        assert deliver_webhook(event).status == 200
    assert int(_intent_record(intent_id).get("amount_refunded", 0)) == 2000  # the refund as it was
    stripe_fake.fail_refund(str(refund["id"]))
    for kind in ("refund.updated", "charge.refund.updated", "refund.failed"):
        for event in _events_of(stripe_fake, kind, key="type"):
            assert deliver_webhook(event).status == 200
    _reconcile()

    assert stripe_fake.refunded_amount(intent_id) == 0
    assert int(_intent_record(intent_id).get("amount_refunded", 0)) == 0
