"""Request bodies of the PayPal endpoints (seed 000)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationInfo, field_validator

from payments.models.common import Amount, CurrencyCode, currency_allowed, positive_amount

PayPalId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{5,36}$")]
# PayPal allows 127 characters; control characters would only end up on a statement or in a report.
PayPalText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=127, pattern=r"^[^\x00-\x1f\x7f]*$")]


class CreateOrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # currency before amount: the amount is checked against the currency's exponent.
    currency: CurrencyCode
    amount: Amount
    description: PayPalText | None = None
    custom_id: PayPalText | None = None

    _currency = field_validator("currency")(currency_allowed)

    @field_validator("amount")
    @classmethod
    def _amount_valid(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        return positive_amount(value, info, provider_minimum=False)


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
        return positive_amount(value, info, provider_minimum=False)
