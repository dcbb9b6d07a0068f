"""Seats are conserved and payments never lost, whatever order reserve, cancel, expiry, verify and webhooks come in."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.dynamo import PAYMENTS, TICKETS, SerialisedClient, items_with_prefix
from tests.support.flows import (
    buy,
    create_event,
    deliver_webhook,
    expired_event_for,
    get_event,
    late_payment_into_sold_out,
    pay,
    reserved_checkout,
    verify,
)


@pytest.fixture
def serialised(dynamodb, monkeypatch):
    """Each DynamoDB request atomic, as in AWS (moto itself does not lock)."""
    from payments import dynamodb as layer_dynamodb
    from payments import wiring

    serialised_client = SerialisedClient(dynamodb)
    wiring.reset()
    monkeypatch.setattr(layer_dynamodb, "get_client", lambda: serialised_client)
    return dynamodb


def ticket(ticket_id):
    from payments import wiring

    return wiring.ticket_repository().get_ticket(ticket_id)


def test_many_buyers_for_the_last_seats_sell_exactly_the_capacity(serialised, stripe_fake):
    event_id = create_event(price=0, capacity=5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: buy(event_id, 1, user=f"user-{n}"), range(24)))
    statuses = sorted(result.status for result in results)
    assert statuses.count(200) == 5
    assert statuses.count(400) == 19
    assert get_event(event_id)["available"] == 0
    assert len(items_with_prefix(serialised, TICKETS, "TICKET#")) == 5


def test_verify_and_webhook_racing_pay_the_ticket_once(serialised, stripe_fake):
    for _ in range(5):
        event_id, body = reserved_checkout(stripe_fake, quantity=1, capacity=3)
        event = pay(stripe_fake, body["session_id"])
        with ThreadPoolExecutor(max_workers=2) as pool:
            by_verify = pool.submit(verify, body["session_id"], body["ticket_id"])
            by_webhook = pool.submit(deliver_webhook, event)
            assert by_verify.result().status == 200
            assert by_webhook.result().status == 200
        assert by_webhook.result().body["outcome"] in ("paid", "already_paid")
        assert ticket(body["ticket_id"]).status == "paid"
        assert get_event(event_id)["available"] == 2
    assert len(items_with_prefix(serialised, PAYMENTS, "PAYMENT#")) == 5


def test_a_payment_after_the_reservation_was_released_retakes_free_seats(dynamodb, stripe_fake):
    # Given the expiry was applied first, and the seats went back
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    completed = pay(stripe_fake, body["session_id"])
    assert deliver_webhook(expired_event_for(stripe_fake, body["session_id"])).body["outcome"] == "released"
    assert get_event(event_id)["available"] == 5
    # When the payment arrives
    assert deliver_webhook(completed).body["outcome"] == "paid"
    # Then the customer has the ticket, and its seats are taken again
    current = ticket(body["ticket_id"])
    assert (current.status, current.late_payment) == ("paid", True)
    assert get_event(event_id)["available"] == 3
    assert verify(body["session_id"], body["ticket_id"]).status == 200


def test_a_payment_after_release_into_a_sold_out_event_is_refunded_and_recorded(dynamodb, stripe_fake):
    # Given the reservation was released and somebody else bought every seat since
    event_id, body, completed = late_payment_into_sold_out(stripe_fake)
    # When the late payment arrives
    assert deliver_webhook(completed).body["outcome"] == "refunded"
    # Then it is refunded at Stripe once, recorded, and the event is not oversold
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    refunds = [refund for refund in stripe_fake.refunds.values() if refund["payment_intent"] == intent]
    assert [refund["amount"] for refund in refunds] == [5000]
    [record] = items_with_prefix(dynamodb, PAYMENTS, "REFUND#")
    assert (record["ticket_id"], record["amount"], record["owner"]) == (body["ticket_id"], 5000, "user-alice")
    assert ticket(body["ticket_id"]).status == "refunded"
    assert get_event(event_id)["available"] == 0
    # And the customer's success page says what happened
    result = verify(body["session_id"], body["ticket_id"])
    assert result.status == 400
    assert "refunded" in result.body["error"]
    # And a redelivery refunds nothing twice
    completed_again = dict(completed, id="evt_redelivered")
    assert deliver_webhook(completed_again).body["outcome"] == "already_refunded"
    assert len([r for r in stripe_fake.refunds.values() if r["payment_intent"] == intent]) == 1


def test_cancel_racing_the_payment_never_loses_it(serialised, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=1, capacity=2)
    event = pay(stripe_fake, body["session_id"])
    from tests.support.flows import cancel

    with ThreadPoolExecutor(max_workers=2) as pool:
        cancelled = pool.submit(cancel, body["ticket_id"])
        webhook = pool.submit(deliver_webhook, event)
        assert cancelled.result().status == 400
        assert webhook.result().status == 200
    assert ticket(body["ticket_id"]).status == "paid"
    assert get_event(event_id)["available"] == 1
