"""A customer's own tickets: the list, newest first, and one ticket with its pass while it is valid
at the door. Reads only: nothing here talks to a provider."""

from __future__ import annotations

from payments.auth import Caller
from payments.domain.door import with_door_pass
from payments.domain.lifecycle import Ticket, TicketLine
from payments.domain.ownership import owned_ticket
from payments.domain.ports import CustomerTickets
from payments.errors import InvalidField


class MyTicketsService:
    def __init__(self, repository: CustomerTickets) -> None:
        self._repository = repository

    def list(self, caller: Caller, limit: int, after: int | None) -> tuple[list[TicketLine], int | None]:
        """The caller's tickets, newest first, a page at a time (after one of their tickets)."""
        start = None
        if after is not None:
            start = self._repository.get_ticket(after)
            if start is None or start.owner != caller.user_id:
                raise InvalidField("after", "must be one of your tickets (the next_after of the previous page)")
        return self._repository.tickets_of(caller.user_id, limit, start)

    def get(self, caller: Caller, ticket_id: int) -> Ticket:
        return with_door_pass(owned_ticket(self._repository, caller, ticket_id))
