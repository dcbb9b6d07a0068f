"""Event management: staff create events and see their sales; anyone signed in reads one with its
seats left."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from payments import money
from payments.auth import Caller
from payments.context import system_time
from payments.domain.lifecycle import UNPAID_HOLDS, Event, TicketStatus, seat_shards_for
from payments.domain.ports import EventStore, StateChanged
from payments.errors import Conflict, NotFound
from payments.observability import audit

# Request models only annotate here: a function that validates none (a webhook) never imports them.
if TYPE_CHECKING:
    from payments.models.tickets import CreateEventRequest


@dataclass(frozen=True)
class Sales:
    """An event's sales counted from its tickets: seats ``sold`` (paid or free), ``held`` (reserved
    or with a payment processing), ``refunded`` (or being refunded), ``checked_in``; money ``gross``
    (every payment taken, one whose refund overtook its webhook included) and ``refunded_amount``
    (what went back: refunds made and disputes lost, never more than ``gross``), in exact minor units
    summed before conversion, in the event's currency.
    ``available`` is the seat shards' own count: at rest, sold + held + available == capacity, less
    the seats of refunded tickets whose people were admitted before the refund (they keep them)."""

    event: Event
    sold: int
    held: int
    refunded: int
    checked_in: int
    gross: Decimal
    refunded_amount: Decimal


# Tickets whose payment went (or is going) back, and those whose payment came in at all.
MONEY_BACK = frozenset({TicketStatus.REFUNDING, TicketStatus.REFUNDED})
MONEY_TAKEN = MONEY_BACK | {TicketStatus.PAID}


class EventService:
    def __init__(self, repository: EventStore, clock: Callable[[], float] = system_time) -> None:
        self._repository = repository
        self._clock = clock

    def create(self, caller: Caller, request: CreateEventRequest) -> Event:
        event = Event(
            event_id=self._repository.next_id("event"),
            name=request.name,
            price=request.price,
            currency=request.currency,
            capacity=request.capacity,
            available=request.capacity,
            created_by=caller.user_id,
            created_at=int(self._clock()),
            seat_shards=request.seat_shards or seat_shards_for(request.capacity),
            on_sale_queue=bool(request.on_sale_queue),
        )
        self._repository.put_event(event)
        return event

    def enable_queue(self, caller: Caller, event_id: int) -> Event:
        """The event sold through an on-sale queue from now on: only before its sale has begun (no
        seat taken), so that no buyer is served outside the queue's order. An event queued already
        is answered as it is."""
        event = self.get(event_id)
        if event.on_sale_queue:
            return event
        try:
            self._repository.enable_queue(event)
        except StateChanged:
            event = self.get(event_id)
            if event.on_sale_queue:  # enabled meanwhile by another request
                return event
            taken = event.capacity - event.available
            raise Conflict(f"The sale has begun ({taken} of {event.capacity} seats taken): a queue can be enabled only before it") from None
        audit("event.queue_enabled", user_id=caller.user_id, event_id=event_id)
        return replace(event, on_sale_queue=True)

    def get(self, event_id: int) -> Event:
        event = self._repository.get_event(event_id)
        if event is None:
            raise NotFound("Event not found")
        return event

    def list(self, limit: int, after: int | None) -> tuple[list[Event], int | None]:
        return self._repository.list_events(limit, after)

    def sales(self, event_id: int) -> Sales:
        """Counted from the event's tickets (the index by seat shard), beside the seats left as its
        shards count them. The index trails the tickets by a moment, so during a sale the two may
        differ by the purchases in flight; once the sale is quiet they agree."""
        event = self.get(event_id)
        sold = held = refunded = checked_in = gross = refunded_minor = 0
        for line in self._repository.ticket_lines(event):
            checked_in += line.checked_in
            if line.status == TicketStatus.PAID:
                sold += line.quantity
            elif line.status in UNPAID_HOLDS:
                held += line.quantity
            elif line.status in MONEY_BACK:
                refunded += line.quantity
            # A ticket still reserved (or released) whose money went back in part before its
            # payment's webhook came holds a sum of money back: its payment was taken (Stripe
            # refunds nothing else) and is recorded with that refund, so it counts here too, and
            # the view never shows more back than taken.
            if line.status in MONEY_TAKEN or line.refund_amount is not None:
                gross += line.unit_amount * line.quantity
            # What went back, as the ticket sums it (refunds made and disputes lost, partial ones of a
            # ticket still paid included); a ticket refunded before the sum was kept went back in full.
            if line.refund_amount is not None:
                refunded_minor += line.refund_amount
            elif line.status == TicketStatus.REFUNDED:
                refunded_minor += line.unit_amount * line.quantity
        return Sales(
            event=event,
            sold=sold,
            held=held,
            refunded=refunded,
            checked_in=checked_in,
            gross=money.to_major_units(gross, event.currency),
            refunded_amount=money.to_major_units(refunded_minor, event.currency),
        )
