"""What happens to a charge after it succeeded: refunds (by the API or in the Dashboard) and
disputes opened and decided by the customer's bank."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from local.provider_fake import Kind, Route
from local.stripe_fake.objects import Params, StripeError, existing, from_fixture, int_param, list_of, new_id

if TYPE_CHECKING:
    from local.stripe_fake.app import StripeFake


def create_refund(fake: StripeFake, params: Params) -> dict[str, Any]:
    pid = params.get("payment_intent")
    intent = fake.payment_intents.get(str(pid))
    if intent is None:
        raise StripeError(400, "invalid_request_error", f"No such payment_intent: '{pid}'", "resource_missing", "payment_intent")
    return refund(fake, intent, int_param(params, "amount", required=False), params.get("reason"), params.get("metadata") or {})


def refund(fake: StripeFake, intent: dict[str, Any], amount: int | None, reason: str | None, metadata: dict[str, Any]) -> dict[str, Any]:
    if intent["status"] != "succeeded":
        raise StripeError(
            400,
            "invalid_request_error",
            f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            "charge_not_refundable",
        )
    if is_disputed(fake, intent["id"]):
        raise StripeError(400, "invalid_request_error", f"Charge {intent['latest_charge']} has been charged back.", "charge_disputed")
    refunded = refunded_amount(fake, intent["id"])
    amount = intent["amount_received"] - refunded if amount is None else amount
    if refunded >= intent["amount_received"]:
        raise StripeError(
            400, "invalid_request_error", f"Charge {intent['latest_charge']} has already been refunded.", "charge_already_refunded"
        )
    if amount <= 0 or refunded + amount > intent["amount_received"]:
        raise StripeError(
            400,
            "invalid_request_error",
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({intent['amount_received'] - refunded})",
            "amount_too_large",
            "amount",
        )
    created = from_fixture(
        "refund",
        id=new_id("re"),
        amount=amount,
        charge=intent["latest_charge"],
        payment_intent=intent["id"],
        currency=intent["currency"],
        created=int(fake.now()),
        status="succeeded",
        reason=reason,
        metadata=metadata,
    )
    fake.refunds[created["id"]] = created
    # Since 2024-10-28 every refund has refund.created beside charge.refunded (Stripe's changelog).
    fake.emit("refund.created", created)
    fake.emit("charge.refunded", charge_of(fake, intent))
    return created


def fail_refund(fake: StripeFake, refund_id: str, reason: str = "expired_or_canceled_card") -> dict[str, Any]:
    """The card's bank returns a refund that had succeeded (docs.stripe.com/refunds#failed-refunds):
    the money is back in the balance and the charge no longer counts it as refunded."""
    refund = existing(fake.refunds, "refund", refund_id, "refund")
    if refund["status"] != "succeeded":
        raise StripeError(400, "invalid_request_error", f"Refund {refund_id} has status {refund['status']}; only a succeeded one can fail.")
    previous = {"status": refund["status"], "failure_reason": None, "failure_balance_transaction": None}
    refund.update(status="failed", failure_reason=reason, failure_balance_transaction=new_id("txn"))
    fake.emit("refund.updated", refund, previous)
    fake.emit("charge.refund.updated", refund, previous)
    fake.emit("refund.failed", refund)
    return refund


def refunded_amount(fake: StripeFake, pid: str) -> int:
    return sum(refund["amount"] for refund in fake.refunds.values() if refund["payment_intent"] == pid and refund["status"] == "succeeded")


def is_disputed(fake: StripeFake, pid: str) -> bool:
    return any(dispute["payment_intent"] == pid for dispute in fake.disputes.values())


def charge_of(fake: StripeFake, intent: dict[str, Any]) -> dict[str, Any]:
    refunded = refunded_amount(fake, intent["id"])
    return from_fixture(
        "charge",
        id=intent["latest_charge"],
        amount=intent["amount"],
        amount_captured=intent["amount_received"],
        amount_refunded=refunded,
        refunded=refunded >= intent["amount_received"],
        payment_intent=intent["id"],
        currency=intent["currency"],
        created=intent["created"],
        status="succeeded",
        captured=True,
        paid=True,
        disputed=is_disputed(fake, intent["id"]),
        metadata=intent["metadata"],
    )


def list_refunds(fake: StripeFake, params: Params) -> dict[str, Any]:
    return _listed_for_intent("/v1/refunds", fake.refunds, params)


def list_disputes(fake: StripeFake, params: Params) -> dict[str, Any]:
    return _listed_for_intent("/v1/disputes", fake.disputes, params)


def _listed_for_intent(url: str, objects: dict[str, dict[str, Any]], params: Params) -> dict[str, Any]:
    """The list, narrowed to one payment intent's objects when ``payment_intent`` is given."""
    wanted = params.get("payment_intent")
    return list_of(url, (obj for obj in objects.values() if wanted is None or obj["payment_intent"] == wanted), params)


def open_dispute(fake: StripeFake, intent: dict[str, Any]) -> dict[str, Any]:
    """The customer's bank disputes the charge: Stripe takes the money back until it is decided."""
    dispute = from_fixture(
        "dispute",
        id=new_id("dp"),
        amount=intent["amount_received"] - refunded_amount(fake, intent["id"]),
        charge=intent["latest_charge"],
        payment_intent=intent["id"],
        currency=intent["currency"],
        created=int(fake.now()),
        status="needs_response",
        is_charge_refundable=False,
        metadata={},
    )
    dispute["evidence_details"] = {**dispute["evidence_details"], "submission_method": "not_submitted"}
    fake.disputes[dispute["id"]] = dispute
    fake.emit("charge.dispute.created", dispute)
    fake.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def close_dispute(fake: StripeFake, dispute_id: str, won: bool) -> dict[str, Any]:
    """The bank decides; won, Stripe gives the disputed amount back (funds_reinstated)."""
    dispute = existing(fake.disputes, "dispute", dispute_id, "dispute")
    if dispute["status"] in ("won", "lost"):
        raise StripeError(400, "invalid_request_error", f"Dispute {dispute_id} is already closed ({dispute['status']}).")
    dispute["status"] = "won" if won else "lost"
    fake.emit("charge.dispute.closed", dispute)
    if won:
        fake.emit("charge.dispute.funds_reinstated", dispute)
    return dispute


# test controls --------------------------------------------------------------------------------
def control_fail_refund(fake: StripeFake, request: Request, refund_id: str) -> dict[str, Any]:
    options = request.get_json(silent=True) or {}
    return fail_refund(fake, refund_id, options.get("failure_reason", "expired_or_canceled_card"))


def control_open_dispute(fake: StripeFake, request: Request, pid: str) -> dict[str, Any]:
    return open_dispute(fake, existing(fake.payment_intents, "payment_intent", pid, "payment_intent"))


def control_close_dispute(fake: StripeFake, request: Request, dispute_id: str) -> dict[str, Any]:
    options = request.get_json(silent=True) or {}
    return close_dispute(fake, dispute_id, won=bool(options.get("won")))


ROUTES = (
    Route("POST", "/v1/refunds", create_refund, params="RefundCreateParams"),
    Route("GET", "/v1/refunds", list_refunds, params="RefundListParams"),
    Route("GET", "/v1/disputes", list_disputes, params="DisputeListParams"),
    Route("POST", "/_fake/refunds/<refund_id>/fail", control_fail_refund, Kind.CONTROL),
    Route("POST", "/_fake/payment_intents/<pid>/dispute", control_open_dispute, Kind.CONTROL),
    Route("POST", "/_fake/disputes/<dispute_id>/close", control_close_dispute, Kind.CONTROL),
)
