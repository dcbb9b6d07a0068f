"""Attack tests on the reconciliation, the sweep, PayPal money and the direct Stripe endpoints
(helper's independent attack, written without reading these paths' own tests).

Each test drives the handlers in process (moto DynamoDB, the local Stripe and PayPal fakes) through a
sequence a provider really produces: answers lost, webhooks in another order, events listed in pages.
A failing test is a break of the contract in /work/shared/DESIGN.md ("Money", "Providers") and is
marked ``xfail(strict=True, reason="attack: ...")``; the others are attacks that held."""

from __future__ import annotations

import copy
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from local.paypal_fake import PayPalFake
from local.paypal_fake.objects import server_error
from local.stripe_fake import StripeFake
from tests.conftest import TABLES, clear_container_caches
from tests.support.flows import STAFF, deliver_paypal_webhook, deliver_webhook, pay, paypal_call, reserved_checkout, stripe_call
from tests.support.lambdas import call

if TYPE_CHECKING:
    from payments.domain.reconciliation import ReconciliationReport

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


def test_refund_delivered_before_its_capture_is_known_is_caught_up(paypal_fake: PayPalFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held (unlike a reversal, above): the capture call's answer is lost, a Dashboard refund's
    webhook overtakes PAYMENT.CAPTURE.COMPLETED and is burned as "skipped"; a staff refund of the
    whole capture meanwhile is refused (PayPal refuses, the reservation is released); the
    reconciliation then finds the refund in the order's refunds: counted once, the rest refundable."""
    order_id = _paypal_order(paypal_fake)
    _capture_answer_lost(paypal_fake, order_id, monkeypatch)
    (capture_id,) = list(paypal_fake.captures)
    paypal_fake.dashboard_refund(capture_id, "20.00")
    (refunded,) = _events_of(paypal_fake, "PAYMENT.CAPTURE.REFUNDED")
    (completed,) = _events_of(paypal_fake, "PAYMENT.CAPTURE.COMPLETED")
    assert deliver_paypal_webhook(paypal_fake, refunded).status == 200
    assert deliver_paypal_webhook(paypal_fake, completed).status == 200
    refused = _staff_refund(capture_id)
    assert 400 <= refused.status < 500, refused.body
    _reconcile()
    _reconcile()

    capture = _capture_record(capture_id)
    assert (int(capture["refunded_minor"]), int(capture["refundable_minor"]), capture["status"]) == (2000, 3000, "PARTIALLY_REFUNDED")
    # Another request than the refused one (an identical one within ten minutes replays its refusal).
    assert _staff_refund(capture_id, note_to_payer="the rest").status == 200
    assert paypal_fake.refunded_total(capture_id) == Decimal("50.00")
    assert int(_capture_record(capture_id)["refunded_minor"]) == 5000


def _captured_pending(fake: PayPalFake) -> tuple[str, str]:
    order_id = _paypal_order(fake)
    captured = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert captured.status == 200 and captured.body["capture_status"] == "PENDING", captured.body
    return order_id, str(captured.body["capture_id"])


def _staff_refund(capture_id: str, **fields: Any) -> Any:
    return paypal_call("paypal_refund_payment", {"capture_id": capture_id, **fields}, user="user-staff", groups=STAFF)


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
    from payments import dynamodb
    from payments.repositories.paypal_refunds import PayPalRefundRepository

    pending = PayPalRefundRepository(dynamodb.get_client(), TABLES["PaymentsTable"]).unsettled_reservations(int(later))
    assert len(pending) == 2
    first, second = pending[0].capture_id, pending[1].capture_id
    paypal_fake.arm_failure(f"/v2/checkout/orders/{captures[first]}", server_error(500), times=10)

    report = _reconcile()

    assert report.failed >= 1
    assert int(_capture_record(second)["refundable_minor"]) == 5000, "the readable reservation was not released"


def test_staff_refund_retried_after_a_lost_answer_refunds_once(paypal_fake: PayPalFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """A staff refund of 10.00 reaches PayPal, which refunds; the answer is lost and our API says
    "please retry" (5xx). The staff member retries the same refund eleven minutes later (no
    Idempotency-Key: seed 000 documents none for this endpoint), before the reconciliation has learned the
    first answer. A retried request never moves money twice: PayPal must have refunded 10.00 once.

    Found: ``PayPalRefundService.refund_payment`` matches identical requests only within
    ``REQUEST_WINDOW_SECONDS`` (600 s); after it the retry gets a new reservation and a new
    PayPal-Request-Id, while the first reservation is still ``reserved`` (it is settled only after
    ``UNANSWERED_AFTER_SECONDS``, 900 s, by the reconciliation). PayPal refunds 20.00."""
    _, capture_id = _captured(paypal_fake)
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "0")
    clear_container_caches()
    paypal_fake.lose_next_answer(f"/v2/payments/captures/{capture_id}/refund")
    lost = _staff_refund(capture_id, amount=10.0, currency="USD")
    assert lost.status >= 500, lost.body
    assert paypal_fake.refunded_total(capture_id) == Decimal("10.00")

    later = time.time() + 660
    monkeypatch.setattr(time, "time", lambda: later)
    retried = _staff_refund(capture_id, amount=10.0, currency="USD")

    assert paypal_fake.refunded_total(capture_id) == Decimal("10.00"), retried.body
    _reconcile()
    assert int(_capture_record(capture_id)["refunded_minor"]) == 1000


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


def test_direct_intent_lost_in_a_dispute_is_recorded_as_money_returned(stripe_fake: StripeFake) -> None:
    """A direct payment intent is disputed and the dispute lost: the money went back to the customer
    as with a refund. Every webhook is delivered, then the reconciliation runs. Our record of the
    intent must count it as returned, as it counts a Dashboard refund (``amount_refunded``) and as
    a ticket's payment counts a lost dispute.

    Found: ``StripeWebhooks._dispute_closed`` calls ``TicketService.refunded_at_provider`` only; for
    an intent that is no ticket's it answers "noted", and ``StripeObjectSync`` has no dispute
    handler: the record says nothing went back."""
    intent_id = _paid_intent()
    dispute = stripe_fake.open_dispute(intent_id)
    stripe_fake.close_dispute(str(dispute["id"]), won=False)
    for event in stripe_fake.events:
        if str(event["type"]).startswith("charge.dispute."):
            assert deliver_webhook(event).status == 200
    _reconcile()

    record = _intent_record(intent_id)
    # Whatever the field, the record must say the 2000 went back (as returned, or as a dispute lost).
    assert int(record.get("amount_refunded", 0)) == 2000 or any("dispute" in key and record[key] for key in record), record


# cut runs ----------------------------------------------------------------------------------------
def _budget(objects: int) -> Any:
    """A run's remaining time as a number of objects: ``out_of_time()`` is asked before each object."""
    asked = iter(range(objects + 1))
    return lambda: next(asked, objects) >= objects


def test_a_cut_pass_moves_on_even_when_our_unsettled_tickets_fill_a_run(stripe_fake: StripeFake) -> None:
    """Two tickets paid by bank debit stay ``processing`` for days (Stripe settles them later: there is
    nothing to repair in them). A direct payment intent is refunded in the Dashboard and the webhook is
    lost. Each reconciliation run has time for two objects before it checkpoints. Run after run, the
    pass must move on from where it stopped and find the refund.

    Found: ``Reconciler.run`` calls ``_our_unsettled_tickets`` first in every run, resumed or not, and
    the checkpoint keeps no place in it; the two processing tickets use each run's time, the run cuts
    before the Stripe listing, and the checkpoint is the same after every run: the refund is never
    found (in AWS: a few hundred bank debits in flight at a 300 s timeout)."""
    for user in ("user-alice", "user-bob"):
        _, checkout = reserved_checkout(stripe_fake, quantity=1, user=user)
        processing = stripe_fake.complete_session(checkout["session_id"], paid=False)
        assert deliver_webhook(processing).status == 200
    intent_id = _paid_intent()
    stripe_fake.dashboard_refund(intent_id)  # its webhooks lost

    from payments import wiring

    reports = [wiring.reconciler().run(_budget(2)) for _ in range(6)]

    assert not all(report.complete is False and report.repaired == 0 for report in reports)
    assert int(_intent_record(intent_id).get("amount_refunded", 0)) == 2000


def test_a_stripe_pass_cut_before_every_object_in_turn_finds_every_lost_webhook(stripe_fake: StripeFake) -> None:
    """Held: lost Stripe webhooks (a Dashboard refund of a direct payment intent, a ticket paid, its
    partial Dashboard refund), with runs that each handle one object and checkpoint: the pass
    resumes where it stopped across both listings of event types, no repair is made twice, the pass
    completes, and a further run repairs nothing."""
    intent_id = _paid_intent()
    stripe_fake.dashboard_refund(intent_id, 500)
    _, checkout = reserved_checkout(stripe_fake, quantity=1)
    completed = pay(stripe_fake, checkout["session_id"])
    stripe_fake.dashboard_refund(str(completed["data"]["object"]["payment_intent"]), 1000)

    from payments import wiring

    repaired: list[str] = []
    reports: list[ReconciliationReport] = []
    while len(reports) < 100 and not (reports and reports[-1].complete):
        reports.append(wiring.reconciler().run(_budget(1)))
        repaired += reports[-1].repairs
    assert reports[-1].complete and len(reports) > 3
    assert int(_intent_record(intent_id).get("amount_refunded", 0)) == 500
    ticket = call("get_ticket", path_params={"ticket_id": str(checkout["ticket_id"])}).body
    assert ticket["status"] == "paid", ticket
    assert len(repaired) == len(set(repaired)), repaired
    again = wiring.reconciler().run()
    assert again.complete and again.repaired == 0, again.repairs


def test_a_paypal_phase_longer_than_a_run_still_completes(stripe_fake: StripeFake, paypal_fake: PayPalFake) -> None:
    """Three PayPal payments captured in the last days (their webhooks delivered or not, nothing to
    repair) and runs with time for three objects each. The pass must resume where it stopped and
    complete; then a direct Stripe payment refunded in the Dashboard, webhook lost, is found by a
    later pass.

    Found: ``Reconciler._paypal_side`` lists PayPal's events again from the window's start and
    catches up every capture of the last three days in every run (``_Pass.after`` is used for Stripe
    only): each resumed run redoes the same first objects and cuts again. The pass never completes,
    ``last_complete_start`` never moves, and a pass stuck in the PayPal phase never lists Stripe again:
    the Dashboard refund is never found (in AWS: a few thousand captures in three days at a 300 s
    timeout)."""
    for _ in range(3):
        _captured(paypal_fake)

    from payments import wiring

    reports = [wiring.reconciler().run(_budget(3)) for _ in range(10)]
    intent_id = _paid_intent()
    stripe_fake.dashboard_refund(intent_id)
    reports += [wiring.reconciler().run(_budget(3)) for _ in range(10)]

    assert any(report.complete for report in reports)
    assert int(_intent_record(intent_id).get("amount_refunded", 0)) == 2000


# PayPal's event listing ------------------------------------------------------------------------
def test_paypal_events_of_one_second_beyond_a_page_are_all_listed(paypal_fake: PayPalFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """PayPal stamps its events to the second. 301 refund events in one second (a staff tool refunding
    a batch; the same holds for any full page sharing its last second) are listed for the
    reconciliation: every one of them must come out of the listing.

    Found: ``PayPalClient.list_events`` asks for the next page with ``end_time`` = the oldest event's
    time; a page whose events are all of that second comes back the same, ``oldest == end_time``
    stops the loop, and the 301st event is never applied. ``links`` (PayPal's next page) are not read."""
    import local.paypal_fake.app as paypal_app

    _, capture_id = _captured(paypal_fake, "5.00")
    monkeypatch.setattr(paypal_app, "now_text", lambda: "2026-12-06T12:00:00Z")
    for _ in range(301):
        paypal_fake.dashboard_refund(capture_id, "0.01")

    from payments import wiring

    listed = {
        event["id"]
        for event in wiring.paypal_client().list_events("PAYMENT.CAPTURE.REFUNDED", "2026-12-06T11:00:00Z", "2026-12-06T13:00:00Z")
    }
    assert len(_events_of(paypal_fake, "PAYMENT.CAPTURE.REFUNDED")) == 301
    assert len(listed) == 301


# Stripe tickets through the reconciliation ---------------------------------------------------------
def test_a_ticket_paid_then_lost_in_a_dispute_all_webhooks_lost_ends_refunded(stripe_fake: StripeFake) -> None:
    """Held: a ticket is paid, the payment is disputed and the dispute lost, and every webhook is
    lost. The reconciliation applies Stripe's events newest first (the lost dispute before the
    payment): the ticket ends refunded, its money all returned, never valid at the door."""
    _, checkout = reserved_checkout(stripe_fake, quantity=1)
    completed = pay(stripe_fake, checkout["session_id"])
    intent = str(completed["data"]["object"]["payment_intent"])
    dispute = stripe_fake.open_dispute(intent)
    stripe_fake.close_dispute(str(dispute["id"]), won=False)

    report = _reconcile()

    assert report.complete and report.failed == 0, report
    ticket = call("get_ticket", path_params={"ticket_id": str(checkout["ticket_id"])}).body
    assert ticket["status"] == "refunded", ticket
    assert not ticket.get("qr_code_data"), ticket
    again = _reconcile()
    assert again.repaired == 0, again.repairs


# direct Stripe subscriptions -------------------------------------------------------------------------
def _subscription() -> str:
    customer = stripe_call("stripe_create_customer", {"email": "alice@example.com"})
    assert customer.status == 200, customer.body
    created = stripe_call("stripe_create_subscription", {"customer_id": customer.body["customer_id"], "price_id": "price_local_monthly"})
    assert created.status == 200, created.body
    return str(created.body["subscription_id"])


def test_cancel_subscription_whose_answer_was_lost_is_recorded_as_stripe_has_it(stripe_fake: StripeFake) -> None:
    """Stripe cancels the subscription and its answer is lost: our API answers 502, "please retry".
    The customer retries. Stripe now refuses (a canceled subscription cannot be canceled again): the
    retry must still answer that the subscription is canceled and record it as Stripe has it.

    Found: ``StripePaymentsService.cancel_subscription`` passes Stripe's refusal through as a 400
    ("A canceled subscription can only update its cancellation_details and metadata.") and records
    nothing: the customer is told the cancel failed while it is done, and our record says
    ``incomplete`` until a webhook or the reconciliation comes. (The gateway's ``refund_rest`` reads
    Stripe's state after such a refusal; ``cancel_subscription`` does not.)"""
    subscription_id = _subscription()
    stripe_fake.lose_next_answer(f"/v1/subscriptions/{subscription_id}")
    first = stripe_call("stripe_cancel_subscription", {"subscription_id": subscription_id})
    second = stripe_call("stripe_cancel_subscription", {"subscription_id": subscription_id})

    from payments import wiring
    from payments.domain.ports import SUBSCRIPTION

    record = wiring.stripe_objects().get(SUBSCRIPTION, subscription_id)
    assert first.status == 502, first
    assert second.status == 200 and second.body["status"] == "canceled", (first, second)
    assert record is not None and record["status"] == "canceled", record


# PayPal events not shaped as the handlers read them ------------------------------------------------
MALFORMED_PAYPAL = {
    "resource missing": ("PAYMENT.CAPTURE.REFUNDED", lambda event: event.pop("resource")),
    "refund amount not a number": ("PAYMENT.CAPTURE.REFUNDED", lambda event: event["resource"]["amount"].update(value="abc")),
    "refund links not a list": ("PAYMENT.CAPTURE.REFUNDED", lambda event: event["resource"].update(links="up")),
    "capture without status": ("PAYMENT.CAPTURE.COMPLETED", lambda event: event["resource"].pop("status")),
    "create_time not a time": ("PAYMENT.CAPTURE.COMPLETED", lambda event: event.update(create_time="yesterday")),
}


def _malformed(fake: PayPalFake, case: str) -> dict[str, Any]:
    event_type, spoil = MALFORMED_PAYPAL[case]
    event = copy.deepcopy(_events_of(fake, event_type)[0])
    event["id"] = f"WH-SPOILT{sorted(MALFORMED_PAYPAL).index(case):08d}-{event['id'][-17:]}"
    spoil(event)
    return event


@pytest.mark.parametrize("case", sorted(MALFORMED_PAYPAL))
def test_signed_malformed_paypal_event_is_a_400_not_a_500(paypal_fake: PayPalFake, case: str) -> None:
    """PayPal's signature holds, the body is JSON, but the event is not shaped as PayPal documents it
    (the signature covers only a CRC32 of the body; a PayPal bug, a new version). No 500 from any
    input: it is refused (400) or acknowledged as rejected, and PayPal does not retry it 25 times.

    Found: ``PayPalWebhooks`` checks only ``id`` and ``event_type`` (``parse_event``); its handlers
    index ``event["resource"]``, ``capture["status"]``, parse ``create_time`` and amounts unguarded,
    and ``WebhookLedger.apply_once`` only turns ApiErrors into rejections: each case is a 500."""
    _, capture_id = _captured(paypal_fake)
    paypal_fake.dashboard_refund(capture_id, "1.00")
    result = deliver_paypal_webhook(paypal_fake, _malformed(paypal_fake, case))
    assert result.status < 500, result.body


def test_a_malformed_listed_paypal_event_does_not_stop_every_run(
    paypal_fake: PayPalFake, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PayPal lists one event whose resource is missing (see the webhook test above). The
    reconciliation must reject it (as it does a malformed listed Stripe event, 96b5e06) and go on:
    a Dashboard refund of a PayPal capture, its webhook lost, is still recorded, and the run ends.

    Found: ``PayPalWebhooks.apply_listed`` does not check the event; the handler's KeyError is not
    an ApiError, so ``Reconciler._guarded`` lets it out of ``run``: no checkpoint, no report, and
    the next run lists the same event and crashes again (the alarm fires forever, nothing after the
    event is repaired)."""
    _, capture_id = _captured(paypal_fake)
    paypal_fake.dashboard_refund(capture_id, "1.00")  # its webhook lost
    spoilt = _malformed(paypal_fake, "resource missing")
    monkeypatch.setattr(paypal_fake, "inspector", None)  # PayPal's definitions would not allow it: that is the attack
    paypal_fake.record_event(spoilt)

    report = _reconcile()

    assert report.complete
    assert int(_capture_record(capture_id)["refunded_minor"]) == 100


# DynamoDB contention during a run ------------------------------------------------------------------
def test_contention_on_one_capture_does_not_end_the_run(paypal_fake: PayPalFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture answered PENDING completes at PayPal; its webhook is lost. The reconciliation applies
    the listed PAYMENT.CAPTURE.COMPLETED while a staff refund's transaction holds the capture's item:
    DynamoDB answers the update with TransactionConflictException (the item changed meanwhile). One
    object that changed meanwhile does not end the run: it is retried, skipped or counted, and the
    run still ends with a report (and a checkpoint); the capture becomes refundable by the next run
    at the latest.

    Found: ``ProviderObjectRepository.apply_state`` turns only condition failures into None and
    re-raises the conflict; ``Reconciler._guarded`` does not catch it; ``run`` raises, writes no
    checkpoint and returns no report."""
    from payments import dynamodb
    from tests.support.faults import FaultInjectingClient

    paypal_fake.pend_next("ECHECK")
    _, capture_id = _captured_pending(paypal_fake)
    for event in list(paypal_fake.events):  # every webhook so far delivered
        assert deliver_paypal_webhook(paypal_fake, event).status == 200
    paypal_fake.complete_capture(capture_id)  # PAYMENT.CAPTURE.COMPLETED lost

    real = dynamodb.get_client
    faulty = FaultInjectingClient(real())
    faulty.refuse(operations=frozenset({"update_item"}))
    monkeypatch.setattr(dynamodb, "get_client", lambda: faulty)
    clear_container_caches()

    report = _reconcile()  # must not raise

    assert faulty.injected == 1
    assert report is not None
    _reconcile()
    assert _capture_record(capture_id)["status"] == "COMPLETED"
