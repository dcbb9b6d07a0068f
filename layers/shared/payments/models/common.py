"""Field types shared by request models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, ValidationInfo

from payments import money


def _whole_number(value: Any) -> Any:
    # Ids come from JSON numbers or from URL parameters as strings of digits; nothing else.
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    raise ValueError("must be a whole number")


def _strict_int(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError("must be a whole number")
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise ValueError("must be a whole number")
    return int(value)


def _json_number(value: Any) -> Any:
    # Amounts are JSON numbers (parsed as Decimal by payments.http); strings and booleans are not.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError("must be a number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("must be a finite number")
    return Decimal(value)


ObjectId = Annotated[int, BeforeValidator(_whole_number), Field(ge=1)]
QueryInt = Annotated[int, BeforeValidator(_whole_number)]
WholeNumber = Annotated[int, BeforeValidator(_strict_int)]
Amount = Annotated[Decimal, BeforeValidator(_json_number)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_lower=True)]


def currency_allowed(value: str, info: ValidationInfo) -> str:
    """A field validator: the currency must be in the handler's ``allowed_currencies`` context."""
    allowed = (info.context or {}).get("allowed_currencies")
    if allowed is not None and value not in allowed:
        raise ValueError(f"must be one of {', '.join(sorted(allowed))}")
    return value


def positive_amount(value: Decimal, info: ValidationInfo, *, provider_minimum: bool) -> Decimal:
    """A positive amount with no more decimals than the (already validated) currency allows, within
    the context's ``max_amount``; with ``provider_minimum``, at least Stripe's minimum charge."""
    if value <= 0:
        raise ValueError("must be greater than 0")
    currency = info.data.get("currency")
    if currency is None:
        return value
    money.check_amount_precision(value, currency)
    if provider_minimum and value < money.minimum_charge(currency):
        raise ValueError(f"must be at least {money.minimum_charge(currency)} {currency.upper()}")
    maximum = (info.context or {}).get("max_amount")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum} {currency.upper()}")
    return value
