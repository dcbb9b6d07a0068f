"""The door's admission without AWS: a door that lost the race to another re-reads the ticket and
admits what is left, gives up after its attempts with a Conflict, stamps the admission with its
clock, and leaves an audit line naming the staff member, the ticket and how many came in.
(The same through the handler and DynamoDB: tests/integration/test_after_purchase.py.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from payments.auth import Caller
from payments.domain import door
from payments.domain.door import ATTEMPTS, DoorService
from payments.domain.lifecycle import Ticket, TicketStatus
from payments.domain.ports import StateChanged
from payments.errors import BadRequest, Conflict, NotFound
from payments.models.tickets import CheckInRequest
from payments.qr import qr_png_base64

STAFF = Caller("staff-1", frozenset({"staff"}))
CODE = "5d1c3b3e-8f0a-4d7e-9c55-0a8e4f1b2c3d"


def ticket(**changes: object) -> Ticket:
    base = Ticket(
        ticket_id=7,
        event_id=3,
        owner="user-alice",
        quantity=3,
        status=TicketStatus.PAID,
        ticket_code=CODE,
        currency="eur",
        unit_amount=2500,
        created_at=1_000,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class Tickets:
    """A DoorTickets whose admissions lose to another door ``lost`` times, each time the other
    door having admitted one more person (what a re-read then shows)."""

    def __init__(self, current: Ticket, lost: int) -> None:
        self.current = current
        self.lost = lost
        self.admissions: list[tuple[Ticket, int, int, int]] = []

    def ticket_by_code(self, ticket_code: str) -> Ticket | None:
        return self.current if ticket_code == self.current.ticket_code else None

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        return self.current if ticket_id == self.current.ticket_id else None

    def check_in(self, ticket: Ticket, count: int, now: int, *, event_id: int) -> Ticket:
        self.admissions.append((ticket, count, now, event_id))
        if self.lost:
            self.lost -= 1
            self.current = replace(self.current, checked_in=self.current.checked_in + 1, checked_in_at=now - 1)
            raise StateChanged
        self.current = replace(ticket, checked_in=ticket.checked_in + count, checked_in_at=now)
        return self.current


@pytest.fixture
def audited(monkeypatch):
    lines: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(door, "audit", lambda action, **fields: lines.append((action, fields)))
    return lines


def test_a_door_that_lost_the_race_admits_what_the_other_door_left(audited):
    # Given a ticket of 3 and a door whose first write loses to another door admitting one person
    tickets = Tickets(ticket(), lost=1)
    service = DoorService(tickets, clock=lambda: 1_700_000_123.9)

    # When everyone not yet admitted is checked in
    admitted = service.check_in(STAFF, CheckInRequest(ticket_code=CODE, event_id=3))

    # Then the second attempt starts from the ticket as re-read: 2 left, not the 3 first read
    assert [(t.checked_in, count) for t, count, _, _ in tickets.admissions] == [(0, 3), (1, 2)]
    assert all(now == 1_700_000_123 and event_id == 3 for _, _, now, event_id in tickets.admissions)
    assert (admitted.checked_in, admitted.checked_in_at) == (3, 1_700_000_123)
    # And one audit line, for the admission that was written
    assert audited == [("ticket.checked_in", {"staff": "staff-1", "ticket_id": 7, "event_id": 3, "count": 2})]


def test_a_door_that_keeps_losing_gives_up_with_a_conflict_and_audits_nothing(audited):
    # Given a ticket of 3 that other doors keep changing under this one
    tickets = Tickets(ticket(), lost=ATTEMPTS)
    service = DoorService(tickets, clock=lambda: 1_000.0)

    # When one person is checked in
    with pytest.raises(Conflict) as refused:
        service.check_in(STAFF, CheckInRequest(ticket_code=CODE, event_id=3, count=1))

    # Then the door tried its number of times, each on the ticket as re-read, and asks for a new scan
    assert refused.value.message == "Ticket changed while checking in; scan again"
    assert [t.checked_in for t, _, _, _ in tickets.admissions] == list(range(ATTEMPTS))
    assert audited == []


def test_more_people_than_are_left_is_a_conflict_saying_what_was_admitted_and_when(audited):
    tickets = Tickets(ticket(checked_in=2, checked_in_at=1_234), lost=0)
    service = DoorService(tickets)

    with pytest.raises(Conflict) as partly:
        service.check_in(STAFF, CheckInRequest(ticket_code=CODE, event_id=3, count=2))
    assert partly.value.message == "Only 1 of 3 left to admit, not 2"
    assert partly.value.fields == {"ticket_id": 7, "quantity": 3, "checked_in": 2, "checked_in_at": 1_234}

    tickets.current = ticket(checked_in=3, checked_in_at=1_240)
    with pytest.raises(Conflict) as full:
        service.check_in(STAFF, CheckInRequest(ticket_code=CODE, event_id=3))
    assert full.value.message == "Already checked in: all 3 admitted"
    assert full.value.fields == {"ticket_id": 7, "quantity": 3, "checked_in": 3, "checked_in_at": 1_240}
    assert tickets.admissions == []
    assert audited == []


def test_an_unknown_pass_is_not_found_and_admits_nobody(audited):
    tickets = Tickets(ticket(), lost=0)

    with pytest.raises(NotFound) as unknown:
        DoorService(tickets).check_in(STAFF, CheckInRequest(ticket_code="0b3c1f4e-2a6d-4c8e-9f10-2b3c4d5e6f70", event_id=3))

    assert unknown.value.message == "Ticket not found"
    assert tickets.admissions == []
    assert audited == []


def test_a_pass_of_another_event_is_refused_naming_both_doors(audited):
    tickets = Tickets(ticket(), lost=0)

    with pytest.raises(BadRequest) as elsewhere:
        DoorService(tickets).check_in(STAFF, CheckInRequest(ticket_code=CODE, event_id=4))

    assert elsewhere.value.message == "Ticket is for event 3, not event 4: it does not admit anyone here"
    assert tickets.admissions == []
    assert audited == []


@pytest.mark.parametrize("status", [status for status in TicketStatus if status != TicketStatus.PAID])
def test_a_ticket_not_valid_at_the_door_admits_nobody_and_says_its_state(status, audited):
    tickets = Tickets(ticket(status=status), lost=0)

    with pytest.raises(BadRequest) as refused:
        DoorService(tickets).check_in(STAFF, CheckInRequest(ticket_code=CODE, event_id=3, count=1))

    assert refused.value.message == f"Ticket is {status}: it does not admit anyone"
    assert tickets.admissions == []
    assert audited == []


def test_a_paid_ticket_kept_without_a_pass_is_shown_with_its_code_drawn():
    # Paid before passes were kept: the pass is drawn from its own code, and nothing else changes
    paid = ticket()

    shown = door.with_door_pass(paid)

    assert shown.qr_png == qr_png_base64(CODE)
    assert replace(shown, qr_png=None) == paid


def test_a_kept_pass_is_shown_as_kept_not_drawn_again():
    kept = ticket(qr_png="the-pass-drawn-when-it-was-paid")

    assert door.with_door_pass(kept) == kept


@pytest.mark.parametrize("status", [status for status in TicketStatus if status != TicketStatus.PAID])
def test_a_ticket_not_valid_at_the_door_has_no_pass_to_show(status):
    unpaid = ticket(status=status)

    assert door.with_door_pass(unpaid).qr_png is None
