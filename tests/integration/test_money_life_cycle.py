"""The ticket life cycle where money goes back or arrives late: staff refunds, Dashboard refunds,
disputes, delayed payments, signed events that do not fit the ticket, contention."""

from __future__ import annotations

import copy

import pytest

from local.stripe_fake import charges
from tests.support.dynamo import PAYMENTS, items_with_prefix
from tests.support.flows import STAFF, cancel, deliver_webhook, get_event, pay, reserved_checkout, verify
from tests.support.lambdas import call


def ticket(ticket_id):
    from payments import wiring

    return wiring.ticket_repository().get_ticket(int(ticket_id))


def paid_ticket(fake, quantity=2, capacity=5, price=25):
    event_id, body = reserved_checkout(fake, price=price, quantity=quantity, capacity=capacity)
    pay(fake, body["session_id"])
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    return event_id, body


def staff_refund(ticket_id, user="user-staff", groups=STAFF, **extra):
    return call("refund_ticket", {"ticket_id": ticket_id, **extra}, user=user, groups=groups)


def refunds_at_stripe(fake, session_id):
    intent = fake.sessions[session_id]["payment_intent"]
    return [refund for refund in fake.refunds.values() if refund["payment_intent"] == intent]


# staff refund ------------------------------------------------------------------------------------
def test_staff_refund_returns_the_money_and_the_seats(dynamodb, stripe_fake):
    event_id, body = paid_ticket(stripe_fake, quantity=2, capacity=5)
    result = staff_refund(body["ticket_id"], reason="Event moved")
    assert result.status == 200, result.body
    [refund] = refunds_at_stripe(stripe_fake, body["session_id"])
    assert result.body == {
        "detail": "Ticket refunded",
        "ticket_id": body["ticket_id"],
        "refund_id": refund["id"],
        "amount": 50,
        "currency": "usd",
        "status": "refunded",
    }
    assert refund["amount"] == 5000
    assert ticket(body["ticket_id"]).status == "refunded"
    assert get_event(event_id)["available"] == 5
    [record] = items_with_prefix(dynamodb, PAYMENTS, "REFUND#")
    assert (record["amount"], record["reason"], record["ticket_id"]) == (5000, "Event moved", body["ticket_id"])
    # The QR code no longer admits anyone: verify says what happened
    assert verify(body["session_id"], body["ticket_id"]).status == 400


def test_staff_refund_is_staff_only_and_checks_the_ticket(dynamodb, stripe_fake):
    _, body = paid_ticket(stripe_fake)
    assert staff_refund(body["ticket_id"], user="user-alice", groups="[customers]").status == 403
    assert staff_refund(body["ticket_id"], groups="[staff-assistants]").status == 403
    assert staff_refund(999).status == 404
    assert staff_refund("x").status == 400
    assert ticket(body["ticket_id"]).status == "paid"
    assert stripe_fake.refunds == {}


def test_a_staff_refund_of_a_ticket_that_does_not_exist_says_which_is_missing(dynamodb, stripe_fake):
    result = staff_refund(999)
    assert (result.status, result.body) == (404, {"error": "Ticket not found"})
    assert stripe_fake.refunds == {}


def test_only_a_paid_ticket_with_a_payment_can_be_refunded(dynamodb, stripe_fake):
    from tests.support.flows import buy, create_event

    free = buy(create_event(price=0, capacity=3), 1).body
    result = staff_refund(free["ticket_id"])
    assert (result.status, result.body["error"]) == (400, "This ticket has no payment to refund")
    _, reserved = reserved_checkout(stripe_fake)
    assert staff_refund(reserved["ticket_id"]).status == 400
    _, paid = paid_ticket(stripe_fake)
    first = staff_refund(paid["ticket_id"])
    assert first.status == 200
    # A repeat of a finished refund is answered with that refund, and nothing is refunded again.
    again = staff_refund(paid["ticket_id"])
    assert (again.status, again.body) == (200, first.body)
    assert len(refunds_at_stripe(stripe_fake, paid["session_id"])) == 1


def test_a_refund_cut_off_after_stripe_refunded_is_finished_without_a_second_refund(dynamodb, stripe_fake, monkeypatch):
    # The refund reached Stripe but our record of it did not (a crash, a timeout); days later
    # Stripe's idempotency key has expired, so only looking at the payment's refunds can tell.
    from payments.domain.lifecycle import Trigger
    from payments.repositories.tickets import TicketRepository

    event_id, body = paid_ticket(stripe_fake)
    original = TicketRepository.apply

    def crash_on_refunded(self, current, trigger, *args, **kwargs):
        if trigger == Trigger.REFUNDED:
            raise RuntimeError("crash")
        return original(self, current, trigger, *args, **kwargs)

    monkeypatch.setattr(TicketRepository, "apply", crash_on_refunded)
    assert staff_refund(body["ticket_id"]).status == 500
    assert ticket(body["ticket_id"]).status == "refunding"
    assert get_event(event_id)["available"] == 5  # the seats went back when the refund was decided
    monkeypatch.setattr(TicketRepository, "apply", original)
    stripe_fake.clock_offset = 25 * 3600  # past Stripe's 24-hour idempotency window
    result = staff_refund(body["ticket_id"])
    assert result.status == 200
    [refund] = refunds_at_stripe(stripe_fake, body["session_id"])
    assert result.body["refund_id"] == refund["id"]
    assert ticket(body["ticket_id"]).status == "refunded"


# refunds and disputes made outside the API -------------------------------------------------------
def test_a_dashboard_refund_reaches_the_ticket(dynamodb, stripe_fake):
    event_id, body = paid_ticket(stripe_fake)
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    refund = stripe_fake.dashboard_refund(intent)
    result = deliver_webhook(stripe_fake.events[-1])
    assert (result.status, result.body["outcome"]) == (200, "refunded")
    assert (ticket(body["ticket_id"]).status, ticket(body["ticket_id"]).refund_id) == ("refunded", refund["id"])
    assert get_event(event_id)["available"] == 5
    assert deliver_webhook(dict(stripe_fake.events[-1], id="evt_again")).body["outcome"] == "already_refunded"


def test_a_partial_dashboard_refund_leaves_the_ticket_valid(dynamodb, stripe_fake):
    event_id, body = paid_ticket(stripe_fake)
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    stripe_fake.dashboard_refund(intent, amount=1000)
    assert deliver_webhook(stripe_fake.events[-1]).body["outcome"] == "nothing"
    assert ticket(body["ticket_id"]).status == "paid"
    assert get_event(event_id)["available"] == 3


def last_event(fake, event_type):
    return next(event for event in reversed(fake.events) if event["type"] == event_type)


def test_a_lost_dispute_refunds_the_ticket_and_a_won_one_changes_nothing(dynamodb, stripe_fake):
    _, lost = paid_ticket(stripe_fake, quantity=1, capacity=5)
    _, won = paid_ticket(stripe_fake, quantity=1, capacity=5)
    for body, outcome, status in ((lost, False, "refunded"), (won, True, "paid")):
        dispute = stripe_fake.open_dispute(stripe_fake.sessions[body["session_id"]]["payment_intent"])
        # Stripe sends charge.dispute.funds_withdrawn beside .created, and .funds_reinstated after a
        # won .closed: each delivered by its type.
        assert deliver_webhook(last_event(stripe_fake, "charge.dispute.created")).body["outcome"] == "noted"
        stripe_fake.close_dispute(dispute["id"], won=outcome)
        deliver_webhook(last_event(stripe_fake, "charge.dispute.closed"))
        assert ticket(body["ticket_id"]).status == status
    assert ticket(lost["ticket_id"]).refund_reason == "dispute_lost"
    # Stripe refuses to refund a disputed charge: the staff refund of the won one is a 400 and the
    # ticket stays paid (it used to be left refunding for ever)
    assert staff_refund(won["ticket_id"]).status == 400
    assert ticket(won["ticket_id"]).status == "paid"


def test_an_opened_dispute_is_audited_with_its_figures_and_counts_the_disputes_alarms_metric(dynamodb, stripe_fake, capsys, caplog):
    """The bank opened a dispute: its audit line says which, of which payment, how much and why, and
    counts the Disputes metric the template's alarm watches."""
    from tests.integration.test_after_purchase import emitted

    _, body = paid_ticket(stripe_fake, quantity=1, capacity=5)
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    dispute = stripe_fake.open_dispute(intent)
    capsys.readouterr()
    caplog.clear()
    assert deliver_webhook(last_event(stripe_fake, "charge.dispute.created")).body["outcome"] == "noted"
    opened = [
        {name: getattr(line, name, None) for name in ("dispute", "payment_intent", "amount", "reason")}
        for line in caplog.records
        if line.getMessage() == "stripe.dispute_opened"
    ]
    assert opened == [{"dispute": dispute["id"], "payment_intent": intent, "amount": dispute["amount"], "reason": dispute["reason"]}]
    assert emitted(capsys.readouterr().out)["Disputes"] == 1


@pytest.mark.parametrize("won", [None, True])
def test_a_staff_refund_of_a_disputed_payment_leaves_the_ticket_paid(dynamodb, stripe_fake, won):
    event_id, body = paid_ticket(stripe_fake, quantity=2, capacity=5)
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    dispute = stripe_fake.open_dispute(intent)
    if won is not None:
        stripe_fake.close_dispute(dispute["id"], won)
    result = staff_refund(body["ticket_id"])
    assert (result.status, result.body) == (
        400,
        {"error": "The payment is disputed: Stripe returns its money only through the dispute; the ticket stays paid"},
    )
    assert ticket(body["ticket_id"]).status == "paid"
    assert get_event(event_id)["available"] == 3
    assert refunds_at_stripe(stripe_fake, body["session_id"]) == []


def test_a_staff_refund_of_a_payment_lost_in_a_dispute_refunds_the_ticket_by_the_dispute(dynamodb, stripe_fake):
    event_id, body = paid_ticket(stripe_fake, quantity=2, capacity=5)
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    stripe_fake.close_dispute(stripe_fake.open_dispute(intent)["id"], won=False)  # its webhooks not delivered yet
    result = staff_refund(body["ticket_id"])
    assert result.status == 200, result.body
    assert ticket(body["ticket_id"]).status == "refunded"
    assert get_event(event_id)["available"] == 5
    assert refunds_at_stripe(stripe_fake, body["session_id"]) == []  # the money went back through the dispute


def test_a_disputed_refund_whose_seats_were_sold_meanwhile_is_left_for_a_person(dynamodb, stripe_fake, monkeypatch):
    from payments import wiring
    from tests.support.flows import buy

    event_id, body = paid_ticket(stripe_fake, quantity=2, capacity=2)
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    stripe_fake.fail_next("/v1/refunds", status=500, type_="api_error", message="injected", code=None, times=5)
    assert staff_refund(body["ticket_id"]).status in (502, 503)  # refunding, its seats back on sale
    assert buy(event_id, 2, user="user-bob").status == 200  # and sold again
    stripe_fake.reset_failures()
    stripe_fake.open_dispute(intent)
    again = staff_refund(body["ticket_id"])
    says = "The payment is disputed and the event is sold out: a person must settle this ticket"
    assert (again.status, again.body) == (400, {"error": says})
    assert ticket(body["ticket_id"]).status == "refunding"
    assert get_event(event_id)["available"] == 0
    report = wiring.reconciler().run()
    assert report.failed >= 1  # reported on every run until a person settles it


def test_a_charge_refunded_above_its_amount_is_rejected_not_recorded(dynamodb, stripe_fake):
    _, body = paid_ticket(stripe_fake)
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    charge = charges.charge_of(stripe_fake, stripe_fake.payment_intents[intent])
    charge.update(amount_refunded=charge["amount"] + 1)
    event = {"id": "evt_forged_amount", "object": "event", "type": "charge.refunded", "data": {"object": charge}}
    assert deliver_webhook(event).body["outcome"] == "rejected"
    assert ticket(body["ticket_id"]).status == "paid"


# delayed payments --------------------------------------------------------------------------------
def test_a_processing_payment_is_held_by_the_sweep_and_seated_when_it_clears(dynamodb, stripe_fake, monkeypatch):
    from payments import wiring
    from payments.domain.tickets import TicketService
    from payments.settings import get_settings

    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=2)
    stripe_fake.complete_session(body["session_id"], paid=False)  # its webhook is lost
    later = TicketService(wiring.ticket_repository(), wiring.stripe_gateway, get_settings(), clock=lambda: stripe_fake.now() + 3600)
    report = later.sweep_expired()
    assert (report.released, ticket(body["ticket_id"]).status) == (0, "processing")
    assert get_event(event_id)["available"] == 0
    result = verify(body["session_id"], body["ticket_id"])
    assert (result.status, result.body) == (400, {"error": "Payment is processing; the ticket is issued when the payment completes"})
    deliver_webhook(stripe_fake.settle_async_payment(body["session_id"], succeeded=True))
    assert ticket(body["ticket_id"]).status == "paid"
    assert verify(body["session_id"], body["ticket_id"]).status == 200


@pytest.mark.parametrize("failed_as", ["requires_payment_method", "canceled"])
def test_a_processing_payment_that_failed_with_its_webhook_lost_is_released_when_settled(dynamodb, stripe_fake, failed_as):
    """The delayed payment fails at Stripe (its intent back to ``requires_payment_method``, or
    cancelled) and every webhook of the session is lost: the sweep's and the reconciliation's step
    releases the seats."""
    from payments import wiring
    from payments.domain.tickets import Outcome

    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=2)
    stripe_fake.complete_session(body["session_id"], paid=False)
    stripe_fake.settle_async_payment(body["session_id"], succeeded=False)  # its webhook is lost
    intent = stripe_fake.sessions[body["session_id"]]["payment_intent"]
    stripe_fake.payment_intents[intent]["status"] = failed_as
    held = wiring.ticket_repository().get_ticket(body["ticket_id"])  # still reserved: no webhook came
    assert held is not None
    assert wiring.ticket_service().settle_open_ticket(held) == Outcome.RELEASED
    assert ticket(body["ticket_id"]).status == "cancelled"  # the life cycle's PAYMENT_FAILED: released
    assert get_event(event_id)["available"] == 2


# signed events that do not fit the ticket --------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        {"amount_total": None},
        {"amount_total": 1},
        {"currency": "eur"},
        {"metadata": {"ticket_id": "999"}, "client_reference_id": "999"},
    ],
)
def test_a_completed_session_that_does_not_fit_its_ticket_pays_nothing(dynamodb, stripe_fake, change):
    event_id, body = reserved_checkout(stripe_fake, quantity=1, capacity=3)
    event = copy.deepcopy(pay(stripe_fake, body["session_id"]))
    event["id"] = "evt_tampered"
    event["data"]["object"].update(change)
    result = deliver_webhook(event)
    assert (result.status, result.body["outcome"]) == (200, "rejected")
    assert ticket(body["ticket_id"]).status == "reserved"
    assert get_event(event_id)["available"] == 2


def test_a_completed_session_in_another_currency_is_rejected_saying_so(dynamodb, stripe_fake, caplog):
    """The rejection's line says why, for the person who looks at it: the currency, not the amount."""
    _, body = reserved_checkout(stripe_fake, quantity=1, capacity=3)
    event = copy.deepcopy(pay(stripe_fake, body["session_id"]))
    event["id"] = "evt_other_currency"
    event["data"]["object"]["currency"] = "eur"
    caplog.clear()
    assert deliver_webhook(event).body["outcome"] == "rejected"
    [line] = [r for r in caplog.records if r.getMessage() == "Webhook event rejected for good"]
    assert (line.event_id, line.reason) == ("evt_other_currency", "Payment currency does not match the ticket")
    assert ticket(body["ticket_id"]).status == "reserved"


def test_a_completed_session_paying_another_amount_is_logged_with_what_was_paid_and_what_is_due(dynamodb, stripe_fake, caplog):
    """The error line a person reads says both sums, and of which session and ticket."""
    _, body = reserved_checkout(stripe_fake, quantity=1, capacity=3, price=25)
    event = copy.deepcopy(pay(stripe_fake, body["session_id"]))
    event["id"] = "evt_other_amount"
    event["data"]["object"]["amount_total"] = 1
    caplog.clear()
    assert deliver_webhook(event).body["outcome"] == "rejected"
    [line] = [r for r in caplog.records if r.getMessage() == "Payment amount does not match the ticket"]
    assert (line.levelname, line.session_id, line.ticket_id, line.paid, line.due) == (
        "ERROR",
        body["session_id"],
        body["ticket_id"],
        1,
        2500,
    )


def test_a_refund_of_a_payment_naming_a_ticket_it_did_not_pay_leaves_the_ticket_and_names_it_for_a_person(dynamodb, stripe_fake, caplog):
    """Another payment at Stripe whose metadata names our paid ticket is refunded: the ticket's own
    session did not take that payment, so the ticket stays paid, and an error line names the ticket
    for a person to look at."""
    from local.stripe_fake import payment_intents

    _, body = paid_ticket(stripe_fake, quantity=1, capacity=5)
    other = payment_intents.create(stripe_fake, {"amount": "2500", "currency": "usd", "metadata": {"ticket_id": str(body["ticket_id"])}})
    payment_intents.confirm(stripe_fake, {"payment_method": "pm_card_visa", "return_url": "http://localhost:5173/done"}, other["id"])
    stripe_fake.dashboard_refund(other["id"])
    caplog.clear()
    result = deliver_webhook(last_event(stripe_fake, "charge.refunded"))
    assert result.status == 200, result.body
    assert ticket(body["ticket_id"]).status == "paid"
    named = [
        getattr(r, "ticket_id", None) for r in caplog.records if r.getMessage() == "A payment names a ticket whose session it did not pay"
    ]
    assert named == [body["ticket_id"]]


# contention --------------------------------------------------------------------------------------
@pytest.fixture
def faults(dynamodb, monkeypatch):
    """DynamoDB writes refused (never applied) or with their answer lost (applied once)."""
    from payments import dynamodb as layer_dynamodb
    from payments import wiring
    from tests.support.faults import FaultInjectingClient

    client = FaultInjectingClient(dynamodb)
    wiring.reset()
    monkeypatch.setattr(layer_dynamodb, "get_client", lambda: client)
    return client


def test_a_transaction_conflict_is_retried(dynamodb, stripe_fake, faults):
    from tests.support.flows import buy, create_event

    event_id = create_event(price=0, capacity=3)
    faults.refuse(times=2)
    assert buy(event_id, 1).status == 200
    assert faults.injected == 2
    assert get_event(event_id)["available"] == 2


def test_lasting_contention_is_a_503_with_retry_after_and_changes_nothing(dynamodb, stripe_fake, faults):
    from tests.support.flows import buy, create_event

    event_id = create_event(price=0, capacity=3)
    faults.refuse(operations=frozenset({"transact_write_items"}), times=1000)
    result = buy(event_id, 1)
    assert (result.status, result.headers.get("Retry-After")) == (503, "1")
    faults.clear()
    assert get_event(event_id)["available"] == 3


def test_an_expiry_webhook_meeting_contention_is_retried_by_stripe_not_acknowledged(dynamodb, stripe_fake, faults):
    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=5)
    stripe_fake.expire_session(body["session_id"])
    faults.refuse(times=1000)
    assert deliver_webhook(stripe_fake.events[-1]).status == 503
    faults.clear()
    assert items_with_prefix(dynamodb, PAYMENTS, "WEBHOOK#") == []
    assert deliver_webhook(stripe_fake.events[-1]).body["outcome"] == "released"
    assert get_event(event_id)["available"] == 5
    assert cancel(body["ticket_id"]).status == 200
