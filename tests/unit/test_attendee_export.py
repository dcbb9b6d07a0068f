"""The attendee export without AWS: the CSV's header and cells (a spreadsheet formula in an owner
string is defused, as OWASP advises for CSV injection), the cursor a page hands on, refused when it
is forged, and the pages of a store that cover every ticket once. (The same through the handler and
DynamoDB: tests/integration/test_attendee_export.py.)"""

from __future__ import annotations

import base64
import csv
import io
from decimal import Decimal

import pytest

from payments.auth import Caller
from payments.domain.attendees import COLUMNS, Attendee, AttendeeService, ListPosition, attendees_csv, decode_cursor, encode_cursor
from payments.domain.lifecycle import Event, TicketStatus
from payments.errors import InvalidField, NotFound

S = TicketStatus
STAFF = Caller("staff-1", frozenset({"staff"}))
EVENT = Event(
    event_id=7,
    name="Gig",
    price=Decimal("25.00"),
    currency="eur",
    capacity=100,
    available=80,
    created_by="staff-1",
    created_at=1,
    seat_shards=3,
)


def attendee(ticket_id: int, owner: str = "user-a", status: TicketStatus = S.PAID, **fields: int | None) -> Attendee:
    values: dict[str, int | None] = {"quantity": 2, "admitted": 0, "admitted_at": None, "created_at": 1_796_000_000, "paid_at": None}
    values |= fields
    return Attendee(ticket_id=ticket_id, owner=owner, status=status, **values)  # type: ignore[arg-type]


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# the CSV ------------------------------------------------------------------------------------------
def test_the_csv_has_a_header_row_and_one_row_per_ticket_in_its_columns():
    text = attendees_csv(
        [
            attendee(5, "user-a", S.PAID, quantity=3, admitted=1, admitted_at=1_796_000_600, paid_at=1_796_000_060),
            attendee(9, "user-b", S.RESERVED, quantity=1),
        ]
    )
    assert COLUMNS[:6] == ("ticket_id", "owner", "quantity", "status", "admitted", "admitted_at")
    assert {"created_at", "paid_at"} <= set(COLUMNS)
    assert "session_id" not in COLUMNS and "checkout_url" not in COLUMNS and "ticket_code" not in COLUMNS
    header, first, second = rows(text)
    assert tuple(header) == COLUMNS
    assert dict(zip(header, first, strict=True)) == {
        "ticket_id": "5",
        "owner": "user-a",
        "quantity": "3",
        "status": "paid",
        "admitted": "1",
        "admitted_at": "2026-11-30T01:03:20Z",
        "created_at": "2026-11-30T00:53:20Z",
        "paid_at": "2026-11-30T00:54:20Z",
    }
    assert dict(zip(header, second, strict=True))["paid_at"] == ""
    assert dict(zip(header, second, strict=True))["admitted_at"] == ""
    # RFC 4180 line ends
    assert text.endswith("\r\n") and text.count("\r\n") == 3


def test_an_empty_page_is_the_header_alone():
    assert rows(attendees_csv([])) == [list(COLUMNS)]


@pytest.mark.parametrize(
    "owner",
    ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\r=1+1", "=cmd|' /C calc'!A0"],
)
def test_an_owner_a_spreadsheet_would_read_as_a_formula_gets_a_leading_apostrophe(owner):
    [_, row] = rows(attendees_csv([attendee(1, owner)]))
    assert row[1] == "'" + owner


@pytest.mark.parametrize(
    ("owner", "written"),
    [("\t=1+1", "'\t'=1+1"), ("x;=1+1", "x;'=1+1"), ("y;@SUM(A1)", "y;'@SUM(A1)"), ("a\t-1", "a\t'-1"), ("a;b", "a;b")],
)
def test_a_formula_after_a_separator_another_locale_splits_on_gets_an_apostrophe(owner, written):
    # A comma-decimal locale reads CSV split on ';' (or tabs), where our quoting does not hold.
    [_, row] = rows(attendees_csv([attendee(1, owner)]))
    assert row[1] == written


@pytest.mark.parametrize("owner", ["user-a", "a=b", "alice@example.com", 'Ann, "the" fan', "line\nbreak", "ünï"])
def test_other_owners_are_kept_exactly_and_quoted_by_the_csv_writer(owner):
    [_, row] = rows(attendees_csv([attendee(1, owner)]))
    assert row[1] == owner


# the cursor -------------------------------------------------------------------------------------
def test_a_cursor_names_its_position_and_reads_back_only_for_its_own_event():
    cursor = encode_cursor(7, ListPosition(shard=2, ticket_id=1234))
    assert "1234" not in cursor  # opaque: the client hands it back, nothing to read in it
    assert decode_cursor(7, cursor) == ListPosition(shard=2, ticket_id=1234)
    with pytest.raises(InvalidField) as refused:
        decode_cursor(8, cursor)
    assert refused.value.field == "cursor"


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    ["", "x", "!!!", "a" * 5000, b64("7.2"), b64("7.2.x"), b64("7.-1.5"), b64("7.2.0"), b64("{}"), b64("7.2.5.1"), "4pyTIMOgIGxhIG1vZGU"],
)
def test_a_cursor_that_is_not_one_of_ours_is_refused_naming_the_field(cursor):
    with pytest.raises(InvalidField) as refused:
        decode_cursor(7, cursor)
    assert refused.value.field == "cursor"
    assert str(refused.value) == "cursor: must be the X-Next-Cursor of the previous page of this event's export"


# the service over a store -------------------------------------------------------------------------
class Store:
    """The event's tickets as its index lists them: shard by shard, by ticket id."""

    def __init__(self, listed: dict[int, list[Attendee]]) -> None:
        self.listed = listed

    def get_event(self, event_id: int) -> Event | None:
        return EVENT if event_id == EVENT.event_id else None

    def listed_at(self, ticket_id: int) -> tuple[int, int] | None:
        for shard, attendees in self.listed.items():
            if any(found.ticket_id == ticket_id for found in attendees):
                return EVENT.event_id, shard
        return None

    def attendees(self, event: Event, limit: int, after: ListPosition | None) -> tuple[list[Attendee], ListPosition | None]:
        order = [(shard, found) for shard in sorted(self.listed) for found in sorted(self.listed[shard], key=lambda a: a.ticket_id)]
        if after is not None:
            order = [(shard, found) for shard, found in order if (shard, found.ticket_id) > (after.shard, after.ticket_id)]
        page = order[:limit]
        more = len(order) > limit
        return [found for _, found in page], (ListPosition(page[-1][0], page[-1][1].ticket_id) if more else None)


STORE = Store({0: [attendee(3), attendee(8)], 1: [attendee(1), attendee(4), attendee(6)], 2: [attendee(2)]})


def test_pages_cover_every_ticket_once_and_the_last_has_no_cursor():
    service = AttendeeService(STORE, STORE)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = service.export(STAFF, 7, 2, cursor)
        pages += 1
        body = rows(page.text)
        assert tuple(body[0]) == COLUMNS
        seen += [int(row[0]) for row in body[1:]]
        assert page.rows == len(body) - 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert sorted(seen) == [1, 2, 3, 4, 6, 8] and len(seen) == 6


def test_an_unknown_event_is_not_found():
    with pytest.raises(NotFound):
        AttendeeService(STORE, STORE).export(STAFF, 99, 10, None)


@pytest.mark.parametrize(
    "position",
    [
        ListPosition(shard=0, ticket_id=99),  # no such ticket
        ListPosition(shard=1, ticket_id=3),  # a ticket of the event, listed under another shard
        ListPosition(shard=3, ticket_id=3),  # beyond the event's shards
    ],
)
def test_a_well_formed_cursor_naming_no_listed_ticket_of_the_event_is_refused(position):
    with pytest.raises(InvalidField) as refused:
        AttendeeService(STORE, STORE).export(STAFF, 7, 10, encode_cursor(7, position))
    assert refused.value.field == "cursor"
    assert str(refused.value) == "cursor: must be the X-Next-Cursor of the previous page of this event's export"
