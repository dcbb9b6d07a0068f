"""Events and tickets in the tickets table; payment and refund records in the payments table.

Every ticket transition of ``payments.domain.lifecycle`` is one transaction here, conditioned on
the state it leaves, carrying its effect on the event's seats and its money records, so that it
happens at most once whoever tries it and whenever."""

from __future__ import annotations

import heapq
import itertools
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

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
from payments.domain.ports import AdmissionRefused, FreeSeatLimit, SoldOut, StateChanged, UnpaidLimit
from payments.domain.records import RefundRecord
from payments.dynamodb import (
    all_items,
    batch_get_all,
    cancellation_reasons,
    from_item,
    is_condition_failure,
    to_attributes,
    write_with_retry,
)
from payments.repositories.records import PROVIDER, record_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from payments.domain.admission import Admission
    from payments.domain.records import MoneyRecord

UNSETTLED_INDEX = "UnsettledTicketsByExpiry"
# The unsettled index is keyed by "<status>#<bucket>" (the ticket id modulo this), not by the bare
# status: a paid on-sale's reservations then write to this many index partitions, not all to one
# (each bounded to 1,000 write units a second); its readers query every bucket and merge.
UNSETTLED_BUCKETS = 16
EVENTS_INDEX = "EventsById"
OWNER_INDEX = "TicketsByOwner"
# Keyed by event and seat shard, so that an on-sale's ticket writes spread over the index's
# partitions as they spread over the seat shards; the sales read them shard by shard.
EVENT_SHARD_INDEX = "TicketsByEventShard"
CODE_INDEX = "TicketsByCode"
EVENT_ENTITY = "EVENT"
# Ids are reserved a block at a time per container, so that the counter item sees a hundredth of
# the traffic; unique always, increasing within a container.
ID_BLOCK = 100
# Ticket ids come from this many counter items, each under a partition key of its own: at scale-out
# every new container reserves its first block at once, and one item takes at most 1,000 writes a
# second. Counter n hands out the blocks n, n + 16, n + 32 ... (ids b * ID_BLOCK + 1 ... of block b),
# so no two counters ever give the same id; a container keeps to one counter, so its ids increase.
# Events (a few a day) keep the one counter: their ids stay in creation order across containers.
COUNTER_SHARDS = {"ticket": 16}
# A purchase that finds its planned shard emptied meanwhile plans again from a fresh read.
SEAT_ATTEMPTS = 4
# BatchGetItem may leave keys unprocessed (throttling): they are asked again within this budget.
BATCH_READ_BUDGET_SECONDS = 2.0
# DynamoDB's TransactWriteItems takes at most this many actions: a money write's refund records
# beyond what fits with the ticket's change are written ahead of it (``_records_ahead``).
MAX_TRANSACTION_ACTIONS = 100
# The ticket attribute naming the writer whose records are being written ahead of its change.
RECORDS_WRITER = "records_writer"
# A capacity edit's move of a shard's seats left and capacity together; an item written before
# shards had capacities of their own lacks ``shard_capacity``: its share as read (``:had``) stands in.
_MOVE_SEATS_AND_CAPACITY = "available = available + :seats, shard_capacity = if_not_exists(shard_capacity, :had) + :seats"


def _event_key(event_id: int) -> dict[str, Any]:
    return _shard_key(event_id, 0)


def _shard_key(event_id: int, shard: int) -> dict[str, Any]:
    """Shard 0 is the event item itself, so that a one-shard event is exactly one item. Every other
    shard is an item under a partition key of its own (``EVENT#<id>#SEATS#<n>``): DynamoDB bounds
    each partition key to 1,000 write units a second, and the shards exist to multiply that bound."""
    if shard == 0:
        return {"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}}
    return {"pk": {"S": f"EVENT#{event_id}#SEATS#{shard}"}, "sk": {"S": f"SEATS#{shard}"}}


def _unsettled_key(status: TicketStatus | str, ticket_id: int) -> str:
    """The ticket's key in the unsettled index: its status and its bucket."""
    return f"{status}#{ticket_id % UNSETTLED_BUCKETS}"


def _shard_of(item: dict[str, Any]) -> int:
    sort_key = str(item["sk"]["S"])
    return 0 if sort_key == "EVENT" else int(sort_key.removeprefix("SEATS#"))


def _ticket_key(ticket_id: int) -> dict[str, Any]:
    return {"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}}


def _ticket_id_of(key: dict[str, Any]) -> int:
    return int(str(key["pk"]["S"]).removeprefix("TICKET#"))


def _unpaid_key(event_id: int, owner: str) -> dict[str, Any]:
    return {"pk": {"S": f"UNPAID#{event_id}#{owner}"}, "sk": {"S": "UNPAID"}}


def _free_key(event_id: int, owner: str) -> dict[str, Any]:
    return {"pk": {"S": f"FREE#{event_id}#{owner}"}, "sk": {"S": "FREE"}}


def _intent_link_key(payment_intent: str) -> dict[str, Any]:
    return {"pk": {"S": f"TICKET_PAYMENT#{PROVIDER}#{payment_intent}"}, "sk": {"S": "LINK"}}


def _values(**values: Any) -> dict[str, Any]:
    return to_attributes({f":{name}": value for name, value in values.items()})


def _event_from_item(item: dict[str, Any], seats_by_shard: dict[int, int] | None = None) -> Event:
    """The event from its item; with its shards' seats left when they were read, ``available`` is their sum."""
    data = from_item(item)
    return Event(
        event_id=int(data["event_id"]),
        name=data["name"],
        price=Decimal(data["price"]),
        currency=data["currency"],
        capacity=int(data["capacity"]),
        available=int(data["available"]) if seats_by_shard is None else sum(seats_by_shard.values()),
        created_by=data["created_by"],
        created_at=int(data["created_at"]),
        seat_shards=int(data.get("seat_shards", 1)),
        seats_by_shard=seats_by_shard,
        on_sale_queue=bool(data.get("on_sale_queue", False)),
        description=data.get("description"),
        starts_at=_int_or_none(data.get("starts_at")),
        opens_at=_int_or_none(data.get("opens_at")),
        closes_at=_int_or_none(data.get("closes_at")),
        sales_paused=bool(data.get("sales_paused", False)),
        version=int(data.get("version", 0)),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


_TICKET_INT_FIELDS = (
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
)


def _ticket_from_item(item: dict[str, Any]) -> Ticket:
    data = from_item(item)
    values = {name: data[name] for name in Ticket.__dataclass_fields__ if name in data}
    for name in _TICKET_INT_FIELDS:
        if values.get(name) is not None:
            values[name] = int(values[name])
    values["status"] = TicketStatus(values["status"])
    if values.get("seat_parts") is not None:
        values["seat_parts"] = {int(shard): int(count) for shard, count in values["seat_parts"].items()}
    return Ticket(**values)


def _ticket_line(item: dict[str, Any]) -> TicketLine:
    data = from_item(item)
    refund_amount = data.get("refund_amount")
    return TicketLine(
        ticket_id=int(data["ticket_id"]),
        event_id=int(data["event_id"]),
        quantity=int(data["quantity"]),
        status=TicketStatus(data["status"]),
        ticket_code=data["ticket_code"],
        unit_amount=int(data["unit_amount"]),
        checked_in=int(data.get("checked_in", 0)),
        refund_amount=None if refund_amount is None else int(refund_amount),
        refunded_quantity=int(data.get("refunded_quantity", 0)),
    )


def _event_shard(event_id: int, shard: int) -> str:
    return f"{event_id}#{shard}"


def _ticket_attributes(ticket: Ticket) -> dict[str, Any]:
    # Field by field, not asdict(): nothing here needs the deep copy it makes of every value.
    attributes = {field.name: getattr(ticket, field.name) for field in fields(ticket)}
    attributes |= {"status": str(ticket.status), "event_shard": _event_shard(ticket.event_id, min(ticket.parts))}
    if ticket.seat_parts is not None:
        attributes["seat_parts"] = _parts_map(ticket.seat_parts)
    return attributes


def _parts_map(parts: dict[int, int]) -> dict[str, int]:
    return {str(shard): count for shard, count in parts.items()}


def _seats_as_read(ticket: Ticket, seats: Seats) -> tuple[str, dict[str, Any]]:
    """The condition of a transition that moves seats, on ``ticket`` as read: they are those of
    people not admitted as read (a door admitting someone meanwhile makes the write fail and the
    caller decide again), and seats go back to the shards they are on as read (a ticket that gave
    its seats back and took others since, refunding, refused and paid again, is in the status read
    on other shards). Seats taken again by a ticket whose admitted people kept theirs are placed
    around those as read (``_admitted_parts``): on the shards as read too. And the seats it holds
    are those as read: a staff partial refund finished meanwhile gave some back already (an
    unsharded ticket read before it has no ``seat_parts`` to compare; it has them after)."""
    if seats not in (Seats.TAKE, Seats.RETURN):
        return "", {}
    condition = f"(attribute_not_exists(checked_in) OR checked_in = :admitted) AND {_refunded_as_read(ticket)}"
    values = _values(admitted=ticket.checked_in, refunded=ticket.refunded_quantity)
    if ticket.seat_parts is None:
        condition += " AND attribute_not_exists(seat_parts)"
    elif seats == Seats.RETURN or _admitted_parts(ticket):
        condition, values = f"{condition} AND seat_parts = :parts_read", values | _values(parts_read=_parts_map(ticket.seat_parts))
    return condition, values


def _seat_refund_as_read(ticket: Ticket) -> tuple[str, dict[str, Any]]:
    """The condition of a write that clears a staff seat refund owed: it is the one read, or none.
    One decided since is finished first (were it cleared unseen, its refund would be made at Stripe
    and its seats still held)."""
    if ticket.seat_refund_key is None:
        return "attribute_not_exists(seat_refund_key)", {}
    return "seat_refund_key = :seat_refund_read", _values(seat_refund_read=ticket.seat_refund_key)


def _admitted_parts(ticket: Ticket) -> dict[int, int]:
    """The seats of the ticket's admitted people, by shard: what ``Ticket.unadmitted_parts`` leaves
    out (counted from the lowest shard up). They never move: no RETURN gives them back."""
    left = ticket.unadmitted_parts
    return {shard: count - left.get(shard, 0) for shard, count in ticket.parts.items() if count > left.get(shard, 0)}


def _taken(read: Ticket, placed: Ticket) -> dict[int, int]:
    """The seats a TAKE takes, by shard: all the placed ticket holds less what its admitted people
    held as read (still theirs). With someone admitted this is not ``placed.unadmitted_parts``: the
    rest may have been placed below the admitted people's shard, and the lowest-first count then
    names other shards; the ticket's whole ``seat_parts`` still holds exactly, shard by shard, and
    a later RETURN gives back its ``unadmitted_parts`` from what it holds then."""
    kept = _admitted_parts(read)
    return {shard: count - kept.get(shard, 0) for shard, count in placed.parts.items() if count > kept.get(shard, 0)}


class TicketRepository:
    def __init__(self, client: DynamoDBClient, tickets_table: str, payments_table: str) -> None:
        self._client = client
        self._tickets = tickets_table
        self._payments = payments_table
        self._id_blocks: dict[str, tuple[int, int]] = {}  # kind -> (next id, last id of the block)
        self._id_lock = threading.Lock()  # the local runner serves several requests at once
        self._counter_shard: dict[str, int] = {}  # kind -> the counter this container reserves from

    # ids -------------------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        with self._id_lock:
            following, last = self._id_blocks.get(kind, (1, 0))
            if following > last:
                last = self._reserve_ids(kind)
                following = last - ID_BLOCK + 1
            self._id_blocks[kind] = (following + 1, last)
            return following

    def _reserve_ids(self, kind: str) -> int:
        """One atomic update reserves the next block; returns its last id."""
        shards = COUNTER_SHARDS.get(kind, 1)
        if shards == 1:
            return self._add_to_counter(kind, ID_BLOCK)
        shard = self._counter_shard.setdefault(kind, secrets.randbelow(shards))
        block = self._next_block(kind, shard) * shards + shard
        return (block + 1) * ID_BLOCK

    def _add_to_counter(self, kind: str, amount: int) -> int:
        """The one counter of ``kind`` (``COUNTER#<kind>``): the ids given so far, ``amount`` more."""
        result = write_with_retry(
            lambda: self._client.update_item(
                TableName=self._tickets,
                Key={"pk": {"S": f"COUNTER#{kind}"}, "sk": {"S": "COUNTER"}},
                UpdateExpression="ADD #value :block",
                ExpressionAttributeNames={"#value": "value"},
                ExpressionAttributeValues={":block": {"N": str(amount)}},
                ReturnValues="UPDATED_NEW",
            )
        )
        return int(result["Attributes"]["value"]["N"])

    def _next_block(self, kind: str, shard: int) -> int:
        """The counter ``shard``'s next round of blocks (``COUNTER#<kind>#<shard>``). A counter is
        created starting above every block the one counter of ``kind`` gave (a table from before the
        spread), read only then."""
        key = {"pk": {"S": f"COUNTER#{kind}#{shard}"}, "sk": {"S": "COUNTER"}}
        names = {"#value": "value"}
        try:
            result = write_with_retry(
                lambda: self._client.update_item(
                    TableName=self._tickets,
                    Key=key,
                    UpdateExpression="ADD #value :one",
                    ConditionExpression="attribute_exists(#value)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":one": {"N": "1"}},
                    ReturnValues="UPDATED_NEW",
                )
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            given = self._client.get_item(
                TableName=self._tickets, Key={"pk": {"S": f"COUNTER#{kind}"}, "sk": {"S": "COUNTER"}}, ConsistentRead=True
            )
            # The rounds below this one hold every block the one counter gave: -(-n // d) rounds up.
            floor = -(-int(given.get("Item", {}).get("value", {}).get("N", "0")) // (ID_BLOCK * COUNTER_SHARDS[kind]))
            result = write_with_retry(
                lambda: self._client.update_item(
                    TableName=self._tickets,
                    Key=key,
                    UpdateExpression="SET #value = if_not_exists(#value, :floor) + :one",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":floor": {"N": str(floor)}, ":one": {"N": "1"}},
                    ReturnValues="UPDATED_NEW",
                )
            )
        return int(result["Attributes"]["value"]["N"]) - 1

    # events ----------------------------------------------------------------------------------
    def put_event(self, event: Event) -> None:
        """The event and its seat shards, all or none."""
        capacities = shard_capacities(event.capacity, event.seat_shards)
        attributes = {
            **asdict(event),
            "price": str(event.price),
            "entity": EVENT_ENTITY,
            "available": capacities[0],
            "seats_by_shard": None,
        }
        puts = [{**_event_key(event.event_id), **to_attributes({**attributes, "shard_capacity": capacities[0]})}]
        for shard in range(1, event.seat_shards):
            shard_item = {"event_id": event.event_id, "available": capacities[shard], "shard_capacity": capacities[shard]}
            if event.on_sale_queue:
                shard_item["on_sale_queue"] = True  # every shard says so: see enable_queue
            puts.append({**_shard_key(event.event_id, shard), **to_attributes(shard_item)})
        if event.on_sale_queue:
            from payments.repositories.queue import new_queue_items

            puts += new_queue_items(event.event_id)
        if len(puts) == 1:
            self._client.put_item(TableName=self._tickets, Item=puts[0], ConditionExpression="attribute_not_exists(pk)")
            return
        items: list[Any] = [
            {"Put": {"TableName": self._tickets, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}} for item in puts
        ]
        self._client.transact_write_items(TransactItems=items)

    def enable_queue(self, event: Event) -> None:
        """The event's item and every other shard marked queued and its queue's items put,
        conditioned on every shard holding its capacity still (no seat taken) and on no queue yet:
        StateChanged otherwise. The mark on each shard is what an unqueued reservation's seat write
        is conditioned on (``create``): a purchase that read the event before this write cannot
        take a seat after it."""
        from payments.repositories.queue import new_queue_items

        full = "available = shard_capacity"
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _event_key(event.event_id),
                    "UpdateExpression": "SET on_sale_queue = :queued",
                    "ConditionExpression": f"{full} AND (attribute_not_exists(on_sale_queue) OR on_sale_queue = :unqueued)",
                    "ExpressionAttributeValues": _values(queued=True, unqueued=False),
                }
            }
        ]
        items += [
            {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _shard_key(event.event_id, shard),
                    "UpdateExpression": "SET on_sale_queue = :queued",
                    "ConditionExpression": full,
                    "ExpressionAttributeValues": _values(queued=True),
                }
            }
            for shard in range(1, event.seat_shards)
        ]
        items += [
            {"Put": {"TableName": self._tickets, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
            for item in new_queue_items(event.event_id)
        ]
        self._transact_or_changed(items)

    def _transact_or_changed(self, items: list[Any]) -> None:
        """One transaction of an event's own writes; StateChanged, nothing written, when a condition fails."""
        try:
            write_with_retry(lambda: self._client.transact_write_items(TransactItems=items))
        except Exception as error:
            if is_condition_failure(error):
                raise StateChanged() from None
            raise

    def update_event(self, event: Event, changes: dict[str, Any], seats: dict[int, int]) -> None:
        """An edit as one transaction: the event's item (the fields changed, None removed; its
        ``version`` raised, conditioned on the version of ``event`` as read; shard 0's seats) and
        each other shard whose seats change. A shard's seats left and its ``shard_capacity`` move
        together, so that ``available = shard_capacity`` still says "no seat taken"; a cut is
        conditioned on that many seats left there now (not on the count as read: a purchase between
        the read and the write that leaves enough does not refuse the edit, and one that leaves too
        few makes it fail whole). StateChanged, nothing written, when either condition fails."""
        names: dict[str, str] = {"#version": "version"}
        values: dict[str, Any] = {"next_version": event.version + 1, "read_version": event.version}
        assignments, removed = ["#version = :next_version"], []
        for field, value in changes.items():
            names[f"#{field}"] = field
            if value is None:
                removed.append(f"#{field}")
            else:
                values[f"new_{field}"] = str(value) if field == "price" else value
                assignments.append(f"#{field} = :new_{field}")
        # An event written before edits existed has no version: it reads as 0.
        read = "#version = :read_version" if event.version else "(attribute_not_exists(#version) OR #version = :read_version)"
        condition = f"attribute_exists(pk) AND {read}"
        # An item written before seat shards had capacities of their own lacks ``shard_capacity``:
        # its shard's share of the capacity as read (the version condition holds it) stands in.
        capacities = shard_capacities(event.capacity, event.seat_shards)
        change = seats.get(0, 0)
        if change:
            assignments.append(_MOVE_SEATS_AND_CAPACITY)
            values["seats"], values["had"] = change, capacities[0]
            if change < 0:
                condition += " AND available >= :cut"
                values["cut"] = -change
        update = "SET " + ", ".join(assignments) + (" REMOVE " + ", ".join(removed) if removed else "")
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _event_key(event.event_id),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": _values(**values),
                }
            }
        ]
        for shard, moved in sorted(seats.items()):
            if shard == 0 or not moved:
                continue
            cut = " AND available >= :cut" if moved < 0 else ""
            items.append(
                {
                    "Update": {
                        "TableName": self._tickets,
                        "Key": _shard_key(event.event_id, shard),
                        "UpdateExpression": f"SET {_MOVE_SEATS_AND_CAPACITY}",
                        "ConditionExpression": f"attribute_exists(pk){cut}",
                        "ExpressionAttributeValues": _values(seats=moved, had=capacities[shard], **({"cut": -moved} if moved < 0 else {})),
                    }
                }
            )
        self._transact_or_changed(items)

    def get_event(self, event_id: int) -> Event | None:
        """The event with its seats left over all its shards: its item, then (when it has more than
        one shard) its other shards' items in one batch read."""
        event_item = self._event_item(event_id)
        if event_item is None:
            return None
        return _event_from_item(event_item, self._seats(event_item))

    def availability(self, event_id: int) -> dict[int, int]:
        """Seats left by shard."""
        event_item = self._event_item(event_id)
        return {} if event_item is None else self._seats(event_item)

    def _event_item(self, event_id: int) -> dict[str, Any] | None:
        result = self._client.get_item(TableName=self._tickets, Key=_event_key(event_id), ConsistentRead=True)
        item: dict[str, Any] | None = result.get("Item")
        return item

    def _seats(self, event_item: dict[str, Any]) -> dict[int, int]:
        """Seats left by shard: shard 0's from the event's own item, the others' read, consistently."""
        event_id, shards = int(event_item["event_id"]["N"]), int(event_item.get("seat_shards", {}).get("N", "1"))
        seats = {0: int(event_item["available"]["N"])}
        for item in self._batch_get([_shard_key(event_id, shard) for shard in range(1, shards)]):
            seats[_shard_of(item)] = int(item["available"]["N"])
        if len(seats) != shards:
            # Written with the event in one transaction: a shard missing is our bug (or a table
            # from before the shards had keys of their own), never fewer seats to sell.
            raise RuntimeError(f"Event {event_id} has {len(seats)} of its {shards} seat shards")
        return dict(sorted(seats.items()))

    def _batch_get(self, keys: list[dict[str, Any]], what: str = "seat shards") -> list[dict[str, Any]]:
        """The items of ``keys`` (at most 100: an event has at most 64 shards, a page of lines at
        most 100 tickets), read consistently;
        keys DynamoDB leaves unprocessed are asked again with backoff, then the read fails as
        throttled (a 503), never answers with seats missing."""
        if not keys:
            return []
        request = {"Keys": keys, "ConsistentRead": True}
        return batch_get_all(self._client, self._tickets, request, budget_seconds=BATCH_READ_BUDGET_SECONDS, what=what)

    def list_events(self, limit: int, after: int | None = None) -> tuple[list[Event], int | None]:
        """Events by id, newest first, a page at a time; the second value is where the next page starts."""
        kwargs: dict[str, Any] = {
            "TableName": self._tickets,
            "IndexName": EVENTS_INDEX,
            "KeyConditionExpression": "entity = :entity",
            "ExpressionAttributeValues": _values(entity=EVENT_ENTITY),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"entity": {"S": EVENT_ENTITY}, "event_id": {"N": str(after)}, **_event_key(after)}
        result = self._client.query(**kwargs)
        events = []
        for item in result.get("Items", []):
            event = _event_from_item(item)
            # A sharded event's own item holds only shard 0's seats: the others are read by shard.
            events.append(_event_from_item(item, self._seats(item)) if event.seat_shards > 1 else event)
        last = result.get("LastEvaluatedKey")
        return events, (int(last["event_id"]["N"]) if last else None)

    # tickets ---------------------------------------------------------------------------------
    def get_ticket(self, ticket_id: int) -> Ticket | None:
        result = self._client.get_item(TableName=self._tickets, Key=_ticket_key(ticket_id), ConsistentRead=True)
        return _ticket_from_item(result["Item"]) if "Item" in result else None

    def ticket_for_payment_intent(self, payment_intent: str) -> Ticket | None:
        """The ticket a Stripe payment intent paid (or was to pay), if any ticket of ours knows it."""
        result = self._client.get_item(TableName=self._payments, Key=_intent_link_key(payment_intent), ConsistentRead=True)
        if "Item" not in result:
            return None
        return self.get_ticket(int(result["Item"]["ticket_id"]["N"]))

    def ticket_by_code(self, ticket_code: str) -> Ticket | None:
        """The ticket a door pass names: found through the code index, then read itself, consistently."""
        found = self._client.query(
            TableName=self._tickets,
            IndexName=CODE_INDEX,
            KeyConditionExpression="ticket_code = :code",
            ExpressionAttributeValues=_values(code=ticket_code),
            Limit=1,
        ).get("Items", [])
        return self.get_ticket(_ticket_id_of(found[0])) if found else None

    def tickets_of(self, owner: str, limit: int, after: Ticket | None = None) -> tuple[list[TicketLine], int | None]:
        """The owner's tickets, newest first, a page at a time (after the ticket ``after``); the second
        value is the ticket the next page starts after."""
        request: dict[str, Any] = {
            "TableName": self._tickets,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": _values(owner=owner),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {
                "owner": {"S": owner},
                "created_at": {"N": str(after.created_at)},
                **_ticket_key(after.ticket_id),
            }
        result = self._client.query(**request)
        last = result.get("LastEvaluatedKey")
        return self._lines(result.get("Items", [])), (_ticket_id_of(last) if last else None)

    def _lines(self, items: list[dict[str, Any]]) -> list[TicketLine]:
        """Index items (at most 100) as ticket lines. The indexes do not project ``refunded_quantity``
        (a projection cannot change in place): a ticket some of whose money went back (the only ones
        that can have seats refunded: the write that refunds seats sets ``refund_amount``) is read
        from the table itself, in one batch."""
        whole = {
            _ticket_id_of(item): item
            for item in self._batch_get([_ticket_key(_ticket_id_of(item)) for item in items if "refund_amount" in item], "tickets")
        }
        return [_ticket_line(whole.get(_ticket_id_of(item), item)) for item in items]

    def ticket_lines(self, event: Event) -> Iterator[TicketLine]:
        """Every ticket of the event, seat shard by seat shard (the event's index partitions), with
        its seats refunded (``_lines``)."""
        for shard in range(event.seat_shards):
            items = all_items(
                self._client.query,
                TableName=self._tickets,
                IndexName=EVENT_SHARD_INDEX,
                KeyConditionExpression="event_shard = :shard",
                ExpressionAttributeValues=_values(shard=_event_shard(event.event_id, shard)),
            )
            for page in itertools.batched(items, 100, strict=False):
                yield from self._lines(list(page))

    def check_in(self, ticket: Ticket, count: int, now: int, *, event_id: int) -> Ticket:
        """Admits ``count`` more people on a ticket of ``event_id`` (the door's event) that is valid
        at the door, never more than its quantity in all: one conditional write, so that two doors
        scanning one pass at the same instant admit it once. StateChanged, nothing written, when the
        ticket is of another event, not valid at the door, or has fewer than ``count`` admissions left,
        or when ``count`` is below 1 (a negative count would give admissions back)."""
        if count < 1:
            raise StateChanged()
        try:
            result = write_with_retry(
                lambda: self._client.update_item(
                    TableName=self._tickets,
                    Key=_ticket_key(ticket.ticket_id),
                    UpdateExpression="SET checked_in = if_not_exists(checked_in, :zero) + :count, checked_in_at = :now",
                    # The room counts the seats it holds as read: a refund of some seats meanwhile
                    # changes ``refunded_quantity`` and makes the admission decide again.
                    ConditionExpression=(
                        "#status = :paid AND event_id = :event AND (attribute_not_exists(checked_in) OR checked_in <= :room)"
                        " AND (attribute_not_exists(refunded_quantity) OR refunded_quantity = :refunded)"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=_values(
                        zero=0,
                        count=count,
                        now=now,
                        paid=str(TicketStatus.PAID),
                        event=event_id,
                        room=ticket.quantity_held - count,
                        refunded=ticket.refunded_quantity,
                    ),
                    ReturnValues="ALL_NEW",
                )
            )
        except Exception as error:
            if is_condition_failure(error):
                raise StateChanged() from None
            raise
        return _ticket_from_item(result["Attributes"])

    def create(
        self,
        ticket: Ticket,
        unpaid_limit: int,
        seats_by_shard: dict[int, int] | None = None,
        *,
        free_limit: int,
        admission: Admission | None = None,
    ) -> Ticket:
        """A new ticket (free and paid, or reserved) and its seats taken, both or neither; a reserved
        one also counts against its owner's unpaid seats for the event, at most ``unpaid_limit``, and
        a free one against their free seats of the event, at most ``free_limit``. With ``admission``
        (a queued event's), the buyer's admission is used in the same transaction (AdmissionRefused).
        ``seats_by_shard`` (as read with the event) plans the first attempt; a retry reads afresh.
        Returns the ticket as written (with the shards its seats came from); SoldOut, UnpaidLimit
        or FreeSeatLimit, and nothing written."""
        trigger = Trigger.ISSUE_FREE if ticket.status == TicketStatus.PAID else Trigger.RESERVE
        row = transition(None, trigger)
        assert row is not None and row.target == ticket.status
        sharded = seats_by_shard is not None and len(seats_by_shard) > 1
        known = seats_by_shard

        def attempt() -> Ticket:
            nonlocal known
            placed, known = self._placed(ticket, sharded, known), None
            attributes = _ticket_attributes(placed)
            if placed.status in UNSETTLED:
                attributes["unsettled_status"] = _unsettled_key(placed.status, placed.ticket_id)
            items: list[Any] = self._seat_updates(placed.event_id, placed.parts, Seats.TAKE, unqueued=admission is None)
            seats = range(len(items))
            items.append(
                {
                    "Put": {
                        "TableName": self._tickets,
                        "Item": {**_ticket_key(placed.ticket_id), **to_attributes(attributes)},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
            unpaid_index = free_index = None
            if placed.status in UNPAID_HOLDS:
                unpaid_index = len(items)
                items.append({"Update": self._unpaid(placed, take=True, limit=unpaid_limit)})
            elif placed.is_free:
                free_index = len(items)
                items.append({"Update": self._free(placed, take=True, limit=free_limit)})
            admission_indexes = range(0)
            if admission is not None:
                from payments.repositories.queue import admission_items

                admission_indexes = range(len(items), len(items) + 2)  # the buyer's item and the state's check
                items += admission_items(self._tickets, admission, placed.ticket_id, placed.created_at)
            self._transact(
                items,
                seats,
                ticket_index=len(seats),
                unpaid_index=unpaid_index,
                free_index=free_index,
                admission_indexes=admission_indexes,
            )
            return placed

        try:
            return self._taking_seats(attempt, sharded)
        except UnpaidLimit:
            raise UnpaidLimit(self.unpaid_seats(ticket.event_id, ticket.owner)) from None
        except FreeSeatLimit:
            raise FreeSeatLimit(self._held_now(_free_key(ticket.event_id, ticket.owner))) from None

    def unpaid_seats(self, event_id: int, owner: str) -> int:
        return self._held_now(_unpaid_key(event_id, owner))

    def _held_now(self, key: dict[str, Any]) -> int:
        result = self._client.get_item(TableName=self._tickets, Key=key, ConsistentRead=True)
        return int(result.get("Item", {}).get("held", {}).get("N", "0"))

    def attach_session(self, ticket_id: int, session_id: str, checkout_url: str) -> None:
        """StateChanged, nothing written, for an unknown ticket or one bound to another session."""
        try:
            write_with_retry(
                lambda: self._client.update_item(
                    TableName=self._tickets,
                    Key=_ticket_key(ticket_id),
                    UpdateExpression="SET session_id = :sid, checkout_url = :url",
                    ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(session_id) OR session_id = :sid)",
                    ExpressionAttributeValues=_values(sid=session_id, url=checkout_url),
                )
            )
        except Exception as error:
            if is_condition_failure(error):
                raise StateChanged() from None
            raise

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
        """One transition of the life cycle from the ticket's current status, as one transaction:
        the ticket conditioned on that status (and on its session, when ``changes`` binds one; on
        its admissions as read, when seats move; with ``money_as_read``, on what went back of its
        payment as read: ``refund_amount`` and ``refunds_seen``), the event's seats, and the money
        ``records`` the domain planned, as the payments table's items (``repositories.records``);
        ``removed`` fields are cleared. Returns the ticket as written; raises StateChanged when the
        ticket moved on, SoldOut when seats were to be taken and are gone."""
        row = transition(ticket.status, trigger)
        if row is None:
            raise ValueError(f"{trigger} does not apply to a {ticket.status} ticket")
        if row.seats == Seats.TAKE:
            # Seats taken again (a late payment, a refused refund) come from wherever they are left now.
            sharded = ticket.seat_parts is not None
            return self._taking_seats(
                lambda: self._apply(
                    self._placed(ticket, sharded), row, changes, records, expired_before, removed, money_as_read, read=ticket
                ),
                sharded,
            )
        return self._apply(ticket, row, changes, records, expired_before, removed, money_as_read)

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
        """``ticket`` as it is to be written (seats taken: placed), ``read`` as it was read."""
        read = read or ticket
        changes = {name: value for name, value in (changes or {}).items() if value is not None}
        changes["status"] = str(row.target)
        # The seats it holds after the write: placed when it takes seats, else as the domain planned.
        planned = ticket.seat_parts if row.seats == Seats.TAKE and ticket.seat_parts is not None else changes.pop("seat_parts", None)
        changes |= {"seat_parts": _parts_map(planned)} if planned is not None else {}
        names = {"#status": "status"}
        values = _values(source=str(ticket.status))
        condition = "#status = :source"
        if "session_id" in changes:
            condition += " AND (attribute_not_exists(session_id) OR session_id = :session_id)"
        if expired_before is not None:
            condition += " AND expires_at <= :cutoff"
            values |= _values(cutoff=expired_before)
        if row.trigger == Trigger.GIVE_BACK:
            # Only a free ticket is given back, and only while nobody it admits has come in.
            condition += " AND unit_amount = :nothing AND (attribute_not_exists(checked_in) OR checked_in = :nothing)"
            values |= _values(nothing=0)
        for extra, extra_values in (
            _seats_as_read(read, row.seats),
            _money_as_read(ticket) if money_as_read else ("", {}),
            _seat_refund_as_read(read) if "seat_refund_key" in removed else ("", {}),
        ):
            if extra:
                condition, values = f"{condition} AND {extra}", values | extra_values
        assignments = []
        for name, value in changes.items():
            names[f"#{name}"] = name
            values |= _values(**{name: value})
            assignments.append(f"#{name} = :{name}")
        update = "SET " + ", ".join(assignments)
        cleared = [f"#{name}" for name in removed if name not in changes]
        names |= {f"#{name}": name for name in removed if name not in changes}
        if row.target in UNSETTLED:
            update, values = (
                update + ", unsettled_status = :unsettled",
                values | _values(unsettled=_unsettled_key(row.target, ticket.ticket_id)),
            )
        else:
            cleared.append("unsettled_status")
        if cleared:
            update += " REMOVE " + ", ".join(cleared)
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _ticket_key(ticket.ticket_id),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        seats = range(0)
        if row.seats in (Seats.TAKE, Seats.RETURN):
            moved = _taken(read, ticket) if row.seats == Seats.TAKE else ticket.unadmitted_parts
            seats = range(len(items), len(items) + len(moved))
            items += self._seat_updates(ticket.event_id, moved, row.seats)
        if ticket.status in UNPAID_HOLDS and row.target not in UNPAID_HOLDS:
            items.append({"Update": self._unpaid(ticket, take=False)})
        if ticket.is_free and row.seats == Seats.RETURN:
            items.append({"Update": self._free(ticket, take=False)})
        if changes.get("payment_intent"):
            link = {"ticket_id": ticket.ticket_id, "owner": ticket.owner}
            items.append(
                {"Put": {"TableName": self._payments, "Item": {**_intent_link_key(changes["payment_intent"]), **to_attributes(link)}}}
            )
        self._with_records(read, items, records or [])
        self._transact(items, seats, ticket_index=0)
        written = {name: value for name, value in changes.items() if name not in ("seat_parts", "status")}
        written |= {name: None for name in removed if name not in changes}
        return replace(ticket, **written, status=row.target, seat_parts=planned if planned is not None else ticket.seat_parts)

    def record_money_back(
        self, ticket: Ticket, refund_amount: int, records: list[MoneyRecord], changes: dict[str, Any] | None = None
    ) -> Ticket:
        """What went back of a ticket's payment changed without changing its state (a partial
        refund, one that failed later, another refund in place of a failed one): its sum and the
        other ``changes`` (``refunds_seen``, the refund that names it), conditioned on the state and
        on what went back as read, and the refund records, in one transaction. StateChanged when
        either moved on."""
        money, values = _money_as_read(ticket)
        fields = {name: value for name, value in (changes or {}).items() if value is not None} | {"refund_amount": refund_amount}
        names = {"#status": "status"} | {f"#{name}": name for name in fields}
        values |= _values(source=str(ticket.status), **{f"new_{name}": value for name, value in fields.items()})
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _ticket_key(ticket.ticket_id),
                    "UpdateExpression": "SET " + ", ".join(f"#{name} = :new_{name}" for name in fields),
                    "ConditionExpression": "#status = :source AND " + money,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        self._with_records(ticket, items, records)
        self._transact(items, range(0), ticket_index=0)
        return replace(ticket, **fields)

    def owe_seat_refund(self, ticket: Ticket, key: str, quantity: int, amount: int, reason: str) -> Ticket:
        """The seat refund owed, on the paid ticket without one and with its seats refunded as read,
        listed with the refunds owed (the unsettled index's ``refunding`` entries): the reconciliation
        finishes it when no request does."""
        owed: dict[str, Any] = {
            "seat_refund_key": key,
            "seat_refund_quantity": quantity,
            "seat_refund_amount_minor": amount,
            "seat_refund_reason": reason,
        }
        names = {"#status": "status"} | {f"#{name}": name for name in owed}
        try:
            write_with_retry(
                lambda: self._client.update_item(
                    TableName=self._tickets,
                    Key=_ticket_key(ticket.ticket_id),
                    UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in owed) + ", unsettled_status = :unsettled",
                    ConditionExpression="#status = :paid AND attribute_not_exists(#seat_refund_key) AND " + _refunded_as_read(ticket),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=_values(
                        **owed,
                        paid=str(TicketStatus.PAID),
                        refunded=ticket.refunded_quantity,
                        unsettled=_unsettled_key(TicketStatus.REFUNDING, ticket.ticket_id),
                    ),
                )
            )
        except Exception as error:
            if is_condition_failure(error):
                raise StateChanged() from None
            raise
        return replace(ticket, **owed)

    def refund_seats(
        self, ticket: Ticket, returned: dict[int, int], refund_amount: int, refunds_seen: str | None, records: list[MoneyRecord]
    ) -> Ticket:
        """One transaction: the ticket (conditioned on paid, the same seat refund owed, its admissions,
        seats and money as read), the seats ``returned`` to their shards, and the records."""
        if ticket.seat_refund_key is None or ticket.seat_refund_quantity is None:
            raise StateChanged()  # read with none owed: none to make
        parts = {shard: count - returned.get(shard, 0) for shard, count in ticket.parts.items() if count > returned.get(shard, 0)}
        done: dict[str, Any] = {
            "refunded_quantity": ticket.refunded_quantity + ticket.seat_refund_quantity,
            "seat_parts": _parts_map(parts),
            "refund_amount": refund_amount,
        } | ({"refunds_seen": refunds_seen} if refunds_seen is not None else {})
        owed = SEAT_REFUND_FIELDS
        money, values = _money_as_read(ticket)
        condition = (
            "#status = :paid AND #seat_refund_key = :key AND (attribute_not_exists(checked_in) OR checked_in = :admitted) AND "
            + ("seat_parts = :parts_read" if ticket.seat_parts is not None else "attribute_not_exists(seat_parts)")
            + " AND "
            + money
        )
        values |= _values(
            paid=str(TicketStatus.PAID),
            key=ticket.seat_refund_key,
            admitted=ticket.checked_in,
            **({"parts_read": _parts_map(ticket.seat_parts)} if ticket.seat_parts is not None else {}),
            **{f"new_{name}": value for name, value in done.items()},
        )
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _ticket_key(ticket.ticket_id),
                    "UpdateExpression": "SET "
                    + ", ".join(f"#{name} = :new_{name}" for name in done)
                    + " REMOVE unsettled_status, "
                    + ", ".join(f"#{name}" for name in owed),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#status": "status"} | {f"#{name}": name for name in (*done, *owed)},
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        seats = range(len(items), len(items) + len(returned))
        items += self._seat_updates(ticket.event_id, returned, Seats.RETURN)
        self._with_records(ticket, items, records)
        self._transact(items, seats, ticket_index=0)
        written: dict[str, Any] = {name: value for name, value in done.items() if name != "seat_parts"} | dict.fromkeys(owed)
        return replace(ticket, **written, seat_parts=parts)

    def drop_seat_refund(self, ticket: Ticket) -> Ticket:
        owed = SEAT_REFUND_FIELDS
        if ticket.seat_refund_key is None:
            raise StateChanged()  # read with none owed: none to give up
        try:
            write_with_retry(
                lambda: self._client.update_item(
                    TableName=self._tickets,
                    Key=_ticket_key(ticket.ticket_id),
                    UpdateExpression="REMOVE unsettled_status, " + ", ".join(f"#{name}" for name in owed),
                    # The decision as read, its reason included: Stripe's key names the reason too, so a
                    # decision of the same seats by the same request with another reason is another.
                    ConditionExpression="#status = :paid AND #seat_refund_key = :key AND #seat_refund_reason = :reason",
                    ExpressionAttributeNames={"#status": "status"} | {f"#{name}": name for name in owed},
                    ExpressionAttributeValues=_values(
                        paid=str(TicketStatus.PAID), key=ticket.seat_refund_key, reason=ticket.seat_refund_reason
                    ),
                )
            )
        except Exception as error:
            if is_condition_failure(error):
                raise StateChanged() from None
            raise
        cleared: dict[str, Any] = dict.fromkeys(owed)
        return replace(ticket, **cleared)

    def unsettled(self, status: TicketStatus, expired_before: int | None = None, limit: int = 100) -> list[Ticket]:
        """Tickets in ``status`` (reserved, processing or refunding), oldest expiry first; with a
        cutoff, only those whose reservation expired before it. Every bucket of the index is read
        (and the bare status, as entries were keyed before the buckets), each in expiry order,
        merged, a page at a time as the merge needs it."""
        condition = "unsettled_status = :state"
        cutoff = {} if expired_before is None else _values(cutoff=expired_before)
        if expired_before is not None:
            condition += " AND expires_at <= :cutoff"

        def bucket(state: str) -> Iterator[dict[str, Any]]:
            return all_items(
                self._client.query,
                TableName=self._tickets,
                IndexName=UNSETTLED_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=_values(state=state) | cutoff,
                Limit=limit,
            )

        states = [str(status)] + [_unsettled_key(status, number) for number in range(UNSETTLED_BUCKETS)]
        merged = heapq.merge(*(bucket(state) for state in states), key=lambda item: int(item["expires_at"]["N"]))
        return [_ticket_from_item(item) for item in itertools.islice(merged, limit)]

    # helpers ---------------------------------------------------------------------------------
    def _placed(self, ticket: Ticket, sharded: bool, known: dict[int, int] | None = None) -> Ticket:
        """The ticket with the shards its seats are to come from (a one-shard event has only one),
        planned from the seats ``known`` to be left, or else from a fresh read. A ticket some of
        whose people were admitted keeps their seats where they are (``_admitted_parts``, as read)
        and takes back the very seats it gave back while they are all still free, else places the
        rest on any shard with room, like a purchase (its old shard may have been sold meanwhile):
        its ``seat_parts`` are then both, exactly what it holds (``_taken`` is what the write takes)."""
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
            parts = seat_parts(available, wanted, start=secrets.randbelow(max(len(available), 1)))
        if parts is None:
            raise SoldOut()
        for shard, count in kept.items():
            parts[shard] = parts.get(shard, 0) + count
        return replace(ticket, seat_parts=dict(sorted(parts.items())))

    @staticmethod
    def _taking_seats(attempt: Callable[[], Ticket], sharded: bool) -> Ticket:
        """A shard emptied between the read that planned a ticket's seats and its write: plan again."""
        for _ in range(SEAT_ATTEMPTS - 1 if sharded else 0):
            try:
                return attempt()
            except SoldOut:
                continue
        return attempt()

    def _seat_updates(self, event_id: int, parts: dict[int, int], seats: Seats, *, unqueued: bool = False) -> list[Any]:
        """The event's side of a transition, shard by shard (``parts``): seats taken only while
        enough are left there, or given back to the shards they came from; the admitted people's
        seats never move. ``unqueued``: a new ticket without a queue admission takes its seats only
        from shards not marked queued (SoldOut otherwise), so that staff enabling the queue after the
        purchase read the event lets nobody in outside it."""
        take = seats == Seats.TAKE
        condition = "attribute_exists(pk) AND available >= :q" if take else "attribute_exists(pk)"
        values: dict[str, Any] = {}
        if take and unqueued:
            condition += " AND (attribute_not_exists(on_sale_queue) OR on_sale_queue = :unqueued)"
            values["unqueued"] = False
        return [
            {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _shard_key(event_id, shard),
                    "UpdateExpression": f"SET available = available {'-' if take else '+'} :q",
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": _values(q=count, **values),
                }
            }
            for shard, count in parts.items()
        ]

    def _with_records(self, read: Ticket, items: list[Any], records: list[MoneyRecord]) -> None:
        """Adds the puts of ``records`` to ``items``, the transaction whose first item is the change
        of the ticket (``read`` as read). Those that do not fit in it (DynamoDB takes 100 actions a
        transaction; a payment may have more refunds and lost disputes than that) are written first,
        in transactions of their own (``_records_ahead``), and the change is then conditioned on no
        other writer having written ahead since: every record this writer put is still its own when
        its sum and ``refunds_seen`` land, so they agree as if written in one transaction.

        A record is keyed by its refund's (or session's) id and put whole: writing it again is
        harmless. A writer that stops in between (a crash, a timeout, its change refused) leaves
        some records newer than the ticket's sum and ``refunds_seen``, never older than the ticket's
        read (each transaction ahead is conditioned on the sum and digest as read). Then the digest
        Stripe's facts give differs from the ticket's, so the next step on the payment (the webhook
        Stripe retries, having had no 200; the domain's own retry of a refused change; the
        reconciliation of a refunding ticket; the next fact of the payment) writes them all again
        with the sum, and a change refused stays refused: nothing else of it was written."""
        room = MAX_TRANSACTION_ACTIONS - len(items)
        if len(records) <= room:
            items += self._record_puts(records)
            return
        # The payment's record stays with the change that brings the payment; of the refunds, those
        # Stripe lists last (the oldest, the most likely settled) go ahead.
        ordered = sorted(records, key=lambda record: isinstance(record, RefundRecord))
        writer = self._records_ahead(read, ordered[room:])
        items += self._record_puts(ordered[:room])
        update = items[0]["Update"]
        update["ConditionExpression"] += " AND #records_writer = :records_writer"
        update["ExpressionAttributeNames"] = update.get("ExpressionAttributeNames", {}) | {"#records_writer": RECORDS_WRITER}
        update["ExpressionAttributeValues"] = update["ExpressionAttributeValues"] | _values(records_writer=writer)
        expression = str(update["UpdateExpression"])
        update["UpdateExpression"] = expression + (", " if " REMOVE " in expression else " REMOVE ") + "#records_writer"

    def _records_ahead(self, read: Ticket, records: list[MoneyRecord]) -> str:
        """Writes ``records`` ahead of the ticket's change, 99 a transaction, each with the ticket
        conditioned on its status and what went back of its payment as read (a writer whose read is
        stale writes nothing) and claimed for this writer (``records_writer``): the first claims it,
        the next only while it is still claimed, so that of two writers writing ahead at once only
        the last to claim writes on, and only its change can land. Returns the claim."""
        writer = uuid.uuid4().hex
        money, values = _money_as_read(read)
        size = MAX_TRANSACTION_ACTIONS - 1
        for start in range(0, len(records), size):
            still_mine = "" if start == 0 else " AND #writer = :writer"
            claim = {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _ticket_key(read.ticket_id),
                    "UpdateExpression": "SET #writer = :writer",
                    "ConditionExpression": f"#status = :source AND {money}{still_mine}",
                    "ExpressionAttributeNames": {"#status": "status", "#writer": RECORDS_WRITER},
                    "ExpressionAttributeValues": values | _values(source=str(read.status), writer=writer),
                }
            }
            self._transact([claim, *self._record_puts(records[start : start + size])], range(0), ticket_index=0)
        return writer

    def _record_puts(self, records: list[MoneyRecord]) -> list[Any]:
        return [{"Put": {"TableName": self._payments, "Item": to_attributes(record_item(record))}} for record in records]

    def _unpaid(self, ticket: Ticket, *, take: bool, limit: int = 0) -> dict[str, Any]:
        """The owner's unpaid seats for the event: taken only while the limit allows, or given back."""
        return self._held(_unpaid_key(ticket.event_id, ticket.owner), ticket.quantity, take=take, limit=limit)

    def _free(self, ticket: Ticket, *, take: bool, limit: int = 0) -> dict[str, Any]:
        """The owner's free seats of the event: taken only while the limit allows, or given back."""
        return self._held(_free_key(ticket.event_id, ticket.owner), ticket.quantity, take=take, limit=limit)

    def _held(self, key: dict[str, Any], quantity: int, *, take: bool, limit: int) -> dict[str, Any]:
        """An account's counter of seats of one kind for an event (``held``): ``quantity`` taken only
        while ``limit`` allows, or given back."""
        update: dict[str, Any] = {"TableName": self._tickets, "Key": key}
        if not take:
            return update | {"UpdateExpression": "ADD held :q", "ExpressionAttributeValues": _values(q=-quantity)}
        room = limit - quantity
        # No counter yet holds nothing: it lets the seats through only when they alone fit the limit.
        # (``attribute_not_exists(held)`` alone let a first order of any size through.)
        condition = "attribute_not_exists(held) OR held <= :room" if room >= 0 else "held <= :room"
        return update | {
            "UpdateExpression": "ADD held :q",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": _values(q=quantity, room=room),
        }

    def _transact(
        self,
        items: list[Any],
        seats: range,
        ticket_index: int,
        unpaid_index: int | None = None,
        free_index: int | None = None,
        admission_indexes: range = range(0),
    ) -> None:
        """Which condition failed says why: the ticket moved on (it wins), the queue admission (used
        or lapsed), the owner's unpaid or free seats limit, or the seats."""
        try:
            write_with_retry(lambda: self._client.transact_write_items(TransactItems=items))
        except Exception as error:
            if not is_condition_failure(error):
                raise
            failed = {index for index, reason in enumerate(cancellation_reasons(error)) if reason == "ConditionalCheckFailed"}
            if ticket_index in failed:
                raise StateChanged() from None
            if failed & set(admission_indexes):
                raise AdmissionRefused() from None
            if unpaid_index in failed:
                raise UnpaidLimit(0) from None
            if free_index in failed:
                raise FreeSeatLimit(0) from None
            if failed & set(seats):
                raise SoldOut() from None
            raise StateChanged() from None


def _refunded_as_read(ticket: Ticket) -> str:
    """The condition that the ticket's seats refunded are as read (``:refunded``; none: 0)."""
    if ticket.refunded_quantity:
        return "refunded_quantity = :refunded"
    return "(attribute_not_exists(refunded_quantity) OR refunded_quantity = :refunded)"


def _money_as_read(ticket: Ticket) -> tuple[str, dict[str, Any]]:
    """The condition that what went back of the ticket's payment is still as read: its sum and the
    digest of Stripe's refunds and lost disputes it was computed from (``refunds_seen``)."""
    parts, values = [], {}
    for name, value in (("refund_amount", ticket.refund_amount), ("refunds_seen", ticket.refunds_seen)):
        if value is None:
            parts.append(f"attribute_not_exists({name})")
        else:
            parts.append(f"{name} = :read_{name}")
            values[f"read_{name}"] = value
    return " AND ".join(parts), _values(**values)
