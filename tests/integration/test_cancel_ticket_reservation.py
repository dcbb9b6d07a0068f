"""POST /api/payments/cancel/ (seed 004)."""

from tests.support.dynamo import PAYMENTS, items_with_prefix
from tests.support.flows import buy, cancel, create_event, get_event, pay, reserved_checkout, verify
from tests.support.lambdas import call


def test_cancel_releases_the_seats_and_expires_the_session(dynamodb, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=3, capacity=10)
    assert get_event(event_id)["available"] == 7
    result = cancel(body["ticket_id"])
    assert result.status == 200
    assert result.body["detail"] == "Payment cancelled"
    assert get_event(event_id)["available"] == 10
    assert stripe_fake.sessions[body["session_id"]]["status"] == "expired"


def test_cancelling_twice_succeeds_and_releases_once(dynamodb, stripe_fake):
    # A double click or a retry after a lost answer: what the caller asked for holds, so it is a success.
    event_id, body = reserved_checkout(stripe_fake, quantity=3, capacity=10)
    assert cancel(body["ticket_id"]).status == 200
    again = cancel(body["ticket_id"])
    assert (again.status, again.body["detail"]) == (200, "Payment cancelled")
    assert get_event(event_id)["available"] == 10


def test_a_cancel_that_stripes_expiry_overtook_is_a_success(dynamodb, stripe_fake):
    # Expiring the session makes Stripe send checkout.session.expired; it may land before our own write.
    from tests.support.flows import deliver_webhook

    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=10)
    stripe_fake.expire_session(body["session_id"])
    assert deliver_webhook(stripe_fake.events[-1]).body["outcome"] == "released"
    result = cancel(body["ticket_id"])
    assert (result.status, result.body["detail"]) == (200, "Payment cancelled")
    assert get_event(event_id)["available"] == 10


def test_a_ticket_whose_bank_debit_is_processing_cannot_be_cancelled(dynamodb, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=10)
    stripe_fake.complete_session(body["session_id"], paid=False)  # its webhook is lost
    result = cancel(body["ticket_id"])
    assert result.status == 400
    assert "processing" in result.body["error"]
    assert get_event(event_id)["available"] == 8  # still held: the money may yet arrive


def test_cancelling_a_paid_ticket_is_400(dynamodb, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=10)
    pay(stripe_fake, body["session_id"])
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    result = cancel(body["ticket_id"])
    assert (result.status, result.body) == (400, {"error": "Ticket already paid"})
    assert get_event(event_id)["available"] == 8


def test_cancel_after_paying_at_stripe_keeps_the_ticket(dynamodb, stripe_fake):
    # Given the customer paid but neither verify nor the webhook has arrived yet
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=10)
    pay(stripe_fake, body["session_id"])
    # When the cancel page is called anyway
    result = cancel(body["ticket_id"])
    # Then the ticket is paid, not cancelled: the customer paid for it
    assert (result.status, result.body) == (400, {"error": "Ticket already paid"})
    assert get_event(event_id)["available"] == 8
    assert len(items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#")) == 1
    assert verify(body["session_id"], body["ticket_id"]).status == 200


def test_another_users_ticket_is_403_and_stays_reserved(dynamodb, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=10)
    result = cancel(body["ticket_id"], user="user-bob")
    assert result.status == 403
    assert get_event(event_id)["available"] == 8
    assert stripe_fake.sessions[body["session_id"]]["status"] == "open"


def test_unknown_ticket_is_404(dynamodb, stripe_fake):
    assert cancel(999).status == 404


def test_missing_ticket_id_is_400(dynamodb, stripe_fake):
    result = call("cancel_ticket_reservation", {})
    assert result.status == 400
    assert result.body["error"].startswith("ticket_id:")


def test_a_free_ticket_is_given_back_through_cancel(dynamodb, stripe_fake):
    # More in test_seat_limits.py: the holder's free seats, a ticket admitted at the door.
    event_id = create_event(price=0, capacity=4)
    ticket_id = buy(event_id, 1).body["ticket_id"]
    assert cancel(ticket_id).body == {"detail": "Payment cancelled", "ticket_id": ticket_id}
    assert get_event(event_id)["available"] == 4


# what mutation testing found unasserted ---------------------------------------------------------
def refusing_ticket_writes(dynamodb, monkeypatch, times):
    """The next ``times`` ticket transactions are refused as DynamoDB refuses a write whose ticket
    moved on (its condition failed: StateChanged), before DynamoDB applies anything."""
    from payments import dynamodb as layer_dynamodb
    from payments import wiring
    from tests.support.faults import FaultInjectingClient, client_error

    client = FaultInjectingClient(dynamodb)
    wiring.reset()
    monkeypatch.setattr(layer_dynamodb, "get_client", lambda: client)

    def moved_on(operation):
        return client_error(operation, "TransactionCanceledException", ["ConditionalCheckFailed"])

    client.refuse(moved_on, operations=frozenset({"transact_write_items"}), times=times)
    return client


def test_a_cancel_whose_write_lost_to_a_change_reads_the_ticket_again_and_releases_it(dynamodb, stripe_fake, monkeypatch):
    event_id, body = reserved_checkout(stripe_fake, quantity=3, capacity=10)
    faults = refusing_ticket_writes(dynamodb, monkeypatch, times=1)
    result = cancel(body["ticket_id"])
    assert faults.injected == 1
    assert (result.status, result.body["detail"]) == (200, "Payment cancelled")
    assert get_event(event_id)["available"] == 10


def test_a_cancel_that_keeps_losing_is_a_409_saying_to_retry_and_releases_nothing(dynamodb, stripe_fake, monkeypatch):
    from payments.domain.tickets import MAX_STATE_RETRIES

    event_id, body = reserved_checkout(stripe_fake, quantity=3, capacity=10)
    refusing_ticket_writes(dynamodb, monkeypatch, times=MAX_STATE_RETRIES)
    result = cancel(body["ticket_id"])
    assert (result.status, result.body) == (409, {"error": "Ticket changed while cancelling; retry"})
    assert get_event(event_id)["available"] == 7


def test_a_free_ticket_given_back_is_audited_naming_the_ticket_its_event_and_holder(dynamodb, stripe_fake, monkeypatch):
    from payments.domain import tickets

    lines = []
    monkeypatch.setattr(tickets, "audit", lambda action, **fields: lines.append((action, fields)))
    event_id = create_event(price=0, capacity=4)
    ticket_id = buy(event_id, 2).body["ticket_id"]
    assert cancel(ticket_id).status == 200
    given_back = [fields for action, fields in lines if action == "ticket.given_back"]
    assert given_back == [{"user_id": "user-alice", "ticket_id": ticket_id, "event_id": event_id, "quantity": 2}]
