"""PaymentIntents: created, confirmed with Stripe's test payment methods (declined, 3-D Secure,
succeeding), cancelled and listed."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from local.provider_fake import Route
from local.stripe_fake.objects import (
    MAXIMUM_AMOUNT,
    Params,
    StripeError,
    check_charge_amount,
    existing,
    from_fixture,
    int_param,
    list_of,
    missing,
    new_id,
    too_large,
)

if TYPE_CHECKING:
    from local.stripe_fake.app import StripeFake

MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "kwd": 200}
# Stripe's test payment methods and what confirming with them does.
DECLINING_METHODS = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_visa_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
}
ACTION_METHODS = {"pm_card_threeDSecure2Required", "pm_card_authenticationRequired"}
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


def create(fake: StripeFake, params: Params) -> dict[str, Any]:
    amount = int_param(params, "amount") or 0
    currency = str(params.get("currency") or "").lower()
    if not currency:
        raise missing("currency")
    check_charge_amount(amount, currency, "amount")
    minimum = MINIMUM_AMOUNTS.get(currency, 50)
    if amount < minimum:
        raise StripeError(400, "invalid_request_error", f"Amount must be at least {minimum} {currency}", "amount_too_small", "amount")
    if amount > MAXIMUM_AMOUNT:
        raise too_large("amount")
    intent = from_fixture(
        "payment_intent",
        id=new_id("pi"),
        amount=amount,
        amount_received=0,
        currency=currency,
        status="requires_payment_method",
        created=int(fake.now()),
        canceled_at=None,
        cancellation_reason=None,
        customer=params.get("customer"),
        description=params.get("description"),
        last_payment_error=None,
        latest_charge=None,
        next_action=None,
        metadata=params.get("metadata") or {},
        payment_method=params.get("payment_method"),
        # The default since 2024-04-10 (Stripe's changelog, "automatic_async as the default capture method").
        capture_method=params.get("capture_method") or "automatic_async",
        processing=None,
        automatic_payment_methods={"enabled": str((params.get("automatic_payment_methods") or {}).get("enabled")).lower() == "true"},
    )
    intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
    if intent["payment_method"]:
        intent["status"] = "requires_confirmation"
    fake.payment_intents[intent["id"]] = intent
    fake.emit("payment_intent.created", intent)
    return intent


def intent_of(fake: StripeFake, pid: str) -> dict[str, Any]:
    return existing(fake.payment_intents, "payment_intent", pid, "intent")


def retrieve(fake: StripeFake, params: Params, pid: str) -> dict[str, Any]:
    return intent_of(fake, pid)


def list_intents(fake: StripeFake, params: Params) -> dict[str, Any]:
    return list_of("/v1/payment_intents", fake.payment_intents.values(), params)


def confirm(fake: StripeFake, params: Params, pid: str) -> dict[str, Any]:
    intent = intent_of(fake, pid)
    if intent["status"] not in CONFIRMABLE:
        raise StripeError(
            400,
            "invalid_request_error",
            f"This PaymentIntent's status is {intent['status']}, so it cannot be confirmed.",
            "payment_intent_unexpected_state",
        )
    method = params.get("payment_method") or intent.get("payment_method")
    if not method:
        raise StripeError(
            400,
            "invalid_request_error",
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            "payment_intent_unexpected_state",
        )
    automatic = intent.get("automatic_payment_methods") or {}
    if automatic.get("enabled") and automatic.get("allow_redirects") != "never" and not params.get("return_url"):
        raise StripeError(
            400,
            "invalid_request_error",
            "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some of these "
            "payment methods might redirect your customer off of your page, you must provide a `return_url`.",
            None,
            "return_url",
        )
    intent["payment_method"] = method
    if method in DECLINING_METHODS:
        intent.update(
            status="requires_payment_method",
            last_payment_error={
                "type": "card_error",
                "code": "card_declined",
                "decline_code": DECLINING_METHODS[method],
                "message": "Your card was declined.",
            },
        )
        fake.emit("payment_intent.payment_failed", intent)
        fake.intent_settled(intent, paid=False)
        raise StripeError(402, "card_error", "Your card was declined.", "card_declined")
    if method in ACTION_METHODS and intent["status"] != "requires_action":
        intent.update(
            status="requires_action", next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
        )
        return intent
    succeed(fake, intent)
    return intent


def succeed(fake: StripeFake, intent: dict[str, Any]) -> None:
    intent.update(
        status="succeeded", amount_received=intent["amount"], next_action=None, last_payment_error=None, latest_charge=new_id("ch")
    )
    fake.emit("payment_intent.succeeded", intent)
    fake.intent_settled(intent, paid=True)


def cancel(fake: StripeFake, params: Params, pid: str) -> dict[str, Any]:
    intent = intent_of(fake, pid)
    if intent["status"] in ("succeeded", "canceled"):
        raise StripeError(
            400,
            "invalid_request_error",
            f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
            "payment_intent_unexpected_state",
        )
    intent.update(
        status="canceled", canceled_at=int(fake.now()), cancellation_reason=params.get("cancellation_reason") or "requested_by_customer"
    )
    fake.emit("payment_intent.canceled", intent)
    return intent


def authenticate(fake: StripeFake, pid: str) -> dict[str, Any]:
    """The customer completes 3-D Secure in Stripe.js."""
    intent = intent_of(fake, pid)
    if intent["status"] == "requires_action":
        succeed(fake, intent)
    return intent


ROUTES = (
    Route("POST", "/v1/payment_intents", create, params="PaymentIntentCreateParams"),
    Route("GET", "/v1/payment_intents", list_intents, params="PaymentIntentListParams"),
    Route("GET", "/v1/payment_intents/<pid>", retrieve, params="PaymentIntentRetrieveParams"),
    Route("POST", "/v1/payment_intents/<pid>/confirm", confirm, params="PaymentIntentConfirmParams"),
    Route("POST", "/v1/payment_intents/<pid>/cancel", cancel, params="PaymentIntentCancelParams"),
)
