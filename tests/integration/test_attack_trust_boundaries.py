"""Attacks on the trust boundaries hardened in issue 25: PayPal webhooks, the reconciliation's
listed PayPal events, the local runner, numbers, staff claims and free seats, driven through the
real handlers against moto and the local providers. The first section holds breaks (xfail, strict:
they fail on the code as it is, for the reason each docstring gives); the second, attacks that
held, for ground not obviously covered elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from local.functions import load_app
from local.gateway import LocalGateway
from local.jwt_keys import LocalAuthority
from local.paypal_fake import PayPalFake
from local.paypal_fake.notifications import CERT_PATH
from local.paypal_fake.objects import now_text
from local.template import load_template
from tests.support.dynamo import PAYMENTS, TICKETS
from tests.support.flows import STAFF, buy, cancel, create_event, deliver_paypal_webhook, paypal_call
from tests.support.lambdas import LambdaContext, api_event, call, invoke, load_module, sample_event


def _items(client: Any, table: str) -> list[dict[str, Any]]:
    return list(client.scan(TableName=table)["Items"])


def _written(client: Any) -> list[str]:
    """Every key in both tables but the id counters (which a refused request may advance)."""
    keys = [item["pk"]["S"] for table in (TICKETS, PAYMENTS) for item in _items(client, table)]
    return sorted(key for key in keys if not key.startswith("COUNTER#"))


# Breaks ---------------------------------------------------------------------------------------
# PayPal's signature proves who sent a body, not that it is shaped as the handlers read it. Each of
# these is signed by the local PayPal exactly as PayPal signs; each is a 500 today (KeyError,
# TypeError, AttributeError, ValueError from fromisoformat, DynamoDB's key-size ValidationException),
# and the transmission record is already written when it fails.
MALFORMED_PAYPAL_EVENTS: dict[str, dict[str, Any]] = {
    "capture event without a resource": {"id": "WH-ATTACK-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"},
    "resource that is a string": {"id": "WH-ATTACK-2", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": "x"},
    "order without an id": {"id": "WH-ATTACK-3", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"status": "APPROVED"}},
    "create_time not a timestamp": {
        "id": "WH-ATTACK-4",
        "event_type": "CHECKOUT.ORDER.APPROVED",
        "create_time": "garbage",
        "resource": {"id": "ORDER-4", "status": "APPROVED"},
    },
    "order status a list": {"id": "WH-ATTACK-5", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"id": "ORDER-5", "status": []}},
    "refund links a string": {"id": "WH-ATTACK-6", "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": {"id": "R-6", "links": "x"}},
    "capture supplementary_data a string": {
        "id": "WH-ATTACK-7",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {"id": "C-7", "supplementary_data": "x"},
    },
    "empty event id": {"id": "", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"id": "ORDER-9", "status": "APPROVED"}},
    "event id longer than a DynamoDB key": {
        "id": "W" * 3000,
        "event_type": "CHECKOUT.ORDER.APPROVED",
        "resource": {"id": "ORDER-8", "status": "APPROVED"},
    },
}


@pytest.mark.parametrize("shape", list(MALFORMED_PAYPAL_EVENTS))
def test_a_signed_but_malformed_paypal_event_is_a_400_and_writes_nothing(dynamodb: Any, paypal_fake: PayPalFake, shape: str) -> None:
    """As for Stripe (models/stripe_events.check_event): a signed event whose fields are missing or
    of another type than PayPal gives them is a 400 and nothing is written, not even the
    transmission record. Today domain/paypal_webhooks.py reads ``event["resource"]``,
    ``order["id"]``, ``create_time`` and ``capture["status"]`` unchecked: a 500 (PayPal retries it up
    to 25 times, the webhook-failure alarm fires), with WEBHOOK_TRANSMISSION#paypal#... already
    written by ``_refuse_replays``; an event id of 3,000 characters fails DynamoDB's key size."""
    result = deliver_paypal_webhook(paypal_fake, MALFORMED_PAYPAL_EVENTS[shape])
    assert result.status == 400, result.body
    assert _written(dynamodb) == []


def test_a_malformed_listed_paypal_event_does_not_stop_the_reconciliation(dynamodb: Any, paypal_fake: PayPalFake, stripe_fake: Any) -> None:
    """The reconciliation applies PayPal's listed events through ``PayPalWebhooks.apply_listed``,
    which checks no shape, inside ``_guarded``, which catches only StateChanged and ApiError. One
    listed CHECKOUT.ORDER.APPROVED whose resource has no id raises KeyError out of the whole run
    (domain/paypal_webhooks.py ``_order_approved``), and again on every later run while the event
    is in PayPal's listing window: no pass completes, no other repair (Stripe's, PayPal's orders,
    captures, refunds) is made. Stripe's listed events got ``check_event`` for exactly this
    (commit 96b5e06); PayPal's did not."""
    paypal_fake.record_event(
        {
            "id": "WH-ATTACK-LISTED",
            "event_version": "1.0",
            "create_time": now_text(),
            "resource_type": "checkout-order",
            "resource_version": "2.0",
            "event_type": "CHECKOUT.ORDER.APPROVED",
            "summary": "An order approved",
            "resource": {},
            "links": [],
        }
    )
    reconcile = load_module("reconcile_payments")
    for _ in range(2):  # the second run meets the same event: it must not be stuck on it
        reconcile.lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))


def test_a_malformed_listed_paypal_event_is_counted_and_logged_as_an_error_saying_why(
    dynamodb: Any, paypal_fake: PayPalFake, stripe_fake: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """As a malformed listed Stripe event: the run counts it as malformed, and one error line (what
    the log alarm and a person look for) says which field is wrong, never its value."""
    paypal_fake.record_event(
        {
            "id": "WH-LISTED-MALFORMED",
            "create_time": now_text(),
            "resource_type": "checkout-order",
            "event_type": "CHECKOUT.ORDER.APPROVED",
            "resource": {},
            "links": [],
        }
    )
    caplog.clear()
    report = load_module("reconcile_payments").lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))
    assert (report["malformed"], report["failed"], report["complete"]) == (1, 0, True)
    lines = [
        (record.levelname, getattr(record, "reason", None))
        for record in caplog.records
        if record.getMessage() == "Listed PayPal event malformed"
    ]
    assert lines == [("ERROR", "Webhook body is not a well-formed PayPal event (resource.id: missing)")]


@pytest.fixture
def gateway_client(tmp_path: Path) -> Client:
    """The local runner's gateway in process (no tables: these requests never reach a function)."""
    app = load_app(load_template(), {"FrontendUrl": "http://localhost:5173"}, {})
    return Client(LocalGateway(app, LocalAuthority.load_or_create(tmp_path / "key.pem"), log=lambda line: None))


@pytest.mark.parametrize("body", ["[1]", '"staff"', "[" * 100_000 + "]" * 100_000], ids=["array", "string", "deep"])
def test_the_local_token_route_answers_a_body_that_is_not_an_object_with_a_json_4xx(gateway_client: Client, body: str) -> None:
    """local/gateway.py reads ``request.get_json(silent=True) or {}`` and calls ``.get`` on it: a JSON
    array or string body raises AttributeError, a deeply nested one RecursionError (``silent``
    swallows only ValueError), out of the WSGI app: werkzeug's server answers its HTML 500 page.
    The contract for the local runner: malformed input a JSON 4xx."""
    response = gateway_client.post("/_local/token", data=body, content_type="application/json", headers={"Host": "localhost"})
    assert 400 <= response.status_code < 500
    assert "error" in json.loads(response.get_data())


# Attacks that held ----------------------------------------------------------------------------
def test_a_free_ticket_given_back_twice_credits_its_seats_once_and_no_longer_opens_the_door(dynamodb: Any) -> None:
    """Giving a free ticket back twice (a double click, a replayed request) must not return its
    seats to the holder's free-seat count twice (they could then hold more than the limit), and a
    pass given back admits nobody, nor does a pass at another event's door."""
    event_id, other_event = create_event(price=0, capacity=100), create_event(price=0, capacity=100)
    bought = buy(event_id, 10)
    assert bought.status == 200, bought.body
    ticket_id, code = bought.body["ticket_id"], bought.body["ticket_code"]
    at_other_door = call("check_in_ticket", {"ticket_code": code, "event_id": other_event}, user="user-staff", groups=STAFF)
    assert at_other_door.status == 400
    assert cancel(ticket_id).status == 200
    assert cancel(ticket_id).status == 200
    at_door = call("check_in_ticket", {"ticket_code": code, "event_id": event_id}, user="user-staff", groups=STAFF)
    assert at_door.status == 400 and "does not admit" in at_door.body["error"]
    assert buy(event_id, 10).status == 200
    over = buy(event_id, 1)
    assert over.status == 400 and over.body["error"].startswith("quantity:")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 99])
def test_json_number_constants_and_extremes_on_every_number_field_are_a_400_naming_it(
    dynamodb: Any, stripe_fake: Any, literal: str
) -> None:
    """Python's json accepts NaN and Infinity, which no JSON client writes; none of them (nor a
    number beyond DynamoDB's range or a 99-digit id) may be a 500 or pass as a number."""
    cases = {
        "create_event": ('{"name": "x", "price": @, "currency": "usd", "capacity": 10}', "price"),
        "create_ticket_checkout": ('{"event_id": @, "quantity": 1}', "event_id"),
        "cancel_ticket_reservation": ('{"ticket_id": @}', "ticket_id"),
        "stripe_create_payment_intent": ('{"amount": @, "currency": "usd"}', "amount"),
        "paypal_create_order": ('{"amount": @, "currency": "USD"}', "amount"),
    }
    for function, (template, field) in cases.items():
        result = invoke(function, api_event(function, raw_body=template.replace("@", literal), groups=STAFF))
        assert 400 <= result.status < 500, (function, result.body)
        if result.status == 400:
            assert result.body["error"].startswith(f"{field}:") or "not valid JSON" in result.body["error"], (function, result.body)


def approved_and_captured(fake: PayPalFake, amount: int) -> tuple[str, str]:
    """An order of ours created, approved by the payer and captured: (order id, capture id)."""
    body = {"amount": amount, "currency": "USD", "description": "Course enrollment", "custom_id": "payment_123"}
    order_id = paypal_call("paypal_create_order", body).body["order_id"]
    fake.approve(order_id)
    captured = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert captured.status == 200, captured.body
    return order_id, captured.body["capture_id"]


def _capture_record(client: Any, capture_id: str) -> dict[str, int]:
    """The counters of the capture's record in the payments table."""
    [record] = [item for item in _items(client, PAYMENTS) if item["pk"]["S"].endswith(capture_id) and "amount_minor" in item]
    return {name: int(record[name]["N"]) for name in ("amount_minor", "refunded_minor", "refundable_minor")}


def _refund_event(number: int, capture_id: str, value: str) -> dict[str, Any]:
    return {
        "id": f"WH-ATTACK-REFUND-{number}",
        "event_type": "PAYMENT.CAPTURE.REFUNDED",
        "create_time": now_text(),
        "resource": {
            "id": f"ATTACKREFUND{number}",
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": value},
            "links": [{"rel": "up", "href": f"https://api.paypal.com/v2/payments/captures/{capture_id}", "method": "GET"}],
        },
    }


@pytest.mark.parametrize("value", ["-10.00", "100.00"], ids=["negative", "more-than-captured"])
def test_a_signed_paypal_refund_cannot_push_a_captures_counters_out_of_range(dynamodb: Any, paypal_fake: PayPalFake, value: str) -> None:
    """PAYMENT.CAPTURE.REFUNDED for a capture of ours is recorded by ``PayPalRefund.from_paypal``
    (domain/paypal_refunds.py) with whatever ``amount.value`` says; nothing checks it is positive or
    fits what is left. A refund of -10.00 on a 40.00 capture leaves refunded_minor -1000 and
    refundable_minor 5000 (more than was ever captured: a staff refund of 50.00 then passes our
    checks); one of 100.00 leaves refunded 10000 and refundable -6000. PayPal's own money pattern
    allows a minus sign. Stripe's charge.refunded refuses a refund above the charge (NotApplicable);
    PayPal's should refuse these alike and write nothing."""
    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    before = _capture_record(dynamodb, capture_id)
    result = deliver_paypal_webhook(paypal_fake, _refund_event(1, capture_id, value))
    assert result.status < 500, result.body
    after = _capture_record(dynamodb, capture_id)
    assert 0 <= after["refunded_minor"] <= after["amount_minor"], after
    assert 0 <= after["refundable_minor"] <= before["refundable_minor"], after


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "0.001"])
def test_a_signed_paypal_refund_whose_amount_is_not_money_is_a_400(dynamodb: Any, paypal_fake: PayPalFake, value: str) -> None:
    """``minor_units`` (domain/paypal_objects.py) runs ``Decimal(str(value))`` and the currency's
    precision check on the event's text: "abc" raises InvalidOperation, "NaN" and "Infinity" fail
    the conversion, "0.001" USD fails the precision check, each a 500 (PayPal retries, the alarm
    fires) after the transmission record was written."""
    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    before = _capture_record(dynamodb, capture_id)
    result = deliver_paypal_webhook(paypal_fake, _refund_event(2, capture_id, value))
    assert result.status == 400, result.body
    assert _capture_record(dynamodb, capture_id) == before


@pytest.mark.parametrize("server", ["dynamodb", "paypal", "stripe"])
def test_the_local_stacks_other_servers_refuse_a_rebound_host_like_its_gateway(server: str) -> None:
    """``python -m local run`` listens on more than the gateway: its embedded DynamoDB (moto's
    server, which checks no signature), the local PayPal and the local Stripe, each on its own port
    of the same address. The gateway refuses a Host it does not serve (421) so that a page whose
    name was rebound to 127.0.0.1 cannot read /_local/token; the neighbours answer any Host, so the
    same page reads and writes the local tables directly (ListTables, Scan, PutItem a paid ticket
    or a staff event) and drives the fakes (pays Checkout sessions, lists events). Each should
    refuse a Host that is not its own, as the gateway does."""
    from local.dynamodb_server import make_dynamodb_server
    from local.stripe_fake import StripeFake

    rebound = {"Host": "rebound.attacker.example:8000"}
    if server == "dynamodb":
        wsgi = make_dynamodb_server("127.0.0.1", 0)
        try:
            response = Client(wsgi.app).post(
                "/",
                data="{}",
                headers={
                    **rebound,
                    "X-Amz-Target": "DynamoDB_20120810.ListTables",
                    "Content-Type": "application/x-amz-json-1.0",
                    # moto's server reads the region from the credential scope and checks no signature.
                    "Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/eu-west-1/dynamodb/aws4_request, Signature=x",
                },
            )
        finally:
            wsgi.server_close()
    elif server == "paypal":
        # Its pages (the payer's approval at /checkoutnow, the signing certificate) need no credentials.
        response = Client(PayPalFake()).get(CERT_PATH, headers=rebound)
    else:
        response = Client(StripeFake()).get("/v1/events", headers={**rebound, "Authorization": "Bearer sk_test_anything"})
    assert response.status_code == 421, response.get_data()[:200]


def test_a_transmission_id_that_is_not_unicode_text_is_a_400(dynamodb: Any, paypal_fake: PayPalFake) -> None:
    """Before any signature is checked: ``PayPalSignatureVerifier.verify`` builds the signed message
    with ``f"{transmission_id}|...".encode()``, and a lone surrogate in the header raises
    UnicodeEncodeError, a 500 for anyone who can post to the webhook. (Whether API Gateway can
    hand a header holding one to Lambda is doubtful; json_input refuses the same text in bodies.)"""
    event = {"id": "WH-ATTACK-SURROGATE", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"id": "ORDER-S", "status": "APPROVED"}}
    signed = {name.lower(): value for name, value in paypal_fake.sign(json.dumps(event).encode(), event).items()}
    result = deliver_paypal_webhook(paypal_fake, event, headers={**signed, "paypal-transmission-id": "\ud800"})
    assert result.status == 400, result.body
    assert _written(dynamodb) == []


def test_a_signed_stripe_event_with_an_impossible_created_time_is_refused(dynamodb: Any, stripe_fake: Any) -> None:
    """``StripeEvent.created`` is any whole number from 0 to json_input's bound (1E+125). A
    payment_intent.succeeded created at 10**99 (no Stripe timestamp: seconds since 1970) passes
    ``check_event`` and is applied with that ``as_of``: every genuine later event of the payment
    intent is then "skipped" as older, its state frozen at what the absurd event said. (With 40 or
    more significant digits real DynamoDB refuses the write, a 500; moto accepts it.)"""
    from tests.support.flows import deliver_webhook, stripe_call

    created = stripe_call("stripe_create_payment_intent", {"amount": 10, "currency": "usd"}, key="attack-created-1")
    assert created.status == 200, created.body
    intent = created.body["payment_intent_id"]
    before = _written(dynamodb)
    event = {
        "id": "evt_attack_far_future",
        "object": "event",
        "type": "payment_intent.canceled",
        "created": 10**99,
        "data": {"object": {"id": intent, "object": "payment_intent", "status": "canceled", "amount": 1000, "currency": "usd"}},
    }
    result = deliver_webhook(event)
    assert result.status == 400, result.body
    assert _written(dynamodb) == before


def test_a_signed_paypal_event_created_far_in_the_future_does_not_freeze_the_order(dynamodb: Any, paypal_fake: PayPalFake) -> None:
    """``_epoch(create_time)`` (domain/paypal_webhooks.py) takes any timestamp as the state's
    ``as_of``: a CHECKOUT.ORDER.APPROVED saying SAVED, created 9999-12-31, is applied, and the
    genuine approval after it is "skipped" as older; the order stays SAVED for good. (The same
    holds for Stripe's ``created``, see above.) Such an event should be refused, or its time
    bounded by when it was received."""
    order_id = paypal_call("paypal_create_order", {"amount": 10, "currency": "USD"}).body["order_id"]
    future = {"id": "WH-ATTACK-FUTURE", "event_type": "CHECKOUT.ORDER.APPROVED", "create_time": "9999-12-31T23:59:59Z"}
    deliver_paypal_webhook(paypal_fake, {**future, "resource": {"id": order_id, "status": "SAVED"}})
    genuine = {"id": "WH-ATTACK-GENUINE", "event_type": "CHECKOUT.ORDER.APPROVED", "create_time": now_text()}
    result = deliver_paypal_webhook(paypal_fake, {**genuine, "resource": {"id": order_id, "status": "APPROVED"}})
    assert result.body["outcome"] == "applied", result.body
