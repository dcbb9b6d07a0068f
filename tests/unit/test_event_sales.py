"""An event's sales without AWS: each ticket line counted once in its column (sold, held, refunded,
admitted), the money taken and the money gone back summed over every line in exact minor units, and
a ticket refunded before the sum was kept counted as gone back in full. (The same through the
handler and DynamoDB: tests/integration/test_events_api.py and test_after_purchase.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from payments.domain.events import EventService
from payments.domain.lifecycle import Event, TicketLine, TicketStatus

S = TicketStatus
EVENT = Event(
    event_id=3, name="Gig", price=Decimal("25.00"), currency="eur", capacity=100, available=80, created_by="staff-1", created_at=1
)


class Lines:
    """An EventStore with one event and its ticket lines, as the index holds them."""

    def __init__(self, *lines: TicketLine) -> None:
        self.lines = lines

    def get_event(self, event_id: int) -> Event | None:
        return EVENT if event_id == EVENT.event_id else None

    def ticket_lines(self, event: Event) -> Iterator[TicketLine]:
        return iter(self.lines)


def line(ticket_id: int, status: TicketStatus, quantity: int, *, checked_in: int = 0, refund_amount: int | None = None) -> TicketLine:
    return TicketLine(ticket_id, 3, quantity, status, f"code-{ticket_id}", 2500, checked_in=checked_in, refund_amount=refund_amount)


def test_every_line_is_added_to_its_column_and_the_money_is_summed_over_all_of_them():
    store = Lines(
        line(1, S.PAID, 2, checked_in=1),
        line(2, S.PAID, 1, checked_in=1, refund_amount=1000),  # staff gave part of the price back
        line(3, S.RESERVED, 3),
        line(4, S.PROCESSING, 2),
        line(5, S.REFUNDING, 1),
        line(6, S.REFUNDED, 2, refund_amount=5000),
        line(7, S.REFUNDED, 2),  # refunded before the sum was kept: went back in full
        line(8, S.REFUNDED, 4, checked_in=2, refund_amount=10000),
        line(9, S.CANCELLED, 5),
        line(10, S.EXPIRED, 1),
    )

    sales = EventService(store).sales(3)

    assert (sales.sold, sales.held, sales.refunded, sales.checked_in) == (3, 5, 9, 4)
    # taken: the paid, refunding and refunded tickets at 25.00 each (3 + 1 + 8 seats)
    assert sales.gross == Decimal("300.00")
    # gone back: 10.00 + 50.00 + 50.00 (two seats, in full) + 100.00
    assert sales.refunded_amount == Decimal("210.00")
    assert sales.event == EVENT


def test_an_event_without_tickets_has_sold_nothing():
    sales = EventService(Lines()).sales(3)

    assert (sales.sold, sales.held, sales.refunded, sales.checked_in, sales.gross, sales.refunded_amount) == (0, 0, 0, 0, 0, 0)
