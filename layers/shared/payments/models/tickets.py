"""Request bodies of the ticket checkout (seed 004), event management, my tickets and the door."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import StringConstraints

from payments import money
from payments.errors import InvalidField
from payments.limits import MAX_SEAT_SHARDS
from payments.models.common import (
    Amount,
    Context,
    CurrencyCode,
    ObjectId,
    QueryInt,
    RequestModel,
    Text,
    WholeNumber,
    check_precision,
    check_range,
    currency_allowed,
)

SessionId = Annotated[str, StringConstraints(pattern=r"^cs_[A-Za-z0-9_]{1,250}$")]
# What joining an event's queue answered (payments.domain.queue.sign_pass): two base64url parts.
QueuePassText = Annotated[
    str, Text(1000, pattern=r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", says="must be the queue_pass that joining the event's queue answered")
]
EventName = Annotated[str, Text(200)]
EventDescription = Annotated[str, Text(2000)]
# Unix seconds, as every time of the API (``created_at``, ``expires_at``): from 1970 to the year 3000.
MAX_UNIX_SECONDS = 32_503_680_000
RefundReason = Annotated[str, Text(200)]
# What a ticket's QR code holds: its code, a UUID as the purchase wrote it. Any length up to a pasted
# line, so that a wrong one gets the pattern's message; typed at the door it may come in capitals.
TicketCode = Annotated[
    str,
    Text(
        200,
        pattern=r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        says="must be a ticket code (the text of the ticket's QR code)",
        lower=True,
    ),
]


class PurchaseRequest(RequestModel):
    event_id: ObjectId
    quantity: WholeNumber
    # Seed 004 tells its frontend that it need not send the total ("the backend automatically
    # handles it"): one that still does is served, and the figure is never read. The price is
    # the event's; any other field (``price``, ``amount``) is refused as unknown.
    total_amount: Amount | None = None
    # An event sold through a queue: the buyer's pass, from joining it (or their last poll).
    queue_pass: QueuePassText | None = None

    def check(self, context: Context) -> None:
        check_range("quantity", self.quantity, 1, context.get("max_quantity", 10))


class VerifyRequest(RequestModel):
    session_id: SessionId
    ticket_id: ObjectId


class CancelRequest(RequestModel):
    ticket_id: ObjectId


class RefundTicketRequest(RequestModel):
    ticket_id: ObjectId
    reason: RefundReason | None = None
    # Seats to refund (docs/lifecycle.md, partial refunds): 1 to the seats the ticket still holds,
    # checked against the ticket by the domain; absent, the whole ticket.
    quantity: WholeNumber | None = None

    def check(self, context: Context) -> None:
        if self.quantity is not None:
            check_range("quantity", self.quantity, 1, context.get("max_quantity", 10))


class CreateEventRequest(RequestModel):
    name: EventName
    price: Amount
    currency: CurrencyCode
    capacity: WholeNumber
    # How many items the seats are spread over (default: one per thousand seats); more for an on-sale.
    seat_shards: WholeNumber | None = None
    # Sell through an admission queue (docs/on-sales.md): buyers join, and reserve once admitted.
    on_sale_queue: bool | None = None
    # docs/events.md: shown with the event; the sale window (Unix seconds) refuses purchases outside it.
    description: EventDescription | None = None
    starts_at: WholeNumber | None = None
    opens_at: WholeNumber | None = None
    closes_at: WholeNumber | None = None

    def check(self, context: Context) -> None:
        # currency before price: the price is checked against the currency's exponent.
        currency_allowed("currency", self.currency, context)
        check_event_price("price", self.price, self.currency)
        check_range("capacity", self.capacity, 1, context.get("max_capacity", 100_000))
        if self.seat_shards is not None:
            check_range("seat_shards", self.seat_shards, 1, min(MAX_SEAT_SHARDS, self.capacity))
        check_times(self.starts_at, self.opens_at, self.closes_at)


class UpdateEventRequest(RequestModel):
    """A staff edit of an event: only the fields sent change. ``null`` clears the optional ones
    (description and the dates); the others cannot be cleared. Price and capacity are checked
    against the event as read (its currency, its seats held and sold) by the domain."""

    name: EventName | None = None
    description: EventDescription | None = None
    price: Amount | None = None
    capacity: WholeNumber | None = None
    starts_at: WholeNumber | None = None
    opens_at: WholeNumber | None = None
    closes_at: WholeNumber | None = None
    sales_paused: bool | None = None

    def check(self, context: Context) -> None:
        if not self.model_fields_set:
            raise InvalidField("body", "must name at least one field to change")
        for field in ("name", "price", "capacity", "sales_paused"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise InvalidField(field, "must not be null")
        if self.price is not None and self.price < 0:
            raise InvalidField("price", "must not be negative")
        if self.capacity is not None:
            check_range("capacity", self.capacity, 1, context.get("max_capacity", 100_000))
        check_times(self.starts_at, self.opens_at, self.closes_at)

    @property
    def changes(self) -> dict[str, object]:
        """The fields sent, with their values (None: cleared)."""
        return {field: getattr(self, field) for field in sorted(self.model_fields_set)}

    def check_price(self, currency: str) -> None:
        """The new price in the event's currency (known once the event is read)."""
        if self.price is not None:
            check_event_price("price", self.price, currency)


def check_event_price(field: str, price: Decimal, currency: str) -> None:
    """0 (free), or a price Stripe can charge in one payment, no finer than the currency allows."""
    if price < 0:
        raise InvalidField(field, "must not be negative")
    check_precision(field, price, currency)
    if price != 0 and price < money.minimum_charge(currency):
        raise InvalidField(field, f"must be 0 (free) or at least {money.minimum_charge(currency)} {currency.upper()}")
    if price > money.maximum_charge(currency):
        raise InvalidField(field, f"must be at most {money.maximum_charge(currency)} {currency.upper()}, what one charge can take")


def check_times(starts_at: int | None, opens_at: int | None, closes_at: int | None) -> None:
    """Each time within Unix seconds' range; a window given whole closes after it opens."""
    for field, value in (("starts_at", starts_at), ("opens_at", opens_at), ("closes_at", closes_at)):
        if value is not None:
            check_range(field, value, 0, MAX_UNIX_SECONDS)
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise InvalidField("closes_at", "must be after opens_at")


class EventPath(RequestModel):
    event_id: ObjectId


class TicketPath(RequestModel):
    ticket_id: ObjectId


class QueueStatusQuery(RequestModel):
    """``?queue_pass=...`` of the queue's status (its queue_status_url): without one, a 403 from the
    service (nothing read); CloudFront forwards no other parameter."""

    queue_pass: QueuePassText | None = None


class AttendeesQuery(RequestModel):
    """``?limit=1000&cursor=<X-Next-Cursor>`` of the attendee export (payments.domain.attendees)."""

    limit: QueryInt = 1000
    # Its form only; the domain checks that it names a ticket of the event (a 400 naming it otherwise).
    cursor: Annotated[str, Text(200, pattern=r"[A-Za-z0-9_-]+", says="must be the X-Next-Cursor of the previous page")] | None = None

    def check(self, context: Context) -> None:
        check_range("limit", self.limit, 1, 5000)


class CheckInRequest(RequestModel):
    ticket_code: TicketCode
    # The event whose door this is: a ticket of any other event is refused.
    event_id: ObjectId
    # How many of the ticket's people come in now; without it, everyone not yet admitted.
    count: WholeNumber | None = None

    def check(self, context: Context) -> None:
        if self.count is not None:
            check_range("count", self.count, 1, context.get("max_quantity", 10))


class PageQuery(RequestModel):
    """``?limit=20&after=<id>`` of the lists (events, my tickets)."""

    # Any other parameter (a cache buster, a tracking tag) is refused by name, as in a body: a
    # misspelt ``limt=5`` would otherwise quietly give a page of 20.
    limit: QueryInt = 20
    after: ObjectId | None = None

    def check(self, context: Context) -> None:
        check_range("limit", self.limit, 1, 100)
