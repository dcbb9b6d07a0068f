"""The on-sale queues in the tickets table (``payments.domain.queue``), each hot item under a
partition key of its own:

- ``QUEUE#<event>`` / ``QUEUE``: the admitter's state (watermark, open epochs, sold out, version),
  written about once a second by the admitter, read consistently by the reservation path;
- ``QUEUE#<event>#VIEW#<n>`` / ``VIEW`` (``VIEW_COPIES`` of them): copies of the state written with
  it, one read at random by each buyer's poll, so that 100,000 buyers polling do not all read one key
  (3,000 strongly or 6,000 eventually consistent reads a second per key);
- ``QUEUE#<event>#PLACES#<n>`` / ``COUNTER`` (``PLACE_COUNTERS`` of them): the places, counter *n*
  handing out places n + 1, n + 1 + K, n + 1 + 2K ... (K counters), so that joins spread over K
  keys (each at most 1,000 writes a second). A join reads two counters drawn at random and takes
  from the one behind (the "power of two choices"): the counters stay level, so a place is never
  far from its buyer's arrival rank, however long the queue (a counter drawn alone drifts like a
  random walk: about 2,500 places out of order after 200,000 joins; two choices keep it to the
  joins in flight, docs/on-sales.md). After a quiet spell (no counter written for ``QUIET_MS``) a
  join reads all of them and takes the lowest next place, conditioned on the counter as read, so
  buyers joining seconds apart are placed in arrival order; each counter keeps ``last_ms``;
- ``QUEUE#<event>#BUYER#<owner>`` / ``BUYER``: a buyer's place, claimed first (conditional put,
  no place yet), then its place drawn and recorded on it, once per account; marked used by the reservation that consumes the admission;
- ``QUEUE#<event>#USED#<epoch>`` / ``USED``: how many admissions of an epoch were used (added to in
  the reservation's transaction);
- ``QUEUES`` / ``EVENT#<event>``: the queues the admitter steps (written with the event)."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from payments.domain.admission import PLACE_COUNTERS, QUIET_MS, Admission, QueueEntry, QueueState, lowest_next, place_of
from payments.dynamodb import batch_get_all, from_item, is_condition_failure, is_contention, to_attributes, write_with_retry
from payments.errors import Busy

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

VIEW_COPIES = 16
# A buyer's item claimed and left without a place this long: its request died between its claim and
# its place (a Lambda's timeout is far shorter), and another request of the account takes it over.
STALE_CLAIM_MS = 60_000
# How long a join waits for the place another request of the same account is recording (seconds).
CLAIM_WAITS = (0.02, 0.05, 0.1, 0.2, 0.4)
# Ordered takes tried before a join falls back to the one behind of two (each a race lost to another join).
ORDERED_TRIES = 3
REGISTRY = "QUEUES"


def state_key(event_id: int) -> dict[str, Any]:
    return {"pk": {"S": f"QUEUE#{event_id}"}, "sk": {"S": "QUEUE"}}


def _view_key(event_id: int, copy: int) -> dict[str, Any]:
    return {"pk": {"S": f"QUEUE#{event_id}#VIEW#{copy}"}, "sk": {"S": "VIEW"}}


def _counter_key(event_id: int, counter: int) -> dict[str, Any]:
    return {"pk": {"S": f"QUEUE#{event_id}#PLACES#{counter}"}, "sk": {"S": "COUNTER"}}


def buyer_key(event_id: int, owner: str) -> dict[str, Any]:
    return {"pk": {"S": f"QUEUE#{event_id}#BUYER#{owner}"}, "sk": {"S": "BUYER"}}


def used_key(event_id: int, epoch: int) -> dict[str, Any]:
    return {"pk": {"S": f"QUEUE#{event_id}#USED#{epoch}"}, "sk": {"S": "USED"}}


def registry_key(event_id: int) -> dict[str, Any]:
    return {"pk": {"S": REGISTRY}, "sk": {"S": f"EVENT#{event_id}"}}


def new_queue_items(event_id: int) -> list[dict[str, Any]]:
    """The items an event sold through a queue is created with (in the event's own transaction):
    its empty state, the state's copies (so that no join nor poll before the admitter's first write
    reads the state's own key: an on-sale's opening second would all read that one key), and its
    entry in the admitter's registry. 18 items: with a 64-shard event's 64, within a transaction's 100."""
    attributes = to_attributes(_state_attributes(event_id, QueueState()))
    return [
        {**state_key(event_id), **attributes},
        *({**_view_key(event_id, copy), **attributes} for copy in range(VIEW_COPIES)),
        {**registry_key(event_id), **to_attributes({"event_id": event_id})},
    ]


def admission_items(table: str, admission: Admission, ticket_id: int, now: int) -> list[dict[str, Any]]:
    """What a reservation adds to its transaction to use its admission once: the buyer's item marked
    used (conditioned on their place, unused), the state still admitting the place (not lapsed), and
    the epoch's count of uses."""
    return [
        {
            "Update": {
                "TableName": table,
                "Key": buyer_key(admission.event_id, admission.owner),
                "UpdateExpression": "SET used_ms = :now, ticket_id = :ticket",
                "ConditionExpression": "place = :place AND attribute_not_exists(used_ms)",
                "ExpressionAttributeValues": to_attributes({":now": now * 1000, ":ticket": ticket_id, ":place": admission.place}),
            }
        },
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": state_key(admission.event_id),
                "ConditionExpression": "admitted_to >= :place AND lapsed_to < :place",
                "ExpressionAttributeValues": to_attributes({":place": admission.place}),
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": used_key(admission.event_id, admission.epoch),
                "UpdateExpression": "ADD used :one",
                "ExpressionAttributeValues": to_attributes({":one": 1}),
            }
        },
    ]


def _state_attributes(event_id: int, state: QueueState) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "admitted_to": state.admitted_to,
        "lapsed_to": state.lapsed_to,
        "credited_ms": state.credited_ms,
        "epochs": {str(epoch): last for epoch, last in state.epochs.items()},
        "holes": {str(epoch): count for epoch, count in state.holes.items()},
        "sold_out": state.sold_out,
        "version": state.version,
        "updated_ms": state.updated_ms,
        "seat_bound": state.seat_bound,
        "seats_left": state.seats_left,
        "handed_to": state.handed_to,
    }


def _state_of(item: dict[str, Any] | None) -> QueueState:
    if item is None:
        return QueueState()
    data = from_item(item)
    return QueueState(
        admitted_to=int(data["admitted_to"]),
        lapsed_to=int(data["lapsed_to"]),
        credited_ms=int(data["credited_ms"]),
        epochs={int(epoch): int(last) for epoch, last in data.get("epochs", {}).items()},
        holes={int(epoch): int(count) for epoch, count in data.get("holes", {}).items()},
        sold_out=bool(data["sold_out"]),
        version=int(data["version"]),
        updated_ms=int(data["updated_ms"]),
        seat_bound=bool(data.get("seat_bound", False)),  # absent on a state written before it was kept
        # Absent on a state written before the poll hints: no seat nor place known (the next step writes them).
        seats_left=int(data.get("seats_left", 0)),
        handed_to=int(data.get("handed_to", 0)),
    )


def _entry_of(item: dict[str, Any]) -> QueueEntry:
    data = from_item(item)

    def number(name: str) -> int | None:
        value = data.get(name)
        return None if value is None else int(value)

    return QueueEntry(
        event_id=int(data["event_id"]),
        owner=str(data["owner"]),
        place=int(data["place"]),
        joined_ms=int(data["joined_ms"]),
        used_ms=number("used_ms"),
        ticket_id=number("ticket_id"),
    )


# The admitter steps once a second: its read of the uses retries unprocessed keys for at most a step.
USED_READ_BUDGET_SECONDS = 1.0


class QueueRepository:
    def __init__(self, client: DynamoDBClient, tickets_table: str) -> None:
        self._client = client
        self._table = tickets_table

    def _get(self, key: dict[str, Any], consistent: bool = True) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=consistent).get("Item")
        return item

    # buyers ----------------------------------------------------------------------------------------
    def join(self, event_id: int, owner: str, now_ms: int) -> tuple[QueueEntry, bool]:
        """The owner's place, one per account however many of their requests are in flight: read
        first, so that joining again takes no place from the counters; else the account's item is
        claimed (a conditional write, no place yet) before any place is drawn, so that only the
        request holding the claim draws one, and records it on the item conditioned on its claim.
        Places drawn and never held would count as buyers for a whole window (the admitter cannot
        tell them from buyers): one account's parallel joins would take that many admissions' room.
        A request that finds another's claim waits for its place; a claim left without one for
        ``STALE_CLAIM_MS`` (its request died between the two writes) is taken over, conditioned on it."""
        item = self._get(buyer_key(event_id, owner))
        if item is not None and "place" in item:
            return _entry_of(item), False
        claim = secrets.token_hex(8)
        try:
            if item is None:
                attributes = {"event_id": event_id, "owner": owner, "joined_ms": now_ms, "claim": claim}
                self._client.put_item(
                    TableName=self._table,
                    Item={**buyer_key(event_id, owner), **to_attributes(attributes)},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            elif int(from_item(item)["joined_ms"]) + STALE_CLAIM_MS > now_ms:
                return self._placed_by_another(event_id, owner), False
            else:
                self._client.update_item(
                    TableName=self._table,
                    Key=buyer_key(event_id, owner),
                    UpdateExpression="SET claim = :claim, joined_ms = :now",
                    ConditionExpression="claim = :read AND attribute_not_exists(place)",
                    ExpressionAttributeValues=to_attributes({":claim": claim, ":now": now_ms, ":read": str(from_item(item)["claim"])}),
                )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            return self._placed_by_another(event_id, owner), False
        entry = QueueEntry(event_id, owner, self._draw(event_id, now_ms), now_ms)
        try:
            write_with_retry(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=buyer_key(event_id, owner),
                    UpdateExpression="SET place = :place REMOVE claim",
                    ConditionExpression="claim = :claim AND attribute_not_exists(place)",
                    ExpressionAttributeValues=to_attributes({":place": entry.place, ":claim": claim}),
                )
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            # Our claim was taken over as stale (this request stalled that long): the place drawn is left unheld.
            return self._placed_by_another(event_id, owner), False
        return entry, True

    def _placed_by_another(self, event_id: int, owner: str) -> QueueEntry:
        """The place another of the account's requests holds the claim for: it is between its claim
        and its place (milliseconds), so waited for briefly; else 503, to ask again."""
        for pause in CLAIM_WAITS:
            item = self._get(buyer_key(event_id, owner))
            if item is not None and "place" in item:
                return _entry_of(item)
            time.sleep(pause)
        raise Busy("Your place is being taken by another of your requests: ask for it again in a moment")

    def _draw(self, event_id: int, now_ms: int) -> int:
        """A place: reads two counters drawn at random (consistently). When neither was written for
        ``QUIET_MS``, reads the other six too, and when no counter was (no other join meanwhile),
        takes the lowest next place of all, conditioned on its counter as read (a join racing it:
        read again), so that a buyer joining after a quiet spell is placed behind everyone before
        them. Else (joins closer together) the one behind of the two: the counters stay level and
        a burst's joins spread over their keys."""
        for _ in range(ORDERED_TRIES):
            first = secrets.randbelow(PLACE_COUNTERS)
            second = (first + 1 + secrets.randbelow(PLACE_COUNTERS - 1)) % PLACE_COUNTERS
            read = self._counters(event_id, [first, second])
            if all(now_ms - last >= QUIET_MS for _, last in read.values()):
                read |= self._counters(event_id, [counter for counter in range(PLACE_COUNTERS) if counter not in read])
            if any(now_ms - last < QUIET_MS for _, last in read.values()):
                break
            values = {counter: value for counter, (value, _) in read.items()}
            counter = lowest_next(values)
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=_counter_key(event_id, counter),
                    UpdateExpression="SET #value = :next, last_ms = :now",
                    ConditionExpression="attribute_not_exists(#value) OR #value = :read" if not values[counter] else "#value = :read",
                    ExpressionAttributeNames={"#value": "value"},
                    ExpressionAttributeValues=to_attributes({":next": values[counter] + 1, ":now": now_ms, ":read": values[counter]}),
                )
            except Exception as error:
                if not is_condition_failure(error) and not is_contention(error):
                    raise
                continue
            return place_of(counter, values[counter] + 1)
        # The one behind; of two level, the lower next place (fewer places left open below it).
        counter = min((first, second), key=lambda drawn: place_of(drawn, read[drawn][0] + 1))
        drawn = write_with_retry(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=_counter_key(event_id, counter),
                UpdateExpression="ADD #value :one SET last_ms = :now",
                ExpressionAttributeNames={"#value": "value"},
                ExpressionAttributeValues=to_attributes({":one": 1, ":now": now_ms}),
                ReturnValues="UPDATED_NEW",
            )
        )
        return place_of(counter, int(drawn["Attributes"]["value"]["N"]))

    def _counters(self, event_id: int, counters: list[int]) -> dict[int, tuple[int, int]]:
        """Each counter's value and when a join last wrote it (a key left unprocessed reads as 0,
        never written: the ordered take's condition then fails, and the one behind of two still
        gets a place, at worst from the counter ahead)."""
        keys = [_counter_key(event_id, counter) for counter in counters]
        found = self._client.batch_get_item(RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}})
        read = dict.fromkeys(counters, (0, 0))
        for item in found.get("Responses", {}).get(self._table, []):
            last = item.get("last_ms")
            read[int(str(item["pk"]["S"]).rsplit("#", 1)[1])] = (int(item["value"]["N"]), int(last["N"]) if last else 0)
        return read

    def entry(self, event_id: int, owner: str) -> QueueEntry | None:
        """The owner's place; None also while their item is only claimed (no place recorded yet)."""
        item = self._get(buyer_key(event_id, owner))
        return None if item is None or "place" not in item else _entry_of(item)

    # the state -------------------------------------------------------------------------------------
    def view(self, event_id: int) -> QueueState | None:
        """A copy drawn at random, eventually consistent (half a read unit); the state itself when
        the copy is missing (a queue created before its copies were written with it); None when the
        event has no queue."""
        copy = self._get(_view_key(event_id, secrets.randbelow(VIEW_COPIES)), consistent=False)
        if copy is not None:
            return _state_of(copy)
        state = self._get(state_key(event_id))
        return None if state is None else _state_of(state)

    def state(self, event_id: int) -> QueueState:
        return _state_of(self._get(state_key(event_id)))

    def handed(self, event_id: int) -> dict[int, int]:
        keys = [_counter_key(event_id, counter) for counter in range(PLACE_COUNTERS)]
        found = self._client.batch_get_item(RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}})
        if found.get("UnprocessedKeys"):
            # A counter unread would read as holes: skip this step rather than pass over its buyers.
            return {}
        handed = dict.fromkeys(range(PLACE_COUNTERS), 0)
        for item in found.get("Responses", {}).get(self._table, []):
            handed[int(str(item["pk"]["S"]).rsplit("#", 1)[1])] = int(item["value"]["N"])
        return handed

    def close_places(self, event_id: int, floors: dict[int, int]) -> None:
        """Each counter below its floor raised to it, conditioned on being below (a join that took a
        value meanwhile keeps it: that buyer's place is admitted at once, counted as a hole)."""
        for counter, floor in floors.items():
            if floor < 1:
                continue
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=_counter_key(event_id, counter),
                    UpdateExpression="SET #value = :floor",
                    ConditionExpression="attribute_not_exists(#value) OR #value < :floor",
                    ExpressionAttributeNames={"#value": "value"},
                    ExpressionAttributeValues={":floor": {"N": str(floor)}},
                )
            except Exception as error:
                if not is_condition_failure(error):
                    raise

    def used(self, event_id: int, epochs: list[int]) -> dict[int, int]:
        """The uses of each open epoch's admissions. Every key is read (unprocessed ones again, within
        a budget under the admitter's one-second step; then the step fails): an epoch unread would
        count as none used, and at its lapse its used admissions' room would be given back as unused."""
        counts: dict[int, int] = {}
        for start in range(0, len(epochs), 100):
            request = {"Keys": [used_key(event_id, epoch) for epoch in epochs[start : start + 100]], "ConsistentRead": True}
            for item in batch_get_all(self._client, self._table, request, budget_seconds=USED_READ_BUDGET_SECONDS, what="admissions' uses"):
                counts[int(str(item["pk"]["S"]).rsplit("#", 1)[1])] = int(Decimal(item["used"]["N"]))
        return counts

    def save(self, event_id: int, read: QueueState, new: QueueState) -> bool:
        """The new state, conditioned on the version read; then its copies for the buyers' polls."""
        written = replace(new, version=read.version + 1)
        attributes = to_attributes(_state_attributes(event_id, written))
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**state_key(event_id), **attributes},
                ConditionExpression="version = :read",
                ExpressionAttributeValues={":read": {"N": str(read.version)}},
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        # The copies trail the state by this write: a poll may see the step before, never a state
        # the admitter did not write. Unprocessed copies keep the step before until the next step.
        requests: list[Any] = [{"PutRequest": {"Item": {**_view_key(event_id, copy), **attributes}}} for copy in range(VIEW_COPIES)]
        self._client.batch_write_item(RequestItems={self._table: requests})
        return True

    def give_back(self, admission: Admission, ticket_id: int) -> bool:
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": buyer_key(admission.event_id, admission.owner),
                    "UpdateExpression": "REMOVE used_ms, ticket_id",
                    "ConditionExpression": "ticket_id = :ticket AND place = :place",
                    "ExpressionAttributeValues": to_attributes({":ticket": ticket_id, ":place": admission.place}),
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": used_key(admission.event_id, admission.epoch),
                    "UpdateExpression": "ADD used :minus",
                    "ExpressionAttributeValues": to_attributes({":minus": -1}),
                }
            },
        ]
        try:
            write_with_retry(lambda: self._client.transact_write_items(TransactItems=items))
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def active_queues(self) -> list[int]:
        found = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :registry",
            ExpressionAttributeValues={":registry": {"S": REGISTRY}},
            ConsistentRead=True,
        )
        return sorted(int(item["event_id"]["N"]) for item in found.get("Items", []))
