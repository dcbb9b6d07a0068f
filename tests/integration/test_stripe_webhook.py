"""POST /api/v1/payments/webhooks/stripe/: signature, once-only processing, checkout events."""

import copy
import json
import time

import pytest

from tests.support.dynamo import PAYMENTS, items_with_prefix
from tests.support.flows import deliver_webhook, get_event, pay, reserved_checkout, verify
from tests.support.lambdas import api_event, invoke


def ticket_status(ticket_id):
    from payments import wiring

    return wiring.ticket_repository().get_ticket(ticket_id).status


def test_completed_checkout_pays_the_ticket_without_verify(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    result = deliver_webhook(pay(stripe_fake, body["session_id"]))
    assert result.status == 200
    assert result.body["outcome"] == "paid"
    assert ticket_status(body["ticket_id"]) == "paid"
    assert len(items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#")) == 1


def test_a_session_naming_its_ticket_only_in_its_metadata_pays_it(dynamodb, stripe_fake):
    """The ticket is named twice on the session (its metadata and client_reference_id); the metadata
    alone names it (a session without the other reference: opened before it was sent)."""
    _, body = reserved_checkout(stripe_fake)
    event = copy.deepcopy(pay(stripe_fake, body["session_id"]))
    event["data"]["object"]["client_reference_id"] = None
    assert event["data"]["object"]["metadata"]["ticket_id"] == str(body["ticket_id"])
    result = deliver_webhook(event)
    assert (result.status, result.body["outcome"]) == (200, "paid")
    assert ticket_status(body["ticket_id"]) == "paid"


def test_a_replayed_event_changes_nothing(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    event = pay(stripe_fake, body["session_id"])
    assert deliver_webhook(event).body["outcome"] == "paid"
    replay = deliver_webhook(event)
    assert (replay.status, replay.body["outcome"]) == (200, "duplicate")
    assert len(items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#")) == 1
    assert len(items_with_prefix(dynamodb, PAYMENTS, "WEBHOOK#")) == 1


def test_a_base64_encoded_body_is_verified_over_the_decoded_bytes(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    result = deliver_webhook(pay(stripe_fake, body["session_id"]), base64_body=True)
    assert (result.status, result.body["outcome"]) == (200, "paid")


@pytest.mark.parametrize(
    ("secret", "age"),
    [("whsec_wrong", 0), ("whsec_test_local_only", 301), ("whsec_test_local_only", 86400)],
    ids=["wrong-secret", "stale", "a-day-old"],
)
def test_bad_or_stale_signatures_are_400_and_change_nothing(dynamodb, stripe_fake, secret, age):
    _, body = reserved_checkout(stripe_fake)
    event = pay(stripe_fake, body["session_id"])
    result = deliver_webhook(event, secret=secret, timestamp=int(time.time()) - age)
    assert (result.status, result.body) == (400, {"error": "Invalid Stripe signature"})
    assert ticket_status(body["ticket_id"]) == "reserved"
    assert items_with_prefix(dynamodb, PAYMENTS, "") == []


def test_a_tampered_body_is_refused(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    event = pay(stripe_fake, body["session_id"])
    from local.stripe_fake import sign_payload

    signature = sign_payload(json.dumps(event).encode(), "whsec_test_local_only")
    event["data"]["object"]["amount_total"] = 1
    request = api_event("stripe_webhook", raw_body=json.dumps(event), headers={"stripe-signature": signature})
    assert invoke("stripe_webhook", request).status == 400


def test_a_missing_signature_header_is_400(dynamodb, stripe_fake):
    request = api_event("stripe_webhook")
    del request["headers"]["stripe-signature"]
    assert invoke("stripe_webhook", request).status == 400


def test_the_sample_event_with_its_placeholder_signature_is_refused(dynamodb, stripe_fake):
    assert invoke("stripe_webhook", api_event("stripe_webhook")).status == 400


def test_expired_checkout_releases_the_reservation(dynamodb, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    stripe_fake.expire_session(body["session_id"])
    result = deliver_webhook(stripe_fake.events[-1])
    assert (result.status, result.body["outcome"]) == (200, "released")
    assert ticket_status(body["ticket_id"]) == "expired"
    assert get_event(event_id)["available"] == 5
    # A redelivery releases nothing twice
    assert deliver_webhook(stripe_fake.events[-1]).body["outcome"] == "duplicate"
    assert get_event(event_id)["available"] == 5


def test_async_payment_waits_for_its_outcome(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    completed = stripe_fake.complete_session(body["session_id"], paid=False)
    assert deliver_webhook(completed).body["outcome"] == "processing"
    assert ticket_status(body["ticket_id"]) == "processing"
    # Then the bank transfer clears
    succeeded = stripe_fake.settle_async_payment(body["session_id"], succeeded=True)
    assert deliver_webhook(succeeded).body["outcome"] == "paid"
    assert ticket_status(body["ticket_id"]) == "paid"


def test_async_payment_failure_releases_the_seats(dynamodb, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    deliver_webhook(stripe_fake.complete_session(body["session_id"], paid=False))
    failed = stripe_fake.settle_async_payment(body["session_id"], succeeded=False)
    assert deliver_webhook(failed).body["outcome"] == "released"
    assert ticket_status(body["ticket_id"]) == "cancelled"
    assert get_event(event_id)["available"] == 5


def test_a_checkout_session_naming_no_ticket_is_acknowledged_as_ignored(dynamodb, stripe_fake):
    """A Checkout Session of the account that is not a ticket's (no ticket in its metadata or its
    client_reference_id: made in the Dashboard, by another integration): its completion and its
    delayed payment's failure are acknowledged, answered "ignored" (the outcome the log line and
    the metric carry), and the ticket of the session as we made it is left as it was."""
    _, body = reserved_checkout(stripe_fake)
    completed = copy.deepcopy(stripe_fake.complete_session(body["session_id"], paid=False))
    failed = copy.deepcopy(stripe_fake.settle_async_payment(body["session_id"], succeeded=False))
    for event in (completed, failed):
        event["data"]["object"]["metadata"] = {}
        event["data"]["object"]["client_reference_id"] = None
    assert [(r.status, r.body["outcome"]) for r in map(deliver_webhook, (completed, failed))] == [(200, "ignored"), (200, "ignored")]
    assert ticket_status(body["ticket_id"]) == "reserved"


def test_other_event_types_are_acknowledged_and_ignored(dynamodb, stripe_fake):
    event = {"id": "evt_other", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    result = deliver_webhook(event)
    assert (result.status, result.body["outcome"]) == (200, "ignored")


@pytest.mark.parametrize("failure", [RuntimeError("DynamoDB unavailable"), KeyError("a bug"), TypeError("a bug"), ValueError("a bug")])
def test_a_failing_handler_does_not_mark_the_event_processed(dynamodb, stripe_fake, monkeypatch, failure):
    # Given the database fails, or a bug raises, while the ticket is being paid
    _, body = reserved_checkout(stripe_fake)
    event = pay(stripe_fake, body["session_id"])
    from payments.repositories.tickets import TicketRepository

    original = TicketRepository.apply

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(TicketRepository, "apply", broken)
    # When Stripe delivers the event, the answer is a 5xx so that Stripe retries
    assert deliver_webhook(event).status == 500
    assert items_with_prefix(dynamodb, PAYMENTS, "WEBHOOK#") == []
    # And the retry, once the database is back, pays the ticket
    monkeypatch.setattr(TicketRepository, "apply", original)
    assert deliver_webhook(event).body["outcome"] == "paid"
    assert ticket_status(body["ticket_id"]) == "paid"


def test_events_arriving_after_verify_change_nothing(dynamodb, stripe_fake):
    event_id, body = reserved_checkout(stripe_fake, quantity=1, capacity=3)
    event = pay(stripe_fake, body["session_id"])
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    assert deliver_webhook(event).body["outcome"] == "already_paid"
    assert get_event(event_id)["available"] == 2
    assert len(items_with_prefix(dynamodb, PAYMENTS, "PAYMENT#")) == 1


def test_a_bank_debit_seen_by_verify_first_leaves_its_webhook_nothing_to_do(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    completed = stripe_fake.complete_session(body["session_id"], paid=False)
    assert verify(body["session_id"], body["ticket_id"]).status == 400  # "Payment is processing"
    assert ticket_status(body["ticket_id"]) == "processing"
    result = deliver_webhook(completed)
    assert (result.status, result.body["outcome"]) == (200, "nothing")
    assert ticket_status(body["ticket_id"]) == "processing"


def test_a_bank_debit_under_way_is_audited_naming_the_ticket_its_holder_and_session(dynamodb, stripe_fake, monkeypatch):
    from payments.domain import tickets

    lines = []
    monkeypatch.setattr(tickets, "audit", lambda action, **fields: lines.append((action, fields)))
    _, body = reserved_checkout(stripe_fake)
    assert deliver_webhook(stripe_fake.complete_session(body["session_id"], paid=False)).body["outcome"] == "processing"
    processing = [fields for action, fields in lines if action == "ticket.payment_processing"]
    assert processing == [{"user_id": "user-alice", "ticket_id": body["ticket_id"], "session_id": body["session_id"]}]


def test_a_failed_bank_debit_is_audited_naming_its_holder_the_ticket_and_its_seats(dynamodb, stripe_fake, monkeypatch):
    from payments.domain import tickets

    lines = []
    monkeypatch.setattr(tickets, "audit", lambda action, **fields: lines.append((action, fields)))
    _, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    deliver_webhook(stripe_fake.complete_session(body["session_id"], paid=False))
    assert deliver_webhook(stripe_fake.settle_async_payment(body["session_id"], succeeded=False)).body["outcome"] == "released"
    failed = [fields for action, fields in lines if action == "ticket.payment_failed"]
    assert failed == [{"user_id": "user-alice", "ticket_id": body["ticket_id"], "quantity": 2}]
