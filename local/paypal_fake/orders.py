"""Orders v2: created (``CREATED`` with an ``approve`` link for ``application_context``, or
``PAYER_ACTION_REQUIRED`` with a ``payer-action`` link for ``payment_source.paypal.experience_context``,
as PayPal answers each), approved by the payer on the approval page, captured once."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from local.pages import browser_return, document
from local.paypal_fake.objects import Body, check_money, existing, invalid, now_text, paypal_id, public, unprocessable
from local.provider_fake import Kind, Route

if TYPE_CHECKING:
    from local.paypal_fake.app import PayPalFake

PAYER = {"given_name": "Local", "surname": "Payer"}
PAYER_ID = "L2CALPAYER234"


def create(fake: PayPalFake, body: Body) -> dict[str, Any]:
    if body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
        raise invalid("INVALID_PARAMETER_VALUE", "A parameter value is not valid.", "/intent")
    units = body.get("purchase_units")
    if not isinstance(units, list) or not units:
        raise invalid("MISSING_REQUIRED_PARAMETER", "A required parameter is missing.", "/purchase_units")
    check_money(units[0].get("amount"), "/purchase_units/@reference_id=='default'/amount")
    order_id = paypal_id()
    experience = ((body.get("payment_source") or {}).get("paypal") or {}).get("experience_context") or {}
    purchase_units = []
    for unit in units:
        kept = {key: unit[key] for key in ("amount", "custom_id", "description", "invoice_id", "soft_descriptor") if key in unit}
        purchase_units.append(
            {
                "reference_id": unit.get("reference_id", "default"),
                **kept,
                "payee": {"email_address": "merchant@example.com", "merchant_id": "L2CALMERCHANT"},
            }
        )
    order = {
        "id": order_id,
        "intent": body["intent"],
        "status": "PAYER_ACTION_REQUIRED" if experience else "CREATED",
        "purchase_units": purchase_units,
        "create_time": now_text(),
        "links": [
            fake.link(f"/v2/checkout/orders/{order_id}", "self"),
            fake.link(f"/checkoutnow?token={order_id}", "payer-action" if experience else "approve"),
            fake.link(f"/v2/checkout/orders/{order_id}", "update", "PATCH"),
            fake.link(f"/v2/checkout/orders/{order_id}/capture", "capture", "POST"),
        ],
    }
    if experience:
        order["payment_source"] = {"paypal": {}}
    addresses = experience or body.get("application_context") or {}
    fake.orders[order_id] = {**order, "_return_url": addresses.get("return_url"), "_cancel_url": addresses.get("cancel_url")}
    return order


def order_of(fake: PayPalFake, order_id: str) -> dict[str, Any]:
    return existing(fake.orders, order_id)


def retrieve(fake: PayPalFake, body: Body, order_id: str) -> dict[str, Any]:
    order = public(order_of(fake, order_id))
    for unit in order["purchase_units"]:
        payments = unit.get("payments") or {}
        # Each capture as it is now (refunded, reversed, settled), as PayPal shows it.
        payments["captures"] = [public(fake.captures.get(c["id"], c)) for c in payments.get("captures", [])]
    return order


def approve(fake: PayPalFake, order_id: str) -> dict[str, Any]:
    """What the payer does on PayPal's approval page."""
    order = order_of(fake, order_id)
    if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
        order.update(status="APPROVED", update_time=now_text())
        order["payer"] = {"name": PAYER, "email_address": "payer@example.com", "payer_id": PAYER_ID}
        order["payment_source"] = {
            "paypal": {"email_address": "payer@example.com", "account_id": PAYER_ID, "account_status": "VERIFIED", "name": PAYER}
        }
        fake.emit("CHECKOUT.ORDER.APPROVED", "checkout-order", public(order), "An order has been approved by buyer")
    return order


def capture(fake: PayPalFake, body: Body, order_id: str) -> dict[str, Any]:
    order = order_of(fake, order_id)
    if order["status"] == "COMPLETED":
        # PayPal's own text, without a space after the full stop (its description of orders.capture-422).
        raise unprocessable("ORDER_ALREADY_CAPTURED", "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.")
    if order["status"] != "APPROVED":
        raise unprocessable(
            "ORDER_NOT_APPROVED",
            "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url "
            "returned as part of the HATEOAS links within the Create Order call or provide a valid `payment_source` in the request.",
        )
    capture_id = paypal_id()
    denied, fake.deny_next_capture = fake.deny_next_capture, False
    pending, fake.pend_next_capture = fake.pend_next_capture, None
    amount = order["purchase_units"][0]["amount"]
    captured = {
        "id": capture_id,
        "status": "DECLINED" if denied else "PENDING" if pending else "COMPLETED",
        "amount": amount,
        "final_capture": True,
        "seller_protection": {"status": "ELIGIBLE", "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
        "supplementary_data": {"related_ids": {"order_id": order_id}},
        "create_time": now_text(),
        "update_time": now_text(),
        "links": [
            fake.link(f"/v2/payments/captures/{capture_id}", "self"),
            fake.link(f"/v2/payments/captures/{capture_id}/refund", "refund", "POST"),
            fake.link(f"/v2/checkout/orders/{order_id}", "up"),
        ],
    }
    if pending and not denied:
        captured["status_details"] = {"reason": pending}
    if order["purchase_units"][0].get("custom_id") is not None:
        captured["custom_id"] = order["purchase_units"][0]["custom_id"]
    fake.captures[capture_id] = {**captured, "_refunded": "0"}
    order.update(status="COMPLETED", update_time=now_text())
    order["purchase_units"][0]["payments"] = {"captures": [captured]}
    outcome = "denied" if denied else "pending" if pending else "completed"
    summary = f"Payment {outcome} for {amount['value']} {amount['currency_code']}"
    fake.emit(f"PAYMENT.CAPTURE.{outcome.upper()}", "capture", captured, summary)
    return public(order)


# the approval page ----------------------------------------------------------------------------
def approval_page(fake: PayPalFake, request: Request) -> Response:
    order = fake.orders.get(request.args.get("token", ""))
    if order is None:
        return Response("Unknown order", status=404)
    amount = order["purchase_units"][0]["amount"]
    body = document(
        "Local PayPal",
        "local fake: no money moves",
        f'<p class="amount" id="amount">{html.escape(amount["value"])} {html.escape(amount["currency_code"])}</p>'
        f'<p class="muted" id="status">Order {html.escape(order["status"])}</p>'
        f'<form method="post"><input type="hidden" name="token" value="{html.escape(order["id"])}">'
        '<button class="primary" name="action" value="approve" id="approve">Pay with PayPal</button>'
        '<button name="action" value="cancel" id="cancel">Cancel and return</button></form>',
    )
    return Response(body, mimetype="text/html")


def approval_submit(fake: PayPalFake, request: Request) -> Response:
    order = fake.orders.get(request.form.get("token", ""))
    if order is None:
        return Response("Unknown order", status=404)
    if request.form.get("action") == "approve":
        approve(fake, order["id"])
        target = order.get("_return_url") or fake.public_url
        query = {"token": order["id"], "PayerID": PAYER_ID}
    else:
        target = order.get("_cancel_url") or fake.public_url
        query = {"token": order["id"]}
    back = f"{target}{'&' if '?' in target else '?'}{urlencode(query)}"
    return redirect(browser_return(request, back, fake.explained_returns), code=303)


def control_approve(fake: PayPalFake, request: Request, order_id: str) -> dict[str, Any]:
    return public(approve(fake, order_id))


ROUTES = (
    Route("POST", "/v2/checkout/orders", create, status=201, replayed_status=200),
    Route("GET", "/v2/checkout/orders/<order_id>", retrieve),
    Route("POST", "/v2/checkout/orders/<order_id>/capture", capture, status=201, replayed_status=200),
    Route("GET", "/checkoutnow", approval_page, Kind.PAGE),
    Route("POST", "/checkoutnow", approval_submit, Kind.PAGE),
    Route("POST", "/_fake/orders/<order_id>/approve", control_approve, Kind.CONTROL),
)
