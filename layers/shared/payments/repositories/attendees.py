"""An event's tickets for the attendee export (``payments.domain.attendees``): listed from the index
the sales view reads (``TicketsByEventShard``, one partition per seat shard), a page at a time, then
read from the table in batches for what the index does not project (owner and dates).

Every read here is eventually consistent: an export is a report, not a decision."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from payments.domain.attendees import Attendee, ListPosition
from payments.domain.lifecycle import Event, TicketStatus
from payments.dynamodb import batch_get_all, from_item
from payments.repositories.tickets import EVENT_SHARD_INDEX, _event_shard, _ticket_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# BatchGetItem takes at most this many keys a call.
BATCH_KEYS = 100
# Keys DynamoDB leaves unprocessed (throttling) are asked again within this budget, then the page
# fails as throttled (a 503 the caller retries), never answers with tickets missing.
BATCH_READ_BUDGET_SECONDS = 2.0
# Only what the export shows: never the session, the checkout address, the code or the QR image
# (a few kilobytes a ticket that a page of thousands would read for nothing).
_PROJECTION = "ticket_id, event_id, #owner, quantity, #status, checked_in, checked_in_at, created_at, paid_at"
_NAMES = {"#owner": "owner", "#status": "status"}


def _attendee(item: dict[str, Any]) -> Attendee:
    data = from_item(item)
    admitted_at, paid_at = data.get("checked_in_at"), data.get("paid_at")
    return Attendee(
        ticket_id=int(data["ticket_id"]),
        owner=str(data["owner"]),
        quantity=int(data["quantity"]),
        status=TicketStatus(data["status"]),
        admitted=int(data.get("checked_in", 0)),
        admitted_at=None if admitted_at is None else int(admitted_at),
        created_at=int(data["created_at"]),
        paid_at=None if paid_at is None else int(paid_at),
    )


class AttendeeRepository:
    def __init__(self, client: DynamoDBClient, tickets_table: str) -> None:
        self._client = client
        self._tickets = tickets_table

    def attendees(self, event: Event, limit: int, after: ListPosition | None) -> tuple[list[Attendee], ListPosition | None]:
        listed: list[ListPosition] = []
        shard = 0 if after is None else after.shard
        start: dict[str, Any] | None = None if after is None else self._index_key(event.event_id, after)
        while shard < event.seat_shards and len(listed) < limit:
            request: dict[str, Any] = {
                "TableName": self._tickets,
                "IndexName": EVENT_SHARD_INDEX,
                "KeyConditionExpression": "event_shard = :shard",
                "ExpressionAttributeValues": {":shard": {"S": _event_shard(event.event_id, shard)}},
                "ProjectionExpression": "ticket_id",
                "Limit": limit - len(listed),
            }
            if start is not None:
                request["ExclusiveStartKey"] = start
            result = self._client.query(**request)
            listed += [ListPosition(shard, int(item["ticket_id"]["N"])) for item in result.get("Items", [])]
            start = result.get("LastEvaluatedKey")
            if start is None:  # this shard is done: the next one from its start
                shard += 1
        exhausted = shard >= event.seat_shards
        found = self._read([position.ticket_id for position in listed])
        attendees = [found[position.ticket_id] for position in listed if position.ticket_id in found]
        return attendees, (None if exhausted or not listed else listed[-1])

    def listed_at(self, ticket_id: int) -> tuple[int, int] | None:
        result = self._client.get_item(TableName=self._tickets, Key=_ticket_key(ticket_id), ProjectionExpression="event_shard")
        listed = result.get("Item", {}).get("event_shard", {}).get("S")
        if listed is None:
            return None
        event_id, shard = str(listed).split("#")
        return int(event_id), int(shard)

    @staticmethod
    def _index_key(event_id: int, position: ListPosition) -> dict[str, Any]:
        """The index's key of a listed ticket, as DynamoDB's LastEvaluatedKey gives it (the index's
        keys and the table's), built from the checked position rather than taken from the client."""
        return {
            "event_shard": {"S": _event_shard(event_id, position.shard)},
            "ticket_id": {"N": str(position.ticket_id)},
            **_ticket_key(position.ticket_id),
        }

    def _read(self, ticket_ids: list[int]) -> dict[int, Attendee]:
        found: dict[int, Attendee] = {}
        for first in range(0, len(ticket_ids), BATCH_KEYS):
            keys = [_ticket_key(ticket_id) for ticket_id in ticket_ids[first : first + BATCH_KEYS]]
            for item in self._batch_get(keys):
                attendee = _attendee(item)
                found[attendee.ticket_id] = attendee
        return found

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        request = {"Keys": keys, "ProjectionExpression": _PROJECTION, "ExpressionAttributeNames": _NAMES}
        return batch_get_all(self._client, self._tickets, request, budget_seconds=BATCH_READ_BUDGET_SECONDS, what="tickets")
