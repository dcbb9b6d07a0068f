"""Customers, prices, subscriptions and their invoices. A subscription created with
``payment_behavior=default_incomplete`` waits for its first invoice's payment, confirmed by the
customer with the invoice's confirmation secret; without it the customer must have a default
payment method, as at Stripe."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from local.provider_fake import Route
from local.stripe_fake import payment_intents
from local.stripe_fake.objects import Params, StripeError, existing, from_fixture, int_param, missing, new_id

if TYPE_CHECKING:
    from local.stripe_fake.app import StripeFake

PERIOD_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


# customers ------------------------------------------------------------------------------------
def create_customer(fake: StripeFake, params: Params) -> dict[str, Any]:
    customer = from_fixture(
        "customer",
        id=new_id("cus"),
        email=params.get("email"),
        name=params.get("name"),
        description=params.get("description"),
        metadata=params.get("metadata") or {},
        created=int(fake.now()),
        balance=0,
        delinquent=False,
        discount=None,
        address=None,
        shipping=None,
        phone=None,
    )
    fake.customers[customer["id"]] = customer
    fake.emit("customer.created", customer)
    return customer


def retrieve_customer(fake: StripeFake, params: Params, cid: str) -> dict[str, Any]:
    return existing(fake.customers, "customer", cid, "customer")


# prices ---------------------------------------------------------------------------------------
def add_price(fake: StripeFake, price_id: str, unit_amount: int, currency: str, interval: str = "month") -> dict[str, Any]:
    price = from_fixture(
        "price",
        id=price_id,
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
        currency=currency,
        recurring={"interval": interval, "interval_count": 1, "meter": None, "usage_type": "licensed", "trial_period_days": None},
        created=int(fake.now()),
        type="recurring",
        transform_quantity=None,
    )
    fake.prices[price_id] = price
    return price


def create_price(fake: StripeFake, params: Params) -> dict[str, Any]:
    recurring = params.get("recurring") or {}
    return add_price(
        fake, new_id("price"), int_param(params, "unit_amount") or 0, str(params.get("currency")), recurring.get("interval", "month")
    )


def retrieve_price(fake: StripeFake, params: Params, price_id: str) -> dict[str, Any]:
    return existing(fake.prices, "price", price_id, "price")


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy plan object Stripe still returns beside each subscription item's price."""
    recurring = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price.get("active", True),
        "amount": price.get("unit_amount"),
        "amount_decimal": str(price.get("unit_amount")),
        "billing_scheme": "per_unit",
        "created": price.get("created"),
        "currency": price.get("currency"),
        "interval": recurring.get("interval", "month"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": None,
        "product": price.get("product"),
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": recurring.get("usage_type", "licensed"),
    }


# subscriptions --------------------------------------------------------------------------------
def create_subscription(fake: StripeFake, params: Params) -> dict[str, Any]:
    customer = retrieve_customer(fake, {}, str(params.get("customer")))
    items = params.get("items")
    if not isinstance(items, list) or not items:
        raise missing("items")
    price_id = str(items[0].get("price"))
    if price_id not in fake.prices:
        raise StripeError(400, "invalid_request_error", f"No such price: '{price_id}'", "resource_missing", "items[0][price]")
    price = fake.prices[price_id]
    incomplete = params.get("payment_behavior") == "default_incomplete"
    if not incomplete and not (customer.get("invoice_settings") or {}).get("default_payment_method"):
        raise StripeError(
            400,
            "invalid_request_error",
            "This customer has no attached payment source or default payment method. Please consider adding a default payment method.",
        )
    now = int(fake.now())
    period_end = now + PERIOD_SECONDS[price["recurring"]["interval"]]
    sub_id = new_id("sub")
    invoice = from_fixture(
        "invoice",
        id=new_id("in"),
        customer=customer["id"],
        status="paid",
        amount_due=price["unit_amount"],
        amount_paid=price["unit_amount"],
        amount_remaining=0,
        currency=price["currency"],
        created=now,
        period_start=now,
        period_end=period_end,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": params.get("metadata") or {}, "subscription": sub_id},
        },
    )
    invoice.pop("subscription", None)  # removed in 2025-03-31: parent.subscription_details.subscription
    fake.invoices[invoice["id"]] = invoice
    if incomplete:
        # The first invoice waits for the customer to confirm its payment (Stripe.js, with the
        # invoice's confirmation secret); paying it activates the subscription.
        intent = payment_intents.create(
            fake, {"amount": price["unit_amount"], "currency": price["currency"], "customer": customer["id"], "metadata": {}}
        )
        invoice.update(status="open", amount_paid=0, amount_remaining=price["unit_amount"])
        fake.invoice_payments[intent["id"]] = invoice["id"]
        fake.confirmation_secrets[invoice["id"]] = {"client_secret": intent["client_secret"], "type": "payment_intent"}
    subscription = from_fixture(
        "subscription",
        id=sub_id,
        customer=customer["id"],
        status="incomplete" if incomplete else "active",
        created=now,
        start_date=now,
        billing_cycle_anchor=now,
        canceled_at=None,
        cancel_at=None,
        # Stripe's example is a subscription set to end; a new one renews unless asked otherwise.
        cancel_at_period_end=str(params.get("cancel_at_period_end", "false")).lower() == "true",
        ended_at=None,
        currency=price["currency"],
        latest_invoice=invoice["id"],
        metadata=params.get("metadata") or {},
        items={
            "object": "list",
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
            "data": [
                {
                    "id": new_id("si"),
                    "object": "subscription_item",
                    "created": now,
                    "quantity": 1,
                    "price": price,
                    "plan": plan_of(price),
                    "subscription": sub_id,
                    "current_period_start": now,
                    "current_period_end": period_end,
                    "metadata": {},
                    "discounts": [],
                    "tax_rates": [],
                }
            ],
        },
    )
    fake.subscriptions[sub_id] = subscription
    fake.emit("customer.subscription.created", subscription)
    if not incomplete:
        fake.emit("invoice.paid", invoice)
    return expanded(fake, subscription, params)


def expanded(fake: StripeFake, subscription: dict[str, Any], params: Params) -> dict[str, Any]:
    """``expand[]=latest_invoice`` (and its includable ``confirmation_secret``), as Stripe expands."""
    expand = params.get("expand") or []
    if not any(str(path).startswith("latest_invoice") for path in expand):
        return subscription
    invoice = copy.deepcopy(fake.invoices[subscription["latest_invoice"]])
    if "latest_invoice.confirmation_secret" in expand:
        invoice["confirmation_secret"] = fake.confirmation_secrets.get(invoice["id"])
    return {**subscription, "latest_invoice": invoice}


def settle_invoice(fake: StripeFake, intent: dict[str, Any], paid: bool) -> None:
    """A subscription's first invoice, paid or failed by confirming its payment intent."""
    invoice_id = fake.invoice_payments.get(intent["id"])
    if invoice_id is None:
        return
    invoice = fake.invoices[invoice_id]
    if not paid:
        fake.emit("invoice.payment_failed", invoice)
        return
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
    fake.emit("invoice.paid", invoice)
    subscription = fake.subscriptions[invoice["parent"]["subscription_details"]["subscription"]]
    previous = {"status": subscription["status"]}
    subscription["status"] = "active"
    fake.emit("customer.subscription.updated", subscription, previous)


def subscription_of(fake: StripeFake, sub_id: str) -> dict[str, Any]:
    return existing(fake.subscriptions, "subscription", sub_id, "subscription")


def retrieve_subscription(fake: StripeFake, params: Params, sub_id: str) -> dict[str, Any]:
    return subscription_of(fake, sub_id)


def cancel_subscription(fake: StripeFake, params: Params, sub_id: str) -> dict[str, Any]:
    subscription = subscription_of(fake, sub_id)
    if subscription["status"] == "canceled":
        raise StripeError(
            400,
            "invalid_request_error",
            f"A canceled subscription can only update its cancellation_details and metadata. ({sub_id})",
            "resource_missing",
        )
    now = int(fake.now())
    subscription.update(status="canceled", canceled_at=now, ended_at=now)
    fake.emit("customer.subscription.deleted", subscription)
    return subscription


ROUTES = (
    Route("POST", "/v1/customers", create_customer, params="CustomerCreateParams"),
    Route("GET", "/v1/customers/<cid>", retrieve_customer, params="CustomerRetrieveParams"),
    Route("POST", "/v1/prices", create_price, params="PriceCreateParams"),
    Route("GET", "/v1/prices/<price_id>", retrieve_price, params="PriceRetrieveParams"),
    Route("POST", "/v1/subscriptions", create_subscription, params="SubscriptionCreateParams"),
    Route("GET", "/v1/subscriptions/<sub_id>", retrieve_subscription, params="SubscriptionRetrieveParams"),
    Route("DELETE", "/v1/subscriptions/<sub_id>", cancel_subscription, params="SubscriptionCancelParams"),
)
