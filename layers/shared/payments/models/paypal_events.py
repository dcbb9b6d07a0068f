"""PayPal's webhook events as we read them: the envelope, and for each kind of resource the fields
the handlers in ``domain.paypal_webhooks`` read, each with the JSON type PayPal gives it.

PayPal's signature proves who sent a body, not that it is shaped as the handlers read it: a signed
event without a ``resource``, an order without an id, a ``create_time`` that is no timestamp, an
amount that is not money (``abc``, ``NaN``, ``0.001`` USD, ``-10.00``) was a 500 after the
transmission record was written, and PayPal retried it for three days. ``check_event`` validates
it right after the body parses, before anything is written (the transmission record included): a
malformed event is a 400, logged by its id, type and the field at fault (never the values, which
may hold the payer's name and address), and the reconciliation skips a listed one the same way.
Unknown fields are ignored (PayPal adds fields without notice).

Ids are bounded (they become DynamoDB keys, whose limit a 3,000-character id broke); a
``create_time`` later than now plus ``FUTURE_TOLERANCE_SECONDS`` is refused, since an event's time
orders the states of its object: one dated in the year 9999 would make every genuine later event
look older and freeze the order. Amounts are PayPal's decimal strings with no more decimals than
the currency takes (``payments.money``), and greater than zero.

Which model reads ``resource`` goes by the event type (the longest matching prefix); a type no
model names is held to the envelope only. Models are built lazily, on the first event that needs
them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StrictStr, ValidationError, model_validator

from payments import money
from payments.errors import BadRequest
from payments.limits import FUTURE_TOLERANCE_SECONDS
from payments.models.common import ProviderPayload
from payments.observability import logger
from payments.timestamps import paypal_epoch

# PayPal's ids are 17 to 40 characters or so; 255 is room for any of them, far below DynamoDB's key limit.
PayPalId = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Text = Annotated[StrictStr, Field(max_length=255)]
# PayPal's own pattern for money values (its OpenAPI ``money.value``), bounded in length.
VALUE_PATTERN = r"^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$"


class Money(ProviderPayload):
    """A PayPal money object, an amount greater than zero in its currency's decimals."""

    currency_code: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]
    value: Annotated[StrictStr, Field(max_length=32, pattern=VALUE_PATTERN)]

    @model_validator(mode="after")
    def _is_money(self) -> Money:
        amount = Decimal(self.value)  # the pattern admits only finite decimal text
        money.check_amount_precision(amount, self.currency_code, money.Provider.PAYPAL)
        if amount <= 0:
            raise ValueError("must be greater than zero")
        return self


class _Resource(ProviderPayload):
    id: PayPalId


class OrderResource(_Resource):
    status: Text | None = None


class _RelatedIds(ProviderPayload):
    order_id: PayPalId | None = None


class _SupplementaryData(ProviderPayload):
    related_ids: _RelatedIds | None = None


class CaptureResource(_Resource):
    status: Text
    supplementary_data: _SupplementaryData | None = None
    amount: Money | None = None


class _Link(ProviderPayload):
    rel: Text | None = None
    href: Annotated[StrictStr, Field(max_length=2048)] | None = None


class RefundResource(_Resource):
    """A refund, or a reversal (PayPal gives a reversal as a refund): its "up" link names the capture."""

    status: Text | None = None
    amount: Money
    links: list[_Link] | None = None
    create_time: Annotated[StrictStr, Field(max_length=64)] | None = None
    custom_id: Text | None = None


class PayPalEvent(ProviderPayload):
    """The envelope: what every event has, whatever its type."""

    id: PayPalId
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    create_time: Annotated[StrictStr, Field(max_length=64)] | None = None
    resource: Any = None


# The longest matching prefix names the resource: refunds and reversals before other capture events.
RESOURCES_BY_PREFIX: tuple[tuple[str, type[_Resource]], ...] = (
    ("CHECKOUT.ORDER.", OrderResource),
    ("PAYMENT.CAPTURE.REFUNDED", RefundResource),
    ("PAYMENT.CAPTURE.REVERSED", RefundResource),
    ("PAYMENT.CAPTURE.", CaptureResource),
)


def resource_model(event_type: str) -> type[_Resource] | None:
    return next((model for prefix, model in RESOURCES_BY_PREFIX if event_type.startswith(prefix)), None)


def check_event(event: Any, now: float) -> None:
    """Raises BadRequest (logged without values) unless ``event`` is a PayPal event whose fields we
    read have the types PayPal gives them, created no later than ``now`` plus the tolerance."""
    where = ""
    try:
        envelope = PayPalEvent.model_validate(event)
        if envelope.create_time is not None:
            try:
                created = paypal_epoch(envelope.create_time)
            except ValueError:
                raise _refused(event, "create_time", "not a timestamp") from None
            if created > now + FUTURE_TOLERANCE_SECONDS:
                raise _refused(event, "create_time", "in the future")
        model = resource_model(envelope.event_type)
        if model is not None:
            where = "resource"
            model.model_validate(envelope.resource)
    except ValidationError as error:
        detail = error.errors(include_url=False, include_input=False, include_context=False)[0]
        field = ".".join(str(part) for part in (where, *detail["loc"]) if part != "")
        raise _refused(event, field, detail["type"]) from None


def _refused(event: Any, field: str, problem: str) -> BadRequest:
    """The refusal, logged by the event's id and type and the field at fault: never a value."""
    event_id = event["id"][:255] if isinstance(event, dict) and isinstance(event.get("id"), str) else None
    event_type = event["event_type"][:255] if isinstance(event, dict) and isinstance(event.get("event_type"), str) else None
    logger.warning(
        "PayPal event refused as malformed", extra={"event_id": event_id, "event_type": event_type, "field": field, "problem": problem}
    )
    return BadRequest(f"Webhook body is not a well-formed PayPal event ({field}: {problem})")
