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


def test_the_refusal_says_the_payment_cannot_be_refunded_automatically() -> None:
    """The refusal's message is the reason a person reads (the webhook ledger logs a permanent
    rejection with it, the sweep's failure line carries it): it says what to do, by hand."""
    world = World(MemoryWorld())
    broken = replace(world.paid(), status=TicketStatus.REFUNDING, payment_intent=None)
    with pytest.raises(NotApplicable) as refused:
        world.service.settle_open_ticket(broken)
    assert (refused.value.status_code, refused.value.message) == (400, "Payment cannot be refunded automatically")
