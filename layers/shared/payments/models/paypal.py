"""Request bodies of the PayPal endpoints (seed 000)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from payments import money
from payments.errors import InvalidField
from payments.models.common import Amount, Context, CurrencyCode, RequestModel, Text, check_positive_amount, currency_allowed

PayPalId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{5,36}$")]


# PayPal allows 127 characters; control characters would only end up on a statement or in a report.
PayPalText = Annotated[str, Text(127, pattern=r"[^\x00-\x1f\x7f]*", says="must not contain control characters")]
RefundNote = Annotated[str, Text(255)]


class CreateOrderRequest(RequestModel):
    currency: CurrencyCode
    amount: Amount
    description: PayPalText | None = None
    custom_id: PayPalText | None = None

    def check(self, context: Context) -> None:
        currency_allowed("currency", self.currency, context)
        check_positive_amount("amount", self.amount, self.currency, context, money.Provider.PAYPAL)


class OrderRequest(RequestModel):
    order_id: PayPalId


class RefundRequest(RequestModel):
    capture_id: PayPalId
    currency: CurrencyCode | None = None
    amount: Amount | None = None
    note_to_payer: RefundNote | None = None

    def check(self, context: Context) -> None:
        if self.amount is None:
            return
        if self.currency is None:
            raise InvalidField("amount", "needs a currency")
        check_positive_amount("amount", self.amount, self.currency, context, money.Provider.PAYPAL)
