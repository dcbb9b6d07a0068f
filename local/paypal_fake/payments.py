"""Payments v2: captures and their refunds, whether asked through the API or made in PayPal's
dashboard, never beyond what was captured."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from local.paypal_fake.objects import Body, amount_text, check_money, existing, now_text, paypal_id, public, unprocessable
from local.provider_fake import Kind, Route

if TYPE_CHECKING:
    from local.paypal_fake.app import PayPalFake


def capture_of(fake: PayPalFake, capture_id: str) -> dict[str, Any]:
    return existing(fake.captures, capture_id)


def retrieve_capture(fake: PayPalFake, body: Body, capture_id: str) -> dict[str, Any]:
    return public(capture_of(fake, capture_id))


def refund_capture(fake: PayPalFake, body: Body, capture_id: str) -> dict[str, Any]:
    capture = capture_of(fake, capture_id)
    if capture["status"] == "PENDING":
        # PayPal's own issue for it (captures.refund-422 in its Payments v2 description).
        raise unprocessable(
            "PENDING_CAPTURE",
            "Cannot initiate a refund as the capture is pending. Capture is typically pending when the payer has funded "
            "the transaction using e-check/bank funded.",
        )
    if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
        fully = capture["status"] == "REFUNDED"
        raise unprocessable(
            "CAPTURE_FULLY_REFUNDED" if fully else "REFUND_NOT_ALLOWED",
            "The capture has already been fully refunded" if fully else "Capture cannot be refunded.",
        )
    captured = Decimal(capture["amount"]["value"])
    refunded = Decimal(capture["_refunded"])
    currency = capture["amount"]["currency_code"]
    if body.get("amount") is not None:
        refund_currency, value = check_money(body["amount"], "/amount")
        if refund_currency != currency:
            mismatch = "Refund must be in the same currency as the capture"
            raise unprocessable("REFUND_CAPTURE_CURRENCY_MISMATCH", mismatch, "/amount/currency_code")
    else:
        value = captured - refunded
    if refunded + value > captured:
        raise unprocessable(
            "REFUND_AMOUNT_EXCEEDED",
            "The refund amount must be less than or equal to the capture amount that has not yet been refunded.",
            "/amount/value",
        )
    refund_id = paypal_id()
    text = amount_text(value, currency)
    refund = {
        "id": refund_id,
        "status": "COMPLETED",
        "amount": {"currency_code": currency, "value": text},
        "create_time": now_text(),
        "update_time": now_text(),
        "links": [fake.link(f"/v2/payments/refunds/{refund_id}", "self"), fake.link(f"/v2/payments/captures/{capture_id}", "up")],
    }
    for field in ("note_to_payer", "custom_id", "invoice_id"):
        if body.get(field):
            refund[field] = body[field]
    fake.refunds[refund_id] = refund
    order = fake.orders.get(str(capture["supplementary_data"]["related_ids"]["order_id"]))
    if order is not None:
        order["purchase_units"][0]["payments"].setdefault("refunds", []).append(refund)
    capture.update(
        _refunded=str(refunded + value), status="REFUNDED" if refunded + value == captured else "PARTIALLY_REFUNDED", update_time=now_text()
    )
    fake.emit("PAYMENT.CAPTURE.REFUNDED", "refund", refund, f"A {text} {currency} capture payment was refunded")
    return copy.deepcopy(refund)


def dashboard_refund(fake: PayPalFake, capture_id: str, value: str | None) -> dict[str, Any]:
    """A refund made in PayPal's dashboard: no custom_id, no request id of ours."""
    body = {"amount": {"currency_code": fake.captures[capture_id]["amount"]["currency_code"], "value": value}} if value else {}
    return refund_capture(fake, body, capture_id)


def retrieve_refund(fake: PayPalFake, body: Body, refund_id: str) -> dict[str, Any]:
    return copy.deepcopy(existing(fake.refunds, refund_id))


def settle_pending(fake: PayPalFake, capture_id: str, completed: bool) -> dict[str, Any]:
    """A PENDING capture (held for review, an eCheck) completes or is denied, later."""
    capture = capture_of(fake, capture_id)
    if capture["status"] != "PENDING":
        # a test control's refusal, not PayPal's
        raise unprocessable("CAPTURE_NOT_PENDING", f"The capture is {capture['status']}, not PENDING.")
    capture.pop("status_details", None)
    capture.update(status="COMPLETED" if completed else "DECLINED", update_time=now_text())
    amount = capture["amount"]
    outcome = "completed" if completed else "denied"
    summary = f"Payment {outcome} for {amount['value']} {amount['currency_code']}"
    fake.emit(f"PAYMENT.CAPTURE.{outcome.upper()}", "capture", public(capture), summary)
    return public(capture)


def reverse(fake: PayPalFake, capture_id: str) -> dict[str, Any]:
    """PayPal takes back what is left of a capture (a chargeback, a payment it reverses): a refund
    the merchant never asked for, sent as PAYMENT.CAPTURE.REVERSED with the refund as its resource."""
    capture = capture_of(fake, capture_id)
    if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
        raise unprocessable("REFUND_NOT_ALLOWED", "Capture cannot be reversed.")
    currency = capture["amount"]["currency_code"]
    left = Decimal(capture["amount"]["value"]) - Decimal(capture["_refunded"])
    reversal_id = paypal_id()
    text = amount_text(left, currency)
    reversal = {
        "id": reversal_id,
        "status": "COMPLETED",
        "amount": {"currency_code": currency, "value": text},
        "note_to_payer": "Payment reversed",
        "create_time": now_text(),
        "update_time": now_text(),
        "links": [fake.link(f"/v2/payments/refunds/{reversal_id}", "self"), fake.link(f"/v2/payments/captures/{capture_id}", "up")],
    }
    fake.refunds[reversal_id] = reversal
    # PayPal's capture statuses have no REVERSED: nothing is left to refund, as after a full refund.
    capture.update(_refunded=capture["amount"]["value"], status="REFUNDED", update_time=now_text())
    fake.emit("PAYMENT.CAPTURE.REVERSED", "refund", reversal, f"A {text} {currency} capture payment was reversed")
    return copy.deepcopy(reversal)


# test controls --------------------------------------------------------------------------------
def control_pend_next(fake: PayPalFake, request: Request) -> dict[str, Any]:
    fake.pend_next_capture = (request.get_json(silent=True) or {}).get("reason", "PENDING_REVIEW")
    return {"ok": True}


def control_complete(fake: PayPalFake, request: Request, capture_id: str) -> dict[str, Any]:
    return settle_pending(fake, capture_id, completed=True)


def control_deny(fake: PayPalFake, request: Request, capture_id: str) -> dict[str, Any]:
    return settle_pending(fake, capture_id, completed=False)


def control_reverse(fake: PayPalFake, request: Request, capture_id: str) -> dict[str, Any]:
    return reverse(fake, capture_id)


ROUTES = (
    Route("GET", "/v2/payments/captures/<capture_id>", retrieve_capture),
    Route("POST", "/v2/payments/captures/<capture_id>/refund", refund_capture, status=201),
    Route("GET", "/v2/payments/refunds/<refund_id>", retrieve_refund),
    Route("POST", "/_fake/captures/pend-next", control_pend_next, Kind.CONTROL),
    Route("POST", "/_fake/captures/<capture_id>/complete", control_complete, Kind.CONTROL),
    Route("POST", "/_fake/captures/<capture_id>/deny", control_deny, Kind.CONTROL),
    Route("POST", "/_fake/captures/<capture_id>/reverse", control_reverse, Kind.CONTROL),
)
