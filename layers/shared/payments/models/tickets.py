"""Request bodies of the ticket checkout (seed 004) and of event management."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from payments import money
from payments.models.common import Amount, CurrencyCode, ObjectId, QueryInt, WholeNumber, currency_allowed

SessionId = Annotated[str, StringConstraints(pattern=r"^cs_[A-Za-z0-9_]{1,250}$")]


class PurchaseRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: ObjectId
    quantity: WholeNumber

    @field_validator("quantity")
    @classmethod
    def _quantity_in_range(cls, value: int, info: ValidationInfo) -> int:
        maximum = (info.context or {}).get("max_quantity", 10)
        if not 1 <= value <= maximum:
            raise ValueError(f"must be between 1 and {maximum}")
        return value


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_id: SessionId
    ticket_id: ObjectId


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ticket_id: ObjectId


class CreateEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    # currency before price: the price is checked against the currency's exponent.
    currency: CurrencyCode
    price: Amount
    capacity: WholeNumber

    _currency = field_validator("currency")(currency_allowed)

    @field_validator("capacity")
    @classmethod
    def _capacity_in_range(cls, value: int, info: ValidationInfo) -> int:
        maximum = (info.context or {}).get("max_capacity", 100_000)
        if not 1 <= value <= maximum:
            raise ValueError(f"must be between 1 and {maximum}")
        return value

    @field_validator("price")
    @classmethod
    def _price_valid(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if value < 0:
            raise ValueError("must not be negative")
        currency = info.data.get("currency")
        if currency is None:
            return value
        money.check_amount_precision(value, currency)
        if value != 0 and value < money.minimum_charge(currency):
            raise ValueError(f"must be 0 (free) or at least {money.minimum_charge(currency)} {currency.upper()}")
        return value


class EventPath(BaseModel):
    event_id: ObjectId


class ListEventsQuery(BaseModel):
    limit: QueryInt = Field(20, ge=1, le=100)
    after: ObjectId | None = None
