"""Staff refunds of some of a ticket's seats (issue 28) through the refund handler, over moto and the
local Stripe: the request's ``quantity`` and its 400s, the answer, the seats back on sale, the sales
view and the records adding up, a refund that fails later, a dispute after a partial refund, and a
refund cut off at Stripe finished by the reconciliation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from local.stripe_fake import charges
from tests.support.dynamo import PAYMENTS, items_with_prefix
from tests.support.flows import STAFF, deliver_webhook, get_event, pay, reserved_checkout, verify
from tests.support.lambdas import LambdaContext, call, load_module, sample_event


def ticket(ticket_id):
    from payments import wiring

    return wiring.ticket_repository().get_ticket(int(ticket_id))


def paid_ticket(fake, quantity=3, capacity=5, price=25):
    event_id, body = reserved_checkout(fake, price=price, quantity=quantity, capacity=capacity)
    pay(fake, body["session_id"])
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    return event_id, body


def staff_refund(ticket_id, **extra):
    return call("refund_ticket", {"ticket_id": ticket_id, **extra}, user="user-staff", groups=STAFF)


def reconcile():
    return load_module("reconcile_payments").lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))


def sales(event_id):
    result = call("get_event_sales", path_params={"event_id": str(event_id)}, user="user-staff", groups=STAFF)
    assert result.status == 200, result.body
    return result.body


def intent_of(fake, body):
    return fake.sessions[body["session_id"]]["payment_intent"]


def refunds_at_stripe(fake, body):
    return [refund for refund in fake.refunds.values() if refund["payment_intent"] == intent_of(fake, body)]


def test_staff_refund_some_seats_and_the_ticket_keeps_the_rest(dynamodb, stripe_fake):
    event_id, body = paid_ticket(stripe_fake, quantity=3, capacity=5)
    result = staff_refund(body["ticket_id"], quantity=2, reason="Two cannot come")
    assert result.status == 200, result.body
    [refund] = refunds_at_stripe(stripe_fake, body)
    assert refund["amount"] == 5000 and refund["metadata"]["reason"] == "Two cannot come"
    assert result.body == {
        "detail": "Ticket refunded",
        "ticket_id": body["ticket_id"],
        "refund_id": refund["id"],
        "amount": 50,
        "currency": "usd",
        "status": "paid",
        "quantity_refunded": 2,
        "quantity_remaining": 1,
    }
    kept = ticket(body["ticket_id"])
    assert (kept.status, kept.quantity, kept.refunded_quantity, kept.refund_amount) == ("paid", 3, 2, 5000)
    assert get_event(event_id)["available"] == 4
    # The sales view and the records add up: 75 taken, 50 back, one seat sold, two refunded.
    view = sales(event_id)
    assert (view["sold"], view["refunded"], view["available"]) == (1, 2, 4)
    assert (Decimal(str(view["gross"])), Decimal(str(view["refunded_amount"]))) == (Decimal(75), Decimal(50))
    [payment] = items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#")
    [record] = items_with_prefix(dynamodb, PAYMENTS, "REFUND#")
    assert (payment["amount"], record["amount"], record["reason"]) == (7500, 5000, "Two cannot come")
    # The pass still admits the one seat it holds.
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    # The last seat: the ticket is refunded as a whole refund leaves it, its answer says so.
    last = staff_refund(body["ticket_id"], quantity=1)
    assert (last.status, last.body["status"], last.body["amount"], last.body["quantity_remaining"]) == (200, "refunded", 25, 0)
    assert get_event(event_id)["available"] == 5
    assert sum(r["amount"] for r in refunds_at_stripe(stripe_fake, body)) == 7500


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        (0, "quantity: must be between 1 and 10"),
        (-1, "quantity: must be between 1 and 10"),
        (11, "quantity: must be between 1 and 10"),
        ("2", "quantity: must be a whole number"),
        (1.5, "quantity: must be a whole number"),
        (True, "quantity: must be a whole number"),
    ],
)
def test_a_quantity_out_of_range_or_not_a_whole_number_is_a_400_naming_it(dynamodb, stripe_fake, quantity, error):
    _, body = paid_ticket(stripe_fake, quantity=2)
    result = staff_refund(body["ticket_id"], quantity=quantity)
    assert (result.status, result.body) == (400, {"error": error})
    assert ticket(body["ticket_id"]).status == "paid" and stripe_fake.refunds == {}


def test_a_null_quantity_is_the_whole_ticket_with_the_answer_of_before(dynamodb, stripe_fake):
    _, body = paid_ticket(stripe_fake, quantity=2)
    result = staff_refund(body["ticket_id"], quantity=None)
    assert result.status == 200 and result.body["status"] == "refunded"
    assert set(result.body) == {"detail", "ticket_id", "refund_id", "amount", "currency", "status"}


def test_more_seats_than_the_ticket_holds_is_a_400_naming_quantity_and_nothing_moves(dynamodb, stripe_fake):
    event_id, body = paid_ticket(stripe_fake, quantity=2)
    result = staff_refund(body["ticket_id"], quantity=3)
    assert (result.status, result.body) == (400, {"error": "quantity: must be between 1 and 2, the seats this ticket holds"})
    assert (ticket(body["ticket_id"]).status, get_event(event_id)["available"], stripe_fake.refunds) == ("paid", 3, {})


def test_a_partial_refund_beyond_what_stripe_can_still_refund_is_a_400_and_nothing_moves(dynamodb, stripe_fake):
    event_id, body = paid_ticket(stripe_fake, quantity=3)
    stripe_fake.dashboard_refund(intent_of(stripe_fake, body), amount=6000)
    result = staff_refund(body["ticket_id"], quantity=1)
    assert result.status == 400, result.body
    assert result.body["error"].startswith("quantity: refunding 1 of its seats returns 25.00 USD, and only 15.00 USD"), result.body
    assert (ticket(body["ticket_id"]).refunded_quantity, get_event(event_id)["available"]) == (0, 2)
    assert len(refunds_at_stripe(stripe_fake, body)) == 1


def test_a_partial_refund_that_fails_later_keeps_the_seats_on_sale_and_records_the_failure(dynamodb, stripe_fake):
    """Policy: the refunded seats stay back on sale (they may be sold already); the refund's record
    says failed, what went back drops, the ticket stays paid with the seats it kept."""
    event_id, body = paid_ticket(stripe_fake, quantity=3)
    refunded = staff_refund(body["ticket_id"], quantity=1)
    assert refunded.status == 200
    charges.fail_refund(stripe_fake, refunded.body["refund_id"])
    failed = next(event for event in reversed(stripe_fake.events) if event["type"] == "charge.refund.updated")
    assert deliver_webhook(failed).status == 200
    kept = ticket(body["ticket_id"])
    assert (kept.status, kept.refunded_quantity, kept.refund_amount) == ("paid", 1, 0)
    [record] = items_with_prefix(dynamodb, PAYMENTS, "REFUND#")
    assert record["status"] == "failed"
    assert get_event(event_id)["available"] == 3
    view = sales(event_id)
    assert (view["sold"], view["refunded"], Decimal(str(view["refunded_amount"]))) == (2, 1, Decimal(0))


def test_a_lost_dispute_after_a_partial_refund_refunds_the_ticket(dynamodb, stripe_fake):
    event_id, body = paid_ticket(stripe_fake, quantity=3)
    assert staff_refund(body["ticket_id"], quantity=1).status == 200
    dispute = stripe_fake.open_dispute(intent_of(stripe_fake, body))
    assert dispute["amount"] == 5000  # what was left of the charge
    stripe_fake.close_dispute(dispute["id"], won=False)
    closed = next(event for event in reversed(stripe_fake.events) if event["type"] == "charge.dispute.closed")
    assert deliver_webhook(closed).status == 200
    done = ticket(body["ticket_id"])
    assert (done.status, done.refund_amount) == ("refunded", 7500)
    assert get_event(event_id)["available"] == 5
    assert verify(body["session_id"], body["ticket_id"]).status == 400


def test_a_partial_refund_cut_off_at_stripe_is_finished_once_by_the_reconciliation(dynamodb, stripe_fake, monkeypatch):
    from payments.errors import ProviderFailure
    from payments.providers.stripe_gateway import StripeGateway

    event_id, body = paid_ticket(stripe_fake, quantity=3)
    refund_part = StripeGateway.refund_part

    def unanswered(*args, **kwargs):
        raise ProviderFailure()

    monkeypatch.setattr(StripeGateway, "refund_part", unanswered)
    assert staff_refund(body["ticket_id"], quantity=1).status == 502
    owed = ticket(body["ticket_id"])
    assert (owed.status, owed.seat_refund_quantity, owed.refunded_quantity) == ("paid", 1, 0)
    assert get_event(event_id)["available"] == 2  # no seat back before the money
    monkeypatch.setattr(StripeGateway, "refund_part", refund_part)
    report = reconcile()
    assert report["complete"] and report["repaired"] == 1, report
    done = ticket(body["ticket_id"])
    assert (done.seat_refund_key, done.refunded_quantity, done.refund_amount) == (None, 1, 2500)
    assert get_event(event_id)["available"] == 3
    assert [r["amount"] for r in refunds_at_stripe(stripe_fake, body)] == [2500]
    # A second run finds nothing to do, and a staff retry refunds nothing again unless asked anew.
    assert reconcile()["repaired"] == 0
    assert len(refunds_at_stripe(stripe_fake, body)) == 1


def test_a_partial_refund_retried_with_its_idempotency_key_refunds_once(dynamodb, stripe_fake):
    """A partial refund is not idempotent by itself (each refunds more seats): with an
    Idempotency-Key, a retry (its answer lost) gets the first answer and refunds nothing more; the
    same key with another body is a 422; another key is another refund."""
    event_id, body = paid_ticket(stripe_fake, quantity=3)
    keyed = {"headers": {"Idempotency-Key": "refund-two-seats-1"}}
    first = call("refund_ticket", {"ticket_id": body["ticket_id"], "quantity": 1}, user="user-staff", groups=STAFF, **keyed)
    assert first.status == 200, first.body
    again = call("refund_ticket", {"ticket_id": body["ticket_id"], "quantity": 1}, user="user-staff", groups=STAFF, **keyed)
    assert (again.status, again.body) == (200, first.body)
    assert len(refunds_at_stripe(stripe_fake, body)) == 1
    assert (ticket(body["ticket_id"]).refunded_quantity, get_event(event_id)["available"]) == (1, 3)
    other = call("refund_ticket", {"ticket_id": body["ticket_id"], "quantity": 2}, user="user-staff", groups=STAFF, **keyed)
    assert (other.status, other.body) == (422, {"error": "Idempotency-Key was already used with a different request body"})
    fresh = {"headers": {"Idempotency-Key": "refund-two-seats-2"}}
    assert call("refund_ticket", {"ticket_id": body["ticket_id"], "quantity": 1}, user="user-staff", groups=STAFF, **fresh).status == 200
    assert ticket(body["ticket_id"]).refunded_quantity == 2


def test_partial_refunds_of_one_ticket_at_once_never_refund_a_seat_twice(dynamodb, stripe_fake, monkeypatch):
    """Six staff refunds of one seat each, at once, of a ticket of five (each DynamoDB request atomic,
    as in AWS): whichever win, every seat refunded was refunded once at Stripe at its price, no more
    seats than the ticket had, and the seats back on sale are exactly those refunded."""
    from concurrent.futures import ThreadPoolExecutor

    from payments import dynamodb as layer_dynamodb
    from payments import wiring
    from tests.support.dynamo import SerialisedClient

    serialised = SerialisedClient(dynamodb)
    wiring.reset()
    monkeypatch.setattr(layer_dynamodb, "get_client", lambda: serialised)
    event_id, body = paid_ticket(stripe_fake, quantity=5, capacity=6)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: staff_refund(body["ticket_id"], quantity=1), range(6)))
    assert all(result.status in (200, 400, 409) for result in results), [(r.status, r.body) for r in results]
    done = ticket(body["ticket_id"])
    seats = 5 if done.status == "refunded" else done.refunded_quantity
    made = refunds_at_stripe(stripe_fake, body)
    assert sum(r["amount"] for r in made) == 2500 * seats
    keys = [r["metadata"].get("seat_refund") for r in made if r["metadata"].get("seat_refund")]
    assert len(keys) == len(set(keys))
    assert done.seat_refund_key is None
    assert get_event(event_id)["available"] == 1 + seats
    assert sum(result.status == 200 for result in results) >= 1


def test_a_partial_refund_cut_off_and_retried_with_its_key_refunds_its_seats_once(dynamodb, stripe_fake, monkeypatch):
    """The first attempt is cut off after Stripe made its refund, before the write that records it
    (an error answer: Powertools keeps no answer for the key). A retry with the same key and another
    quantity is a 422 and moves nothing; the retry as first asked records the refund made, makes no
    second; asked again, the same answer. Another staff member's request (another key) is its own refund."""
    from payments.errors import ProviderFailure
    from payments.repositories.tickets import TicketRepository

    event_id, body = paid_ticket(stripe_fake, quantity=4, capacity=5)
    record = TicketRepository.refund_seats

    def cut_off(*args, **kwargs):
        raise ProviderFailure()

    def refund(quantity, key):
        headers = {"headers": {"Idempotency-Key": key}}
        return call("refund_ticket", {"ticket_id": body["ticket_id"], "quantity": quantity}, user="user-staff", groups=STAFF, **headers)

    monkeypatch.setattr(TicketRepository, "refund_seats", cut_off)
    assert refund(1, "staff-a-1").status == 502
    monkeypatch.setattr(TicketRepository, "refund_seats", record)
    assert len(refunds_at_stripe(stripe_fake, body)) == 1
    other = refund(2, "staff-a-1")
    assert (other.status, other.body) == (422, {"error": "Idempotency-Key was already used with a different request body"})
    assert (len(refunds_at_stripe(stripe_fake, body)), get_event(event_id)["available"]) == (1, 1)
    retried = refund(1, "staff-a-1")
    assert retried.status == 200, retried.body
    assert (retried.body["quantity_refunded"], retried.body["quantity_remaining"], retried.body["amount"]) == (1, 3, Decimal("25.00"))
    assert len(refunds_at_stripe(stripe_fake, body)) == 1
    assert (ticket(body["ticket_id"]).refunded_quantity, get_event(event_id)["available"]) == (1, 2)
    assert refund(1, "staff-a-1").body == retried.body
    assert refund(1, "staff-b-1").status == 200
    assert [r["amount"] for r in refunds_at_stripe(stripe_fake, body)] == [2500, 2500]
    assert (ticket(body["ticket_id"]).refunded_quantity, get_event(event_id)["available"]) == (2, 3)


def test_the_holder_sees_the_seats_the_ticket_still_holds_on_it_and_in_the_list(dynamodb, stripe_fake):
    """A partly refunded ticket stays paid with its QR code; its holder reads how many seats it
    still holds (the door admits those), in the ticket and in their list; refunded whole, none."""
    _, body = paid_ticket(stripe_fake, quantity=3)
    assert staff_refund(body["ticket_id"], quantity=2).status == 200
    path = {"ticket_id": str(body["ticket_id"])}
    seen = call("get_ticket", path_params=path, user="user-alice")
    assert seen.status == 200, seen.body
    assert (seen.body["status"], seen.body["quantity"], seen.body["quantity_remaining"]) == ("paid", 3, 1)
    assert seen.body["qr_code_data"]
    listed = call("list_my_tickets", user="user-alice")
    [line] = [t for t in listed.body["tickets"] if t["ticket_id"] == body["ticket_id"]]
    assert (line["quantity"], line["quantity_remaining"]) == (3, 1)
    assert staff_refund(body["ticket_id"]).status == 200
    after = call("get_ticket", path_params=path, user="user-alice").body
    assert (after["status"], after["quantity_remaining"], after["qr_code_data"]) == ("refunded", 0, None)
