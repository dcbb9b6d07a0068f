"""Keeps the records of Stripe objects created through the API true to Stripe's webhook events,
whatever order the events arrive in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from payments.domain.ports import PAYMENT_INTENT, SUBSCRIPTION, ProviderObjectStore
from payments.domain.stripe_objects import expandable_id, subscription_periods
from payments.observability import audit

if TYPE_CHECKING:
    from payments.domain.lifecycle import StripeRefund

# Within one second, a later state of the life cycle wins over an earlier one.
INTENT_RANK = {
    "requires_payment_method": 0,
    "requires_confirmation": 1,
    "requires_action": 2,
    "processing": 3,
    "requires_capture": 4,
    "canceled": 5,
    "succeeded": 6,
}
SUBSCRIPTION_RANK = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "past_due": 3,
    "unpaid": 4,
    "paused": 4,
    "incomplete_expired": 8,
    "canceled": 9,
}


# What a payment intent's refunds and lost disputes returned is its own aspect, ordered by time: an
# event's figure (rank 0) or Stripe's lists read after an event (rank 1, newer at the same second).
REFUNDS = "refunds"
EVENT_RANK = 0
READ_RANK = 1


def _outcome(applied: object) -> str:
    # False means the record is unknown (not created through this API) or already newer.
    return "applied" if applied else "skipped"


class StripeObjectSync:
    """Applies Stripe's events to the objects created through the direct Stripe endpoints."""

    def __init__(self, objects: ProviderObjectStore) -> None:
        self._objects = objects

    def payment_intent_changed(self, event: dict[str, Any]) -> str:
        intent = event["data"]["object"]
        state: dict[str, Any] = {"status": intent["status"], "amount_received": intent.get("amount_received") or 0}
        error = intent.get("last_payment_error") or {}
        if error.get("code"):
            state["last_error_code"] = error["code"]
        applied = self._objects.apply_state(
            PAYMENT_INTENT, intent["id"], state, as_of=int(event["created"]), rank=INTENT_RANK.get(intent["status"], 0)
        )
        if applied and intent["status"] in ("succeeded", "canceled"):
            audit(
                f"stripe.payment_intent_{intent['status']}",
                user_id=applied["owner"],
                payment_intent=intent["id"],
                amount=intent.get("amount"),
                currency=intent.get("currency"),
            )
        return _outcome(applied)

    def charge_refunded(self, event: dict[str, Any], read: Callable[[], list[StripeRefund]], now: int) -> str:
        """A refund of a direct payment intent. The event's own ``amount_refunded`` is not taken: two
        events of one second cannot be ordered (an older one would lower the sum) and a refund may
        fail later; what went back is read from Stripe's lists (``money_back``), whatever the order."""
        charge = event["data"]["object"]
        intent_id = expandable_id(charge.get("payment_intent"))
        if not intent_id:
            return "skipped"
        outcome = self.money_back(intent_id, read, now)
        if outcome == "applied":
            audit(
                "stripe.charge_refunded", payment_intent=intent_id, charge=charge.get("id"), amount_refunded=charge.get("amount_refunded")
            )
        return outcome

    def money_back(self, intent_id: str, read: Callable[[], list[StripeRefund]], now: int) -> str:
        """What went back of a direct payment intent, read from Stripe (``read``: its refunds, any
        status, and its lost disputes) after an event that changes it without giving the sum: a
        refund that failed or was canceled later, a dispute lost. ``amount_refunded`` is what its
        refunds returned (or are returning), ``amount_disputed_lost`` what lost disputes took back.
        Read now, it is as new as any event created before now: at the same second it outranks an
        event's own figure. "noted" for an intent not created through this API (nothing read)."""
        if self._objects.get(PAYMENT_INTENT, intent_id) is None:
            return "noted"
        facts = read()
        state = {
            "amount_refunded": sum(fact.amount for fact in facts if fact.returned and fact.status != "lost"),
            "amount_disputed_lost": sum(fact.amount for fact in facts if fact.status == "lost"),
        }
        applied = self._objects.apply_state(PAYMENT_INTENT, intent_id, state, as_of=now, rank=READ_RANK, aspect=REFUNDS)
        if applied:
            audit("stripe.payment_intent_money_back", user_id=applied["owner"], payment_intent=intent_id, **state)
        return _outcome(applied)

    def subscription_changed(self, event: dict[str, Any]) -> str:
        subscription = event["data"]["object"]
        start, end = subscription_periods(subscription)
        state = {
            "status": subscription["status"],
            "current_period_start": start,
            "current_period_end": end,
            "canceled_at": subscription.get("canceled_at"),
            "cancel_at_period_end": bool(subscription.get("cancel_at_period_end")),
        }
        applied = self._objects.apply_state(
            SUBSCRIPTION,
            subscription["id"],
            {name: value for name, value in state.items() if value is not None},
            as_of=int(event["created"]),
            rank=SUBSCRIPTION_RANK.get(subscription["status"], 0),
        )
        return _outcome(applied)

    def invoice_settled(self, event: dict[str, Any]) -> str:
        invoice = event["data"]["object"]
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        subscription_id = expandable_id(details.get("subscription") or invoice.get("subscription"))
        if not subscription_id:
            return "skipped"
        paid = event["type"] == "invoice.paid"
        applied = self._objects.apply_state(
            SUBSCRIPTION,
            subscription_id,
            {"latest_invoice": invoice["id"], "latest_invoice_status": "paid" if paid else "payment_failed"},
            as_of=int(event["created"]),
            rank=1 if paid else 0,
            aspect="invoice",
        )
        if applied:
            audit(
                f"stripe.{event['type'].replace('.', '_')}",
                user_id=applied["owner"],
                subscription=subscription_id,
                invoice=invoice["id"],
                amount=invoice.get("amount_due"),
            )
        return _outcome(applied)
