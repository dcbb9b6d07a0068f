"""Checkout Sessions: created by the API, paid or cancelled on the hosted page, expired by Stripe or
by the API, and settled days later when the customer chose a delayed payment method."""

from __future__ import annotations

import html
import secrets
from typing import TYPE_CHECKING, Any

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from local.pages import browser_return, document
from local.provider_fake import Kind, Route
from local.stripe_fake.objects import (
    MAXIMUM_AMOUNT,
    Params,
    StripeError,
    check_charge_amount,
    existing,
    from_fixture,
    int_param,
    list_of,
    major_units,
    missing,
    new_id,
    public,
    too_large,
)
from local.stripe_fake.payment_intents import MINIMUM_AMOUNTS

if TYPE_CHECKING:
    from local.stripe_fake.app import StripeFake

MIN_EXPIRY = 1800
MAX_EXPIRY = 86400


def create(fake: StripeFake, params: Params) -> dict[str, Any]:
    if params.get("mode") != "payment":
        raise StripeError(400, "invalid_request_error", "The local Stripe fake supports mode=payment only.", None, "mode")
    if not params.get("success_url"):
        raise missing("success_url")
    items = params.get("line_items")
    if not isinstance(items, list) or not items:
        raise missing("line_items")
    total, currency = 0, ""
    for index, item in enumerate(items):
        price = item.get("price_data") or {}
        unit_amount = int_param(price, "unit_amount") or 0
        quantity = int_param(item, "quantity") or 0
        if not price.get("currency") or not (price.get("product_data") or {}).get("name"):
            raise missing(f"line_items[{index}][price_data]")
        if quantity < 1:
            raise StripeError(
                400, "invalid_request_error", "Quantity must be at least 1.", "parameter_invalid_integer", f"line_items[{index}][quantity]"
            )
        currency = price["currency"].lower()
        check_charge_amount(unit_amount, currency, f"line_items[{index}][price_data][unit_amount]")
        total += unit_amount * quantity
    if total > MAXIMUM_AMOUNT:
        raise too_large("line_items")
    minimum = MINIMUM_AMOUNTS.get(currency, 50)
    if total < minimum:
        # Stripe's own refusal names the minimum with the currency's symbol ("at least €0.50 eur").
        raise StripeError(
            400,
            "invalid_request_error",
            f"The Checkout Session's total amount due must add up to at least {major_units(minimum, currency)}",
        )
    now = int(fake.now())
    expires_at = int_param(params, "expires_at", required=False) or now + MAX_EXPIRY
    if not now + MIN_EXPIRY <= expires_at <= now + MAX_EXPIRY:
        raise StripeError(
            400,
            "invalid_request_error",
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            "parameter_invalid_integer",
            "expires_at",
        )
    sid = "cs_test_" + secrets.token_urlsafe(40).replace("-", "").replace("_", "")[:58]
    session = from_fixture(
        "checkout.session",
        id=sid,
        url=f"{fake.public_url}/checkout/pay/{sid}",
        status="open",
        payment_status="unpaid",
        payment_intent=None,
        amount_subtotal=total,
        amount_total=total,
        currency=currency,
        created=now,
        expires_at=expires_at,
        success_url=params["success_url"],
        cancel_url=params.get("cancel_url"),
        client_reference_id=params.get("client_reference_id"),
        metadata=params.get("metadata") or {},
        mode="payment",
        customer_details=None,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
    )
    intent_data = params.get("payment_intent_data") or {}
    session["_payment_intent_metadata"] = intent_data.get("metadata") or {}
    session["_capture_method"] = intent_data.get("capture_method") or "automatic_async"  # Stripe's default since 2024-04-10
    fake.sessions[sid] = session
    return public(session)


def session_of(fake: StripeFake, sid: str) -> dict[str, Any]:
    return existing(fake.sessions, "checkout.session", sid, "session")


def retrieve(fake: StripeFake, params: Params, sid: str) -> dict[str, Any]:
    return public(session_of(fake, sid))


def list_sessions(fake: StripeFake, params: Params) -> dict[str, Any]:
    return list_of("/v1/checkout/sessions", (public(session) for session in fake.sessions.values()), params)


def expire(fake: StripeFake, params: Params, sid: str) -> dict[str, Any]:
    session = session_of(fake, sid)
    if session["status"] != "open":
        raise StripeError(400, "invalid_request_error", 'Only Checkout Sessions with a status in ["open"] can be expired.')
    session.update(status="expired", url=None)  # Stripe keeps `url` only while the session is open
    fake.emit("checkout.session.expired", public(session))
    return public(session)


def complete(fake: StripeFake, sid: str, paid: bool = True) -> dict[str, Any]:
    """What a customer paying on the Checkout page does; returns the emitted event. Unpaid: a
    delayed payment method (a bank debit) that settles later."""
    session = session_of(fake, sid)
    if session["status"] != "open":
        raise StripeError(400, "invalid_request_error", "This Checkout Session is no longer open.")
    intent = from_fixture(
        "payment_intent",
        id=new_id("pi"),
        amount=session["amount_total"],
        amount_received=session["amount_total"] if paid else 0,
        currency=session["currency"],
        status="succeeded" if paid else "processing",
        created=int(fake.now()),
        canceled_at=None,
        client_secret=None,
        last_payment_error=None,
        next_action=None,
        metadata=session["_payment_intent_metadata"],
        capture_method=session["_capture_method"],
        latest_charge=new_id("ch"),
    )
    intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
    fake.payment_intents[intent["id"]] = intent
    session.update(status="complete", payment_status="paid" if paid else "unpaid", payment_intent=intent["id"], url=None)
    return fake.emit("checkout.session.completed", public(session))


def settle_delayed_payment(fake: StripeFake, sid: str, succeeded: bool) -> dict[str, Any]:
    """A delayed payment method of a completed session settles, days later; returns the event."""
    session = session_of(fake, sid)
    if session["status"] != "complete" or session["payment_status"] != "unpaid":
        raise StripeError(400, "invalid_request_error", "This Checkout Session has no payment processing.")
    intent = fake.payment_intents[str(session["payment_intent"])]
    if succeeded:
        intent.update(status="succeeded", amount_received=intent["amount"])
        session["payment_status"] = "paid"
        return fake.emit("checkout.session.async_payment_succeeded", public(session))
    intent.update(
        status="requires_payment_method",
        last_payment_error={"type": "card_error", "code": "payment_method_provider_decline", "message": "The debit failed."},
    )
    return fake.emit("checkout.session.async_payment_failed", public(session))


def expire_due(fake: StripeFake, moment: float) -> list[str]:
    """Stripe expires open sessions at their ``expires_at`` and sends ``checkout.session.expired``."""
    due = [sid for sid, session in fake.sessions.items() if session["status"] == "open" and session["expires_at"] <= moment]
    for sid in due:
        expire(fake, {}, sid)
    return due


# the hosted page -----------------------------------------------------------------------------
def page(fake: StripeFake, request: Request, sid: str) -> Response:
    session = fake.sessions.get(sid)
    if session is None:
        return Response("Unknown Checkout Session", status=404)
    amount = major_units(int(session["amount_total"]), str(session["currency"]))
    state = html.escape(session["status"])
    body = document(
        "Local Stripe Checkout",
        "local fake: no money moves",
        f'<p class="amount" id="amount">{html.escape(amount)}</p><p class="muted" id="status">Session {state}</p>'
        '<form method="post"><button class="primary" name="action" value="pay" id="pay">Pay</button>'
        '<button name="action" value="cancel" id="cancel">Cancel</button></form>',
    )
    return Response(body, mimetype="text/html")


def submit(fake: StripeFake, request: Request, sid: str) -> Response:
    session = fake.sessions.get(sid)
    if session is None:
        return Response("Unknown Checkout Session", status=404)
    if request.form.get("action") == "pay" and session["status"] == "open":
        complete(fake, sid)
        success = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", sid)
        return redirect(browser_return(request, success, fake.explained_returns), code=303)
    cancel = session.get("cancel_url")
    return redirect(browser_return(request, str(cancel), fake.explained_returns) if cancel else fake.public_url, code=303)


# test controls --------------------------------------------------------------------------------
def control_complete(fake: StripeFake, request: Request, sid: str) -> dict[str, Any]:
    options = request.get_json(silent=True) or {}
    return complete(fake, sid, paid=options.get("paid", True))


def control_expire(fake: StripeFake, request: Request, sid: str) -> dict[str, Any]:
    expire(fake, {}, sid)
    return fake.events[-1]


ROUTES = (
    Route("POST", "/v1/checkout/sessions", create, params="checkout.SessionCreateParams"),
    Route("GET", "/v1/checkout/sessions", list_sessions, params="checkout.SessionListParams"),
    Route("GET", "/v1/checkout/sessions/<sid>", retrieve, params="checkout.SessionRetrieveParams"),
    Route("POST", "/v1/checkout/sessions/<sid>/expire", expire, params="checkout.SessionExpireParams"),
    Route("GET", "/checkout/pay/<sid>", page, Kind.PAGE),
    Route("POST", "/checkout/pay/<sid>", submit, Kind.PAGE),
    Route("POST", "/_fake/checkout/sessions/<sid>/complete", control_complete, Kind.CONTROL),
    Route("POST", "/_fake/checkout/sessions/<sid>/expire", control_expire, Kind.CONTROL),
)
