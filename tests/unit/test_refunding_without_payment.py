"""A ticket in ``refunding`` that names no payment intent cannot be refunded automatically (there is
nothing to ask Stripe for): the step is refused, nothing moves, and the error logged for a person
names the ticket, the one thing they need to put it right by hand. Over the in-memory stores and
the Stripe stub of ``tests.support.lifecycle_world``: no AWS."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from payments.domain.lifecycle import TicketStatus
from payments.errors import NotApplicable
from tests.support.lifecycle_world import World
from tests.support.store_worlds import MemoryWorld


def test_a_refunding_ticket_without_a_payment_intent_is_refused_and_logged_naming_the_ticket(caplog: pytest.LogCaptureFixture) -> None:
    world = World(MemoryWorld())
    paid = world.paid()
    broken = replace(paid, status=TicketStatus.REFUNDING, payment_intent=None)
    caplog.clear()
    with pytest.raises(NotApplicable, match="cannot be refunded automatically"):
        world.service.settle_open_ticket(broken)
    [logged] = [record for record in caplog.records if record.getMessage() == "A refunding ticket without a payment intent"]
    assert logged.levelno == logging.ERROR
    assert getattr(logged, "ticket_id", None) == paid.ticket_id
    assert world.ticket(paid.ticket_id) == paid  # refused: nothing written
