"""Webhook events keep the records of payment intents and subscriptions true: each applied once, in
any order of arrival, a stale event never overwriting a newer state."""

import contextlib
import copy

from local.stripe_fake import charges, payment_intents
from local.stripe_fake.objects import StripeError
from tests.support.flows import deliver_webhook, stripe_call


def record(kind, object_id):
    from payments import wiring

    return wiring.stripe_objects().get(kind, object_id)


def events_of(fake, event_type):
    return [event for event in fake.events if event["type"] == event_type]


def with_changes(event, event_id, created=None, **fields):
    changed = copy.deepcopy(event)
    changed["id"] = event_id
    if created is not None:
        changed["created"] = created
    changed["data"]["object"].update(fields)
    return changed


def paid_intent(fake):
    intent_id = stripe_call("stripe_create_payment_intent", {"amount": 20, "currency": "usd"}).body["payment_intent_id"]
    stripe_call("stripe_confirm_payment", {"payment_intent_id": intent_id, "payment_method": "pm_card_visa"})
    return intent_id, events_of(fake, "payment_intent.succeeded")[-1]


def test_payment_intent_succeeded_is_recorded_once(dynamodb, stripe_fake):
    intent_id, succeeded = paid_intent(stripe_fake)
    assert deliver_webhook(succeeded).body["outcome"] == "applied"
    assert (record("payment_intent", intent_id)["status"], record("payment_intent", intent_id)["amount_received"]) == ("succeeded", 2000)
    assert deliver_webhook(succeeded).body["outcome"] == "duplicate"


def test_a_stale_failure_arriving_after_success_changes_nothing(dynamodb, stripe_fake):
    intent_id, succeeded = paid_intent(stripe_fake)
    deliver_webhook(succeeded)
    stale_failure = with_changes(succeeded, "evt_stale_fail", created=succeeded["created"] - 30, status="requires_payment_method")
    stale_failure["type"] = "payment_intent.payment_failed"
    assert deliver_webhook(stale_failure).body["outcome"] == "skipped"
    assert record("payment_intent", intent_id)["status"] == "succeeded"


def test_out_of_order_the_newest_state_wins(dynamodb, stripe_fake):
    intent_id, succeeded = paid_intent(stripe_fake)
    failure = with_changes(
        succeeded,
        "evt_fail_first",
        created=succeeded["created"] - 5,
        status="requires_payment_method",
        last_payment_error={"code": "card_declined"},
    )
    failure["type"] = "payment_intent.payment_failed"
    # The later success is delivered before the earlier failure
    assert deliver_webhook(succeeded).body["outcome"] == "applied"
    assert deliver_webhook(failure).body["outcome"] == "skipped"
    assert record("payment_intent", intent_id)["status"] == "succeeded"


def test_a_declined_payment_is_recorded_with_stripes_error_code(dynamodb, stripe_fake):
    """The failure event leaves on the record why the payment failed (Stripe's code), for whoever
    answers the customer."""
    intent_id = stripe_call("stripe_create_payment_intent", {"amount": 20, "currency": "usd"}).body["payment_intent_id"]
    declined = stripe_call("stripe_confirm_payment", {"payment_intent_id": intent_id, "payment_method": "pm_card_chargeDeclined"})
    assert declined.status == 400
    [failed] = events_of(stripe_fake, "payment_intent.payment_failed")
    assert deliver_webhook(failed).body["outcome"] == "applied"
    state = record("payment_intent", intent_id)
    assert (state["status"], state["amount_received"], state["last_error_code"]) == ("requires_payment_method", 0, "card_declined")


def test_in_the_same_second_the_later_life_cycle_state_wins(dynamodb, stripe_fake):
    intent_id, succeeded = paid_intent(stripe_fake)
    same_second_failure = with_changes(succeeded, "evt_same_second", status="requires_payment_method")
    same_second_failure["type"] = "payment_intent.payment_failed"
    deliver_webhook(succeeded)
    assert deliver_webhook(same_second_failure).body["outcome"] == "skipped"
    assert record("payment_intent", intent_id)["status"] == "succeeded"


def test_an_older_refund_event_never_lowers_what_went_back(dynamodb, stripe_fake):
    intent_id, _ = paid_intent(stripe_fake)
    charges.create_refund(stripe_fake, {"payment_intent": intent_id, "amount": "500"})
    charges.create_refund(stripe_fake, {"payment_intent": intent_id, "amount": "700"})
    first, second = events_of(stripe_fake, "charge.refunded")
    # The second (1200 refunded) arrives before the first (500 refunded), both of one second: the
    # sum is read from Stripe's lists, not taken from the event (the older one would lower it).
    assert deliver_webhook(second).status == 200
    assert record("payment_intent", intent_id)["amount_refunded"] == 1200
    assert deliver_webhook(first).status == 200
    assert record("payment_intent", intent_id)["amount_refunded"] == 1200


def test_payment_intents_not_created_here_are_skipped(dynamodb, stripe_fake):
    event = {
        "id": "evt_foreign",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": {"id": "pi_foreign", "status": "succeeded"}},
    }
    assert deliver_webhook(event).body["outcome"] == "skipped"
    assert record("payment_intent", "pi_foreign") is None


def subscription(fake, pay=True, method="pm_card_visa"):
    """A subscription created incomplete, its first invoice then paid (or not) in Stripe.js."""
    customer_id = stripe_call("stripe_create_customer", {"email": "a@b.co"}).body["customer_id"]
    created = stripe_call("stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly"}).body
    if pay:
        intent_id = created["client_secret"].split("_secret_")[0]
        with contextlib.suppress(StripeError):  # a declined card: Stripe's 402, after its events
            payment_intents.confirm(fake, {"payment_method": method, "return_url": "http://localhost:5173/done"}, intent_id)
    return created["subscription_id"]


def test_subscription_events_in_any_order_end_canceled(dynamodb, stripe_fake):
    sub_id = subscription(stripe_fake)
    created = events_of(stripe_fake, "customer.subscription.created")[-1]
    stripe_call("stripe_cancel_subscription", {"subscription_id": sub_id})
    deleted = events_of(stripe_fake, "customer.subscription.deleted")[-1]
    deleted["created"] = created["created"] + 10
    updated = with_changes(created, "evt_sub_updated", created=created["created"] + 5, status="past_due")
    updated["type"] = "customer.subscription.updated"
    for event in (deleted, created, updated):
        assert deliver_webhook(event).status == 200
    state = record("subscription", sub_id)
    assert state["status"] == "canceled"
    assert int(state["canceled_at"]) == deleted["data"]["object"]["canceled_at"]
    assert int(state["current_period_end"]) > int(state["current_period_start"])


def test_a_first_payment_declined_leaves_the_subscription_incomplete_and_says_so(dynamodb, stripe_fake):
    sub_id = subscription(stripe_fake, method="pm_card_chargeDeclined")
    [failed] = events_of(stripe_fake, "invoice.payment_failed")
    assert deliver_webhook(events_of(stripe_fake, "customer.subscription.created")[-1]).body["outcome"] == "applied"
    assert deliver_webhook(failed).body["outcome"] == "applied"
    state = record("subscription", sub_id)
    assert (state["status"], state["latest_invoice_status"]) == ("incomplete", "payment_failed")
    assert events_of(stripe_fake, "customer.subscription.updated") == []


def test_invoices_record_the_latest_outcome_without_touching_the_status(dynamodb, stripe_fake):
    sub_id = subscription(stripe_fake)
    paid = events_of(stripe_fake, "invoice.paid")[-1]
    failed_earlier = with_changes(paid, "evt_inv_failed", created=paid["created"] - 60, status="open")
    failed_earlier["type"] = "invoice.payment_failed"
    created = events_of(stripe_fake, "customer.subscription.created")[-1]
    assert deliver_webhook(paid).body["outcome"] == "applied"
    assert deliver_webhook(failed_earlier).body["outcome"] == "skipped"
    assert deliver_webhook(created).body["outcome"] == "applied"
    assert record("subscription", sub_id)["status"] == "incomplete"
    assert deliver_webhook(events_of(stripe_fake, "customer.subscription.updated")[-1]).body["outcome"] == "applied"
    state = record("subscription", sub_id)
    assert (state["latest_invoice"], state["latest_invoice_status"], state["status"]) == (paid["data"]["object"]["id"], "paid", "active")


def test_a_subscription_canceled_at_stripe_is_recorded_with_when_from_its_webhook(dynamodb, stripe_fake):
    from local.stripe_fake import billing

    sub_id = subscription(stripe_fake)
    canceled = billing.cancel_subscription(stripe_fake, {}, sub_id)  # in the Dashboard: our API never saw it
    deleted = events_of(stripe_fake, "customer.subscription.deleted")[-1]
    assert deliver_webhook(deleted).body["outcome"] == "applied"
    state = record("subscription", sub_id)
    assert (state["status"], int(state["canceled_at"])) == ("canceled", canceled["canceled_at"])


def test_a_subscription_event_of_the_api_before_2025_03_31_is_recorded_with_its_period(dynamodb, stripe_fake):
    """Before API 2025-03-31 Stripe sent the billing period on the subscription, its items without
    one: an endpoint still on an older version is read so, and the period is not lost."""
    sub_id = subscription(stripe_fake, pay=False)
    created = events_of(stripe_fake, "customer.subscription.created")[-1]
    older = copy.deepcopy(created)
    items = older["data"]["object"]["items"]["data"]
    start, end = items[0].pop("current_period_start"), items[0].pop("current_period_end")
    older["data"]["object"].update(current_period_start=start, current_period_end=end)
    assert deliver_webhook(older).body["outcome"] == "applied"
    state = record("subscription", sub_id)
    assert (int(state["current_period_start"]), int(state["current_period_end"])) == (start, end)


def test_a_new_subscription_is_recorded_as_renewing(dynamodb, stripe_fake):
    # Stripe creates a subscription with cancel_at_period_end false unless asked otherwise (its
    # example object, which the fake starts from, is one set to end)
    sub_id = subscription(stripe_fake, pay=False)
    created = events_of(stripe_fake, "customer.subscription.created")[-1]
    assert created["data"]["object"]["cancel_at_period_end"] is False
    assert deliver_webhook(created).body["outcome"] == "applied"
    assert record("subscription", sub_id)["cancel_at_period_end"] is False


def test_a_subscription_set_to_end_with_its_period_is_recorded_so(dynamodb, stripe_fake):
    sub_id = subscription(stripe_fake)
    activated = events_of(stripe_fake, "customer.subscription.updated")[-1]
    ending = with_changes(activated, "evt_sub_cancel_at_end", created=activated["created"] + 5, cancel_at_period_end=True)
    assert deliver_webhook(activated).body["outcome"] == "applied"
    assert record("subscription", sub_id)["cancel_at_period_end"] is False
    assert deliver_webhook(ending).body["outcome"] == "applied"
    state = record("subscription", sub_id)
    assert (state["status"], state["cancel_at_period_end"]) == ("active", True)


def test_in_the_same_second_a_paid_invoice_outranks_a_failed_one(dynamodb, stripe_fake):
    sub_id = subscription(stripe_fake)
    paid = events_of(stripe_fake, "invoice.paid")[-1]
    failed_same_second = with_changes(paid, "evt_inv_failed_same_second", status="open")
    failed_same_second["type"] = "invoice.payment_failed"
    assert deliver_webhook(paid).body["outcome"] == "applied"
    assert deliver_webhook(failed_same_second).body["outcome"] == "skipped"
    assert record("subscription", sub_id)["latest_invoice_status"] == "paid"


def test_a_settled_invoice_leaves_an_audit_line_named_after_its_event(dynamodb, stripe_fake, caplog):
    # The operator's record of a subscription's money, and the PaymentsSucceeded / PaymentsFailed
    # metrics counted from it, go by the audit line's action.
    caplog.set_level("INFO")
    paid_id = subscription(stripe_fake)
    failed_id = subscription(stripe_fake, method="pm_card_chargeDeclined")
    paid = events_of(stripe_fake, "invoice.paid")[-1]
    [failed] = events_of(stripe_fake, "invoice.payment_failed")
    assert deliver_webhook(paid).body["outcome"] == deliver_webhook(failed).body["outcome"] == "applied"
    audited = [r for r in caplog.records if getattr(r, "audit", False) and hasattr(r, "invoice")]
    lines = [(r.action, r.subscription, r.invoice, r.amount) for r in audited]
    assert lines == [
        ("stripe.invoice_paid", paid_id, paid["data"]["object"]["id"], paid["data"]["object"]["amount_due"]),
        ("stripe.invoice_payment_failed", failed_id, failed["data"]["object"]["id"], failed["data"]["object"]["amount_due"]),
    ]
    assert all(isinstance(line[3], int) and line[3] > 0 for line in lines)  # the amount the invoice asked for, in minor units
