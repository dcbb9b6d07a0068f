"""What every PayPal resource of the fake shares: PayPal's error body, ids and timestamps, and the
money check PayPal applies to every amount."""

from __future__ import annotations

import copy
import secrets
import string
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from local.provider_fake import ProviderError

ZERO_DECIMAL = {"JPY", "HUF", "TWD"}
SUPPORTED_CURRENCIES = frozenset(
    [
        "AUD",
        "BRL",
        "CAD",
        "CNY",
        "CZK",
        "DKK",
        "EUR",
        "HKD",
        "HUF",
        "ILS",
        "JPY",
        "MYR",
        "MXN",
        "TWD",
        "NZD",
        "NOK",
        "PHP",
        "PLN",
        "GBP",
        "SGD",
        "SEK",
        "CHF",
        "THB",
        "USD",
    ]
)

Body = dict[str, Any]


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def paypal_id(length: int = 17) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as PayPal shows it: without the fake's own bookkeeping (keys starting with ``_``)."""
    return {key: copy.deepcopy(value) for key, value in obj.items() if not key.startswith("_")}


class PayPalError(ProviderError):
    def __init__(
        self, status: int, name: str, message: str, issue: str | None = None, description: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message
        self.issue, self.description, self.field = issue, description, field

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "message": self.message, "debug_id": secrets.token_hex(7)}
        if self.issue:
            detail: dict[str, Any] = {"issue": self.issue, "description": self.description or self.message}
            if self.field:
                detail.update(field=self.field, location="body")
            body["details"] = [detail]
        return body


def unprocessable(issue: str, description: str, field: str | None = None) -> PayPalError:
    return PayPalError(
        422,
        "UNPROCESSABLE_ENTITY",
        "The requested action could not be performed, semantically incorrect, or failed business validation.",
        issue,
        description,
        field,
    )


def invalid(issue: str, description: str, field: str | None = None) -> PayPalError:
    return PayPalError(
        400, "INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema.", issue, description, field
    )


def not_found() -> PayPalError:
    return PayPalError(
        404,
        "RESOURCE_NOT_FOUND",
        "The specified resource does not exist.",
        "INVALID_RESOURCE_ID",
        "Specified resource ID does not exist. Please check the resource ID and try again.",
    )


def existing(objects: dict[str, dict[str, Any]], object_id: str) -> dict[str, Any]:
    """The stored object, or PayPal's 404."""
    found = objects.get(object_id)
    if found is None:
        raise not_found()
    return found


def server_error(status: int) -> PayPalError:
    """PayPal's own body for a 5xx (503: SERVICE_UNAVAILABLE, otherwise INTERNAL_SERVER_ERROR)."""
    if status == 503:
        return PayPalError(status, "SERVICE_UNAVAILABLE", "Service Unavailable.")
    return PayPalError(status, "INTERNAL_SERVER_ERROR", "An internal server error occurred.")


def check_money(money: Any, field: str) -> tuple[str, Decimal]:
    if not isinstance(money, dict) or "currency_code" not in money or "value" not in money:
        raise invalid("MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.", field)
    currency = str(money["currency_code"])
    if currency not in SUPPORTED_CURRENCIES:
        raise unprocessable("CURRENCY_NOT_SUPPORTED", "Currency code is not currently supported.", f"{field}/currency_code")
    try:
        value = Decimal(str(money["value"]))
    except InvalidOperation:
        raise invalid(
            "INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.", f"{field}/value"
        ) from None
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) else 0
    if places > (0 if currency in ZERO_DECIMAL else 2):
        raise invalid(
            "DECIMAL_PRECISION", "If the currency supports decimals, only two decimal place precision is supported.", f"{field}/value"
        )
    if value <= 0:
        raise unprocessable(
            "CANNOT_BE_ZERO_OR_NEGATIVE",
            "Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported.",
            f"{field}/value",
        )
    return currency, value


def amount_text(value: Decimal, currency: str) -> str:
    return f"{value:.0f}" if currency in ZERO_DECIMAL else f"{value:.2f}"
