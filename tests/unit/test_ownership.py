"""Objects recorded with their owner, and a customer's own tickets, without AWS: another user's is
403 and an unknown one 404, each saying what kind of object in words ("payment intent", not
"payment_intent"), as the API's error bodies do; a page of my tickets starts only after one of mine."""

from __future__ import annotations

from typing import Any

import pytest

from payments.auth import Caller
from payments.domain.lifecycle import Ticket, TicketLine, TicketStatus
from payments.domain.my_tickets import MyTicketsService
from payments.domain.ownership import owned, owned_ticket, record_owned
from payments.errors import Forbidden, InvalidField, NotFound

ALICE = Caller("user-alice", frozenset())
BOB = Caller("user-bob", frozenset())


class Objects:
    """A ProviderObjectStore holding objects by (kind, id) with their owner."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return self.kept.get((kind, object_id))

    def record(self, kind: str, object_id: str, owner: str, state: dict[str, Any], now: int) -> bool:
        kept = self.kept.setdefault((kind, object_id), {"owner": owner, "recorded_at": now, **state})
        if kept["owner"] != owner:
            raise PermissionError(object_id)
        return True


def test_an_object_is_its_owners_and_refused_to_anyone_else_in_words():
    objects = Objects()
    record_owned(objects, ALICE, "payment_intent", "pi_1", {"status": "requires_payment_method"}, 1_000)

    assert owned(objects, ALICE, "payment_intent", "pi_1") == {
        "owner": "user-alice",
        "recorded_at": 1_000,
        "status": "requires_payment_method",
    }
    with pytest.raises(Forbidden) as not_hers:
        owned(objects, BOB, "payment_intent", "pi_1")
    assert not_hers.value.message == "You do not have permission to access this payment intent"
    with pytest.raises(NotFound) as unknown:
        owned(objects, ALICE, "payment_intent", "pi_2")
    assert unknown.value.message == "Payment intent not found"


def test_recording_another_users_object_again_is_refused_in_words():
    objects = Objects()
    record_owned(objects, ALICE, "paypal_order", "O-1", {}, 1_000)

    with pytest.raises(Forbidden) as taken:
        record_owned(objects, BOB, "paypal_order", "O-1", {}, 1_001)
    assert taken.value.message == "You do not have permission to access this paypal order"


def ticket(ticket_id: int, owner: str) -> Ticket:
    return Ticket(ticket_id, 3, owner, 1, TicketStatus.RESERVED, f"code-{ticket_id}", "eur", 2500, 1_000)


class MyTickets:
    """A CustomerTickets of two tickets, one each; records the page asked for."""

    def __init__(self) -> None:
        self.tickets = {1: ticket(1, "user-alice"), 2: ticket(2, "user-bob")}
        self.asked: list[tuple[str, int, Ticket | None]] = []

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def tickets_of(self, owner: str, limit: int, after: Ticket | None = None) -> tuple[list[TicketLine], int | None]:
        self.asked.append((owner, limit, after))
        return [], None


def test_a_ticket_is_its_owners_and_refused_to_anyone_else():
    tickets = MyTickets()

    assert owned_ticket(tickets, ALICE, 1) == tickets.tickets[1]
    with pytest.raises(Forbidden) as not_his:
        owned_ticket(tickets, BOB, 1)
    assert not_his.value.message == "You do not have permission to access this ticket"
    with pytest.raises(NotFound) as unknown:
        owned_ticket(tickets, ALICE, 9)
    assert unknown.value.message == "Ticket not found"


@pytest.mark.parametrize("after", [2, 9], ids=["another users ticket", "no ticket"])
def test_a_page_after_a_ticket_not_mine_is_a_400_naming_after_and_reads_nothing(after):
    tickets = MyTickets()

    with pytest.raises(InvalidField) as refused:
        MyTicketsService(tickets).list(ALICE, 20, after)

    assert refused.value.message == "after: must be one of your tickets (the next_after of the previous page)"
    assert tickets.asked == []


def test_a_page_after_one_of_my_tickets_starts_from_it():
    tickets = MyTickets()

    MyTicketsService(tickets).list(ALICE, 20, 1)
    MyTicketsService(tickets).list(ALICE, 5, None)

    assert tickets.asked == [("user-alice", 20, tickets.tickets[1]), ("user-alice", 5, None)]
