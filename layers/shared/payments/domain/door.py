"""The door: a ticket's pass (the QR code of its ``ticket_code``), and staff who scan it and admit
its people, each once.

Admission is one conditional write on the ticket (see ``TicketRepository.check_in``): two doors
scanning the same pass at the same instant admit it once, and a ticket admits no more people than
the seats it holds (its quantity, less any refunded by staff), only while it is valid at the door
(paid, or free), and only at its own event's door (the door names its event; the write checks it
too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from payments.auth import Caller
from payments.context import system_time
from payments.domain.lifecycle import Ticket
from payments.domain.ports import DoorTickets, StateChanged
from payments.errors import BadRequest, Conflict, NotFound
from payments.observability import audit

# Request models only annotate here: a function that validates none (a webhook) never imports them.
if TYPE_CHECKING:
    from payments.models.tickets import CheckInRequest

# How often an admission re-reads a ticket another door changed under it before giving up.
ATTEMPTS = 3


def door_pass(ticket: Ticket) -> str:
    """The ticket's QR code, drawn. Drawn once: when the ticket becomes valid, into the write that
    makes it so, and kept with the ticket."""
    # Imported here: only the functions that make a ticket valid (or show one) load the QR library.
    from payments.qr import qr_png_base64

    return qr_png_base64(ticket.ticket_code)


def with_door_pass(ticket: Ticket) -> Ticket:
    """A ticket valid at the door with its pass, as kept; one paid before passes were kept gets it
    drawn here. Other tickets are returned as they are: they have no pass to show."""
    if not ticket.admits or ticket.qr_png:
        return ticket
    return replace(ticket, qr_png=door_pass(ticket))


class DoorService:
    def __init__(self, repository: DoorTickets, clock: Callable[[], float] = system_time) -> None:
        self._repository = repository
        self._clock = clock

    def check_in(self, caller: Caller, request: CheckInRequest) -> Ticket:
        """Admits ``request.count`` people (default: everyone not yet admitted); returns the ticket
        as written. NotFound for an unknown code, BadRequest for a ticket of another event than
        ``request.event_id`` (the door's) or not valid at the door, Conflict (with what was admitted
        and when) for more people than the ticket has left."""
        ticket = self._repository.ticket_by_code(request.ticket_code)
        if ticket is None:
            raise NotFound("Ticket not found")
        for _ in range(ATTEMPTS):
            if ticket.event_id != request.event_id:
                # 400, like any other ticket this door does not admit; it says which door the holder wants.
                raise BadRequest(f"Ticket is for event {ticket.event_id}, not event {request.event_id}: it does not admit anyone here")
            if not ticket.admits:
                raise BadRequest(f"Ticket is {ticket.status}: it does not admit anyone")
            # The seats it still holds: staff may have refunded some (``refunded_quantity``).
            left = max(ticket.quantity_held - ticket.checked_in, 0)
            count = left if request.count is None else request.count
            if count == 0 or count > left:
                raise _admitted_already(ticket, count)
            try:
                admitted = self._repository.check_in(ticket, count, int(self._clock()), event_id=request.event_id)
            except StateChanged:
                ticket = self._repository.get_ticket(ticket.ticket_id) or ticket
                continue
            audit("ticket.checked_in", staff=caller.user_id, ticket_id=ticket.ticket_id, event_id=ticket.event_id, count=count)
            return admitted
        raise Conflict("Ticket changed while checking in; scan again")


def _admitted_already(ticket: Ticket, count: int) -> Conflict:
    held = ticket.quantity_held
    if ticket.checked_in >= held:
        message = f"Already checked in: all {ticket.checked_in} admitted"
    else:
        message = f"Only {held - ticket.checked_in} of {held} left to admit, not {count}"
    return Conflict(
        message,
        ticket_id=ticket.ticket_id,
        quantity=ticket.quantity,
        checked_in=ticket.checked_in,
        checked_in_at=ticket.checked_in_at,
    )
