"""What the money model (test_money_model.py) found, each as the model's minimal failing sequence
replayed by hand, each kept as a plain test once fixed (an open one is marked ``xfail(strict=True)``
until its fix lands). The model itself keeps checking all of it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from local import moto_patches
from local.paypal_fake import PayPalFake
from tests.integration.test_money_model import TicketMoneyModel, _moto_direct_world, model_world
from tests.support.dynamo import PAYMENTS, items_with_prefix
from tests.support.flows import deliver_paypal_webhook, paypal_call
from tests.support.lambdas import LambdaContext, load_module, sample_event
from tests.support.money_world import providers_in_process

__all__ = ["model_world"]  # the money model's fixture, for the replays below


class _Draws:
    """What a rule draws, given in advance: the model's failing sequence replayed by hand."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: Any, label: str | None = None) -> Any:
        return self.values.pop(0)


@contextlib.contextmanager
def _fast_model() -> Iterator[TicketMoneyModel]:
    """One sequence of the money model in its fast world (its teardown and the fixture undo it)."""
    fake, paypal = TicketMoneyModel.fake, TicketMoneyModel.paypal
    # The moto world, whatever a model test that ran before this one chose (random order).
    TicketMoneyModel.make_world = staticmethod(_moto_direct_world)
    moto_patches.install()
    try:
        with providers_in_process({fake.public_url: fake, paypal.public_url: paypal}):
            yield TicketMoneyModel()
    finally:
        moto_patches.uninstall()


def _captured(paypal: PayPalFake, amount: str = "25.50", user: str = "user-b") -> str:
    created = paypal_call("paypal_create_order", {"amount": float(amount), "currency": "USD"}, user=user)
    assert created.status == 200, created.body
    paypal.approve(created.body["order_id"])
    captured = paypal_call("paypal_capture_order", {"order_id": created.body["order_id"]}, user=user)
    assert captured.status == 200, captured.body
    return str(next(iter(paypal.captures)))


def _deliver_all(paypal: PayPalFake, since: int) -> int:
    for event in paypal.events[since:]:
        assert deliver_paypal_webhook(paypal, event).status < 500
    return len(paypal.events)


def _reconcile() -> None:
    # A run that could not settle everything says so (RuntimeError); what it did settle is what is checked.
    with contextlib.suppress(RuntimeError):
        load_module("reconcile_payments").lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))


def _capture_record(dynamodb: Any, capture_id: str) -> dict[str, Any]:
    found = items_with_prefix(dynamodb, PAYMENTS, f"PAYPAL#capture#{capture_id}")
    assert found, "capture never recorded"
    return found[0]


def test_a_paypal_reversal_reaches_the_capture_record(dynamodb: Any, stripe_fake: Any, paypal_fake: PayPalFake) -> None:
    # Given a captured PayPal order whose webhooks were delivered
    capture_id = _captured(paypal_fake)
    delivered = _deliver_all(paypal_fake, 0)
    # When PayPal reverses the capture, its webhook is delivered and the reconciliation runs
    paypal_fake.reverse_capture(capture_id)
    _deliver_all(paypal_fake, delivered)
    _reconcile()
    # Then our record shows the money back, as PayPal does
    record = _capture_record(dynamodb, capture_id)
    assert int(record["refunded_minor"]) == paypal_fake.refunded_total(capture_id) * 100 == 2550
    assert record["status"] == paypal_fake.captures[capture_id]["status"]


def test_the_reconciliation_finds_a_pending_capture_denied(dynamodb: Any, stripe_fake: Any, paypal_fake: PayPalFake) -> None:
    # Given a capture PayPal holds as PENDING, its webhooks delivered
    paypal_fake.pend_next()
    capture_id = _captured(paypal_fake, user="user-a")
    assert paypal_fake.captures[capture_id]["status"] == "PENDING"
    delivered = _deliver_all(paypal_fake, 0)
    # When PayPal denies it, that webhook is lost, and the reconciliation runs
    paypal_fake.deny_capture(capture_id)
    assert len(paypal_fake.events) > delivered
    _reconcile()
    # Then our record says what PayPal says
    assert _capture_record(dynamodb, capture_id)["status"] == paypal_fake.captures[capture_id]["status"] == "DECLINED"


def test_a_lost_dispute_whose_webhook_failed_is_recorded(model_world: None) -> None:
    """The model's shrunk sequence, replayed through the model itself. It was the model's, not the system's:
    the run that finished the cut pass lists only up to when that pass began, and the model stopped settling
    there; the next pass (the next scheduled run) finds the dispute, and the model now settles through it."""
    with _fast_model() as model:
        model.events_on_sale()
        model.reconciliation_cut_short(calls=2)
        model.dynamodb_fault(kind="throttled")
        model.dispute_opened(data=_Draws(0))  # ticket 1's payment
        model.dispute_decided(data=_Draws(0), won=False)
        model.the_newest_webhook_is_delivered_first()  # charge.dispute.closed, answered 503 under the throttling
        model.teardown()  # every other webhook delivered, the reconciliation run; then the exact check of the refund records
