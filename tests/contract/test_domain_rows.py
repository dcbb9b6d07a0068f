"""The life cycle's rows through the domain (``tests.support.lifecycle_world``: ``TicketService``
over each world's stores and one Stripe stub) give the same results on the in-memory twins and on
the DynamoDB repository over moto: the same writes in the same order, and the same tickets, seats,
counters, sales view and payment records after. The unit test (tests/unit/test_lifecycle_rows.py)
runs the rows on the twin alone, in milliseconds; this is what entitles it to."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

import pytest

from payments.domain.lifecycle import TRANSITIONS, TicketStatus, Trigger
from tests.support.lifecycle_world import SCENARIOS, World, invariants, lines
from tests.support.store_worlds import MemoryWorld, moto_world


def seen(world: World) -> dict[str, Any]:
    """Everything the ports and the inspector show, but the random door codes (uuid4 per purchase)."""
    tickets = [world.ticket(line.ticket_id) for line in lines(world)]
    inspect = world.stores.inspect
    events = (world.paid_event, world.free_event)
    owners = ("user-alice", "user-bob")
    return {
        "rows": world.store.rows,
        "tickets": [replace(ticket, ticket_code="", qr_png=None) for ticket in tickets],
        "lines": [replace(line, ticket_code="") for line in lines(world)],
        "seats": [inspect.seats(event.event_id) for event in events],
        "counters": [(inspect.unpaid(event.event_id, owner), inspect.free(event.event_id, owner)) for event in events for owner in owners],
        "payments": [inspect.record(f"PAYMENT#stripe#{ticket.session_id}", "PAYMENT") for ticket in tickets if ticket.session_id],
        "refunds": [
            inspect.record(f"REFUND#stripe#{refund.id}", "REFUND") for refunds in world.stripe.refunds.values() for refund in refunds
        ],
    }


@pytest.mark.parametrize("row", list(TRANSITIONS), ids=lambda row: f"{row[0]}-{row[1]}")
def test_each_row_through_the_domain_is_the_same_on_both_stores(
    row: tuple[TicketStatus | None, Trigger], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets, "randbelow", lambda shards: 0)
    scenario, final = SCENARIOS[row]
    memory = World(MemoryWorld())
    scenario(memory)
    with moto_world() as stores:
        dynamo = World(stores)
        assert scenario(dynamo).status == final
        invariants(dynamo)
        assert seen(dynamo) == seen(memory)
