"""Approval tests: what operators, auditors and clients read, word for word.

Each scenario drives the handlers (moto, the Stripe and PayPal fakes in process) through a story and
records, in order, every audit line (its action and all its fields), every warning, error and
exception the payments logger writes (and the domain's own info lines: message and extra fields,
not tracebacks), every HTTP answer (status and body), the scheduled jobs' reports, and at the end
the records the stores keep (the payments table's items; the tickets and events). What varies from
run to run (provider ids, uuids, tokens, the time) is replaced by placeholders numbered in order of
first appearance (``<pi_1>``, ``<uuid2>``, ``<t+3600>``: seconds after the scenario's frozen start),
and the whole is compared with the approved snapshot in ``__snapshots__/``.

A change to any of those words or fields fails here until the snapshot is approved again, on
purpose: ``pytest tests/integration/test_observable_snapshots.py --snapshot-update``, then read the
snapshot's diff in the commit like code."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import random
import re
import secrets
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from local.stripe_fake import charges, payment_intents
from local.stripe_fake.objects import StripeError
from tests.support.dynamo import PAYMENTS, TICKETS, scan
from tests.support.flows import (
    STAFF,
    buy,
    cancel,
    create_event,
    deliver_paypal_webhook,
    deliver_webhook,
    expired_event_for,
    pay,
    paypal_call,
    stripe_call,
    verify,
)
from tests.support.lambdas import ApiResult, LambdaContext, api_event, call, invoke, load_module, sample_event

DAY = 24 * 3600

# The attributes every LogRecord has: the rest of a record's attributes are the line's extra fields.
STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
# The domain's info lines are its own words too (the webhook ledger's, the sweep's, the admitter's).
OWN_INFO = re.compile(r"payments[/\\](domain|repositories)[/\\]")

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
EXPIRED_EVENT = re.compile(r"\bevt_expired_[A-Za-z0-9]{8}\b")  # tests.support.flows.expired_event_for's ids
STRIPE_ID = re.compile(
    r"\b(cs_test|pi|ch|re|evt|cus|sub|in|pm|price|prod|dp|du|txn|seti|py|ii|il|src|cn|si|acct|pyr)_(?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{8,}\b"
)
PAYPAL_ID = re.compile(r"\b(?=[A-Z]*\d)(?=[0-9]*[A-Z])[A-Z0-9]{17}\b")
PAYPAL_EVENT = re.compile(r"\bWH-[A-Z0-9-]{10,}\b")
HEX = re.compile(r"\b(?=[a-f]*\d)(?=\d*[a-f])[0-9a-f]{16,}\b")
TOKEN = re.compile(r"\b[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]{10,})?\b")
PNG = re.compile(r"(data:image/png;base64,)?iVBORw0KGgo[A-Za-z0-9+/=]+")
ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
LOOPBACK = re.compile(r"127\.0\.0\.1:\d+")
EPOCH = re.compile(r"\b1[6-9]\d{8}\b")


class Normaliser:
    """Stable placeholders for what varies between runs, numbered in order of first appearance."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.names: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        # Once frozen, a value not seen before gets its kind alone: the stores' items come in no
        # fixed order, so numbering what only they hold would not be the same on every run.
        self.frozen = False

    def name(self, kind: str, value: str) -> str:
        if value not in self.names:
            if self.frozen:
                return f"<{kind}>"
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.names[value] = f"<{kind}{self.counts[kind]}>"
        return self.names[value]

    def moment(self, seconds: float) -> str:
        offset = round(seconds - self.start)
        return f"<t{offset:+d}>"

    def is_time(self, number: float) -> bool:
        return abs(number - self.start) < 400 * DAY

    def text(self, value: str) -> str:
        value = PNG.sub("<png>", value)
        value = LOOPBACK.sub("127.0.0.1:<port>", value)
        value = ISO.sub(lambda m: self.moment(dt.datetime.fromisoformat(m.group(0).replace("Z", "+00:00")).timestamp()), value)
        value = UUID.sub(lambda m: self.name("uuid", m.group(0)), value)
        value = EXPIRED_EVENT.sub(lambda m: self.name("evt_", m.group(0)), value)
        value = STRIPE_ID.sub(lambda m: self.name(f"{m.group(1)}_", m.group(0)), value)
        value = PAYPAL_EVENT.sub(lambda m: self.name("paypal_event", m.group(0)), value)
        value = PAYPAL_ID.sub(lambda m: self.name("paypal", m.group(0)), value)
        value = TOKEN.sub(lambda m: self.name("token", m.group(0)), value)
        value = HEX.sub(lambda m: self.name("hex", m.group(0)), value)
        return EPOCH.sub(lambda m: self.moment(int(m.group(0))) if self.is_time(int(m.group(0))) else m.group(0), value)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self.text(str(key)): self(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        if isinstance(value, set | frozenset):
            return sorted((self(item) for item in value), key=repr)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else str(value)
        if isinstance(value, int | float):
            return self.moment(value) if self.is_time(value) else value
        if isinstance(value, bytes):
            return f"<{len(value)} bytes>"
        return self.text(str(value))


class Journal(logging.Handler):
    """What one scenario showed, in order: log lines as the payments logger writes them, answers, reports."""

    def __init__(self, start: float) -> None:
        super().__init__(logging.DEBUG)
        self.start = start
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        extra = {key: value for key, value in vars(record).items() if key not in STANDARD}
        if extra.pop("audit", False):
            self.entries.append({"audit": extra.pop("action")} | extra)
            return
        if record.levelno < logging.WARNING and not OWN_INFO.search(record.pathname):
            return
        line: dict[str, Any] = {"log": record.levelname, "message": record.getMessage()} | extra
        if record.exc_info and record.exc_info[1] is not None:
            line["exception"] = type(record.exc_info[1]).__name__
        self.entries.append(line)

    def answer(self, label: str, result: ApiResult) -> ApiResult:
        self.entries.append({"call": label, "status": result.status, "body": result.body})
        return result

    def note(self, label: str, value: Any) -> Any:
        self.entries.append({label: value})
        return value


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every clock of the process (the layer's, the fakes', moto's) reads ``now[0]``, moved by the scenario."""
    # From the hour's start: the queue's admission epochs (10 s) and anything else aligned to the
    # clock fall alike on every run (the PayPal fake's certificate is valid from a day before).
    now = [float(int(time.time()) // 3600 * 3600)]
    monkeypatch.setattr(time, "time", lambda: now[0])

    def paypal_now() -> str:
        return dt.datetime.fromtimestamp(now[0], dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    for name, module in list(sys.modules.items()):
        if name.startswith("local.paypal_fake") and hasattr(module, "now_text"):
            monkeypatch.setattr(module, "now_text", paypal_now)
    # The PayPal signature check's clock (its default, bound when the module loaded) reads it too.
    from payments.providers import paypal_signature

    class Verifier(paypal_signature.PayPalSignatureVerifier):
        def __init__(self, *args: Any, **options: Any) -> None:
            super().__init__(*args, **{"clock": time.time} | options)

    monkeypatch.setattr(paypal_signature, "PayPalSignatureVerifier", Verifier)
    # The counters' shards and the queue's places drawn from a seeded draw: the same ids every run.
    monkeypatch.setattr(secrets, "randbelow", random.Random(2027).randrange)
    from payments import wiring

    wiring.reset()
    return now


@pytest.fixture
def journal(clock: list[float]) -> Iterator[Journal]:
    from payments.observability import logger

    handler = Journal(clock[0])
    logger._logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger._logger.removeHandler(handler)


def stores(dynamodb: Any) -> dict[str, Any]:
    """The records of interest: every item of the payments table; the tickets and events."""
    tickets = [item for item in scan(dynamodb, TICKETS) if str(item["pk"]).startswith(("TICKET#", "EVENT#"))]
    return {"payments_table": scan(dynamodb, PAYMENTS), "tickets_table": tickets}


def approved(journal: Journal, dynamodb: Any) -> dict[str, Any]:
    """The scenario's journal and the stores after it, normalised: what the snapshot holds."""
    normalise = Normaliser(journal.start)
    shown = normalise(journal.entries)
    normalise.frozen = True
    kept = {
        name: sorted((normalise(item) for item in items), key=lambda item: json.dumps(item, sort_keys=True))
        for name, items in stores(dynamodb).items()
    }
    return {"journal": shown, "stores": kept}


def run(journal: Journal, function: str, now: list[float] | None = None) -> Any:
    """A scheduled function's report (or the error a failed run raises)."""
    context = LambdaContext(function_name=function, remaining_millis=300_000)
    try:
        report = load_module(function).lambda_handler(sample_event(function), context)
    except RuntimeError as error:
        return journal.note(f"{function} failed", str(error))
    return journal.note(f"{function} report", report)


def staff(function: str, body: Any = None, **options: Any) -> ApiResult:
    return call(function, body, user="user-staff", groups=STAFF, **options)


def last_event(fake: Any, event_type: str) -> dict[str, Any]:
    return next(event for event in reversed(fake.events) if event["type"] == event_type)


def check_in(code: str, event_id: int, count: int | None = None) -> ApiResult:
    body = {"ticket_code": code, "event_id": event_id} | ({} if count is None else {"count": count})
    return call("check_in_ticket", body, user="user-door", groups=STAFF)


# scenarios -----------------------------------------------------------------------------------------
def test_a_paid_tickets_life(dynamodb, stripe_fake, journal, clock, snapshot_json):
    """Reserved, paid by webhook, verified, checked in, partly refunded (one refund failing later),
    then refunded whole; the answers a refused request gets on the way."""
    event_id = create_event(price=25, capacity=5, name="Life")
    body = journal.answer("buy 3", buy(event_id, 3)).body
    journal.answer("webhook completed", deliver_webhook(pay(stripe_fake, body["session_id"])))
    journal.answer("verify", verify(body["session_id"], body["ticket_id"]))
    journal.answer("verify by another", verify(body["session_id"], body["ticket_id"], user="user-bob"))
    journal.answer("check in 2", check_in(body["ticket_code"], event_id, 2))
    journal.answer("check in 2 more", check_in(body["ticket_code"], event_id, 2))
    journal.answer("cancel a paid ticket", cancel(body["ticket_id"]))
    journal.answer("refund by a customer", call("refund_ticket", {"ticket_id": body["ticket_id"]}))
    journal.answer("refund 4 seats of 3", staff("refund_ticket", {"ticket_id": body["ticket_id"], "quantity": 4}))
    first = journal.answer(
        "refund 1 seat", staff("refund_ticket", {"ticket_id": body["ticket_id"], "quantity": 1, "reason": "Cannot come"})
    )
    clock[0] += 60
    charges.fail_refund(stripe_fake, first.body["refund_id"])
    journal.answer("webhook refund failed", deliver_webhook(last_event(stripe_fake, "charge.refund.updated")))
    journal.answer("refund the rest", staff("refund_ticket", {"ticket_id": body["ticket_id"], "reason": "Event moved"}))
    journal.answer("webhook refund updated", deliver_webhook(last_event(stripe_fake, "charge.refunded")))
    journal.answer("refund again", staff("refund_ticket", {"ticket_id": body["ticket_id"]}))
    journal.answer("verify refunded", verify(body["session_id"], body["ticket_id"]))
    journal.answer("sales", staff("get_event_sales", path_params={"event_id": str(event_id)}))
    assert approved(journal, dynamodb) == snapshot_json


def test_free_tickets_cancellations_and_refused_purchases(dynamodb, stripe_fake, journal, snapshot_json):
    free = create_event(price=0, capacity=2, name="Free")
    given = journal.answer("free ticket", buy(free, 1)).body
    journal.answer("more than left", buy(free, 2, user="user-bob"))
    journal.answer("cancel the free ticket", cancel(given["ticket_id"]))
    journal.answer("no such event", buy(404, 1))
    journal.answer("quantity 0", buy(free, 0))
    paid = create_event(price=Decimal("12.50"), capacity=3, name="Paid")
    reserved = journal.answer("reserve", buy(paid, 2)).body
    journal.answer("cancel by another", cancel(reserved["ticket_id"], user="user-bob"))
    journal.answer("cancel", cancel(reserved["ticket_id"]))
    journal.answer("cancel again", cancel(reserved["ticket_id"]))
    stripe_fake.fail_next("/v1/checkout/sessions", status=500, type_="api_error", message="Stripe is down", code=None)
    journal.answer("stripe down", buy(paid, 1))
    journal.answer("my tickets", call("list_my_tickets"))
    assert approved(journal, dynamodb) == snapshot_json


def test_a_late_payment_on_a_sold_out_event_is_refunded(dynamodb, stripe_fake, journal, snapshot_json):
    from tests.support.flows import late_payment_into_sold_out

    _, body, completed = late_payment_into_sold_out(stripe_fake)
    journal.answer("late webhook", deliver_webhook(completed))
    journal.answer("late webhook again", deliver_webhook(completed))
    journal.answer("verify", verify(body["session_id"], body["ticket_id"]))
    assert approved(journal, dynamodb) == snapshot_json


def test_a_delayed_bank_debit_that_fails(dynamodb, stripe_fake, journal, snapshot_json):
    event_id = create_event(price=40, capacity=4, name="Debit")
    body = buy(event_id, 2).body
    journal.answer("completed unpaid", deliver_webhook(stripe_fake.complete_session(body["session_id"], paid=False)))
    journal.answer("verify while processing", verify(body["session_id"], body["ticket_id"]))
    journal.answer("debit failed", deliver_webhook(stripe_fake.settle_async_payment(body["session_id"], succeeded=False)))
    other = buy(event_id, 1, user="user-bob").body
    stripe_fake.complete_session(other["session_id"], paid=False)
    journal.answer("debit succeeded", deliver_webhook(stripe_fake.settle_async_payment(other["session_id"], succeeded=True)))
    assert approved(journal, dynamodb) == snapshot_json


def test_disputes_won_and_lost(dynamodb, stripe_fake, journal, clock, snapshot_json):
    event_id = create_event(price=30, capacity=4, name="Disputed")
    intents = []
    for user in ("user-alice", "user-bob"):
        body = buy(event_id, 1, user=user).body
        deliver_webhook(pay(stripe_fake, body["session_id"]))
        intents.append((body, stripe_fake.sessions[body["session_id"]]["payment_intent"]))
    for (body, intent), won in zip(intents, (True, False), strict=True):
        dispute = stripe_fake.open_dispute(intent)
        journal.answer("dispute opened", deliver_webhook(last_event(stripe_fake, "charge.dispute.created")))
        journal.answer("refund while disputed", staff("refund_ticket", {"ticket_id": body["ticket_id"]}))
        clock[0] += DAY
        stripe_fake.close_dispute(dispute["id"], won=won)
        journal.answer(f"dispute {'won' if won else 'lost'}", deliver_webhook(last_event(stripe_fake, "charge.dispute.closed")))
    assert approved(journal, dynamodb) == snapshot_json


def test_the_sweep_releases_expired_reservations_and_fulfils_paid_ones(dynamodb, stripe_fake, journal, clock, snapshot_json):
    event_id = create_event(price=10, capacity=6, name="Sweep")
    expired = buy(event_id, 2).body
    paid = buy(event_id, 1, user="user-bob").body
    pay(stripe_fake, paid["session_id"])  # its webhook is lost
    run(journal, "sweep_reservations")  # nothing due yet
    clock[0] += 3600
    run(journal, "sweep_reservations")
    run(journal, "sweep_reservations")
    stuck = buy(event_id, 1, user="user-carol").body
    clock[0] += 3600
    stripe_fake.fail_next("/v1/checkout/sessions", status=500, type_="api_error", message="Stripe is down", code=None, times=5)
    run(journal, "sweep_reservations")  # Stripe down: the reservation is kept for the next run
    stripe_fake.reset_failures()
    run(journal, "sweep_reservations")
    journal.answer("verify the stuck one", verify(stuck["session_id"], stuck["ticket_id"], user="user-carol"))
    journal.answer("verify the expired", verify(expired["session_id"], expired["ticket_id"]))
    journal.answer("late expiry webhook", deliver_webhook(expired_event_for(stripe_fake, expired["session_id"])))
    assert approved(journal, dynamodb) == snapshot_json


def test_the_reconciliation_repairs_what_lost_webhooks_left(dynamodb, stripe_fake, paypal_fake, journal, clock, snapshot_json):
    event_id = create_event(price=20, capacity=6, name="Reconciled")
    lost = buy(event_id, 1).body
    pay(stripe_fake, lost["session_id"])  # its webhook is lost
    gone = buy(event_id, 2, user="user-bob").body
    stripe_fake.expire_session(gone["session_id"])  # its webhook is lost too
    refunded = buy(event_id, 1, user="user-carol").body
    deliver_webhook(pay(stripe_fake, refunded["session_id"]))
    intent = stripe_call("stripe_create_payment_intent", {"amount": 30, "currency": "usd"}).body["payment_intent_id"]
    stripe_call("stripe_confirm_payment", {"payment_intent_id": intent, "payment_method": "pm_card_visa"})  # webhook lost
    order_id = paypal_call("paypal_create_order", {"amount": 50, "currency": "USD"}).body["order_id"]
    paypal_fake.approve(order_id)
    paypal_fake.pend_next("ECHECK")
    capture_id = journal.answer("paypal capture pending", paypal_call("paypal_capture_order", {"order_id": order_id})).body["capture_id"]
    clock[0] += 60
    run(journal, "reconcile_payments")
    clock[0] += 3600
    stripe_fake.dashboard_refund(stripe_fake.sessions[refunded["session_id"]]["payment_intent"])  # its webhook is lost
    stripe_fake.dashboard_refund(intent, amount=1000)  # its webhook is lost
    paypal_fake.complete_capture(capture_id)  # its webhook is lost
    clock[0] += 60
    run(journal, "reconcile_payments")
    clock[0] += 60
    run(journal, "reconcile_payments")
    assert approved(journal, dynamodb) == snapshot_json


def test_paypal_orders_captures_refunds_and_webhooks(dynamodb, paypal_fake, journal, snapshot_json):
    journal.answer("order of nothing", paypal_call("paypal_create_order", {"amount": 0, "currency": "USD"}))
    order_id = journal.answer("order", paypal_call("paypal_create_order", {"amount": 50, "currency": "USD"})).body["order_id"]
    journal.answer("capture unapproved", paypal_call("paypal_capture_order", {"order_id": order_id}))
    paypal_fake.approve(order_id)
    captured = journal.answer("capture", paypal_call("paypal_capture_order", {"order_id": order_id}))
    capture_id = captured.body["capture_id"]
    journal.answer("order read", call("paypal_get_order", path_params={"order_id": order_id}))
    journal.answer("captured webhook", deliver_paypal_webhook(paypal_fake, last_paypal(paypal_fake, "PAYMENT.CAPTURE.COMPLETED")))
    refund = {"capture_id": capture_id, "amount": 10, "currency": "USD"}
    journal.answer("refund by a customer", paypal_call("paypal_refund_payment", refund))
    journal.answer("refund 10", paypal_call("paypal_refund_payment", refund, user="user-staff", groups=STAFF, key="refund-10"))
    journal.answer("refund webhook", deliver_paypal_webhook(paypal_fake, last_paypal(paypal_fake, "PAYMENT.CAPTURE.REFUNDED")))
    paypal_fake.reverse_capture(capture_id)
    reversed_event = last_paypal(paypal_fake, "PAYMENT.CAPTURE.REVERSED")
    journal.answer("reversal webhook", deliver_paypal_webhook(paypal_fake, reversed_event))
    journal.answer("reversal webhook again", deliver_paypal_webhook(paypal_fake, reversed_event))
    journal.answer("forged webhook", deliver_paypal_webhook(paypal_fake, reversed_event, headers={"paypal-transmission-id": "forged"}))
    stale = paypal_fake.sign(json.dumps(reversed_event).encode(), reversed_event)
    stale["PAYPAL-TRANSMISSION-TIME"] = "2020-01-01T00:00:00Z"
    journal.answer("stale webhook", deliver_paypal_webhook(paypal_fake, reversed_event, headers=stale))
    journal.answer("refund after the reversal", paypal_call("paypal_refund_payment", refund, user="user-staff", groups=STAFF, key="after"))
    assert approved(journal, dynamodb) == snapshot_json


def last_paypal(fake: Any, event_type: str) -> dict[str, Any]:
    return next(event for event in reversed(fake.events) if event["event_type"] == event_type)


def test_stripe_payment_intents_customers_and_subscriptions(dynamodb, stripe_fake, journal, snapshot_json):
    journal.answer("intent without a key", stripe_call("stripe_create_payment_intent", {"amount": 42, "currency": "usd"}))
    made = journal.answer("intent", stripe_call("stripe_create_payment_intent", {"amount": 42, "currency": "usd"}, key="intent-1"))
    intent = made.body["payment_intent_id"]
    journal.answer("retrieve", stripe_call("stripe_retrieve_payment", {"payment_intent_id": intent}))
    journal.answer("retrieve by another", stripe_call("stripe_retrieve_payment", {"payment_intent_id": intent}, user="user-bob"))
    journal.answer(
        "confirm declined", stripe_call("stripe_confirm_payment", {"payment_intent_id": intent, "payment_method": "pm_card_chargeDeclined"})
    )
    journal.answer("failed webhook", deliver_webhook(last_event(stripe_fake, "payment_intent.payment_failed")))
    journal.answer("confirm", stripe_call("stripe_confirm_payment", {"payment_intent_id": intent, "payment_method": "pm_card_visa"}))
    journal.answer("succeeded webhook", deliver_webhook(last_event(stripe_fake, "payment_intent.succeeded")))
    stripe_fake.dashboard_refund(intent, amount=1000)
    journal.answer("refund webhook", deliver_webhook(last_event(stripe_fake, "charge.refunded")))
    journal.answer("bad signature", deliver_webhook(last_event(stripe_fake, "charge.refunded"), secret="whsec_wrong"))
    customer = journal.answer("customer", stripe_call("stripe_create_customer", {"email": "alice@example.com", "name": "Alice"}))
    customer_id = customer.body["customer_id"]
    journal.answer("customer webhook", deliver_webhook(last_event(stripe_fake, "customer.created")))
    created = journal.answer(
        "subscription", stripe_call("stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly"})
    )
    subscription_id = created.body["subscription_id"]
    with contextlib.suppress(StripeError):
        payment_intents.confirm(
            stripe_fake,
            {"payment_method": "pm_card_visa", "return_url": "http://localhost:5173/done"},
            created.body["client_secret"].split("_secret_")[0],
        )
    for event_type in ("invoice.paid", "customer.subscription.updated"):
        journal.answer(f"{event_type} webhook", deliver_webhook(last_event(stripe_fake, event_type)))
    journal.answer("cancel by another", stripe_call("stripe_cancel_subscription", {"subscription_id": subscription_id}, user="user-bob"))
    journal.answer("cancel", stripe_call("stripe_cancel_subscription", {"subscription_id": subscription_id}))
    journal.answer("canceled webhook", deliver_webhook(last_event(stripe_fake, "customer.subscription.deleted")))
    assert approved(journal, dynamodb) == snapshot_json


def test_the_on_sale_queue_join_admit_buy_and_give_back(dynamodb, stripe_fake, journal, clock, monkeypatch, snapshot_json):
    from payments import wiring
    from tests.support.queues import queue_settings

    queue_settings(monkeypatch, QUEUE_ADMISSION_WINDOW_SECONDS="600")
    body = {"name": "On sale", "price": 25, "currency": "usd", "capacity": 2, "on_sale_queue": True}
    event_id = journal.answer("queued event", staff("create_event", body)).body["event_id"]
    place = {"path_params": {"event_id": str(event_id)}}
    journal.answer("buy without a pass", buy(event_id, 1))
    for user in ("user-alice", "user-bob", "user-carol"):
        journal.answer(f"{user} joins", call("join_event_queue", user=user, **place))
    journal.answer("alice joins again", call("join_event_queue", **place))
    clock[0] += 1
    journal.note("admitter step", wiring.queue_service().admit_once())
    passes = {}
    for user in ("user-alice", "user-bob", "user-carol"):
        passes[user] = journal.answer(f"{user} polls", call("get_event_queue_place", user=user, **place)).body.get("queue_pass")
    journal.answer("status", staff("get_event_queue_status", **place))
    stripe_fake.fail_next("/v1/checkout/sessions", status=500, type_="api_error", message="Stripe is down", code=None)
    journal.answer(
        "alice's checkout fails", call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "queue_pass": passes["user-alice"]})
    )
    journal.answer("alice buys", call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "queue_pass": passes["user-alice"]}))
    journal.answer(
        "a forged pass", call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "queue_pass": "forged"}, user="user-bob")
    )
    clock[0] += 900
    journal.answer(
        "bob's pass expired",
        call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "queue_pass": passes["user-bob"]}, user="user-bob"),
    )
    journal.note("admitter step", wiring.queue_service().admit_once())
    journal.answer("no queue here", call("join_event_queue", path_params={"event_id": str(create_event(capacity=1))}))
    assert approved(journal, dynamodb) == snapshot_json


def test_event_edits_queue_enabling_and_the_attendee_export(dynamodb, stripe_fake, journal, snapshot_json):
    event_id = journal.answer("create", staff("create_event", {"name": "Edited", "price": 15, "currency": "eur", "capacity": 4})).body[
        "event_id"
    ]
    path = {"path_params": {"event_id": str(event_id)}}
    journal.answer("edit by a customer", call("update_event", {"name": "Mine"}, **path))
    journal.answer("edit", staff("update_event", {"name": "Edited twice", "price": 18, "capacity": 6}, **path))
    journal.answer("edit nothing", staff("update_event", {}, **path))
    journal.answer("edit below what is sold", staff("update_event", {"capacity": 0}, **path))
    journal.answer("enable the queue", staff("enable_event_queue", **path))
    other = create_event(price=0, capacity=3, name="Export")
    buy(other, 2)
    buy(other, 1, user="user-bob")
    journal.answer("enable after the sale began", staff("enable_event_queue", path_params={"event_id": str(other)}))
    export = api_event("get_event_attendees", user="user-staff", groups=STAFF, path_params={"event_id": str(other)})
    journal.answer("attendees", invoke("get_event_attendees", export))
    journal.answer("event", call("get_event", path_params={"event_id": str(event_id)}))
    journal.answer("events", call("list_events"))
    assert approved(journal, dynamodb) == snapshot_json
