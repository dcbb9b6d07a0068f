"""Stripe's webhook events as we read them: the envelope, and for each kind of object the fields the
handlers read, each with the JSON type Stripe gives it.

A signature proves who sent an event, not that it has the shape our handlers expect: a signed event
whose ``data`` is not an object, whose ``data.object`` is missing, or whose fields are missing or of
another type was a 500 (a KeyError, a TypeError, an ``int()`` of a list), and Stripe retried it for
three days. ``check_event`` validates it first, right after the signature and before anything is
read or written: a malformed event is a 400, logged by its id, type and the field at fault (never
the values, which may hold personal or card data), and nothing is recorded, not even the event as
processed. Unknown fields are ignored (Stripe adds fields without notice); ``null`` is accepted
wherever Stripe may send it and the handlers cope. ``created`` is refused when it is later than now
plus a day's tolerance: an event's time orders its object's states, and one created at 10**99
would make every genuine later event look older and freeze the object.

Which model reads ``data.object`` goes by the event type's prefix, so an event type a handler
starts to take is checked with the object it names; a type no model names is held to the envelope
only. Models are built lazily, on the first event that needs them."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, StrictBool, StrictInt, StrictStr, ValidationError

from payments.context import system_time
from payments.errors import BadRequest
from payments.limits import FUTURE_TOLERANCE_SECONDS
from payments.models.common import ProviderPayload
from payments.observability import logger

StripeId = Annotated[StrictStr, Field(min_length=1, max_length=255)]
# Amounts in minor units and timestamps: whole JSON numbers, never negative (payments.json_input
# has already bounded every number's size).
Count = Annotated[StrictInt, Field(ge=0)]


class _Expanded(ProviderPayload):
    """An id Stripe sent expanded, as the object itself."""

    id: StripeId


Expandable = StripeId | _Expanded


class _Object(ProviderPayload):
    id: StripeId
    # The objects whose state is ordered by when their event was created.
    needs_created: ClassVar[bool] = False


class CheckoutSessionObject(_Object):
    status: StrictStr | None = None
    payment_status: StrictStr | None = None
    payment_intent: Expandable | None = None
    metadata: dict[str, StrictStr] | None = None
    client_reference_id: StrictStr | None = None
    amount_total: Count | None = None
    currency: StrictStr | None = None
    url: StrictStr | None = None


class ChargeObject(_Object):
    payment_intent: Expandable | None = None
    amount: Count | None = None
    amount_captured: Count | None = None
    amount_refunded: Count | None = None


class RefundObject(_Object):
    payment_intent: Expandable | None = None
    status: StrictStr | None = None
    amount: Count | None = None
    failure_reason: StrictStr | None = None


class DisputeObject(_Object):
    payment_intent: Expandable | None = None
    status: StrictStr | None = None
    amount: Count | None = None
    reason: StrictStr | None = None


class _PaymentError(ProviderPayload):
    code: StrictStr | None = None


class PaymentIntentObject(_Object):
    needs_created: ClassVar[bool] = True
    status: StrictStr
    amount: Count | None = None
    amount_received: Count | None = None
    currency: StrictStr | None = None
    last_payment_error: _PaymentError | None = None


class _Period(ProviderPayload):
    current_period_start: Count | None = None
    current_period_end: Count | None = None


class _SubscriptionItems(ProviderPayload):
    data: list[_Period] = Field(default_factory=list)


class SubscriptionObject(_Object):
    needs_created: ClassVar[bool] = True
    status: StrictStr
    canceled_at: Count | None = None
    cancel_at_period_end: StrictBool | None = None
    current_period_start: Count | None = None
    current_period_end: Count | None = None
    items: _SubscriptionItems | None = None


class _SubscriptionDetails(ProviderPayload):
    subscription: Expandable | None = None


class _InvoiceParent(ProviderPayload):
    subscription_details: _SubscriptionDetails | None = None


class InvoiceObject(_Object):
    needs_created: ClassVar[bool] = True
    subscription: Expandable | None = None
    parent: _InvoiceParent | None = None
    amount_due: Count | None = None


class EventData(ProviderPayload):
    object: dict[str, Any]


class StripeEvent(ProviderPayload):
    """The envelope: what every event has, whatever its type."""

    id: StripeId
    type: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    created: Count | None = None
    data: EventData


# The longest matching prefix names the object: "charge.refund.updated" carries a refund,
# "charge.dispute.closed" a dispute, "charge.refunded" a charge.
OBJECTS_BY_PREFIX: tuple[tuple[str, type[_Object]], ...] = (
    ("checkout.session.", CheckoutSessionObject),
    ("charge.dispute.", DisputeObject),
    ("charge.refund.", RefundObject),
    ("refund.", RefundObject),
    ("charge.", ChargeObject),
    ("payment_intent.", PaymentIntentObject),
    ("customer.subscription.", SubscriptionObject),
    ("invoice.", InvoiceObject),
)


def object_model(event_type: str) -> type[_Object] | None:
    return next((model for prefix, model in OBJECTS_BY_PREFIX if event_type.startswith(prefix)), None)


def check_event(event: Any, now: float | None = None) -> None:
    """Raises BadRequest (logged without values) unless ``event`` is a Stripe event whose fields we
    read have the types Stripe gives them, created no later than ``now`` plus the tolerance."""
    where = ""
    try:
        envelope = StripeEvent.model_validate(event)
        if envelope.created is not None and envelope.created > (system_time() if now is None else now) + FUTURE_TOLERANCE_SECONDS:
            raise _refused(event, "created", "in the future")
        model = object_model(envelope.type)
        if model is not None:
            if model.needs_created and envelope.created is None:
                raise _refused(event, "created", "missing")
            where = "data.object"
            model.model_validate(envelope.data.object)
    except ValidationError as error:
        detail = error.errors(include_url=False, include_input=False, include_context=False)[0]
        field = ".".join(str(part) for part in (where, *detail["loc"]) if part != "")
        raise _refused(event, field, detail["type"]) from None


def _refused(event: Any, field: str, problem: str) -> BadRequest:
    """The refusal, logged by the event's id and type and the field at fault: never a value."""
    event_id = str(event["id"])[:255] if isinstance(event, dict) and isinstance(event.get("id"), str) else None
    event_type = str(event["type"])[:255] if isinstance(event, dict) and isinstance(event.get("type"), str) else None
    logger.warning(
        "Stripe event refused as malformed", extra={"event_id": event_id, "event_type": event_type, "field": field, "problem": problem}
    )
    return BadRequest(f"Webhook body is not a well-formed Stripe event ({field}: {problem})")
