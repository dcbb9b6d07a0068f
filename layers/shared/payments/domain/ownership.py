"""Objects recorded with their owner: another user's is 403, an unknown one 404 (DESIGN.md)."""

from __future__ import annotations

from typing import Any

from payments.auth import Caller
from payments.domain.lifecycle import Ticket
from payments.domain.ports import ProviderObjectStore, TicketReader
from payments.errors import Forbidden, NotFound


def _label(kind: str) -> str:
    return kind.replace("_", " ")


def owned(objects: ProviderObjectStore, caller: Caller, kind: str, object_id: str) -> dict[str, Any]:
    record = objects.get(kind, object_id)
    if record is None:
        raise NotFound(f"{_label(kind).capitalize()} not found")
    if record["owner"] != caller.user_id:
        raise Forbidden(f"You do not have permission to access this {_label(kind)}")
    return record


def record_owned(objects: ProviderObjectStore, owner: Caller, kind: str, object_id: str, state: dict[str, Any], now: int) -> None:
    """Records a new object for its owner; the same object already recorded for another user is 403."""
    try:
        objects.record(kind, object_id, owner.user_id, state, now)
    except PermissionError:
        raise Forbidden(f"You do not have permission to access this {_label(kind)}") from None


def owned_ticket(tickets: TicketReader, caller: Caller, ticket_id: int) -> Ticket:
    ticket = tickets.get_ticket(ticket_id)
    if ticket is None:
        raise NotFound("Ticket not found")
    if ticket.owner != caller.user_id:
        raise Forbidden("You do not have permission to access this ticket")
    return ticket
