"""Request bodies of the direct Stripe endpoints (seed 000)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from payments.models.common import Amount, CurrencyCode, currency_allowed, positive_amount

# Stripe's metadata limits: 50 keys, keys up to 40 characters without square brackets, values up to 500.
RESERVED_METADATA_KEYS = frozenset({"user_id"})


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 49:  # one key stays free for the caller's user id
        raise ValueError("at most 49 keys")
    for key, item in value.items():
        if not key or len(key) > 40 or "[" in key or "]" in key:
            raise ValueError(f"key {key[:40]!r} must be 1 to 40 characters without square brackets")
        if key in RESERVED_METADATA_KEYS:
            raise ValueError(f"key {key!r} is reserved")
        if len(item) > 500:
            raise ValueError(f"value of {key!r} is longer than 500 characters")
    return value


Metadata = Annotated[dict[Annotated[str, Field(strict=True)], Annotated[str, Field(strict=True)]], AfterValidator(_check_metadata)]
PaymentIntentId = Annotated[str, StringConstraints(pattern=r"^pi_[A-Za-z0-9]{1,250}$")]
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,250}$")]
CustomerId = Annotated[str, StringConstraints(pattern=r"^cus_[A-Za-z0-9]{1,250}$")]
PriceId = Annotated[str, StringConstraints(pattern=r"^price_[A-Za-z0-9_]{1,250}$")]
SubscriptionId = Annotated[str, StringConstraints(pattern=r"^sub_[A-Za-z0-9]{1,250}$")]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=512, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")]


class CreatePaymentIntentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # currency before amount: the amount is checked against the currency's exponent.
    currency: CurrencyCode
    amount: Amount
    metadata: Metadata = Field(default_factory=dict)
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None

    _currency = field_validator("currency")(currency_allowed)

    @field_validator("amount")
    @classmethod
    def _amount_valid(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        return positive_amount(value, info, provider_minimum=True)


class PaymentIntentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_intent_id: PaymentIntentId


class ConfirmPaymentRequest(PaymentIntentRequest):
    payment_method: PaymentMethodId | None = None
    return_url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://")] | None = None


class CreateCustomerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)] | None = None
    metadata: Metadata = Field(default_factory=dict)


class CreateSubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    price_id: PriceId
    metadata: Metadata = Field(default_factory=dict)


class CancelSubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscription_id: SubscriptionId
