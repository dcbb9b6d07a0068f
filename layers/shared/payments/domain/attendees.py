"""The attendee export: staff download an event's tickets as CSV, a page at a time.

The tickets are read where the sales view reads them, the event's index by seat shard
(``TicketsByEventShard``, keyed ``"<event_id>#<shard>"`` and ranged by ticket id): shard by shard,
each by ticket id. A page ends at a position, (shard, ticket id), that the next request hands back
as ``cursor``. Like ``after`` of the customer's list, the cursor is checked on the server before it
is used: it must name a ticket of this event listed under that shard, so a cursor made up or edited
is a 400, never a read from anywhere else (and never a key DynamoDB would refuse with a 500).

The index is eventually consistent: a ticket bought a moment ago may be missing from an export
taken during a sale, and the cells are each ticket as it was a moment ago. A ticket is listed once,
under the shard it was created in (``event_shard`` is written once), so paging never shows it twice.

Cells are written by Python's ``csv`` module (quoting as RFC 4180 says); a cell that a spreadsheet
would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets
a leading apostrophe, as OWASP advises against CSV injection. Only the owner is free text (the
account id of the token); the other cells are numbers, a status and dates, which are defused alike.
Nothing that opens a checkout or passes the door (session id, checkout address, ticket code, QR
code) is exported."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from payments.auth import Caller
from payments.domain.lifecycle import Event, TicketStatus
from payments.errors import InvalidField, NotFound
from payments.observability import audit

COLUMNS = ("ticket_id", "owner", "quantity", "status", "admitted", "admitted_at", "created_at", "paid_at")
# A cell starting with one of these is read as a formula by Excel, LibreOffice or Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The text a cursor encodes: the event it belongs to, then the position, "<event>.<shard>.<ticket>".
_POSITION = re.compile(r"([1-9][0-9]{0,17})\.(0|[1-9][0-9]{0,2})\.([1-9][0-9]{0,17})")
CURSOR_MAX_LENGTH = 200
CURSOR_SAYS = "must be the X-Next-Cursor of the previous page of this event's export"


@dataclass(frozen=True)
class Attendee:
    """One ticket as the export shows it: who holds it, how many seats, its status, how many of its
    people were admitted at the door (and when the last came in), when it was bought and paid."""

    ticket_id: int
    owner: str
    quantity: int
    status: TicketStatus
    admitted: int
    admitted_at: int | None
    created_at: int
    paid_at: int | None


@dataclass(frozen=True, order=True)
class ListPosition:
    """Where a page of the event's index ended: the last ticket listed, and the shard it is listed under."""

    shard: int
    ticket_id: int


@dataclass(frozen=True)
class AttendeePage:
    text: str  # the CSV, its header row first
    rows: int
    next_cursor: str | None  # None: this was the last page


class EventReader(Protocol):
    def get_event(self, event_id: int) -> Event | None: ...


class AttendeeStore(Protocol):
    def attendees(self, event: Event, limit: int, after: ListPosition | None) -> tuple[list[Attendee], ListPosition | None]:
        """At most ``limit`` of the event's tickets in index order (shard, then ticket id) after
        ``after``; the second value is where the next page starts after, None when none is left."""
        ...

    def listed_at(self, ticket_id: int) -> tuple[int, int] | None:
        """The event and the seat shard a ticket is listed under in the index; None: no such ticket."""
        ...


# Separators a spreadsheet may split on other than ours: a comma-decimal locale reads CSV split on
# ';' (or tabs), where our quoting does not hold, so a formula after one would start a cell.
_FORMULA_AFTER_FOREIGN_SEPARATOR = re.compile(r"([;\t])(?=[=+\-@\r])")


def spreadsheet_safe(text: str) -> str:
    """The cell as written, with an apostrophe before anything a spreadsheet would run as a formula:
    at its start, and after a ';' or tab that another locale's reading splits on."""
    text = _FORMULA_AFTER_FOREIGN_SEPARATOR.sub(r"\1'", text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _moment(timestamp: int | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def attendees_csv(attendees: Iterable[Attendee]) -> str:
    """The page as CSV: the header row, then one row per ticket."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for found in attendees:
        cells = (
            str(found.ticket_id),
            found.owner,
            str(found.quantity),
            str(found.status),
            str(found.admitted),
            _moment(found.admitted_at),
            _moment(found.created_at),
            _moment(found.paid_at),
        )
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue()


def encode_cursor(event_id: int, position: ListPosition) -> str:
    """The position as the client hands it back: opaque text, safe in a URL without escaping."""
    text = f"{event_id}.{position.shard}.{position.ticket_id}"
    return base64.urlsafe_b64encode(text.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(event_id: int, cursor: str) -> ListPosition:
    """The position a cursor of this event's export names; InvalidField("cursor") for anything else.
    Only its form is checked here: ``AttendeeService`` checks that it names a listed ticket."""
    if not 0 < len(cursor) <= CURSOR_MAX_LENGTH or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise InvalidField("cursor", CURSOR_SAYS)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise InvalidField("cursor", CURSOR_SAYS) from None
    match = _POSITION.fullmatch(text)
    if match is None or int(match[1]) != event_id:
        raise InvalidField("cursor", CURSOR_SAYS)
    return ListPosition(shard=int(match[2]), ticket_id=int(match[3]))


class AttendeeService:
    def __init__(self, events: EventReader, attendees: AttendeeStore) -> None:
        self._events = events
        self._attendees = attendees

    def export(self, caller: Caller, event_id: int, limit: int, cursor: str | None) -> AttendeePage:
        """One page of the event's tickets as CSV, and the cursor of the next. NotFound for an
        unknown event; InvalidField("cursor") for a cursor that names no ticket listed there."""
        event = self._events.get_event(event_id)
        if event is None:
            raise NotFound("Event not found")
        after = None
        if cursor is not None:
            after = decode_cursor(event_id, cursor)
            if after.shard >= event.seat_shards or self._attendees.listed_at(after.ticket_id) != (event_id, after.shard):
                raise InvalidField("cursor", CURSOR_SAYS)
        found, last = self._attendees.attendees(event, limit, after)
        # Staff reading buyers' data: one line per page, as for every staff action.
        audit("event.attendees_exported", staff=caller.user_id, event_id=event_id, rows=len(found))
        return AttendeePage(text=attendees_csv(found), rows=len(found), next_cursor=None if last is None else encode_cursor(event_id, last))
