"""Request bodies of the ticket checkout (seed 004), event management, my tickets and the door."""

from __future__ import annotations

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


class CreateEventRequest(RequestModel):
    name: EventName
    price: Amount
    currency: CurrencyCode
    capacity: WholeNumber
    # How many items the seats are spread over (default: one per thousand seats); more for an on-sale.
    seat_shards: WholeNumber | None = None
    # Sell through an admission queue (docs/on-sales.md): buyers join, and reserve once admitted.
    on_sale_queue: bool | None = None

    def check(self, context: Context) -> None:
        # currency before price: the price is checked against the currency's exponent.
        currency_allowed("currency", self.currency, context)
        if self.price < 0:
            raise InvalidField("price", "must not be negative")
        check_precision("price", self.price, self.currency)
        if self.price != 0 and self.price < money.minimum_charge(self.currency):
            raise InvalidField("price", f"must be 0 (free) or at least {money.minimum_charge(self.currency)} {self.currency.upper()}")
        if self.price > money.maximum_charge(self.currency):
            raise InvalidField(
                "price", f"must be at most {money.maximum_charge(self.currency)} {self.currency.upper()}, what one charge can take"
            )
        check_range("capacity", self.capacity, 1, context.get("max_capacity", 100_000))
        if self.seat_shards is not None:
            check_range("seat_shards", self.seat_shards, 1, min(MAX_SEAT_SHARDS, self.capacity))


class EventPath(RequestModel):
    event_id: ObjectId


class TicketPath(RequestModel):
    ticket_id: ObjectId


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
