"""The shapes of PayPal's objects, read and written the same way wherever they turn up: the
capture call, the webhook, the reconciliation. Pure functions over PayPal's JSON, so the domain's
PayPal services use them without importing the provider's client."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from payments import money

# Within one second, a later status of a capture wins over an earlier one.
CAPTURE_RANK = {"PENDING": 0, "COMPLETED": 1, "DECLINED": 2, "FAILED": 2, "PARTIALLY_REFUNDED": 3, "REFUNDED": 4}


def paypal_value(amount: Decimal, currency: str) -> str:
    """PayPal's string amount with exactly the currency's decimals ("29.99", "5000")."""
    return f"{amount:.{money.rule(currency, money.Provider.PAYPAL).places}f}"


def paypal_money(minor: int, currency: str) -> dict[str, str]:
    """PayPal's money object for an amount in PayPal's minor units."""
    return {
        "currency_code": currency.upper(),
        "value": paypal_value(money.to_major_units(minor, currency, money.Provider.PAYPAL), currency),
    }


def minor_units(amount: dict[str, Any], currency: str | None = None) -> int:
    """A PayPal money object ({"currency_code", "value"}) in PayPal's minor units (HUF 5000 is 5000)."""
    code = currency or str(amount.get("currency_code", "USD"))
    return money.to_minor_units(Decimal(str(amount.get("value", "0"))), code, money.Provider.PAYPAL)


def capture_state(capture: dict[str, Any], order_id: str) -> dict[str, Any]:
    """What the payments table keeps of a PayPal capture, wherever it is first learned of."""
    amount = capture.get("amount") or {}
    return {
        "status": capture.get("status"),
        "order_id": order_id,
        "value": amount.get("value"),
        "currency": amount.get("currency_code"),
        "amount_minor": minor_units(amount),
        # What can still go back: lowered by each refund reserved or recorded (repositories.paypal_refunds).
        "refunded_minor": 0,
        "refundable_minor": minor_units(amount),
    }


def first_capture(order: dict[str, Any]) -> dict[str, Any] | None:
    for unit in order.get("purchase_units") or []:
        captures = (unit.get("payments") or {}).get("captures") or []
        if captures:
            return dict(captures[0])
    return None


def first_refunds(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The refunds an order lists (GET /v2/checkout/orders/{id}: purchase_units[].payments.refunds)."""
    return [dict(refund) for unit in order.get("purchase_units") or [] for refund in (unit.get("payments") or {}).get("refunds") or []]


def refunded_capture_id(refund: dict[str, Any]) -> str | None:
    """The capture a refund belongs to: its "up" link (/v2/payments/captures/{id})."""
    for link in refund.get("links") or []:
        href = str(link.get("href", ""))
        if link.get("rel") == "up" and "/captures/" in href:
            return href.rstrip("/").rsplit("/", 1)[-1]
    return None
