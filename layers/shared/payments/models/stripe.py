"""Request bodies of the direct Stripe endpoints (seed 000)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from payments import money
from payments.errors import InvalidField
from payments.models.common import Amount, Context, CurrencyCode, RequestModel, Text, check_positive_amount, currency_allowed

# Stripe's metadata limits: 50 keys, keys up to 40 characters without square brackets, values up to 500.
RESERVED_METADATA_KEYS = frozenset({"user_id"})

PaymentIntentId = Annotated[str, StringConstraints(pattern=r"^pi_[A-Za-z0-9]{1,250}$")]
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,250}$")]
CustomerId = Annotated[str, StringConstraints(pattern=r"^cus_[A-Za-z0-9]{1,250}$")]
PriceId = Annotated[str, StringConstraints(pattern=r"^price_[A-Za-z0-9_]{1,250}$")]
SubscriptionId = Annotated[str, StringConstraints(pattern=r"^sub_[A-Za-z0-9]{1,250}$")]
ReturnUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://")]
Description = Annotated[str, StringConstraints(max_length=1000)]


Email = Annotated[str, Text(512, pattern=r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", says="must be an email address")]
CustomerName = Annotated[str, Text(256)]


def check_metadata(value: dict[str, str]) -> None:
    if len(value) > 49:  # one key stays free for the caller's user id
        raise InvalidField("metadata", "at most 49 keys")
    for key, item in value.items():
        if not key or len(key) > 40 or "[" in key or "]" in key:
            raise InvalidField("metadata", f"key {key[:40]!r} must be 1 to 40 characters without square brackets")
        if key in RESERVED_METADATA_KEYS:
            raise InvalidField("metadata", f"key {key!r} is reserved")
        if len(item) > 500:
            raise InvalidField("metadata", f"value of {key!r} is longer than 500 characters")


class CreatePaymentIntentRequest(RequestModel):
    currency: CurrencyCode
    amount: Amount
    metadata: dict[str, str] = Field(default_factory=dict)
    description: Description | None = None

    def check(self, context: Context) -> None:
        # currency before amount: the amount is checked against the currency's exponent.
        currency_allowed("currency", self.currency, context)
        check_positive_amount("amount", self.amount, self.currency, context, money.Provider.STRIPE)
        check_metadata(self.metadata)


class PaymentIntentRequest(RequestModel):
    payment_intent_id: PaymentIntentId


class ConfirmPaymentRequest(PaymentIntentRequest):
    payment_method: PaymentMethodId | None = None
    return_url: ReturnUrl | None = None


class CreateCustomerRequest(RequestModel):
    email: Email
    name: CustomerName | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    def check(self, context: Context) -> None:
        check_metadata(self.metadata)


class CreateSubscriptionRequest(RequestModel):
    customer_id: CustomerId
    price_id: PriceId
    metadata: dict[str, str] = Field(default_factory=dict)

    def check(self, context: Context) -> None:
        check_metadata(self.metadata)


class CancelSubscriptionRequest(RequestModel):
    subscription_id: SubscriptionId
