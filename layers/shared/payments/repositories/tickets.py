"""Events and tickets in the tickets table; payment and refund records in the payments table.

Every ticket transition of ``payments.domain.lifecycle`` is one transaction here, conditioned on
the state it leaves, carrying its effect on the event's seats and its money records, so that it
happens at most once whoever tries it and whenever."""

from __future__ import annotations

import itertools
from dataclasses import asdict, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from payments.domain.lifecycle import UNPAID_HOLDS, UNSETTLED, Event, Seats, Ticket, TicketStatus, Trigger, transition
from payments.dynamodb import all_items, cancellation_reasons, from_item, is_condition_failure, to_attributes, write_with_retry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

UNSETTLED_INDEX = "UnsettledTicketsByExpiry"
EVENTS_INDEX = "EventsById"
EVENT_ENTITY = "EVENT"
PROVIDER = "stripe"


class SoldOut(Exception):
    """Not enough seats left for the requested quantity."""


class UnpaidLimit(Exception):
    """The customer already holds as many unpaid seats for this event as they may."""

    def __init__(self, held: int) -> None:
        super().__init__(f"{held} unpaid seats held")
        self.held = held


class StateChanged(Exception):
    """The ticket was no longer in the state the write left from; re-read it."""


def _event_key(event_id: int) -> dict[str, Any]:
    return {"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}}


def _ticket_key(ticket_id: int) -> dict[str, Any]:
    return {"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}}


def _unpaid_key(event_id: int, owner: str) -> dict[str, Any]:
    return {"pk": {"S": f"UNPAID#{event_id}#{owner}"}, "sk": {"S": "UNPAID"}}


def _intent_link_key(payment_intent: str) -> dict[str, Any]:
    return {"pk": {"S": f"TICKET_PAYMENT#{PROVIDER}#{payment_intent}"}, "sk": {"S": "LINK"}}


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
)


def _ticket_from_item(item: dict[str, Any]) -> Ticket:
    data = from_item(item)
    values = {name: data[name] for name in Ticket.__dataclass_fields__ if name in data}
    for name in _TICKET_INT_FIELDS:
        if values.get(name) is not None:
            values[name] = int(values[name])
    values["status"] = TicketStatus(values["status"])
    return Ticket(**values)


class TicketRepository:
    def __init__(self, client: DynamoDBClient, tickets_table: str, payments_table: str) -> None:
        self._client = client
        self._tickets = tickets_table
        self._payments = payments_table

    # ids -------------------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        result = write_with_retry(
            lambda: self._client.update_item(
                TableName=self._tickets,
                Key={"pk": {"S": f"COUNTER#{kind}"}, "sk": {"S": "COUNTER"}},
                UpdateExpression="ADD #value :one",
                ExpressionAttributeNames={"#value": "value"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
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

    def ticket_for_payment_intent(self, payment_intent: str) -> Ticket | None:
        """The ticket a Stripe payment intent paid (or was to pay), if any ticket of ours knows it."""
        result = self._client.get_item(TableName=self._payments, Key=_intent_link_key(payment_intent), ConsistentRead=True)
        if "Item" not in result:
            return None
        return self.get_ticket(int(result["Item"]["ticket_id"]["N"]))

    def create(self, ticket: Ticket, unpaid_limit: int) -> None:
        """A new ticket (free and paid, or reserved) and its seats taken, both or neither; a reserved
        one also counts against its owner's unpaid seats for the event, at most ``unpaid_limit``.
        SoldOut, or UnpaidLimit, and nothing written."""
        trigger = Trigger.ISSUE_FREE if ticket.status == TicketStatus.PAID else Trigger.RESERVE
        row = transition(None, trigger)
        assert row is not None and row.target == ticket.status
        attributes = {**asdict(ticket), "status": str(ticket.status)}
        if ticket.status in UNSETTLED:
            attributes["unsettled_status"] = str(ticket.status)
        items: list[Any] = [
            {"Update": self._seats(ticket, Seats.TAKE)},
            {
                "Put": {
                    "TableName": self._tickets,
                    "Item": {**_ticket_key(ticket.ticket_id), **to_attributes(attributes)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if ticket.status in UNPAID_HOLDS:
            items.append({"Update": self._unpaid(ticket, take=True, limit=unpaid_limit)})
            try:
                self._transact(items, seats_index=0, unpaid_index=2)
            except UnpaidLimit:
                raise UnpaidLimit(self.unpaid_seats(ticket.event_id, ticket.owner)) from None
            return
        self._transact(items, seats_index=0)

    def unpaid_seats(self, event_id: int, owner: str) -> int:
        result = self._client.get_item(TableName=self._tickets, Key=_unpaid_key(event_id, owner), ConsistentRead=True)
        return int(result.get("Item", {}).get("held", {}).get("N", "0"))

    def attach_session(self, ticket_id: int, session_id: str, checkout_url: str) -> None:
        write_with_retry(
            lambda: self._client.update_item(
                TableName=self._tickets,
                Key=_ticket_key(ticket_id),
                UpdateExpression="SET session_id = :sid, checkout_url = :url",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(session_id) OR session_id = :sid)",
                ExpressionAttributeValues=_values(sid=session_id, url=checkout_url),
            )
        )

    def apply(
        self,
        ticket: Ticket,
        trigger: Trigger,
        changes: dict[str, Any] | None = None,
        records: list[dict[str, Any]] | None = None,
        expired_before: int | None = None,
    ) -> Ticket:
        """One transition of the life cycle from the ticket's current status, as one transaction:
        the ticket conditioned on that status (and on its session, when ``changes`` binds one), the
        event's seats, and the money ``records`` for the payments table. Returns the ticket as
        written; raises StateChanged when the ticket moved on, SoldOut when seats were to be taken
        and are gone."""
        row = transition(ticket.status, trigger)
        if row is None:
            raise ValueError(f"{trigger} does not apply to a {ticket.status} ticket")
        changes = {name: value for name, value in (changes or {}).items() if value is not None}
        changes["status"] = str(row.target)
        names = {"#status": "status"}
        values = _values(source=str(ticket.status))
        condition = "#status = :source"
        if "session_id" in changes:
            condition += " AND (attribute_not_exists(session_id) OR session_id = :session_id)"
        if expired_before is not None:
            condition += " AND expires_at <= :cutoff"
            values |= _values(cutoff=expired_before)
        assignments = []
        for name, value in changes.items():
            names[f"#{name}"] = name
            values |= _values(**{name: value})
            assignments.append(f"#{name} = :{name}")
        update = "SET " + ", ".join(assignments)
        if row.target in UNSETTLED:
            update += ", unsettled_status = :status"
        else:
            update += " REMOVE unsettled_status"
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
        seats_index = None
        if row.seats in (Seats.TAKE, Seats.RETURN):
            seats_index = len(items)
            items.append({"Update": self._seats(ticket, row.seats)})
        if ticket.status in UNPAID_HOLDS and row.target not in UNPAID_HOLDS:
            items.append({"Update": self._unpaid(ticket, take=False)})
        if changes.get("payment_intent"):
            link = {"ticket_id": ticket.ticket_id, "owner": ticket.owner}
            items.append(
                {"Put": {"TableName": self._payments, "Item": {**_intent_link_key(changes["payment_intent"]), **to_attributes(link)}}}
            )
        for record in records or []:
            items.append({"Put": {"TableName": self._payments, "Item": to_attributes(record)}})
        self._transact(items, seats_index)
        return replace(ticket, **{**changes, "status": row.target})

    def unsettled(self, status: TicketStatus, expired_before: int | None = None, limit: int = 100) -> list[Ticket]:
        """Tickets in ``status`` (reserved, processing or refunding), oldest expiry first; with a
        cutoff, only those whose reservation expired before it."""
        condition = "unsettled_status = :state"
        values = _values(state=str(status))
        if expired_before is not None:
            condition += " AND expires_at <= :cutoff"
            values |= _values(cutoff=expired_before)
        items = all_items(
            self._client.query,
            TableName=self._tickets,
            IndexName=UNSETTLED_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            Limit=limit,
        )
        return [_ticket_from_item(item) for item in itertools.islice(items, limit)]

    # helpers ---------------------------------------------------------------------------------
    def _seats(self, ticket: Ticket, seats: Seats) -> dict[str, Any]:
        """The event's side of a transition: seats taken only while enough are left, or given back."""
        take = seats == Seats.TAKE
        return {
            "TableName": self._tickets,
            "Key": _event_key(ticket.event_id),
            "UpdateExpression": f"SET available = available {'-' if take else '+'} :q",
            "ConditionExpression": "attribute_exists(pk) AND available >= :q" if take else "attribute_exists(pk)",
            "ExpressionAttributeValues": _values(q=ticket.quantity),
        }

    def _unpaid(self, ticket: Ticket, *, take: bool, limit: int = 0) -> dict[str, Any]:
        """The owner's unpaid seats for the event: taken only while the limit allows, or given back."""
        update: dict[str, Any] = {"TableName": self._tickets, "Key": _unpaid_key(ticket.event_id, ticket.owner)}
        if take:
            return update | {
                "UpdateExpression": "ADD held :q",
                "ConditionExpression": "attribute_not_exists(held) OR held <= :room",
                "ExpressionAttributeValues": _values(q=ticket.quantity, room=limit - ticket.quantity),
            }
        return update | {"UpdateExpression": "ADD held :q", "ExpressionAttributeValues": _values(q=-ticket.quantity)}

    def _transact(self, items: list[Any], seats_index: int | None, unpaid_index: int | None = None) -> None:
        try:
            write_with_retry(lambda: self._client.transact_write_items(TransactItems=items))
        except Exception as error:
            if not is_condition_failure(error):
                raise
            reasons = cancellation_reasons(error)
            if unpaid_index is not None and reasons[unpaid_index : unpaid_index + 1] == ["ConditionalCheckFailed"]:
                raise UnpaidLimit(0) from None
            seats_gone = seats_index is not None and len(reasons) > seats_index and reasons[seats_index] == "ConditionalCheckFailed"
            ticket_moved = seats_index != 0 and reasons[:1] == ["ConditionalCheckFailed"]
            if seats_gone and not ticket_moved:
                raise SoldOut() from None
            raise StateChanged() from None


def payment_record(ticket: Ticket, session_id: str, payment_intent: str | None, now: int) -> dict[str, Any]:
    """What the payments table keeps of a ticket's payment."""
    return {
        "pk": f"PAYMENT#{PROVIDER}#{session_id}",
        "sk": "PAYMENT",
        "provider": PROVIDER,
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


def refund_record(ticket: Ticket, refund_id: str, amount: int, reason: str, now: int) -> dict[str, Any]:
    """What the payments table keeps of a ticket's refund (or lost dispute)."""
    return {
        "pk": f"REFUND#{PROVIDER}#{refund_id}",
        "sk": "REFUND",
        "provider": PROVIDER,
        "kind": "ticket_refund",
        "reason": reason,
        "refund_id": refund_id,
        "ticket_id": ticket.ticket_id,
        "owner": ticket.owner,
        "session_id": ticket.session_id,
        "payment_intent": ticket.payment_intent,
        "amount": amount,
        "currency": ticket.currency,
        "created_at": now,
    }
