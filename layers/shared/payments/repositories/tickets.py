"""Events, tickets and their seat counts in the tickets table; fulfilment records in the payments table.

Seats are conserved by construction: every change of a ticket's state that takes or gives back
seats is one transaction whose conditions make it happen at most once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from payments.dynamodb import cancellation_reasons, from_item, is_condition_failure, to_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RESERVED = "reserved"
PAID = "paid"
CANCELLED = "cancelled"
EXPIRED = "expired"
REFUNDED = "refunded"
RELEASED_STATES = (CANCELLED, EXPIRED)

# Only reserved tickets carry this attribute, which keeps the expiry index sparse.
RESERVATION_MARKER = "RESERVED"
EXPIRY_INDEX = "ReservationsByExpiry"
EVENTS_INDEX = "EventsById"
EVENT_ENTITY = "EVENT"


class SoldOut(Exception):
    """Not enough seats left for the requested quantity."""


class StateChanged(Exception):
    """The ticket was no longer in the state the write required; re-read it."""


@dataclass
class Event:
    event_id: int
    name: str
    price: Decimal
    currency: str
    capacity: int
    available: int
    created_by: str
    created_at: int

    @property
    def is_free(self) -> bool:
        return self.price == 0


@dataclass
class Ticket:
    ticket_id: int
    event_id: int
    owner: str
    quantity: int
    status: str
    ticket_code: str
    currency: str
    unit_amount: int
    created_at: int
    expires_at: int | None = None
    session_id: str | None = None
    checkout_url: str | None = None
    payment_intent: str | None = None
    paid_at: int | None = None
    released_at: int | None = None
    refund_id: str | None = None
    late_payment: bool | None = None

    @property
    def amount_total(self) -> int:
        return self.unit_amount * self.quantity


def _event_key(event_id: int) -> dict[str, Any]:
    return {"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}}


def _ticket_key(ticket_id: int) -> dict[str, Any]:
    return {"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}}


def _values(**values: Any) -> dict[str, Any]:
    return to_attributes({f":{name}": value for name, value in values.items()})


def _event_from_item(item: dict[str, Any]) -> Event:
    data = from_item(item)
    return Event(
        event_id=int(data["event_id"]),
        name=data["name"],
        price=Decimal(data["price"]),
        currency=data["currency"],
        capacity=int(data["capacity"]),
        available=int(data["available"]),
        created_by=data["created_by"],
        created_at=int(data["created_at"]),
    )


_TICKET_INT_FIELDS = ("ticket_id", "event_id", "quantity", "unit_amount", "created_at", "expires_at", "paid_at", "released_at")


def _ticket_from_item(item: dict[str, Any]) -> Ticket:
    data = from_item(item)
    values = {name: data[name] for name in Ticket.__dataclass_fields__ if name in data}
    for name in _TICKET_INT_FIELDS:
        if values.get(name) is not None:
            values[name] = int(values[name])
    return Ticket(**values)


class TicketRepository:
    def __init__(self, client: DynamoDBClient, tickets_table: str, payments_table: str) -> None:
        self._client = client
        self._tickets = tickets_table
        self._payments = payments_table

    # ids -------------------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        result = self._client.update_item(
            TableName=self._tickets,
            Key={"pk": {"S": f"COUNTER#{kind}"}, "sk": {"S": "COUNTER"}},
            UpdateExpression="ADD #value :one",
            ExpressionAttributeNames={"#value": "value"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(result["Attributes"]["value"]["N"])

    # events ----------------------------------------------------------------------------------
    def put_event(self, event: Event) -> None:
        item = {**_event_key(event.event_id), **to_attributes({**asdict(event), "price": str(event.price), "entity": EVENT_ENTITY})}
        self._client.put_item(TableName=self._tickets, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get_event(self, event_id: int) -> Event | None:
        result = self._client.get_item(TableName=self._tickets, Key=_event_key(event_id), ConsistentRead=True)
        return _event_from_item(result["Item"]) if "Item" in result else None

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
        events = [_event_from_item(item) for item in result.get("Items", [])]
        last = result.get("LastEvaluatedKey")
        return events, (int(last["event_id"]["N"]) if last else None)

    # tickets ---------------------------------------------------------------------------------
    def get_ticket(self, ticket_id: int) -> Ticket | None:
        result = self._client.get_item(TableName=self._tickets, Key=_ticket_key(ticket_id), ConsistentRead=True)
        return _ticket_from_item(result["Item"]) if "Item" in result else None

    def take_seats_and_create(self, ticket: Ticket) -> None:
        """Decrements the event's availability and writes the ticket, both or neither."""
        attributes = asdict(ticket)
        if ticket.status == RESERVED:
            attributes["reservation_state"] = RESERVATION_MARKER
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Update": self._take_seats(ticket)},  # type: ignore[typeddict-item]
                    {
                        "Put": {
                            "TableName": self._tickets,
                            "Item": {**_ticket_key(ticket.ticket_id), **to_attributes(attributes)},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as error:
            if is_condition_failure(error) and cancellation_reasons(error)[:1] == ["ConditionalCheckFailed"]:
                raise SoldOut() from None
            raise

    def attach_session(self, ticket_id: int, session_id: str, checkout_url: str) -> None:
        self._client.update_item(
            TableName=self._tickets,
            Key=_ticket_key(ticket_id),
            UpdateExpression="SET session_id = :sid, checkout_url = :url",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=_values(sid=session_id, url=checkout_url),
        )

    def mark_paid(self, ticket: Ticket, session_id: str, payment_intent: str | None, now: int, retake_seats: bool) -> None:
        """Reserved → paid; or, for a payment that arrived after release, cancelled/expired → paid
        while taking the seats again. Records the payment in the same transaction."""
        if retake_seats:
            condition = "#status IN (:cancelled, :expired)"
            values = _values(cancelled=CANCELLED, expired=EXPIRED)
        else:
            condition = "#status = :reserved"
            values = _values(reserved=RESERVED)
        condition += " AND (attribute_not_exists(session_id) OR session_id = :sid)"
        values |= _values(sid=session_id, paid=PAID, now=now, late=retake_seats)
        set_clause = "SET #status = :paid, paid_at = :now, session_id = :sid, late_payment = :late"
        if payment_intent:
            set_clause += ", payment_intent = :pi"
            values |= _values(pi=payment_intent)
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._tickets,
                    "Key": _ticket_key(ticket.ticket_id),
                    "UpdateExpression": set_clause + " REMOVE reservation_state",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": values,
                }
            },
            {"Put": self._payment_record(ticket, session_id, payment_intent, now)},
        ]
        if retake_seats:
            items.append({"Update": self._take_seats(ticket)})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            reasons = cancellation_reasons(error)
            if retake_seats and len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed" and reasons[0] != "ConditionalCheckFailed":
                raise SoldOut() from None
            raise StateChanged() from None

    def release(self, ticket: Ticket, new_status: str, now: int, expired_before: int | None = None) -> None:
        """Reserved → cancelled/expired, giving the seats back; at most once per ticket."""
        condition = "#status = :reserved"
        values = _values(reserved=RESERVED, new=new_status, now=now)
        if expired_before is not None:
            condition += " AND expires_at <= :cutoff"
            values |= _values(cutoff=expired_before)
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._tickets,
                            "Key": _ticket_key(ticket.ticket_id),
                            "UpdateExpression": "SET #status = :new, released_at = :now REMOVE reservation_state",
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._tickets,
                            "Key": _event_key(ticket.event_id),
                            "UpdateExpression": "SET available = available + :q",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": _values(q=ticket.quantity),
                        }
                    },
                ]
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise StateChanged() from None
            raise

    def mark_refunded(self, ticket: Ticket, refund_id: str, session_id: str, payment_intent: str | None, now: int) -> None:
        """A late payment whose seats were gone: the ticket records the refund, and so does the payments table."""
        refund_record = {
            "pk": f"REFUND#stripe#{refund_id}",
            "sk": "REFUND",
            "provider": "stripe",
            "kind": "ticket_late_payment",
            "refund_id": refund_id,
            "ticket_id": ticket.ticket_id,
            "owner": ticket.owner,
            "session_id": session_id,
            "payment_intent": payment_intent,
            "amount": ticket.amount_total,
            "currency": ticket.currency,
            "created_at": now,
        }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._tickets,
                            "Key": _ticket_key(ticket.ticket_id),
                            "UpdateExpression": "SET #status = :refunded, refund_id = :rid, session_id = :sid",
                            "ConditionExpression": "#status IN (:cancelled, :expired)",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": _values(
                                refunded=REFUNDED, rid=refund_id, sid=session_id, cancelled=CANCELLED, expired=EXPIRED
                            ),
                        }
                    },
                    {"Put": {"TableName": self._payments, "Item": to_attributes(refund_record)}},
                ]
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise StateChanged() from None
            raise

    def expired_reservations(self, cutoff: int, limit: int = 100) -> list[Ticket]:
        result = self._client.query(
            TableName=self._tickets,
            IndexName=EXPIRY_INDEX,
            KeyConditionExpression="reservation_state = :state AND expires_at <= :cutoff",
            ExpressionAttributeValues=_values(state=RESERVATION_MARKER, cutoff=cutoff),
            Limit=limit,
        )
        return [_ticket_from_item(item) for item in result.get("Items", [])]

    # helpers ---------------------------------------------------------------------------------
    def _take_seats(self, ticket: Ticket) -> dict[str, Any]:
        return {
            "TableName": self._tickets,
            "Key": _event_key(ticket.event_id),
            "UpdateExpression": "SET available = available - :q",
            "ConditionExpression": "attribute_exists(pk) AND available >= :q",
            "ExpressionAttributeValues": _values(q=ticket.quantity),
        }

    def _payment_record(self, ticket: Ticket, session_id: str, payment_intent: str | None, now: int) -> dict[str, Any]:
        record = {
            "pk": f"PAYMENT#stripe#{session_id}",
            "sk": "PAYMENT",
            "provider": "stripe",
            "kind": "ticket_checkout",
            "owner": ticket.owner,
            "ticket_id": ticket.ticket_id,
            "event_id": ticket.event_id,
            "session_id": session_id,
            "payment_intent": payment_intent,
            "amount": ticket.amount_total,
            "currency": ticket.currency,
            "status": "succeeded",
            "created_at": now,
        }
        return {"TableName": self._payments, "Item": to_attributes(record), "ConditionExpression": "attribute_not_exists(pk)"}
