"""Event management: staff create events and see their sales; anyone signed in reads one with its
seats left."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from payments import money
from payments.auth import Caller
from payments.context import system_time
from payments.domain.lifecycle import UNPAID_HOLDS, Event, TicketStatus, seat_shards_for, shard_capacities
from payments.domain.ports import EventStore, StateChanged
from payments.errors import BadRequest, Conflict, InvalidField, NotFound
from payments.observability import audit

# Request models only annotate here: a function that validates none (a webhook) never imports them.
if TYPE_CHECKING:
    from payments.models.tickets import CreateEventRequest, UpdateEventRequest

# An edit that finds the event (or its seats) changed since its read reads again and decides again;
# after this many tries the caller is told to retry (409).
EDIT_ATTEMPTS = 4


def _moment(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sale_refusal(event: Event, now: int) -> str | None:
    """Why the event's seats cannot be bought at ``now`` (Unix seconds), or None when they can: the
    sale paused by staff, not yet open (``opens_at``), or closed (from ``closes_at`` on). An event
    with neither and not paused is always on sale, as before sale windows existed."""
    if event.sales_paused:
        return "Sales are paused"
    if event.opens_at is not None and now < event.opens_at:
        return f"The sale opens at {_moment(event.opens_at)} ({event.opens_at})"
    if event.closes_at is not None and now >= event.closes_at:
        return f"The sale closed at {_moment(event.closes_at)} ({event.closes_at})"
    return None


def check_on_sale(event: Event, now: int) -> None:
    """BadRequest (400, nothing written) saying why the event is not on sale now."""
    refusal = sale_refusal(event, now)
    if refusal is not None:
        raise BadRequest(refusal)


def capacity_changes(seats_by_shard: dict[int, int], capacity: int, new_capacity: int) -> dict[int, int]:
    """How many seats each shard gains (or loses) when ``capacity`` becomes ``new_capacity``, given
    each shard's seats left as read. New seats are spread as evenly as whole seats allow; seats cut
    come from the shards with most left, so that no shard is asked for more than it has. A capacity
    below the seats held and sold (capacity less the seats left) is refused, naming the field."""
    change = new_capacity - capacity
    if change > 0:
        shards = sorted(seats_by_shard)
        spread = shard_capacities(change, len(shards))
        return {shard: extra for shard, extra in zip(shards, spread, strict=True) if extra}
    taken = capacity - sum(seats_by_shard.values())
    if new_capacity < taken:
        raise InvalidField("capacity", f"must be at least {taken}, the seats held and sold")
    cuts: dict[int, int] = {}
    left = -change
    for shard in sorted(seats_by_shard, key=lambda shard: (-seats_by_shard[shard], shard)):
        if left == 0:
            break
        cut = min(left, seats_by_shard[shard])
        if cut:
            cuts[shard] = -cut
            left -= cut
    return cuts


@dataclass(frozen=True)
class Sales:
    """An event's sales counted from its tickets: seats ``sold`` (paid or free), ``held`` (reserved
    or with a payment processing), ``refunded`` (or being refunded), ``checked_in``; money ``gross``
    (every payment taken, one whose refund overtook its webhook included) and ``refunded_amount``
    (what went back: refunds made and disputes lost, never more than ``gross``), in exact minor units
    summed before conversion, in the event's currency.
    ``available`` is the seat shards' own count: at rest, sold + held + available == capacity, less
    the seats of refunded tickets (or seats) whose people were admitted before the refund (they keep
    them). ``refunded`` counts the seats staff refunded of tickets still paid too."""

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
            description=request.description,
            starts_at=request.starts_at,
            opens_at=request.opens_at,
            closes_at=request.closes_at,
        )
        self._repository.put_event(event)
        return event

    def update(self, caller: Caller, event_id: int, request: UpdateEventRequest) -> Event:
        """The fields the edit sends, changed in one conditional write on the event as read (its
        ``version``) with any capacity change on its seat shards, each conditioned on its seats as
        read (a cut on enough seats left): a purchase racing a lowering can neither oversell nor
        make a shard negative. A write refused because the event or its seats moved meanwhile is
        decided again from a fresh read (the bounds checked again); nothing is written on a refusal.
        A price change applies to purchases after it: a ticket keeps the ``unit_amount`` it was
        reserved at."""
        changes = request.changes
        for _ in range(EDIT_ATTEMPTS):
            event = self.get(event_id)
            request.check_price(event.currency)
            opens_at = changes.get("opens_at", event.opens_at)
            closes_at = changes.get("closes_at", event.closes_at)
            if isinstance(opens_at, int) and isinstance(closes_at, int) and closes_at <= opens_at:
                field = "closes_at" if "closes_at" in changes else "opens_at"
                raise InvalidField(field, f"must make the sale close after it opens (opens_at {opens_at}, closes_at {closes_at})")
            seats: dict[int, int] = {}
            if request.capacity is not None and request.capacity != event.capacity:
                seats = capacity_changes(event.seats_by_shard or {0: event.available}, event.capacity, request.capacity)
            try:
                self._repository.update_event(event, changes, seats)
            except StateChanged:
                continue
            audit("event.edited", user_id=caller.user_id, event_id=event_id, changed=sorted(changes))
            edited = self.get(event_id)
            return edited
        raise Conflict("The event changed while being edited; retry")

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
                # Seats refunded by staff while the ticket stays paid count as refunded, not sold.
                sold += line.quantity - line.refunded_quantity
                refunded += line.refunded_quantity
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
