"""Request bodies of the PayPal endpoints (seed 000)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationInfo, field_validator

from payments import money
from payments.models.common import Amount, CurrencyCode

PayPalId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{5,36}$")]
# PayPal allows 127 characters; control characters would only end up on a statement or in a report.
PayPalText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=127, pattern=r"^[^\x00-\x1f\x7f]*$")]


def _currency_allowed(value: str, info: ValidationInfo) -> str:
    allowed = (info.context or {}).get("allowed_currencies")
    if allowed is not None and value not in allowed:
        raise ValueError(f"must be one of {', '.join(code.upper() for code in sorted(allowed))}")
    return value


def _amount_valid(value: Decimal, info: ValidationInfo) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    currency = info.data.get("currency")
    if currency is None:
        return value
    money.check_amount_precision(value, currency)
    maximum = (info.context or {}).get("max_amount")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum} {currency.upper()}")
    return value


class CreateOrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # currency before amount: the amount is checked against the currency's exponent.
    currency: CurrencyCode
    amount: Amount
    description: PayPalText | None = None
    custom_id: PayPalText | None = None

    _currency = field_validator("currency")(_currency_allowed)
    _amount = field_validator("amount")(_amount_valid)


class OrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: PayPalId


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capture_id: PayPalId
    currency: CurrencyCode | None = None
    amount: Amount | None = None
    note_to_payer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] | None = None

    @field_validator("amount")
    @classmethod
    def _amount_positive(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is None:
            return None
        if info.data.get("currency") is None:
            raise ValueError("needs a currency")
        return _amount_valid(value, info)
