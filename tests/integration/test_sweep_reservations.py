"""The scheduled sweep: reservations past their expiry whose webhook never came."""

import time

import pytest

from tests.support.flows import get_event, pay, reserved_checkout
from tests.support.lambdas import LambdaContext, load_module, sample_event


@pytest.fixture
def later(dynamodb, stripe_fake, monkeypatch):
    """The sweep function as it runs an hour from now."""
    from payments import wiring
    from payments.domain.tickets import TicketService
    from payments.settings import get_settings

    service = TicketService(wiring.ticket_repository(), wiring.stripe_gateway, get_settings(), clock=lambda: time.time() + 3600)
    module = load_module("sweep_reservations")

    def run():
        with monkeypatch.context() as patch:
            patch.setattr(wiring, "ticket_service", lambda: service)
            return module.lambda_handler(sample_event("sweep_reservations"), LambdaContext())

    return run


def ticket(ticket_id):
    from payments import wiring

    return wiring.ticket_repository().get_ticket(ticket_id)


def test_nothing_is_released_before_its_expiry(dynamodb, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    report = load_module("sweep_reservations").lambda_handler(sample_event("sweep_reservations"), LambdaContext())
    assert report["released"] == 0
    assert ticket(body["ticket_id"]).status == "reserved"
    assert get_event(event_id)["available"] == 3


def test_expired_reservations_are_released_and_their_sessions_closed(later, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    report = later()
    assert (report["released"], report["ticket_ids"]) == (1, [body["ticket_id"]])
    assert ticket(body["ticket_id"]).status == "expired"
    assert get_event(event_id)["available"] == 5
    assert stripe_fake.sessions[body["session_id"]]["status"] == "expired"
    # A second run finds nothing left to do
    assert later()["examined"] == 0
    assert get_event(event_id)["available"] == 5


def test_a_paid_session_whose_webhook_was_lost_is_fulfilled_not_released(later, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    pay(stripe_fake, body["session_id"])  # the webhook never arrives
    report = later()
    assert (report["fulfilled"], report["released"]) == (1, 0)
    assert ticket(body["ticket_id"]).status == "paid"
    assert get_event(event_id)["available"] == 3


def test_a_stripe_outage_fails_the_run_and_keeps_the_reservation(later, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    stripe_fake.fail_next("/v1/checkout/sessions/", status=500, type_="api_error", message="boom", code=None)
    with pytest.raises(RuntimeError, match="could not be settled"):
        later()
    assert ticket(body["ticket_id"]).status == "reserved"
    assert later()["released"] == 1
    assert get_event(event_id)["available"] == 5
