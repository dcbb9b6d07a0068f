"""A payment's money records beyond what one DynamoDB transaction takes (100 actions) are written
ahead of the ticket's change (``repositories.tickets._with_records``). Between the two a writer may
stop (a crash, a timeout) or another writer may land: the next step on the payment brings the
ticket's sum and every record to Stripe's facts, and the ticket never carries a sum its records
do not show."""

from __future__ import annotations

from typing import Any

import pytest

from local.stripe_fake import StripeFake
from tests.integration.test_attack_records_and_seats import Deliveries, assert_money_adds_up, paid_ticket, scan, stripe_facts, ticket_item
from tests.support.flows import create_event, deliver_webhook, get_event

PAYMENTS = "test-payments"


def _is_the_change(items: list[Any]) -> bool:
    """The transaction that carries the ticket's change after records were written ahead."""
    return "#records_writer = :records_writer" in str(items[0].get("Update", {}).get("ConditionExpression", ""))


def _refund_records(client: Any, ticket_id: int) -> dict[str, tuple[int, str]]:
    return {
        str(r["refund_id"]): (int(r["amount"]), str(r["status"]))
        for r in scan(client, PAYMENTS)
        if r.get("kind") == "ticket_refund" and int(r["ticket_id"]) == ticket_id
    }


def _many_refunds(fake: StripeFake, intent: str, count: int) -> dict[str, Any]:
    deliveries = Deliveries(fake)
    for _ in range(count):
        fake.dashboard_refund(intent, 1)
    return [event for event in deliveries.new() if event["type"] == "charge.refunded"][-1]


def test_a_crash_between_the_records_ahead_and_the_change_is_repaired_by_the_retried_webhook(
    dynamodb: Any, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.repositories.tickets import TicketRepository

    event_id = create_event(price=25, capacity=5)
    ticket_id, _, intent = paid_ticket(stripe_fake, event_id, 1)
    last = _many_refunds(stripe_fake, intent, 150)
    original = TicketRepository._transact
    crashed: list[bool] = []

    def transact(self: Any, items: list[Any], *args: Any, **kwargs: Any) -> None:
        if _is_the_change(items) and not crashed:
            crashed.append(True)
            raise TimeoutError("the function timed out")  # the records ahead are written, the change is not
        original(self, items, *args, **kwargs)

    monkeypatch.setattr(TicketRepository, "_transact", transact)
    assert deliver_webhook(last).status == 500  # the handler's answer to what it did not expect
    assert crashed
    # In between: records of refunds the ticket's sum does not count yet, never the other way round.
    assert ticket_item(dynamodb, ticket_id).get("refund_amount") is None
    assert 0 < len(_refund_records(dynamodb, ticket_id)) < 150
    # Stripe had no 200: it sends the event again, and that step writes the sum with every record.
    assert deliver_webhook(last).status == 200
    item = ticket_item(dynamodb, ticket_id)
    assert item["refund_amount"] == 150 and "records_writer" not in item
    assert len(_refund_records(dynamodb, ticket_id)) == 150
    assert_money_adds_up(stripe_fake, dynamodb, event_id)


def test_another_writer_between_the_records_ahead_and_the_change_wins_and_the_first_retries(
    dynamodb: Any, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer A writes its records ahead; before its change, a refund fails at Stripe and that
    fact's webhook is written whole (writer B, its own records ahead and its change). A's change is
    refused (the sum moved, and the claim is B's), A reads again and writes what Stripe has now:
    every record's status is Stripe's, the sum too."""
    from payments.repositories.tickets import TicketRepository

    event_id = create_event(price=25, capacity=5)
    ticket_id, _, intent = paid_ticket(stripe_fake, event_id, 1)
    last = _many_refunds(stripe_fake, intent, 120)
    deliveries = Deliveries(stripe_fake)
    original = TicketRepository._records_ahead
    ran: list[bool] = []

    def records_ahead(self: Any, *args: Any, **kwargs: Any) -> str:
        claim = original(self, *args, **kwargs)
        if not ran:
            ran.append(True)
            refund = next(iter(stripe_fake.refunds))
            stripe_fake.fail_refund(refund)
            deliveries.deliver(deliveries.new())
        return claim

    monkeypatch.setattr(TicketRepository, "_records_ahead", records_ahead)
    assert deliver_webhook(last).status == 200
    assert ran
    item = ticket_item(dynamodb, ticket_id)
    assert item["refund_amount"] == 119 and "records_writer" not in item
    assert sorted(status for _, status in _refund_records(dynamodb, ticket_id).values()) == ["failed"] + ["succeeded"] * 119
    assert_money_adds_up(stripe_fake, dynamodb, event_id)


def _is_ahead(items: list[Any]) -> bool:
    """A transaction of records written ahead: its first item claims the ticket for its writer."""
    return bool(items[0].get("Update", {}).get("UpdateExpression") == "SET #writer = :writer")


def test_a_writer_overtaken_while_writing_ahead_writes_no_more_and_retries(
    dynamodb: Any, stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer A writes a payment's records ahead in more than one transaction (250 refunds). After
    A's first, a refund fails at Stripe and that fact's writer B claims the ticket, writes its
    records ahead and stops before its change (a timeout). A's next transaction ahead is refused
    (the claim is B's, only the last to claim writes on): A reads again and writes what Stripe has
    now. Written on, A's older records would replace B's and A's sum land, counting a refund Stripe
    says failed."""
    from payments.repositories.tickets import TicketRepository

    event_id = create_event(price=25, capacity=5)
    ticket_id, _, intent = paid_ticket(stripe_fake, event_id, 1)
    last = _many_refunds(stripe_fake, intent, 250)
    deliveries = Deliveries(stripe_fake)
    original = TicketRepository._transact
    overtaken: list[int] = []  # B's deliveries' statuses
    in_b: list[bool] = []

    def transact(self: Any, items: list[Any], *args: Any, **kwargs: Any) -> None:
        if in_b and _is_the_change(items):
            raise TimeoutError("the function timed out")  # B stops after its records ahead
        original(self, items, *args, **kwargs)
        if _is_ahead(items) and not in_b and not overtaken:
            in_b.append(True)
            stripe_fake.fail_refund(next(iter(stripe_fake.refunds)))
            overtaken.extend(deliver_webhook(event).status for event in deliveries.new())
            in_b.clear()

    monkeypatch.setattr(TicketRepository, "_transact", transact)
    assert deliver_webhook(last).status == 200
    assert 500 in overtaken  # B claimed the ticket and stopped before its change
    item = ticket_item(dynamodb, ticket_id)
    assert item["refund_amount"] == 249 and "records_writer" not in item
    assert sorted(status for _, status in _refund_records(dynamodb, ticket_id).values()) == ["failed"] + ["succeeded"] * 249
    assert_money_adds_up(stripe_fake, dynamodb, event_id)


def test_a_seat_refund_of_a_payment_with_more_refunds_than_a_transaction_takes_is_recorded_whole(
    dynamodb: Any, stripe_fake: StripeFake
) -> None:
    """Staff refund one seat of a ticket whose payment already had 150 refunds in the Dashboard: the
    seat refund's write carries a record per refund, more than one transaction takes, so most are
    written ahead (conditioned on the ticket as read): the refund is made and recorded, the seat
    given back, and every record is Stripe's."""
    from tests.support.flows import STAFF
    from tests.support.lambdas import call

    event_id = create_event(price=25, capacity=5)
    ticket_id, _, intent = paid_ticket(stripe_fake, event_id, 2)
    _many_refunds(stripe_fake, intent, 150)  # their webhooks not delivered: the seat refund reads Stripe's facts
    refunded = call("refund_ticket", {"ticket_id": ticket_id, "quantity": 1}, user="user-staff", groups=STAFF)
    assert refunded.status == 200, refunded.body
    item = ticket_item(dynamodb, ticket_id)
    assert (item["status"], item["refunded_quantity"], item["refund_amount"]) == ("paid", 1, 2650)
    assert "records_writer" not in item and "seat_refund_key" not in item
    records = _refund_records(dynamodb, ticket_id)
    assert len(records) == 151 and records[refunded.body["refund_id"]] == (2500, "succeeded")
    assert records == stripe_facts(stripe_fake, intent)
    assert get_event(event_id)["available"] == 4  # the seat is on sale again
