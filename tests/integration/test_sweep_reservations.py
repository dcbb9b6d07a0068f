"""The scheduled sweep: reservations past their expiry whose webhook never came."""

import time

import pytest

from tests.support.flows import get_event, pay, reserved_checkout
from tests.support.lambdas import LambdaContext, call, load_module, sample_event


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


def reservation_without_session(event_id, monkeypatch, quantity=1):
    """A reservation whose checkout never started (a crash between the two): no Stripe session."""
    from payments.providers.stripe_gateway import StripeGateway
    from tests.support.flows import buy

    with monkeypatch.context() as patch:
        patch.setattr(StripeGateway, "create_checkout_session", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
        assert buy(event_id, quantity).status == 500
    from payments import wiring

    [held] = [t for t in wiring.ticket_repository().unsettled(status="reserved", limit=100) if t.event_id == event_id and not t.session_id]
    return held


def cancelled_by_its_owner_meanwhile(monkeypatch, ticket_id):
    """The sweep's write on ``ticket_id`` finds it moved on: its owner cancelled it between the
    sweep's read and its conditional write."""
    from payments.domain.lifecycle import Trigger
    from payments.repositories.tickets import TicketRepository

    original = TicketRepository.apply

    def owner_first(self, ticket, trigger, *args, **kwargs):
        if ticket.ticket_id == ticket_id and trigger == Trigger.EXPIRE and ticket.status == "reserved":
            original(self, ticket, Trigger.CANCEL, {"released_at": 1})
        return original(self, ticket, trigger, *args, **kwargs)

    monkeypatch.setattr(TicketRepository, "apply", owner_first)


def test_a_reservation_changed_meanwhile_is_skipped_and_the_sweep_goes_on(later, stripe_fake, monkeypatch):
    """One conditional write failing (the ticket moved on) is that ticket handled by whoever moved
    it: the sweep skips it, releases the others and does not fail."""
    from tests.support.flows import buy, create_event

    event_id = create_event(price=20, capacity=5)
    crashed = reservation_without_session(event_id, monkeypatch, quantity=2)
    body = buy(event_id, 1).body
    cancelled_by_its_owner_meanwhile(monkeypatch, crashed.ticket_id)
    report = later()
    assert (report["released"], report["ticket_ids"], report["failed"], report["skipped"]) == (1, [body["ticket_id"]], 0, 1)
    assert (ticket(crashed.ticket_id).status, ticket(body["ticket_id"]).status) == ("cancelled", "expired")
    assert get_event(event_id)["available"] == 5


def test_a_run_that_could_not_settle_one_of_two_counts_both_examined_and_one_failed(later, stripe_fake, caplog):
    """The run's report (its log line, and the error that fails it for the sweep alarm) counts every
    reservation it looked at and the ones it could not settle."""
    from tests.support.flows import buy

    event_id, first = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    second = buy(event_id, 1).body
    stripe_fake.fail_next("/v1/checkout/sessions/", status=500, type_="api_error", message="boom", code=None)
    with pytest.raises(RuntimeError) as failed:
        later()
    assert str(failed.value).startswith("1 reservations could not be settled")
    [finished] = [record for record in caplog.records if record.getMessage() == "Reservation sweep finished"]
    assert (finished.examined, finished.failed, finished.released) == (2, 1, 1)
    statuses = sorted(ticket(body["ticket_id"]).status for body in (first, second))
    assert statuses == ["expired", "reserved"]
    # the error line names the reservation left for the next run, for a person to look at
    [stuck] = [body["ticket_id"] for body in (first, second) if ticket(body["ticket_id"]).status == "reserved"]
    [line] = [record for record in caplog.records if record.getMessage() == "Sweep could not settle a reservation"]
    assert line.__dict__["ticket_id"] == stuck


def test_the_index_is_read_a_page_the_size_of_the_sweep_not_the_whole_backlog(dynamodb, stripe_fake):
    """An on-sale leaves thousands of reservations waiting in each bucket of the unsettled index; a
    sweep run settles ``limit`` of them and reads no more than that from each bucket (a page as the
    merge needs it), not every bucket's whole backlog every run."""
    from payments import dynamodb as layer_dynamodb
    from payments import wiring
    from payments.domain.lifecycle import TicketStatus
    from payments.repositories.tickets import UNSETTLED_BUCKETS

    event_id, first = reserved_checkout(stripe_fake, quantity=1, capacity=10)
    repository = wiring.ticket_repository()
    while repository.next_id("ticket") < first["ticket_id"] + UNSETTLED_BUCKETS - 1:
        pass  # the next reservation lands in the first one's bucket
    second = call("create_ticket_checkout", {"event_id": event_id, "quantity": 1}).body
    assert second["ticket_id"] == first["ticket_id"] + UNSETTLED_BUCKETS
    returned = []

    def read(parsed, **_):
        returned.extend(parsed.get("Items", []))

    events = layer_dynamodb.get_client().meta.events
    events.register("after-call.dynamodb.Query", read)
    try:
        [oldest] = repository.unsettled(TicketStatus.RESERVED, limit=1)
    finally:
        events.unregister("after-call.dynamodb.Query", read)
    assert oldest.ticket_id == first["ticket_id"]
    assert len(returned) == 1
