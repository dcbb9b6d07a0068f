"""POST /api/payments/verify/ (seed 004)."""

import pytest

from tests.support.dynamo import PAYMENTS, items_with_prefix
from tests.support.flows import buy, create_event, deliver_webhook, pay, reserved_checkout, verify
from tests.support.lambdas import call
from tests.unit.test_qr import decode_qr


def test_a_paid_session_pays_the_ticket_and_returns_the_seed_answer(dynamodb, stripe_fake):
    # Given a reserved ticket whose Checkout Session the customer paid
    _, body = reserved_checkout(stripe_fake, quantity=2)
    pay(stripe_fake, body["session_id"])
    # When the success page calls verify
    result = verify(body["session_id"], body["ticket_id"])
    # Then the seed's answer comes back with a QR of the ticket code
    assert result.status == 200
    assert result.body["detail"] == "Payment successful"
    assert result.body["ticket_id"] == body["ticket_id"]
    assert result.body["ticket_code"] == body["ticket_code"]
    assert decode_qr(result.body["qr_code_data"]) == body["ticket_code"]
    # And the payment is recorded with its owner and amount
    [payment] = items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#")
    assert (payment["owner"], payment["amount"], payment["currency"], payment["ticket_id"]) == (
        "user-alice",
        5000,
        "usd",
        body["ticket_id"],
    )
    assert payment["payment_intent"] == stripe_fake.sessions[body["session_id"]]["payment_intent"]


def test_calling_verify_again_answers_the_same_and_asks_stripe_nothing(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    pay(stripe_fake, body["session_id"])
    first = verify(body["session_id"], body["ticket_id"])
    calls_before = len(stripe_fake.requests)
    second = verify(body["session_id"], body["ticket_id"])
    assert second.status == first.status == 200
    assert second.body == first.body
    assert len(stripe_fake.requests) == calls_before
    assert len(items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#")) == 1


def test_after_the_webhook_paid_it_verify_needs_no_stripe_call(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    assert deliver_webhook(pay(stripe_fake, body["session_id"])).status == 200
    calls_before = len(stripe_fake.requests)
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    assert len(stripe_fake.requests) == calls_before


def test_unpaid_session_is_400(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    result = verify(body["session_id"], body["ticket_id"])
    assert (result.status, result.body) == (400, {"error": "Payment not completed"})
    assert items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#") == []


@pytest.mark.parametrize("body", [{}, {"ticket_id": 1}, {"session_id": "cs_test_abc"}, {"session_id": None, "ticket_id": 1}])
def test_missing_parameters_are_400(dynamodb, stripe_fake, body):
    result = call("verify_ticket_payment", body)
    assert result.status == 400
    assert result.body["error"].split(":")[0] in ("session_id", "ticket_id")


def test_another_users_ticket_is_403_and_stays_unpaid(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake, user="user-alice")
    pay(stripe_fake, body["session_id"])
    result = verify(body["session_id"], body["ticket_id"], user="user-bob")
    assert result.status == 403
    assert items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#") == []


def test_unknown_ticket_is_404(dynamodb, stripe_fake):
    result = verify("cs_test_unknown", 4242)
    assert (result.status, result.body) == (404, {"error": "Ticket not found"})


def test_another_tickets_session_is_refused(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=10)
    mine = buy(event_id, 1).body
    other = buy(event_id, 1, user="user-bob").body
    pay(stripe_fake, other["session_id"])
    result = verify(other["session_id"], mine["ticket_id"])
    assert result.status == 400
    assert "does not belong" in result.body["error"]
    assert items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#") == []


def test_a_session_unknown_to_stripe_is_404(dynamodb, stripe_fake):
    # A reservation whose session was never attached (a crash between the two writes)
    _, body = reserved_checkout(stripe_fake)
    from payments import wiring

    dynamodb.update_item(
        TableName="test-tickets",
        Key={"pk": {"S": f"TICKET#{body['ticket_id']}"}, "sk": {"S": "TICKET"}},
        UpdateExpression="REMOVE session_id",
    )
    assert wiring.ticket_repository().get_ticket(body["ticket_id"]).session_id is None
    result = verify("cs_test_doesnotexist", body["ticket_id"])
    assert (result.status, result.body) == (404, {"error": "Payment not found"})


def test_another_tickets_paid_session_is_refused_for_a_reservation_whose_session_was_never_attached(dynamodb, stripe_fake):
    """Without a session of its own to compare, the session Stripe returns names its ticket: another
    ticket's paid session is refused, with why, and pays nothing."""
    event_id = create_event(price=25, capacity=10)
    mine = buy(event_id, 1).body
    other = buy(event_id, 1, user="user-bob").body
    pay(stripe_fake, other["session_id"])
    dynamodb.update_item(
        TableName="test-tickets",
        Key={"pk": {"S": f"TICKET#{mine['ticket_id']}"}, "sk": {"S": "TICKET"}},
        UpdateExpression="REMOVE session_id",
    )
    result = verify(other["session_id"], mine["ticket_id"])
    assert (result.status, result.body) == (400, {"error": "session_id does not belong to this ticket"})
    assert items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#") == []


def test_verifying_a_free_ticket_is_400(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=10)
    ticket_id = buy(event_id, 1).body["ticket_id"]
    result = verify("cs_test_anything", ticket_id)
    assert (result.status, result.body) == (400, {"error": "This ticket has no payment to verify"})


def test_a_late_payment_verified_before_its_webhook_into_a_sold_out_event_says_it_was_refunded(dynamodb, stripe_fake):
    """The success page reaches verify before Stripe's webhook: verify settles the late payment
    itself, refunds it (every seat went to somebody else meanwhile) and tells the customer why; the
    frontend shows ``error`` as it is."""
    from tests.support.flows import late_payment_into_sold_out

    _, body, _ = late_payment_into_sold_out(stripe_fake)
    result = verify(body["session_id"], body["ticket_id"])
    assert (result.status, result.body) == (
        400,
        {"error": "The reservation had expired and the event sold out; the payment has been refunded"},
    )
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    assert [refund["amount"] for refund in stripe_fake.refunds.values() if refund["payment_intent"] == intent] == [5000]
    again = verify(body["session_id"], body["ticket_id"])
    assert (again.status, again.body) == (400, {"error": "The payment of this ticket has been refunded"})
