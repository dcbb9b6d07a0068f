"""What happens to a charge after it succeeded: refunds (by the API or in the Dashboard) and
disputes opened and decided by the customer's bank."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from local.provider_fake import Route
from local.stripe_fake.objects import Params, StripeError, from_fixture, int_param, list_of, new_id

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
    fake.emit("charge.refunded", charge_of(fake, intent))
    return created


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
    fake.disputes[dispute["id"]] = dispute
    fake.emit("charge.dispute.created", dispute)
    return dispute


def close_dispute(fake: StripeFake, dispute_id: str, won: bool) -> dict[str, Any]:
    dispute = fake.disputes[dispute_id]
    dispute["status"] = "won" if won else "lost"
    fake.emit("charge.dispute.closed", dispute)
    return dispute


ROUTES = (
    Route("POST", "/v1/refunds", create_refund),
    Route("GET", "/v1/refunds", list_refunds),
    Route("GET", "/v1/disputes", list_disputes),
)
