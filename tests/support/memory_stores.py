"""In-memory twins of every store port the domain uses (``payments.domain.ports`` and the PayPal
refund store of ``payments.domain.paypal_refunds``), without AWS: no boto, no moto, no repository
module is imported here but ``payments.repositories.records`` (plain Python): the payments table's
items of the money records, built for both stores by the one function, not copied.

Each twin honours exactly the conditions of its DynamoDB implementation in
``payments.repositories``: a write whose condition fails raises the same exception (StateChanged,
SoldOut, UnpaidLimit, FreeSeatLimit, NotRefundable) or answers the same False/None, and writes
nothing. A transaction is evaluated the way DynamoDB (and moto) evaluates it: every item's condition
is checked, and when any fails none is written; which exception is raised then follows the
repository's own order (the ticket's condition wins, then the owner's limits, then the seats).
``tests/contract/test_store_contract.py`` runs one suite against both, and a differential test
replays the same operations on both, step by step, so that they cannot drift apart.

Values are kept as DynamoDB gives them back (``_stored``): numbers as Decimal, None never stored,
tuples as lists; so what a read returns compares equal, type for type, with the repository's read.
Where DynamoDB leaves an order undefined (ties in an index), the twin follows moto's (the index key,
then the table key as a string), which is what the contract suite compares against."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from payments.domain.admission import PLACE_COUNTERS, QUIET_MS, Admission, QueueEntry, QueueState, lowest_next, place_of
from payments.domain.lifecycle import (
    SEAT_REFUND_FIELDS,
    UNPAID_HOLDS,
    UNSETTLED,
    Event,
    Seats,
    Ticket,
    TicketLine,
    TicketStatus,
    Transition,
    Trigger,
    seat_parts,
    shard_capacities,
    transition,
)
from payments.domain.paypal_refunds import NotRefundable, PayPalRefund, RefundReservation, ReservationState
from payments.domain.ports import AdmissionRefused, FreeSeatLimit, SoldOut, StateChanged, UnpaidLimit
from payments.domain.records import RefundRecord
from payments.repositories.records import record_item, record_key

if TYPE_CHECKING:
    from payments.domain.pacing import SessionSlotStore
    from payments.domain.paypal_refunds import PayPalRefundStore
    from payments.domain.ports import (
        CheckpointStore,
        CustomerTickets,
        DoorTickets,
        EventStore,
        ProviderObjectStore,
        QueueStore,
        TicketStore,
        TransmissionStore,
        UnsettledTickets,
        WebhookEventStore,
    )
    from payments.domain.records import MoneyRecord

# The repositories' own constants, repeated rather than imported (importing them loads botocore).
SEAT_ATTEMPTS = 4  # repositories.tickets: a purchase whose planned shard emptied plans again
UNSETTLED_BUCKETS = 16  # repositories.tickets: the unsettled index's partitions per status
MAX_TRANSACTION_ACTIONS = 100  # DynamoDB's TransactWriteItems
RECORDS_WRITER = "records_writer"  # repositories.tickets: the writer of the records written ahead
# (repositories.paypal_refunds retries its reads and writes when another writer moved the capture
# meanwhile, and answers Busy after 5 rounds; alone in memory no writer contends, so none here.)
PAYPAL_REFUNDING = ("COMPLETED", "PARTIALLY_REFUNDED")
RETENTION_SECONDS = 30 * 24 * 3600  # repositories.webhook_events
STRIPE = "stripe"

_TICKET_INT_FIELDS = frozenset(
    {
        "ticket_id",
        "event_id",
        "quantity",
        "unit_amount",
        "created_at",
        "expires_at",
        "paid_at",
        "released_at",
        "refunded_at",
        "checked_in",
        "checked_in_at",
        "refund_amount",
        "refunded_quantity",
        "seat_refund_quantity",
        "seat_refund_amount_minor",
    }
)
# A staff refund of some seats owed (repositories.tickets: owe_seat_refund, refund_seats).
_TICKET_FIELDS = tuple(field.name for field in fields(Ticket))

Key = tuple[str, str]


def _stored(value: Any) -> Any:
    """A value as DynamoDB gives it back after it was written (``dynamodb.serialize`` then
    ``deserialize``): numbers Decimal, tuples lists, maps with string keys; floats refused."""
    if value is None or isinstance(value, bool | str | bytes):
        return value
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, Mapping):
        return {str(key): _stored(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_stored(item) for item in value]
    raise TypeError(f"{type(value).__name__} cannot be stored in DynamoDB")


def _item(values: Mapping[str, Any]) -> dict[str, Any]:
    """What ``to_attributes`` keeps: top-level None values are not written at all."""
    return {name: _stored(value) for name, value in values.items() if value is not None}


def _well_formed(actions: int, records: list[MoneyRecord]) -> None:
    """What DynamoDB refuses before any condition is read (a ValidationException: botocore's
    ClientError there, a ValueError here; the port names neither), and nothing is written: more than
    100 actions in one transaction, or two on one item (two records under one key)."""
    keys = [record_key(record) for record in records]
    if actions > MAX_TRANSACTION_ACTIONS:
        raise ValueError(f"{actions} actions in one transaction")
    if len(set(keys)) != len(keys):
        raise ValueError("two records under one key in one transaction")


def _admitted_parts(ticket: Ticket) -> dict[int, int]:
    """The admitted people's seats by shard, as the repository counts them (lowest shard up)."""
    left = ticket.unadmitted_parts
    return {shard: count - left.get(shard, 0) for shard, count in ticket.parts.items() if count > left.get(shard, 0)}


def _taken(read: Ticket, placed: Ticket) -> dict[int, int]:
    """The seats a TAKE takes, as the repository's: all the placed ticket holds less its admitted
    people's as read (not ``placed.unadmitted_parts``: the rest may lie below their shard)."""
    kept = _admitted_parts(read)
    return {shard: count - kept.get(shard, 0) for shard, count in placed.parts.items() if count > kept.get(shard, 0)}


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    """A read's own copy, so that a caller changing it changes nothing stored."""
    return {
        name: (_copy(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value)
        for name, value in item.items()
    }


def _ticket_key_string(ticket_id: int) -> str:
    # moto breaks ties in an index by the table's key, compared as a string: TICKET#10 < TICKET#9.
    return f"TICKET#{ticket_id}"


class PaymentsTable:
    """The payments table's items by (pk, sk), shared by the stores that share the table in
    DynamoDB: the PayPal refund store counts on the capture items the PayPal objects store records."""

    def __init__(self) -> None:
        self.items: dict[Key, dict[str, Any]] = {}

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self.items.get((pk, sk))
        return None if found is None else _copy(found)

    def put(self, item: Mapping[str, Any]) -> None:
        stored = _item(item)
        self.items[(str(stored["pk"]), str(stored["sk"]))] = stored


class MemoryTicketStore:
    """Events, seats by shard, tickets, the owners' unpaid and free seat counters, and the payment
    and refund records: ``repositories.tickets.TicketRepository`` without DynamoDB. ``start`` picks
    where a sharded purchase starts looking for a shard with room (the repository draws it at
    random; the contract suite pins both to 0)."""

    def __init__(self, payments: PaymentsTable | None = None, start: Callable[[int], int] | None = None) -> None:
        self.payments = payments if payments is not None else PaymentsTable()
        self._start = start or (lambda shards: 0)
        self._counters: dict[str, int] = {}
        self._events: dict[int, dict[str, Any]] = {}
        self._seats: dict[int, dict[int, int]] = {}  # event -> shard -> seats left (shard 0 is the event item's)
        self._shard_capacity: dict[int, dict[int, int]] = {}  # event -> shard -> its seats in all (``shard_capacity``)
        self._tickets: dict[int, dict[str, Any]] = {}  # attributes as stored, plus event_shard and unsettled_status
        self._held: dict[tuple[str, int, str], int] = {}  # ("UNPAID" | "FREE", event, owner) -> seats held
        self.queues = MemoryQueues()  # the on-sale queues, in the same table (a reservation uses an admission)

    # ids -------------------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        """1, 2, 3 ... per kind. The repository reserves blocks of 100 per container (a ticket's
        from one of 16 counters, drawn at random: pinned to the first, its first block is 1 ... 100
        too); its ids are unique and increasing per container, not dense."""
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return self._counters[kind]

    # events ----------------------------------------------------------------------------------
    def put_event(self, event: Event) -> None:
        """The event and its seat shards, all or none. An event id already kept is refused (the
        repository's ``attribute_not_exists(pk)``); the port names no exception for it, DynamoDB
        raises botocore's ClientError, this a ValueError."""
        if event.event_id in self._events:
            raise ValueError(f"event {event.event_id} exists")
        attributes = {**asdict(event), "price": str(event.price), "seats_by_shard": None}
        self._events[event.event_id] = _item(attributes)
        self._seats[event.event_id] = dict(enumerate(shard_capacities(event.capacity, event.seat_shards)))
        self._shard_capacity[event.event_id] = dict(self._seats[event.event_id])
        if event.on_sale_queue:
            self.queues.states[event.event_id] = QueueState()

    def enable_queue(self, event: Event) -> None:
        item = self._events[event.event_id]
        if item.get("on_sale_queue") or self._seats[event.event_id] != self._shard_capacity[event.event_id]:
            raise StateChanged()
        item["on_sale_queue"] = True
        self.queues.states[event.event_id] = QueueState()

    def _event(self, event_id: int, seats_by_shard: dict[int, int] | None) -> Event:
        data = self._events[event_id]
        return Event(
            event_id=int(data["event_id"]),
            name=data["name"],
            price=Decimal(data["price"]),
            currency=data["currency"],
            capacity=int(data["capacity"]),
            # The event item's own ``available`` is shard 0's seats (shard 0 is the event item).
            available=self._seats[event_id][0] if seats_by_shard is None else sum(seats_by_shard.values()),
            created_by=data["created_by"],
            created_at=int(data["created_at"]),
            seat_shards=int(data.get("seat_shards", 1)),
            seats_by_shard=seats_by_shard,
            on_sale_queue=bool(data.get("on_sale_queue", False)),
            description=data.get("description"),
            starts_at=None if data.get("starts_at") is None else int(data["starts_at"]),
            opens_at=None if data.get("opens_at") is None else int(data["opens_at"]),
            closes_at=None if data.get("closes_at") is None else int(data["closes_at"]),
            sales_paused=bool(data.get("sales_paused", False)),
            version=int(data.get("version", 0)),
        )

    def update_event(self, event: Event, changes: dict[str, Any], seats: dict[int, int]) -> None:
        """The repository's transaction: the version as read (absent reads as 0), every shard
        changed there, and each cut on that many seats left now; else StateChanged, nothing written."""
        item = self._events.get(event.event_id)
        left = self._seats.get(event.event_id, {})
        if item is None or int(item.get("version", 0)) != event.version:
            raise StateChanged()
        if any(shard not in left or (moved < 0 and left[shard] < -moved) for shard, moved in seats.items()):
            raise StateChanged()
        for field, value in changes.items():
            if value is None:
                item.pop(field, None)
            else:
                item[field] = _stored(str(value) if field == "price" else value)
        item["version"] = _stored(event.version + 1)
        for shard, moved in seats.items():
            left[shard] += moved
            self._shard_capacity[event.event_id][shard] += moved

    def get_event(self, event_id: int) -> Event | None:
        if event_id not in self._events:
            return None
        return self._event(event_id, self.availability(event_id))

    def availability(self, event_id: int) -> dict[int, int]:
        return dict(self._seats.get(event_id, {}))

    def list_events(self, limit: int, after: int | None = None) -> tuple[list[Event], int | None]:
        """Newest first. As moto (and unlike DynamoDB, which may hand back a cursor to an empty
        page when a page ends exactly at the last event), a cursor only when more follow."""
        ids = [event_id for event_id in sorted(self._events, reverse=True) if after is None or event_id < after]
        page = ids[:limit]
        events = [self._event(event_id, self.availability(event_id) if self._shards(event_id) > 1 else None) for event_id in page]
        return events, (page[-1] if len(ids) > limit and page else None)

    def _shards(self, event_id: int) -> int:
        return int(self._events[event_id].get("seat_shards", 1))

    # tickets: reads --------------------------------------------------------------------------
    @staticmethod
    def _ticket_of(item: dict[str, Any]) -> Ticket:
        values = {name: item[name] for name in _TICKET_FIELDS if name in item}
        for name in _TICKET_INT_FIELDS & values.keys():
            values[name] = int(values[name])
        values["status"] = TicketStatus(values["status"])
        if values.get("seat_parts") is not None:
            values["seat_parts"] = {int(shard): int(count) for shard, count in values["seat_parts"].items()}
        return Ticket(**values)

    @staticmethod
    def _line_of(item: dict[str, Any]) -> TicketLine:
        refund_amount = item.get("refund_amount")
        return TicketLine(
            ticket_id=int(item["ticket_id"]),
            event_id=int(item["event_id"]),
            quantity=int(item["quantity"]),
            status=TicketStatus(item["status"]),
            ticket_code=item["ticket_code"],
            unit_amount=int(item["unit_amount"]),
            checked_in=int(item.get("checked_in", 0)),
            refund_amount=None if refund_amount is None else int(refund_amount),
            refunded_quantity=int(item.get("refunded_quantity", 0)),
        )

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        item = self._tickets.get(ticket_id)
        return None if item is None else self._ticket_of(item)

    def ticket_for_payment_intent(self, payment_intent: str) -> Ticket | None:
        link = self.payments.get(f"TICKET_PAYMENT#{STRIPE}#{payment_intent}", "LINK")
        return None if link is None else self.get_ticket(int(link["ticket_id"]))

    def ticket_by_code(self, ticket_code: str) -> Ticket | None:
        found = sorted(_ticket_key_string(ticket_id) for ticket_id, item in self._tickets.items() if item.get("ticket_code") == ticket_code)
        return self.get_ticket(int(found[0].removeprefix("TICKET#"))) if found else None

    def tickets_of(self, owner: str, limit: int, after: Ticket | None = None) -> tuple[list[TicketLine], int | None]:
        """Newest first (by created_at, ties by the table key as moto orders them); the cursor only
        when more follow (see ``list_events``)."""

        def position(item: dict[str, Any]) -> tuple[int, str]:
            return int(item["created_at"]), _ticket_key_string(int(item["ticket_id"]))

        ordered = sorted((item for item in self._tickets.values() if item.get("owner") == owner), key=position, reverse=True)
        if after is not None:
            start = (after.created_at, _ticket_key_string(after.ticket_id))
            ordered = [item for item in ordered if position(item) < start]
        page = ordered[:limit]
        cursor = int(page[-1]["ticket_id"]) if len(ordered) > limit and page else None
        return [self._line_of(item) for item in page], cursor

    def ticket_lines(self, event: Event) -> Iterator[TicketLine]:
        """Shard by shard of ``event.seat_shards``, each by ticket id. A ticket is found under the
        shard it was created in (``event_shard`` is written once): seats it takes again later
        elsewhere do not move it in the index, as in the repository."""
        for shard in range(event.seat_shards):
            shard_key = f"{event.event_id}#{shard}"
            for ticket_id in sorted(ticket_id for ticket_id, item in self._tickets.items() if item.get("event_shard") == shard_key):
                yield self._line_of(self._tickets[ticket_id])

    def unsettled(self, status: TicketStatus, expired_before: int | None = None, limit: int = 100) -> list[Ticket]:
        """The sparse index: tickets whose last transition left them unsettled and that have an
        ``expires_at`` (its sort key: a ticket without one is not in the index), oldest first."""
        found = [
            item
            for item in self._tickets.values()
            if item.get("unsettled_status") == str(status)
            and "expires_at" in item
            and (expired_before is None or int(item["expires_at"]) <= expired_before)
        ]
        # The repository reads its index buckets (``<status>#<ticket id mod 16>``) each in expiry
        # order and merges them by expiry alone: a tie goes by bucket, then by the key as moto orders
        # a bucket (a string).
        found.sort(
            key=lambda item: (
                int(item["expires_at"]),
                int(item["ticket_id"]) % UNSETTLED_BUCKETS,
                _ticket_key_string(int(item["ticket_id"])),
            )
        )
        return [self._ticket_of(item) for item in found[:limit]]

    def unpaid_seats(self, event_id: int, owner: str) -> int:
        return self._held.get(("UNPAID", event_id, owner), 0)

    def free_seats(self, event_id: int, owner: str) -> int:
        return self._held.get(("FREE", event_id, owner), 0)

    # tickets: writes -------------------------------------------------------------------------
    def _placed(self, ticket: Ticket, sharded: bool, known: dict[int, int] | None = None) -> Ticket:
        """The admitted people's seats stay where they are; the rest go back to the shards they were
        given back to while all still free there, else are placed like a purchase's."""
        if not sharded:
            return ticket
        kept = _admitted_parts(ticket)
        wanted = ticket.seats_taken - sum(kept.values())
        if not wanted:
            return ticket
        available = known if known is not None else self.availability(ticket.event_id)
        given = ticket.unadmitted_parts if kept else {}
        if given and all(available.get(shard, 0) >= count for shard, count in given.items()):
            parts: dict[int, int] | None = dict(given)  # the very seats it gave back, still free
        else:
            parts = seat_parts(available, wanted, start=self._start(max(len(available), 1)))
        if parts is None:
            raise SoldOut()
        for shard, count in kept.items():
            parts[shard] = parts.get(shard, 0) + count
        return replace(ticket, seat_parts=dict(sorted(parts.items())))

    @staticmethod
    def _taking_seats(attempt: Callable[[], Ticket], sharded: bool) -> Ticket:
        for _ in range(SEAT_ATTEMPTS - 1 if sharded else 0):
            try:
                return attempt()
            except SoldOut:
                continue
        return attempt()

    def _seats_hold(self, event_id: int, parts: dict[int, int], seats: Seats) -> bool:
        """Every shard the seats move on exists, and, when they are taken, has that many left."""
        shards = self._seats.get(event_id, {})
        return all(shard in shards and (seats != Seats.TAKE or shards[shard] >= count) for shard, count in parts.items())

    def _move_seats(self, event_id: int, parts: dict[int, int], seats: Seats) -> None:
        sign = -1 if seats == Seats.TAKE else 1
        for shard, count in parts.items():
            self._seats[event_id][shard] += sign * count

    def _limit_holds(self, kind: str, ticket: Ticket, limit: int) -> bool:
        """``attribute_not_exists(held) OR held <= :room`` (a missing counter holds nothing, so a first
        order passes only when it alone fits), or just ``held <= :room`` when no room at all."""
        room = limit - ticket.quantity
        held = self._held.get((kind, ticket.event_id, ticket.owner))
        if held is None:
            return room >= 0
        return held <= room

    def _add_held(self, kind: str, ticket: Ticket, quantity: int) -> None:
        # ``ADD held :q`` with no condition when giving back: a missing counter becomes negative.
        key = (kind, ticket.event_id, ticket.owner)
        self._held[key] = self._held.get(key, 0) + quantity

    def create(
        self,
        ticket: Ticket,
        unpaid_limit: int,
        seats_by_shard: dict[int, int] | None = None,
        *,
        free_limit: int,
        admission: Admission | None = None,
    ) -> Ticket:
        trigger = Trigger.ISSUE_FREE if ticket.status == TicketStatus.PAID else Trigger.RESERVE
        row = transition(None, trigger)
        assert row is not None and row.target == ticket.status
        sharded = seats_by_shard is not None and len(seats_by_shard) > 1
        known = seats_by_shard

        def attempt() -> Ticket:
            nonlocal known
            placed, known = self._placed(ticket, sharded, known), None
            seats_ok = self._seats_hold(placed.event_id, placed.parts, Seats.TAKE)
            ticket_ok = placed.ticket_id not in self._tickets
            unpaid_ok = placed.status not in UNPAID_HOLDS or self._limit_holds("UNPAID", placed, unpaid_limit)
            free_ok = placed.status in UNPAID_HOLDS or not placed.is_free or self._limit_holds("FREE", placed, free_limit)
            # The repository's order: the ticket, the admission, the unpaid limit, the free limit, the seats.
            if not ticket_ok:
                raise StateChanged()
            if admission is not None and not self.queues.admits(admission):
                raise AdmissionRefused()
            if not unpaid_ok:
                raise UnpaidLimit(0)
            if not free_ok:
                raise FreeSeatLimit(0)
            # The repository's unqueued seat write is conditioned on no shard marked queued.
            if not seats_ok or (admission is None and self._events[placed.event_id].get("on_sale_queue")):
                raise SoldOut()
            self._move_seats(placed.event_id, placed.parts, Seats.TAKE)
            attributes = {name: getattr(placed, name) for name in _TICKET_FIELDS}
            attributes |= {"status": str(placed.status), "event_shard": f"{placed.event_id}#{min(placed.parts)}"}
            if placed.seat_parts is not None:
                attributes["seat_parts"] = {str(shard): count for shard, count in placed.seat_parts.items()}
            if placed.status in UNSETTLED:
                attributes["unsettled_status"] = str(placed.status)
            self._tickets[placed.ticket_id] = _item(attributes)
            if admission is not None:
                self.queues.use(admission, placed.ticket_id, placed.created_at * 1000)
            if placed.status in UNPAID_HOLDS:
                self._add_held("UNPAID", placed, placed.quantity)
            elif placed.is_free:
                self._add_held("FREE", placed, placed.quantity)
            return placed

        try:
            return self._taking_seats(attempt, sharded)
        except UnpaidLimit:
            raise UnpaidLimit(self.unpaid_seats(ticket.event_id, ticket.owner)) from None
        except FreeSeatLimit:
            raise FreeSeatLimit(self.free_seats(ticket.event_id, ticket.owner)) from None

    def attach_session(self, ticket_id: int, session_id: str, checkout_url: str) -> None:
        """StateChanged, nothing written, when the ticket is unknown or bound to another session."""
        item = self._tickets.get(ticket_id)
        if item is None or item.get("session_id", session_id) != session_id:
            raise StateChanged()
        item |= _item({"session_id": session_id, "checkout_url": checkout_url})

    def apply(
        self,
        ticket: Ticket,
        trigger: Trigger,
        changes: dict[str, Any] | None = None,
        records: list[MoneyRecord] | None = None,
        expired_before: int | None = None,
        removed: tuple[str, ...] = (),
        money_as_read: bool = False,
    ) -> Ticket:
        row = transition(ticket.status, trigger)
        if row is None:
            raise ValueError(f"{trigger} does not apply to a {ticket.status} ticket")
        if row.seats == Seats.TAKE:
            sharded = ticket.seat_parts is not None
            return self._taking_seats(
                lambda: self._apply(
                    self._placed(ticket, sharded), row, changes, records, expired_before, removed, money_as_read, read=ticket
                ),
                sharded,
            )
        return self._apply(ticket, row, changes, records, expired_before, removed, money_as_read)

    @staticmethod
    def _money_holds(item: dict[str, Any], ticket: Ticket) -> bool:
        """``refund_amount`` and ``refunds_seen`` still as read: absent when read as None."""
        for name in ("refund_amount", "refunds_seen"):
            read = getattr(ticket, name)
            if read is None and name in item:
                return False
            if read is not None and (name not in item or item[name] != _stored(read)):
                return False
        return True

    def _apply(
        self,
        ticket: Ticket,
        row: Transition,
        changes: dict[str, Any] | None,
        records: list[MoneyRecord] | None,
        expired_before: int | None,
        removed: tuple[str, ...] = (),
        money_as_read: bool = False,
        read: Ticket | None = None,
    ) -> Ticket:
        read = read or ticket  # as read; ``ticket`` as to be written (seats taken: placed)
        # Subtle, as in the repository: a change whose value is None is not written at all (it does
        # not clear the attribute; ``removed`` does), and the ticket returned is the one passed in
        # with the changes, not the item as stored.
        changes = {name: value for name, value in (changes or {}).items() if value is not None}
        changes["status"] = str(row.target)
        planned = changes.pop("seat_parts", None)
        if row.seats == Seats.TAKE and ticket.seat_parts is not None:
            planned = ticket.seat_parts
        if planned is not None:
            changes["seat_parts"] = {str(shard): count for shard, count in planned.items()}
        moves = row.seats in (Seats.TAKE, Seats.RETURN)
        moved = _taken(read, ticket) if row.seats == Seats.TAKE else ticket.unadmitted_parts if moves else {}
        releases_unpaid = ticket.status in UNPAID_HOLDS and row.target not in UNPAID_HOLDS
        releases_free = ticket.is_free and row.seats == Seats.RETURN
        actions = 1 + len(moved) + releases_unpaid + releases_free + bool(changes.get("payment_intent"))
        records, writer = self._records_ahead(read, actions, records or [])
        _well_formed(actions + len(records), records)
        item = self._tickets.get(ticket.ticket_id)
        ticket_ok = item is not None and item["status"] == str(ticket.status)
        if item is not None and ticket_ok:
            if "session_id" in changes and "session_id" in item and item["session_id"] != changes["session_id"]:
                ticket_ok = False
            if expired_before is not None and ("expires_at" not in item or int(item["expires_at"]) > expired_before):
                ticket_ok = False
            if row.trigger == Trigger.GIVE_BACK and (item.get("unit_amount") != 0 or item.get("checked_in", 0) != 0):
                ticket_ok = False
            # The seats moved are those not admitted as read (an item without checked_in passes).
            if row.seats in (Seats.TAKE, Seats.RETURN) and "checked_in" in item and item["checked_in"] != ticket.checked_in:
                ticket_ok = False
            # On the shards as read when they go back, or when seats are taken around admitted ones.
            if read.seat_parts is not None and (row.seats == Seats.RETURN or (row.seats == Seats.TAKE and _admitted_parts(read))):
                stored = {int(shard): int(count) for shard, count in (item.get("seat_parts") or {}).items()}
                ticket_ok = ticket_ok and stored == read.seat_parts
            # And on the seats it holds as read: none refunded meanwhile, none placed on shards since.
            if row.seats in (Seats.TAKE, Seats.RETURN) and (
                item.get("refunded_quantity", 0) != read.refunded_quantity or (read.seat_parts is None and "seat_parts" in item)
            ):
                ticket_ok = False
            if "seat_refund_key" in removed and item.get("seat_refund_key") != read.seat_refund_key:
                ticket_ok = False
            if money_as_read and not self._money_holds(item, ticket):
                ticket_ok = False
            if writer is not None and item.get(RECORDS_WRITER) != writer:
                ticket_ok = False
        seats_ok = not moves or self._seats_hold(ticket.event_id, moved, row.seats)
        if not ticket_ok:
            raise StateChanged()
        if not seats_ok:
            # Also when seats go back to an event that is not there (``attribute_exists(pk)``).
            raise SoldOut()
        assert item is not None
        for name, value in changes.items():
            item[name] = _stored(value)
        for name in removed:
            if name not in changes:
                item.pop(name, None)
        if row.target in UNSETTLED:
            item["unsettled_status"] = str(row.target)
        else:
            item.pop("unsettled_status", None)
        if writer is not None:
            item.pop(RECORDS_WRITER, None)
        if moves:
            self._move_seats(ticket.event_id, moved, row.seats)
        if releases_unpaid:
            self._add_held("UNPAID", ticket, -ticket.quantity)
        if releases_free:
            self._add_held("FREE", ticket, -ticket.quantity)
        if changes.get("payment_intent"):
            self.payments.put(
                {
                    "pk": f"TICKET_PAYMENT#{STRIPE}#{changes['payment_intent']}",
                    "sk": "LINK",
                    "ticket_id": ticket.ticket_id,
                    "owner": ticket.owner,
                }
            )
        # Records are put unconditionally, as in the repository: one per payment or refund because
        # each is keyed by its session or refund id; a later write of the same refund replaces it.
        for record in records:
            self.payments.put(record_item(record))
        written = {name: value for name, value in changes.items() if name not in ("seat_parts", "status")}
        written |= {name: None for name in removed if name not in changes}
        return replace(ticket, **written, status=row.target, seat_parts=planned if planned is not None else ticket.seat_parts)

    def record_money_back(
        self, ticket: Ticket, refund_amount: int, records: list[MoneyRecord], changes: dict[str, Any] | None = None
    ) -> Ticket:
        """The sum is set (not added: the domain computes it from Stripe's refunds), conditioned on
        the status and on what went back as read."""
        records, writer = self._records_ahead(ticket, 1, records)
        _well_formed(1 + len(records), records)
        item = self._tickets.get(ticket.ticket_id)
        if item is None or item["status"] != str(ticket.status) or not self._money_holds(item, ticket):
            raise StateChanged()
        if writer is not None and item.get(RECORDS_WRITER) != writer:
            raise StateChanged()
        item.pop(RECORDS_WRITER, None)
        written = {name: value for name, value in (changes or {}).items() if value is not None} | {"refund_amount": refund_amount}
        for name, value in written.items():
            item[name] = _stored(value)
        for record in records:
            self.payments.put(record_item(record))
        return replace(ticket, **written)

    def owe_seat_refund(self, ticket: Ticket, key: str, quantity: int, amount: int, reason: str) -> Ticket:
        item = self._tickets.get(ticket.ticket_id)
        if (
            item is None
            or item["status"] != str(TicketStatus.PAID)
            or "seat_refund_key" in item
            or item.get("refunded_quantity", 0) != ticket.refunded_quantity
        ):
            raise StateChanged()
        owed: dict[str, Any] = {
            "seat_refund_key": key,
            "seat_refund_quantity": quantity,
            "seat_refund_amount_minor": amount,
            "seat_refund_reason": reason,
        }
        item |= _item(owed)
        # Listed with the refunds owed (the repository's unsettled index, its refunding entries).
        item["unsettled_status"] = str(TicketStatus.REFUNDING)
        return replace(ticket, **owed)

    def refund_seats(
        self, ticket: Ticket, returned: dict[int, int], refund_amount: int, refunds_seen: str | None, records: list[MoneyRecord]
    ) -> Ticket:
        if ticket.seat_refund_key is None or ticket.seat_refund_quantity is None:
            raise StateChanged()  # read with none owed: none to make
        records, writer = self._records_ahead(ticket, 1 + len(returned), records)
        _well_formed(1 + len(returned) + len(records), records)
        item = self._tickets.get(ticket.ticket_id)
        stored_parts = None if item is None or "seat_parts" not in item else {int(k): int(v) for k, v in item["seat_parts"].items()}
        if (
            item is None
            or item["status"] != str(TicketStatus.PAID)
            or item.get("seat_refund_key") != ticket.seat_refund_key
            or ("checked_in" in item and item["checked_in"] != ticket.checked_in)
            or stored_parts != ticket.seat_parts
            or not self._money_holds(item, ticket)
            or (writer is not None and item.get(RECORDS_WRITER) != writer)
        ):
            raise StateChanged()
        if not self._seats_hold(ticket.event_id, returned, Seats.RETURN):
            raise SoldOut()
        parts = {shard: count - returned.get(shard, 0) for shard, count in ticket.parts.items() if count > returned.get(shard, 0)}
        done: dict[str, Any] = {
            "refunded_quantity": ticket.refunded_quantity + ticket.seat_refund_quantity,
            "refund_amount": refund_amount,
        } | ({"refunds_seen": refunds_seen} if refunds_seen is not None else {})
        item |= _item(done) | {"seat_parts": _stored({str(shard): count for shard, count in parts.items()})}
        for name in (*SEAT_REFUND_FIELDS, "unsettled_status", RECORDS_WRITER):
            item.pop(name, None)
        self._move_seats(ticket.event_id, returned, Seats.RETURN)
        for record in records:
            self.payments.put(record_item(record))
        cleared: dict[str, Any] = dict.fromkeys(SEAT_REFUND_FIELDS)
        return replace(ticket, **done, **cleared, seat_parts=parts)

    def drop_seat_refund(self, ticket: Ticket) -> Ticket:
        item = self._tickets.get(ticket.ticket_id)
        if (
            ticket.seat_refund_key is None
            or item is None
            or item["status"] != str(TicketStatus.PAID)
            or item.get("seat_refund_key") != ticket.seat_refund_key
            or item.get("seat_refund_reason") != ticket.seat_refund_reason
        ):
            raise StateChanged()
        for name in (*SEAT_REFUND_FIELDS, "unsettled_status"):
            item.pop(name, None)
        cleared: dict[str, Any] = dict.fromkeys(SEAT_REFUND_FIELDS)
        return replace(ticket, **cleared)

    def _records_ahead(self, read: Ticket, actions: int, records: list[MoneyRecord]) -> tuple[list[MoneyRecord], str | None]:
        """The repository's ``_with_records``: the records that fit with the change's ``actions``
        stay with it (the payment's first); the rest are written ahead, 99 a transaction, each
        conditioned on the ticket's status and money as read and claiming the ticket for this writer
        (the first claims it, the next only while still claimed). Returns the records left for the
        change and the claim its write is conditioned on (None: nothing written ahead)."""
        room = MAX_TRANSACTION_ACTIONS - actions
        if len(records) <= room:
            return records, None
        ordered = sorted(records, key=lambda record: isinstance(record, RefundRecord))
        ahead, writer, size = ordered[room:], uuid.uuid4().hex, MAX_TRANSACTION_ACTIONS - 1
        for start in range(0, len(ahead), size):
            chunk = ahead[start : start + size]
            _well_formed(1 + len(chunk), chunk)
            item = self._tickets.get(read.ticket_id)
            if item is None or item["status"] != str(read.status) or not self._money_holds(item, read):
                raise StateChanged()
            if start and item.get(RECORDS_WRITER) != writer:
                raise StateChanged()
            item[RECORDS_WRITER] = writer
            for record in chunk:
                self.payments.put(record_item(record))
        return ordered[:room], writer

    def check_in(self, ticket: Ticket, count: int, now: int, *, event_id: int) -> Ticket:
        """Subtle, as in the repository: the room is counted from the quantity of the ticket passed
        in; a count below 1 is refused before anything is read."""
        item = self._tickets.get(ticket.ticket_id)
        if (
            count < 1
            or item is None
            or item["status"] != str(TicketStatus.PAID)
            or item["event_id"] != event_id
            or ("checked_in" in item and item["checked_in"] > ticket.quantity_held - count)
            or item.get("refunded_quantity", 0) != ticket.refunded_quantity
        ):
            raise StateChanged()
        item["checked_in"] = item.get("checked_in", Decimal(0)) + count
        item["checked_in_at"] = Decimal(now)
        return self._ticket_of(item)


class MemoryWebhookEvents:
    """The webhook ledger (mark once) and PayPal's transmissions (one body per id)."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.transmissions: dict[tuple[str, str], dict[str, Any]] = {}

    def is_processed(self, provider: str, event_id: str) -> bool:
        return (provider, event_id) in self.events

    def mark_processed(self, provider: str, event_id: str, event_type: str, now: int) -> bool:
        if (provider, event_id) in self.events:
            return False
        self.events[(provider, event_id)] = _item({"type": event_type, "processed_at": now, "ttl": now + RETENTION_SECONDS})
        return True

    def record_transmission(self, provider: str, transmission_id: str, body_sha256: str, now: int, keep_until: int) -> bool:
        kept = self.transmissions.get((provider, transmission_id))
        if kept is not None and kept["body_sha256"] != body_sha256:
            return False
        # The same body again is put again (recorded_at and ttl renewed), as the repository's Put does.
        self.transmissions[(provider, transmission_id)] = _item({"body_sha256": body_sha256, "recorded_at": now, "ttl": keep_until})
        return True


class MemoryCheckpoints:
    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}

    def get(self, job: str) -> dict[str, Any]:
        return _copy(self._states.get(job, {}))

    def put(self, job: str, state: dict[str, Any]) -> None:
        # A put replaces the whole state (keys left out are gone); None values are not kept.
        self._states[job] = {name: value for name, value in _item(state).items() if name not in ("pk", "sk")}


class MemoryProviderObjects:
    """``repositories.provider_objects`` over the shared payments table (its items keyed as there,
    since the PayPal refund store reads and writes the same capture items)."""

    def __init__(self, payments: PaymentsTable, provider: str) -> None:
        self.payments = payments
        self._prefix = provider.upper()

    def _pk(self, kind: str, object_id: str) -> str:
        return f"{self._prefix}#{kind}#{object_id}"

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return self.payments.get(self._pk(kind, object_id), "OBJECT")

    def record(self, kind: str, object_id: str, owner: str, state: dict[str, Any], now: int) -> bool:
        kept = self.payments.items.get((self._pk(kind, object_id), "OBJECT"))
        if kept is not None:
            if kept.get("owner") != owner:
                raise PermissionError(f"{kind} {object_id} belongs to another user")
            return False
        # The state is laid over the object's own fields, as the repository's item is built.
        self.payments.put(
            {
                "pk": self._pk(kind, object_id),
                "sk": "OBJECT",
                "kind": kind,
                "object_id": object_id,
                "owner": owner,
                "created_at": now,
                **state,
            }
        )
        return True

    def apply_state(
        self, kind: str, object_id: str, state: dict[str, Any], as_of: int, rank: int = 0, aspect: str = "state"
    ) -> dict[str, Any] | None:
        kept = self.payments.items.get((self._pk(kind, object_id), "OBJECT"))
        if kept is None:
            return None
        if any(value is None for value in state.values()):
            # The repository drops a None from the expression's values, and DynamoDB refuses the
            # expression that names it: nothing is written.
            raise ValueError("a state value is None")
        kept_as_of, kept_rank = kept.get(f"{aspect}_as_of"), kept.get(f"{aspect}_rank")
        # A rank missing beside a time kept fails ``#rank <= :rank`` (a missing attribute compares false).
        newer_kept = kept_as_of is not None and not (
            kept_as_of < as_of or (kept_as_of == as_of and kept_rank is not None and kept_rank <= rank)
        )
        if newer_kept:
            return None
        for name, value in state.items():
            kept[name] = _stored(value)
        kept[f"{aspect}_as_of"], kept[f"{aspect}_rank"] = Decimal(as_of), Decimal(rank)
        return _copy(kept)

    def unsettled(self, kind: str, settled_statuses: tuple[str, ...], created_since: int) -> list[dict[str, Any]]:
        """An object without a status is unsettled (``NOT #status IN (...)`` holds of a missing one).
        No settled status at all is refused, as DynamoDB refuses the empty ``IN ()``."""
        if not settled_statuses:
            raise ValueError("no settled status")
        prefix = f"{self._prefix}#{kind}#"
        return [
            _copy(item)
            for (pk, _), item in self.payments.items.items()
            if pk.startswith(prefix)
            and "created_at" in item
            and item["created_at"] >= created_since
            and item.get("status") not in settled_statuses
        ]

    def raise_to(self, kind: str, object_id: str, field: str, value: int) -> bool:
        kept = self.payments.items.get((self._pk(kind, object_id), "OBJECT"))
        if kept is None or (field in kept and not kept[field] < value):
            return False
        kept[field] = Decimal(value)
        return True


class MemoryPayPalRefunds:
    """``repositories.paypal_refunds`` over the shared payments table: the capture's counters
    (amount, refunded, reserved, refundable), the reservations and the refund records."""

    def __init__(self, payments: PaymentsTable) -> None:
        self.payments = payments
        self._ids = itertools.count(1)

    def _get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return self.payments.items.get((f"PAYPAL#{kind}#{object_id}", "OBJECT"))

    def reservation_for_request(self, fingerprint: str, window_seconds: int, now: int) -> str:
        previous = self._get("refund_request", fingerprint)
        if previous is not None:
            previous_id = str(previous["reservation_id"])
            if int(previous["created_at"]) >= now - window_seconds:
                return previous_id
            earlier = self.reservation(previous_id)
            if earlier is not None and earlier.state == ReservationState.RESERVED:
                return previous_id
        # The repository draws a uuid4; here a counter, so that a run replays.
        candidate = f"paypal-refund-{next(self._ids):032x}"
        self.payments.put({"pk": f"PAYPAL#refund_request#{fingerprint}", "sk": "OBJECT", "reservation_id": candidate, "created_at": now})
        return candidate

    def reservation(self, reservation_id: str) -> RefundReservation | None:
        data = self._get("refund_reservation", reservation_id)
        if data is None:
            return None
        return RefundReservation(
            reservation_id=data["object_id"],
            capture_id=data["capture_id"],
            amount_minor=int(data["amount_minor"]),
            state=ReservationState(data["state"]),
            requested_by=data["requested_by"],
            created_at=int(data["created_at"]),
            refund=PayPalRefund.from_record(data["refund"]) if data.get("refund") else None,
            refusal=data.get("refusal"),
        )

    def reserve(self, reservation_id: str, capture_id: str, amount_minor: int | None, requested_by: str, now: int) -> RefundReservation:
        existing = self.reservation(reservation_id)
        if existing is not None:
            return existing
        capture = self._get("capture", capture_id) or {}
        remaining = int(capture.get("refundable_minor", 0))
        if capture.get("status") not in PAYPAL_REFUNDING:
            raise NotRefundable(max(remaining, 0), f"the capture is {str(capture.get('status', 'unknown')).lower()}")
        amount = remaining if amount_minor is None else amount_minor
        if amount <= 0 or amount > remaining:
            raise NotRefundable(max(remaining, 0))
        reservation = RefundReservation(reservation_id, capture_id, amount, ReservationState.RESERVED, requested_by, now)
        self.payments.put(
            {
                "pk": f"PAYPAL#refund_reservation#{reservation_id}",
                "sk": "OBJECT",
                "kind": "refund_reservation",
                "object_id": reservation_id,
                "capture_id": capture_id,
                "amount_minor": amount,
                "state": reservation.state.value,
                "requested_by": requested_by,
                "created_at": now,
            }
        )
        # ``SET refundable_minor = refundable_minor - :amount ADD reserved_minor :amount``
        capture["refundable_minor"] -= amount
        capture["reserved_minor"] = capture.get("reserved_minor", Decimal(0)) + amount
        return reservation

    def _counters(self, capture_id: str) -> tuple[int, int, int, int] | None:
        capture = self._get("capture", capture_id)
        if capture is None:
            return None
        return (
            int(capture.get("amount_minor", 0)),
            int(capture.get("refunded_minor", 0)),
            int(capture.get("refundable_minor", 0)),
            int(capture.get("reserved_minor", 0)),
        )

    def release(self, reservation: RefundReservation, refusal: str) -> None:
        counters = self._counters(reservation.capture_id)
        if counters is None:
            return
        kept = self._get("refund_reservation", reservation.reservation_id)
        if kept is None or kept.get("state") != ReservationState.RESERVED.value:
            return  # released already, or settled by the refund after all: nothing goes back
        amount, refunded, refundable, reserved_before = counters
        reserved = max(0, reserved_before - reservation.amount_minor)
        back = max(0, min(refundable + reservation.amount_minor, amount - refunded - reserved))
        kept |= _item({"state": ReservationState.RELEASED.value, "refusal": refusal})
        capture = self._get("capture", reservation.capture_id)
        assert capture is not None
        capture |= _item({"refundable_minor": back, "reserved_minor": reserved})

    def record(self, refund: PayPalRefund, owner: str, now: int) -> bool:
        reservation = self.reservation(refund.custom_id) if refund.custom_id else None
        if reservation is not None and (reservation.capture_id != refund.capture_id or reservation.state != ReservationState.RESERVED):
            reservation = None
        taken = reservation.amount_minor if reservation else 0
        counters = self._counters(refund.capture_id)
        if counters is None:
            raise NotRefundable(0, f"capture {refund.capture_id} is not recorded")
        if self._get("refund", refund.refund_id) is not None:
            return False
        amount, refunded, refundable, reserved_before = counters
        new_refunded = min(refunded + refund.amount_minor, amount)
        new_reserved = max(0, reserved_before - taken)
        left = refundable + taken - (new_refunded - refunded)
        new_refundable = max(0, min(left, amount - new_refunded - new_reserved))
        # (The repository also logs a warning when the refund exceeds what remained.)
        self.payments.put(
            {
                "pk": f"PAYPAL#refund#{refund.refund_id}",
                "sk": "OBJECT",
                "kind": "refund",
                "object_id": refund.refund_id,
                "owner": owner,
                "created_at": now,
            }
            | refund.to_record()
        )
        capture = self._get("capture", refund.capture_id)
        assert capture is not None
        capture |= _item({"refunded_minor": new_refunded, "refundable_minor": new_refundable, "reserved_minor": new_reserved})
        if reservation is not None:
            kept = self._get("refund_reservation", reservation.reservation_id)
            assert kept is not None
            kept |= _item({"state": ReservationState.REFUNDED.value, "refund": refund.to_record()})
        return True

    def settle_status(self, capture_id: str, now: int) -> str | None:
        capture = self._get("capture", capture_id)
        if capture is None or "refunded_minor" not in capture or "amount_minor" not in capture:
            return None
        refunded, amount = capture["refunded_minor"], capture["amount_minor"]
        for status, rank, holds in (("REFUNDED", 4, refunded >= amount), ("PARTIALLY_REFUNDED", 3, 0 < refunded < amount)):
            if holds:
                capture |= _item({"status": status, "state_rank": rank, "state_as_of": now})
                return status
        return None

    def unsettled_reservations(self, created_before: int) -> list[RefundReservation]:
        found = []
        for (pk, _), item in self.payments.items.items():
            reserved = pk.startswith("PAYPAL#refund_reservation#") and item.get("state") == ReservationState.RESERVED.value
            if reserved and "created_at" in item and item["created_at"] < created_before:
                found.append(self.reservation(str(item["object_id"])))
        return [reservation for reservation in found if reservation is not None]


class MemoryQueues:
    """The on-sale queues' items: each queue's state, the buyers' places, the place counters and
    the uses of each epoch's admissions (the table's ``QUEUE#...`` items)."""

    def __init__(self) -> None:
        self.states: dict[int, QueueState] = {}
        self.buyers: dict[tuple[int, str], QueueEntry] = {}
        self.counters: dict[tuple[int, int], int] = {}
        self.used: dict[tuple[int, int], int] = {}

    def admits(self, admission: Admission) -> bool:
        """The repository's conditions: the buyer's place, unused; the state still admitting it."""
        entry = self.buyers.get((admission.event_id, admission.owner))
        state = self.states.get(admission.event_id)
        return (
            entry is not None
            and entry.place == admission.place
            and entry.used_ms is None
            and state is not None
            and state.lapsed_to < admission.place <= state.admitted_to
        )

    def use(self, admission: Admission, ticket_id: int, now_ms: int) -> None:
        key = (admission.event_id, admission.owner)
        self.buyers[key] = replace(self.buyers[key], used_ms=now_ms, ticket_id=ticket_id)
        self.used[(admission.event_id, admission.epoch)] = self.used.get((admission.event_id, admission.epoch), 0) + 1


class MemoryQueueStore:
    """``repositories.queue.QueueRepository`` without DynamoDB, over a ticket store's queues (whose
    ``create`` uses an admission). ``draw`` picks the first of the two counters a join compares
    (the repository draws at random; the contract suite pins both to 0, the second being the next)."""

    def __init__(self, tickets: MemoryTicketStore, draw: Callable[[int], int] | None = None) -> None:
        self._queues = tickets.queues
        self._draw = draw or (lambda counters: 0)
        self._last: dict[tuple[int, int], int] = {}  # when a join last took from each counter

    def join(self, event_id: int, owner: str, now_ms: int) -> tuple[QueueEntry, bool]:
        held = self._queues.buyers.get((event_id, owner))
        if held is not None:
            return held, False
        first = self._draw(PLACE_COUNTERS)
        second = (first + 1) % PLACE_COUNTERS
        if all(now_ms - self._last.get((event_id, counter), 0) >= QUIET_MS for counter in range(PLACE_COUNTERS)):
            # No join for QUIET_MS: the lowest next place of all (the repository's ordered take).
            counter = lowest_next(self.handed(event_id))
        else:
            counter = min((first, second), key=lambda drawn: place_of(drawn, self._value(event_id, drawn) + 1))
        value = self._value(event_id, counter) + 1
        self._queues.counters[(event_id, counter)] = value
        self._last[(event_id, counter)] = now_ms
        entry = QueueEntry(event_id, owner, place_of(counter, value), now_ms)
        self._queues.buyers[(event_id, owner)] = entry
        return entry, True

    def _value(self, event_id: int, counter: int) -> int:
        return self._queues.counters.get((event_id, counter), 0)

    def entry(self, event_id: int, owner: str) -> QueueEntry | None:
        return self._queues.buyers.get((event_id, owner))

    def view(self, event_id: int) -> QueueState | None:
        return self._queues.states.get(event_id)

    def state(self, event_id: int) -> QueueState:
        return self._queues.states.get(event_id, QueueState())

    def handed(self, event_id: int) -> dict[int, int]:
        return {counter: self._value(event_id, counter) for counter in range(PLACE_COUNTERS)}

    def close_places(self, event_id: int, floors: dict[int, int]) -> None:
        for counter, floor in floors.items():
            if floor >= 1 and self._value(event_id, counter) < floor:
                self._queues.counters[(event_id, counter)] = floor

    def used(self, event_id: int, epochs: list[int]) -> dict[int, int]:
        return {epoch: self._queues.used[(event_id, epoch)] for epoch in epochs if (event_id, epoch) in self._queues.used}

    def save(self, event_id: int, read: QueueState, new: QueueState) -> bool:
        if event_id not in self._queues.states or self._queues.states[event_id].version != read.version:
            return False
        self._queues.states[event_id] = replace(new, version=read.version + 1)
        return True

    def give_back(self, admission: Admission, ticket_id: int) -> bool:
        key = (admission.event_id, admission.owner)
        entry = self._queues.buyers.get(key)
        if entry is None or entry.ticket_id != ticket_id or entry.place != admission.place:
            return False
        self._queues.buyers[key] = replace(entry, used_ms=None, ticket_id=None)
        used = (admission.event_id, admission.epoch)
        self._queues.used[used] = self._queues.used.get(used, 0) - 1
        return True

    def active_queues(self) -> list[int]:
        return sorted(self._queues.states)


class MemorySessionSlots:
    """``repositories.stripe_slots.StripeSlotRepository`` without DynamoDB: the Checkout Session
    slots claimed (slot -> when its item may go), each claimed once."""

    def __init__(self) -> None:
        self.claimed: dict[int, int] = {}

    def taken(self, slots: Sequence[int]) -> set[int]:
        return {slot for slot in slots if slot in self.claimed}

    def claim(self, slot: int, expires_at: int) -> bool:
        if slot in self.claimed:
            return False
        self.claimed[slot] = expires_at
        return True

    def free(self, slot: int) -> None:
        self.claimed.pop(slot, None)


class MemoryStores:
    """Every store of one world, the payments table shared as in DynamoDB."""

    def __init__(self, start: Callable[[int], int] | None = None) -> None:
        self.payments = PaymentsTable()
        self.tickets = MemoryTicketStore(self.payments, start)
        self.webhooks = MemoryWebhookEvents()
        self.checkpoints = MemoryCheckpoints()
        self.stripe_objects = MemoryProviderObjects(self.payments, "stripe")
        self.paypal_objects = MemoryProviderObjects(self.payments, "paypal")
        self.paypal_refunds = MemoryPayPalRefunds(self.payments)
        self.queues = MemoryQueueStore(self.tickets)
        self.stripe_slots = MemorySessionSlots()


if TYPE_CHECKING:

    def _satisfies_the_ports(stores: MemoryStores) -> None:
        """mypy --strict proves each twin is its port."""
        ticket_store: TicketStore = stores.tickets
        event_store: EventStore = stores.tickets
        door: DoorTickets = stores.tickets
        customer: CustomerTickets = stores.tickets
        unsettled: UnsettledTickets = stores.tickets
        ledger: WebhookEventStore = stores.webhooks
        transmissions: TransmissionStore = stores.webhooks
        checkpoints: CheckpointStore = stores.checkpoints
        objects: ProviderObjectStore = stores.paypal_objects
        refunds: PayPalRefundStore = stores.paypal_refunds
        queues: QueueStore = stores.queues
        slots: SessionSlotStore = stores.stripe_slots
        del slots, queues, ticket_store, event_store, door, customer, unsettled, ledger, transmissions, checkpoints, objects, refunds
