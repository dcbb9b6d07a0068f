"""The PayPal endpoints of seed 000 and the PayPal webhook, against the local PayPal over HTTP."""

import copy
from decimal import Decimal

import pytest
import requests

from local.paypal_fake import orders, payments
from local.paypal_fake.objects import PayPalError
from tests.support.dynamo import PAYMENTS, items_with_prefix
from tests.support.flows import deliver_paypal_webhook, paypal_call
from tests.support.openapi import validate_exchange

STAFF = "[staff]"


def create_order(amount=29.99, currency="USD", user="user-alice", key=None, **extra):
    body = {"amount": amount, "currency": currency, "description": "Course enrollment", "custom_id": "payment_123", **extra}
    return paypal_call("paypal_create_order", body, user=user, key=key)


def approved_and_captured(fake, amount=29.99, currency="USD"):
    order_id = create_order(amount, currency).body["order_id"]
    fake.approve(order_id)
    captured = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert captured.status == 200, captured.body
    return order_id, captured.body["capture_id"]


def refund(capture_id, user="user-staff", groups=STAFF, key=None, **body):
    return paypal_call("paypal_refund_payment", {"capture_id": capture_id, **body}, user=user, groups=groups, key=key)


# create-order ---------------------------------------------------------------------------------
def test_create_order_answers_the_seed_fields(dynamodb, paypal_fake):
    result = create_order()
    assert result.status == 200, result.body
    body = result.body
    order = paypal_fake.orders[body["order_id"]]
    assert isinstance(body["order_id"], str)
    assert body["status"] == order["status"] == "CREATED"  # as seed 000 shows
    assert [link["rel"] for link in body["links"] if "checkoutnow" in link["href"]] == ["approve"]
    assert body["approval_url"] == f"{paypal_fake.public_url}/checkoutnow?token={body['order_id']}"
    assert body["links"] == order["links"]
    assert all(set(link) == {"href", "rel", "method"} for link in body["links"])
    unit = order["purchase_units"][0]
    assert unit["amount"] == {"currency_code": "USD", "value": "29.99"}
    assert (unit["custom_id"], unit["description"]) == ("payment_123", "Course enrollment")
    assert order["_return_url"] == "http://localhost:5173/paypal/return"
    [record] = items_with_prefix(dynamodb, PAYMENTS, "PAYPAL#order#")
    assert (record["owner"], record["value"], record["currency"]) == ("user-alice", "29.99", "USD")


def test_the_fake_answers_payer_action_required_when_asked_the_newer_way(dynamodb, paypal_fake):
    """The fake answers as PayPal does either way: experience_context gives PAYER_ACTION_REQUIRED."""
    order_request = {
        "intent": "CAPTURE",
        "purchase_units": [{"amount": {"currency_code": "USD", "value": "5.00"}}],
        "payment_source": {"paypal": {"experience_context": {"return_url": "https://shop.example/r"}}},
    }
    token = requests.post(
        f"{paypal_fake.public_url}/v1/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(paypal_fake.client_id, paypal_fake.client_secret),
        timeout=10,
    ).json()["access_token"]
    answer = requests.post(
        f"{paypal_fake.public_url}/v2/checkout/orders", json=order_request, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    order = answer.json()
    assert (answer.status_code, order["status"]) == (201, "PAYER_ACTION_REQUIRED")
    validate_exchange(paypal_fake.exchanges[-1])
    assert "payer-action" in [link["rel"] for link in order["links"]]


@pytest.mark.parametrize(
    ("amount", "currency", "value"),
    [(29.9, "USD", "29.90"), (5000, "JPY", "5000"), (10, "eur", "10.00"), (5000, "HUF", "5000"), (300, "TWD", "300")],
)
def test_amounts_carry_exactly_the_currencys_decimals(dynamodb, paypal_fake, amount, currency, value):
    order_id = create_order(amount, currency).body["order_id"]
    assert paypal_fake.orders[order_id]["purchase_units"][0]["amount"]["value"] == value


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 29.999, "currency": "USD"}, "amount"),
        ({"amount": 10.5, "currency": "JPY"}, "amount"),
        ({"amount": 5000.5, "currency": "HUF"}, "amount"),  # PayPal takes no decimals for HUF (Stripe does)
        ({"amount": 300.1, "currency": "TWD"}, "amount"),
        ({"amount": 0, "currency": "USD"}, "amount"),
        ({"amount": "29.99", "currency": "USD"}, "amount"),
        ({"amount": 20000, "currency": "USD"}, "amount"),
        ({"amount": 10, "currency": "KWD"}, "currency"),
        ({"amount": 10}, "currency"),
        ({"amount": 10, "currency": "USD", "custom_id": "x" * 128}, "custom_id"),
        ({"amount": 10, "currency": "USD", "description": "bad\x00"}, "description"),
    ],
)
def test_bad_orders_are_400_and_reach_nobody(dynamodb, paypal_fake, body, field):
    result = paypal_call("paypal_create_order", body)
    assert result.status == 400
    assert result.body["error"].startswith(field)
    assert paypal_fake.exchanges == []


def test_a_retried_create_returns_the_first_order(dynamodb, paypal_fake):
    first = create_order(key="checkout-7")
    second = create_order(key="checkout-7")
    assert second.body == first.body
    assert len(paypal_fake.orders) == 1


def test_a_paypal_5xx_is_retried_with_the_same_request_id_and_creates_one_order(dynamodb, paypal_fake):
    paypal_fake.fail_next("/v2/checkout/orders", 503)
    result = create_order()
    assert result.status == 200
    request_ids = [
        exchange.headers.get("Paypal-Request-Id") for exchange in paypal_fake.exchanges if exchange.path == "/v2/checkout/orders"
    ]
    assert len(request_ids) == 2 and request_ids[0] == request_ids[1]
    assert len(paypal_fake.orders) == 1


def test_paypal_down_is_503(dynamodb, paypal_fake):
    for _ in range(10):
        paypal_fake.fail_next("/v2/checkout/orders", 503)
    assert create_order().status == 503
    assert items_with_prefix(dynamodb, PAYMENTS, "") == []


# token ------------------------------------------------------------------------------------------
def test_the_token_is_fetched_once_and_renewed_after_a_401(dynamodb, paypal_fake):
    for _ in range(3):
        assert create_order().status == 200
    assert paypal_fake.token_requests == 1
    paypal_fake.expire_tokens()
    assert create_order().status == 200
    assert paypal_fake.token_requests == 2


def test_wrong_credentials_are_a_server_fault_not_the_callers(dynamodb, paypal_fake, monkeypatch):
    from tests.conftest import clear_container_caches

    monkeypatch.setenv("PAYPAL_CLIENT_SECRET", "wrong")
    clear_container_caches()
    result = create_order()
    assert result.status == 502
    assert "wrong" not in result.body["error"]


# capture and get --------------------------------------------------------------------------------
def test_capture_before_approval_is_400(dynamodb, paypal_fake):
    order_id = create_order().body["order_id"]
    result = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert result.status == 400
    assert result.body["error"].startswith("ORDER_NOT_APPROVED")


def test_capture_after_approval_answers_the_seed_fields_and_the_capture_id(dynamodb, paypal_fake):
    order_id = create_order().body["order_id"]
    paypal_fake.approve(order_id)
    result = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert result.status == 200
    assert result.body["order_id"] == order_id
    assert result.body["captured"] is True
    assert result.body["capture_id"] in paypal_fake.captures
    again = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert (again.status, again.body) == (200, result.body)
    assert len(paypal_fake.captures) == 1


def test_a_capture_is_audited_naming_the_buyer_the_order_the_capture_and_the_money(dynamodb, paypal_fake, monkeypatch):
    from payments.domain import paypal_orders

    lines = []
    monkeypatch.setattr(paypal_orders, "audit", lambda action, **fields: lines.append((action, fields)))
    order_id = create_order(amount=12.5, currency="EUR", user="user-carol").body["order_id"]
    paypal_fake.approve(order_id)
    captured = paypal_call("paypal_capture_order", {"order_id": order_id}, user="user-carol")
    assert captured.status == 200, captured.body
    assert [fields for action, fields in lines if action == "paypal.order_captured"] == [
        {
            "user_id": "user-carol",
            "order_id": order_id,
            "capture_id": captured.body["capture_id"],
            "amount": "12.50",
            "currency": "EUR",
            "status": "COMPLETED",
        }
    ]


def test_a_capture_answered_without_the_orders_status_records_it_unknown_until_the_reconciliation(
    dynamodb, paypal_fake, stripe_fake, monkeypatch
):
    """PayPal's order schema does not require ``status``: an answer without one leaves the order
    recorded as UNKNOWN (not the APPROVED it was: the capture went through, and nothing says how),
    until the reconciliation records what PayPal says of it."""
    from payments import wiring
    from payments.providers.paypal_client import PayPalClient

    order_id = create_order().body["order_id"]
    paypal_fake.approve(order_id)
    assert deliver_paypal_webhook(paypal_fake, paypal_fake.events[-1]).body["outcome"] == "applied"  # recorded APPROVED
    original = PayPalClient.capture_order

    def without_status(self, *args, **kwargs):
        return {name: value for name, value in original(self, *args, **kwargs).items() if name != "status"}

    monkeypatch.setattr(PayPalClient, "capture_order", without_status)
    captured = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert captured.status == 200, captured.body  # the money moved: answered and recorded, never a 500
    assert capture_record(dynamodb, captured.body["capture_id"])["owner"] == "user-alice"
    assert wiring.paypal_objects().get("order", order_id)["status"] == "UNKNOWN"
    assert reconcile_paypal()["failed"] == 0  # the capture's event, listed, says the order completed
    assert wiring.paypal_objects().get("order", order_id)["status"] == "COMPLETED"


def test_a_denied_capture_is_not_captured(dynamodb, paypal_fake):
    order_id = create_order().body["order_id"]
    paypal_fake.approve(order_id)
    paypal_fake.deny_next_capture = True
    result = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert (result.status, result.body["captured"], result.body["capture_status"]) == (200, False, "DECLINED")


def test_get_order_answers_the_seed_fields(dynamodb, paypal_fake):
    order_id, _ = approved_and_captured(paypal_fake)
    result = paypal_call("paypal_get_order", {"order_id": order_id})
    assert result.status == 200
    body = result.body
    assert (body["order_id"], body["status"], body["intent"]) == (order_id, "COMPLETED", "CAPTURE")
    # the unit as created: the caller's custom_id (their own reference for the payment) comes back
    assert body["purchase_units"] == [
        {
            "reference_id": "default",
            "amount": {"currency_code": "USD", "value": "29.99"},
            "custom_id": "payment_123",
            "description": "Course enrollment",
        }
    ]
    assert isinstance(body["create_time"], str) and isinstance(body["update_time"], str)


def test_an_order_paypal_never_updated_answers_its_creation_time_as_its_update_time(dynamodb, paypal_fake):
    order_id = create_order().body["order_id"]
    assert "update_time" not in paypal_fake.orders[order_id]  # optional in PayPal's description: none before a change
    result = paypal_call("paypal_get_order", {"order_id": order_id})
    assert (result.status, result.body["status"]) == (200, "CREATED")
    assert result.body["update_time"] == result.body["create_time"] == paypal_fake.orders[order_id]["create_time"]


# refunds ------------------------------------------------------------------------------------------
def test_a_refund_over_what_remains_says_it_in_paypals_decimals_of_the_currency(dynamodb, paypal_fake):
    # PayPal takes no decimals for HUF (Stripe takes two): what remains is said in whole forints.
    _, capture_id = approved_and_captured(paypal_fake, amount=5000, currency="HUF")
    assert refund(capture_id, amount=3000, currency="HUF").status == 200
    over = refund(capture_id, amount=2001, currency="HUF", key="second")
    assert (over.status, over.body["error"]) == (400, "amount: at most 2000 HUF remains refundable")


def test_a_full_refund_answers_the_seed_fields(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake)
    result = refund(capture_id, amount=29.99, currency="USD", note_to_payer="Refund for course cancellation")
    assert result.status == 200, result.body
    assert result.body["refund_id"] in paypal_fake.refunds
    assert result.body["status"] == "COMPLETED"
    assert result.body["amount"] == {"currency_code": "USD", "value": "29.99"}
    assert isinstance(result.body["create_time"], str)
    assert paypal_fake.captures[capture_id]["status"] == "REFUNDED"


def test_partial_refunds_up_to_what_remains(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    assert refund(capture_id, amount=20, currency="USD").status == 200
    assert refund(capture_id, amount=20, currency="USD", key="second-20").status == 200  # a second refund of 20, by its key
    calls_before = len(paypal_fake.exchanges)
    over = refund(capture_id, amount=10.01, currency="USD")
    assert over.status == 400
    assert over.body["error"] == "amount: at most 10.00 USD remains refundable"
    assert len(paypal_fake.exchanges) == calls_before
    rest = refund(capture_id)
    assert (rest.status, rest.body["amount"]["value"]) == (200, "10.00")
    [capture] = items_with_prefix(dynamodb, PAYMENTS, "PAYPAL#capture#")
    assert capture["refunded_minor"] == capture["amount_minor"] == Decimal(5000)


def refund_records(dynamodb, capture_id):
    capture = capture_record(dynamodb, capture_id)
    refunds = [r for r in items_with_prefix(dynamodb, PAYMENTS, "PAYPAL#refund#") if r["capture_id"] == capture_id]
    reservations = [r for r in items_with_prefix(dynamodb, PAYMENTS, "PAYPAL#refund_reservation#") if r["capture_id"] == capture_id]
    return capture, refunds, reservations


def assert_counters_add_up(dynamodb, paypal_fake, capture_id):
    """What must hold of every capture: the refunds recorded are PayPal's, add up to the refunded
    counter, never exceed the capture; the remainder is what neither refunds nor holds took, and
    never negative (zero while PayPal has taken back more than the holds left)."""
    capture, refunds, reservations = refund_records(dynamodb, capture_id)
    held = sum(r["amount_minor"] for r in reservations if r["state"] == "reserved")
    assert capture["refunded_minor"] == sum(r["amount_minor"] for r in refunds) <= capture["amount_minor"]
    assert capture.get("reserved_minor", 0) == held
    assert capture["refundable_minor"] == max(0, capture["amount_minor"] - held - capture["refunded_minor"])
    assert {r["object_id"] for r in refunds} <= set(paypal_fake.refunds)
    return capture, refunds, reservations


def test_a_refund_is_audited_with_its_amount_and_currency(dynamodb, paypal_fake, monkeypatch):
    """A refund's audit line is the money trail: who asked, of which capture, how much of which
    currency (an amount without its currency is no amount)."""
    from payments.domain import paypal_refunds

    lines = []
    monkeypatch.setattr(paypal_refunds, "audit", lambda action, **fields: lines.append((action, fields)))
    _, capture_id = approved_and_captured(paypal_fake, amount=40, currency="EUR")
    result = refund(capture_id, amount=12.5, currency="EUR")
    assert result.status == 200, result.body
    assert lines == [
        (
            "paypal.capture_refunded",
            {
                "user_id": "user-staff",
                "capture_id": capture_id,
                "refund_id": result.body["refund_id"],
                "amount": "12.50",
                "currency": "EUR",
            },
        )
    ]


def test_a_double_click_without_a_key_refunds_once(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    first = refund(capture_id, amount=20, currency="USD")
    again = refund(capture_id, amount=20, currency="USD", user="user-other-staff")
    assert first.status == again.status == 200
    assert again.body == first.body
    assert len(paypal_fake.refunds) == 1
    capture, _, _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert capture["refunded_minor"] == 2000


def test_identical_refund_requests_are_one_refund_only_within_the_window(dynamodb):
    from payments import wiring
    from payments.domain.paypal_refunds import REQUEST_WINDOW_SECONDS
    from payments.repositories.paypal_refunds import PayPalRefundRepository

    requests = PayPalRefundRepository(wiring.dynamodb.get_client(), wiring.settings.get_settings().payments_table)
    first = requests.reservation_for_request("same-body", REQUEST_WINDOW_SECONDS, now=1_000_000)
    assert requests.reservation_for_request("same-body", REQUEST_WINDOW_SECONDS, now=1_000_000 + REQUEST_WINDOW_SECONDS) == first
    assert requests.reservation_for_request("other-body", REQUEST_WINDOW_SECONDS, now=1_000_001) != first
    later = requests.reservation_for_request("same-body", REQUEST_WINDOW_SECONDS, now=1_000_001 + REQUEST_WINDOW_SECONDS)
    assert later != first


def test_a_replayed_capture_keeps_the_refunds_recorded_on_it(dynamodb, paypal_fake):
    order_id, capture_id = approved_and_captured(paypal_fake, amount=30)
    assert refund(capture_id, amount=10, currency="USD").status == 200
    replay = paypal_call("paypal_capture_order", {"order_id": order_id})  # same PayPal-Request-Id: PayPal's first answer
    assert (replay.status, replay.body["capture_id"]) == (200, capture_id)
    capture, _, _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["refunded_minor"], capture["refundable_minor"], capture["status"]) == (1000, 2000, "PARTIALLY_REFUNDED")


def test_a_refund_arriving_while_another_is_at_paypal_cannot_take_the_same_money(dynamodb, paypal_fake, monkeypatch):
    from payments import wiring
    from payments.providers.paypal_client import PayPalClient

    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    real_refund = PayPalClient.refund_capture
    overlapping = []

    def refund_while_the_first_is_in_flight(client, *args, **kwargs):
        if not overlapping:
            overlapping.append(refund(capture_id, amount=30, currency="USD", key="second"))
        return real_refund(client, *args, **kwargs)

    monkeypatch.setattr(PayPalClient, "refund_capture", refund_while_the_first_is_in_flight)
    wiring.reset()
    first = refund(capture_id, amount=30, currency="USD", key="first")
    assert first.status == 200
    assert (overlapping[0].status, overlapping[0].body["error"]) == (400, "amount: at most 20.00 USD remains refundable")
    assert len(paypal_fake.refunds) == 1
    assert_counters_add_up(dynamodb, paypal_fake, capture_id)


def test_a_refund_paypal_refuses_gives_the_amount_back(dynamodb, paypal_fake):
    from local.paypal_fake.objects import unprocessable

    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    paypal_fake.fail_next("/v2/payments/captures/", unprocessable("REFUND_NOT_ALLOWED", "Capture cannot be refunded."))
    refused = refund(capture_id, amount=50, currency="USD")
    assert (refused.status, refused.body["error"]) == (400, "REFUND_NOT_ALLOWED: Capture cannot be refunded.")
    capture, _, [reservation] = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["refundable_minor"], reservation["state"]) == (5000, "released")
    assert refund(capture_id, amount=50, currency="USD", key="after-the-refusal").status == 200


def test_an_answer_lost_on_the_way_back_is_retried_into_paypals_replay(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    paypal_fake.lose_next_answer("/v2/payments/captures/")
    result = refund(capture_id, amount=15, currency="USD")
    assert result.status == 200
    assert list(paypal_fake.refunds) == [result.body["refund_id"]]
    _capture, [recorded], _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert recorded["object_id"] == result.body["refund_id"]


def test_a_refund_whose_answer_never_came_is_settled_by_its_webhook(dynamodb, paypal_fake, monkeypatch):
    from payments import wiring

    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "0")
    wiring.reset()
    paypal_fake.lose_next_answer("/v2/payments/captures/")
    assert refund(capture_id, amount=15, currency="USD").status == 502
    capture, refunds, [reservation] = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (refunds, reservation["state"], capture["refundable_minor"]) == ([], "reserved", 3500)
    # the hold as stored: the payments table's items each say what they are (kind), as records do
    held = {name: value for name, value in reservation.items() if name != "created_at"}
    assert held == {
        "pk": f"PAYPAL#refund_reservation#{reservation['object_id']}",
        "sk": "OBJECT",
        "kind": "refund_reservation",
        "object_id": reservation["object_id"],
        "capture_id": capture_id,
        "amount_minor": 1500,
        "state": "reserved",
        "requested_by": "user-staff",
    }
    assert refund(capture_id, amount=40, currency="USD", key="too-much").status == 400  # the held 15 cannot go twice
    refunded = paypal_fake.events[-1]
    assert refunded["resource"]["custom_id"] == reservation["object_id"]
    assert deliver_paypal_webhook(paypal_fake, refunded).body["outcome"] == "applied"
    capture, [recorded], [reservation] = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (reservation["state"], capture["refunded_minor"], capture["refundable_minor"]) == ("refunded", 1500, 3500)
    retried = refund(capture_id, amount=15, currency="USD")  # the operator's retry: the same refund, answered from our records
    assert (retried.status, retried.body["refund_id"]) == (200, recorded["object_id"])
    assert len(paypal_fake.refunds) == 1


def test_reconciliation_settles_a_refund_whose_answer_and_webhook_were_lost(dynamodb, paypal_fake, stripe_fake, monkeypatch):
    import time

    from payments import wiring
    from tests.support.lambdas import LambdaContext, load_module, sample_event

    _, first_capture = approved_and_captured(paypal_fake, amount=50)
    _, second_capture = approved_and_captured(paypal_fake, amount=20)
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "0")
    wiring.reset()
    paypal_fake.lose_next_answer("/v2/payments/captures/")
    assert refund(first_capture, amount=15, currency="USD").status == 502  # refunded at PayPal, answer and webhook lost
    paypal_fake.fail_next("/v2/payments/captures/", 503)
    assert refund(second_capture, amount=5, currency="USD", key="second").status == 503  # never reached PayPal
    paypal_fake.dashboard_refund(second_capture, "2.50")  # its webhook lost too
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    wiring.reset()
    reconcile = load_module("reconcile_payments")
    reconcile.lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))
    first, [_recorded], [reservation] = assert_counters_add_up(dynamodb, paypal_fake, first_capture)
    assert (reservation["state"], first["refunded_minor"], first["status"]) == ("refunded", 1500, "PARTIALLY_REFUNDED")
    second, [dashboard], [released] = assert_counters_add_up(dynamodb, paypal_fake, second_capture)
    assert (released["state"], second["refunded_minor"], second["refundable_minor"]) == ("released", 250, 1750)
    # why, kept with the reservation and told to the staff member who retries that request
    assert released["refusal"] == "PayPal made no refund for this request"
    retried = refund(second_capture, amount=5, currency="USD", key="second")
    assert (retried.status, retried.body) == (400, {"error": "PayPal made no refund for this request"})
    assert "custom_id" not in paypal_fake.refunds[dashboard["object_id"]]
    again = load_module("reconcile_payments").lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))
    assert again["repaired"] == 0


def test_a_refund_reservation_the_reconciliation_releases_is_audited_naming_its_capture(dynamodb, paypal_fake, stripe_fake, monkeypatch):
    """The repair's audit line names the capture whose held amount went back: what an auditor
    follows from the reconciliation to the money."""
    import time

    from payments import wiring
    from payments.domain import reconciliation

    _, capture_id = approved_and_captured(paypal_fake, amount=20)
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "0")
    wiring.reset()
    paypal_fake.fail_next("/v2/payments/captures/", 503)
    assert refund(capture_id, amount=5, currency="USD", key="never-reached").status == 503
    _, _, [held] = refund_records(dynamodb, capture_id)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    wiring.reset()
    lines = []
    monkeypatch.setattr(reconciliation, "audit", lambda action, **fields: lines.append((action, fields)))
    reconcile_paypal()
    released = f"refund reservation {held['object_id']} released"
    assert [fields for action, fields in lines if action == "reconcile.repair" and fields["repair"] == released] == [
        {"repair": released, "capture_id": capture_id}
    ]


def test_refund_webhooks_in_any_order_leave_the_status_the_counters_say(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    paypal_fake.dashboard_refund(capture_id, "10.00")
    paypal_fake.dashboard_refund(capture_id, "30.00")
    partial, full = paypal_fake.events[-2:]
    assert deliver_paypal_webhook(paypal_fake, full).body["outcome"] == "applied"
    assert deliver_paypal_webhook(paypal_fake, partial).body["outcome"] == "applied"
    capture, _, _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["status"], capture["refunded_minor"], capture["refundable_minor"]) == ("REFUNDED", 4000, 0)
    assert refund(capture_id, amount=1, currency="USD").status == 400


def test_refunds_in_a_currency_without_decimals_at_paypal(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake, amount=5000, currency="HUF")
    assert refund(capture_id, amount=1000.5, currency="HUF").body == {"error": "amount: HUF amounts allow at most 0 decimal places"}
    partial = refund(capture_id, amount=1000, currency="HUF")
    assert (partial.status, partial.body["amount"]) == (200, {"currency_code": "HUF", "value": "1000"})
    rest = refund(capture_id)
    assert rest.body["amount"] == {"currency_code": "HUF", "value": "4000"}
    capture, _, _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["amount_minor"], capture["refunded_minor"], capture["status"]) == (5000, 5000, "REFUNDED")


def test_paypal_refuses_an_over_refund_that_our_records_missed(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    payments.refund_capture(
        paypal_fake, {"amount": {"currency_code": "USD", "value": "45.00"}}, capture_id
    )  # refunded in PayPal's dashboard
    result = refund(capture_id, amount=10, currency="USD")
    assert result.status == 400
    assert result.body["error"].startswith("REFUND_AMOUNT_EXCEEDED")


def test_refunds_are_staff_only(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake)
    result = refund(capture_id, user="user-alice", groups="[customers]", amount=1, currency="USD")
    assert result.status == 403
    assert paypal_fake.refunds == {}


def test_refund_of_an_unknown_capture_is_404_and_a_currency_mismatch_400(dynamodb, paypal_fake):
    assert refund("UNKNOWNCAPTURE01").status == 404
    _, capture_id = approved_and_captured(paypal_fake)
    mismatch = refund(capture_id, amount=1, currency="EUR")
    assert (mismatch.status, mismatch.body["error"]) == (400, "currency: the capture is in USD")
    assert refund(capture_id, amount=1).status == 400  # an amount needs its currency


# ownership -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", ["paypal_capture_order", "paypal_get_order"])
def test_another_users_order_is_403_and_unknown_is_404(dynamodb, paypal_fake, function):
    order_id = create_order(user="user-alice").body["order_id"]
    paypal_fake.approve(order_id)
    calls_before = len(paypal_fake.exchanges)
    assert paypal_call(function, {"order_id": order_id}, user="user-bob").status == 403
    assert len(paypal_fake.exchanges) == calls_before
    assert paypal_fake.orders[order_id]["status"] == "APPROVED"
    assert paypal_call(function, {"order_id": "NOSUCHORDER00001"}).status == 404


# webhook ----------------------------------------------------------------------------------------------
def capture_record(dynamodb, capture_id):
    from payments import wiring

    return wiring.paypal_objects().get("capture", capture_id)


def test_signed_events_are_applied_once(dynamodb, paypal_fake):
    order_id = create_order().body["order_id"]
    paypal_fake.approve(order_id)
    approved = paypal_fake.events[-1]
    assert deliver_paypal_webhook(paypal_fake, approved).body["outcome"] == "applied"
    assert deliver_paypal_webhook(paypal_fake, approved).body["outcome"] == "duplicate"
    from payments import wiring

    assert wiring.paypal_objects().get("order", order_id)["status"] == "APPROVED"


def test_an_event_without_a_create_time_is_dated_when_it_arrives(dynamodb, paypal_fake):
    """``create_time`` is optional in PayPal's event: an event without one is applied as of the
    moment it is received, so that an event dated before it cannot undo it and one after it can."""
    import time

    from payments import wiring

    order_id = create_order().body["order_id"]
    paypal_fake.approve(order_id)
    undated = {name: value for name, value in copy.deepcopy(paypal_fake.events[-1]).items() if name != "create_time"}
    before = int(time.time())
    result = deliver_paypal_webhook(paypal_fake, undated)
    after = int(time.time())
    assert result.status == 200, result.body
    assert result.body["outcome"] == "applied"
    order = wiring.paypal_objects().get("order", order_id)
    assert order["status"] == "APPROVED"
    assert before <= order["state_as_of"] <= after
    older = {"id": "WH-OLDER", "event_type": "CHECKOUT.ORDER.APPROVED", "create_time": "2020-01-01T00:00:00Z"}
    assert deliver_paypal_webhook(paypal_fake, {**older, "resource": {"id": order_id, "status": "SAVED"}}).body["outcome"] == "skipped"
    assert wiring.paypal_objects().get("order", order_id)["status"] == "APPROVED"


def test_a_capture_webhook_overtaking_the_capture_call_records_it_for_the_orders_owner(dynamodb, paypal_fake):
    order_id = create_order().body["order_id"]
    paypal_fake.approve(order_id)
    orders.capture(paypal_fake, {}, order_id)  # captured at PayPal; our capture call never returned
    completed = paypal_fake.events[-1]
    assert deliver_paypal_webhook(paypal_fake, completed).body["outcome"] == "applied"
    capture = capture_record(dynamodb, completed["resource"]["id"])
    assert (capture["owner"], capture["status"], capture["order_id"]) == ("user-alice", "COMPLETED", order_id)


def test_a_capture_webhook_audits_the_capture_for_the_orders_owner(dynamodb, paypal_fake, monkeypatch):
    """The audit line of a capture's change names the customer who created the order (the metrics
    and the money trail are per user), not the webhook's anonymous caller."""
    from payments.domain import paypal_webhooks

    lines = []
    monkeypatch.setattr(paypal_webhooks, "audit", lambda action, **fields: lines.append((action, fields)))
    order_id = create_order(amount=12.5, user="user-carol").body["order_id"]
    paypal_fake.approve(order_id)
    orders.capture(paypal_fake, {}, order_id)  # captured at PayPal; only the webhook tells us
    completed = paypal_fake.events[-1]
    assert deliver_paypal_webhook(paypal_fake, completed).body["outcome"] == "applied"
    assert lines == [
        (
            "paypal.capture_completed",
            {"user_id": "user-carol", "order_id": order_id, "capture_id": completed["resource"]["id"], "amount": "12.50"},
        )
    ]


def test_a_capture_webhook_of_an_order_not_ours_is_skipped_and_nothing_recorded(dynamodb, paypal_fake):
    order_id = create_order(amount=12.5).body["order_id"]
    paypal_fake.approve(order_id)
    orders.capture(paypal_fake, {}, order_id)  # captured at PayPal; only the webhook tells us
    foreign = copy.deepcopy(paypal_fake.events[-1])
    foreign["id"] = "WH-FOREIGN-ORDER"
    foreign["resource"]["supplementary_data"]["related_ids"]["order_id"] = "5O190127TN364715T"
    assert deliver_paypal_webhook(paypal_fake, foreign).body["outcome"] == "skipped"
    assert items_with_prefix(dynamodb, PAYMENTS, "PAYPAL#capture#") == []


def test_refund_events_in_any_order_leave_the_capture_refunded(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    completed = next(event for event in paypal_fake.events if event["event_type"] == "PAYMENT.CAPTURE.COMPLETED")
    payments.refund_capture(paypal_fake, {"amount": {"currency_code": "USD", "value": "40.00"}}, capture_id)
    refunded = paypal_fake.events[-1]
    stale_completed = copy.deepcopy(completed)
    stale_completed["create_time"] = "2020-01-01T00:00:00Z"
    assert deliver_paypal_webhook(paypal_fake, refunded).body["outcome"] == "applied"
    assert deliver_paypal_webhook(paypal_fake, stale_completed).body["outcome"] == "skipped"
    record = capture_record(dynamodb, capture_id)
    assert (record["status"], record["refunded_minor"]) == ("REFUNDED", Decimal(4000))


def test_a_refund_event_in_another_currency_than_its_capture_is_rejected_for_a_person(dynamodb, paypal_fake, caplog):
    """Its amount cannot be counted against the capture's: rejected for good (200, nothing recorded)
    and logged with why, for a person to look at."""
    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    payments.refund_capture(paypal_fake, {"amount": {"currency_code": "USD", "value": "10.00"}}, capture_id)
    refunded = copy.deepcopy(paypal_fake.events[-1])
    refunded["resource"]["amount"]["currency_code"] = "EUR"
    result = deliver_paypal_webhook(paypal_fake, refunded)
    assert (result.status, result.body["outcome"]) == (200, "rejected")
    assert capture_record(dynamodb, capture_id)["refunded_minor"] == 0
    [line] = [r for r in caplog.records if r.getMessage() == "Webhook event rejected for good"]
    assert (line.__dict__["event_id"], line.__dict__["reason"]) == (refunded["id"], "Refund currency differs from the capture's")


def test_a_dashboard_refund_from_its_webhook_is_recorded_and_audited_as_the_customers(dynamodb, paypal_fake, monkeypatch):
    """A refund made in PayPal's dashboard has no requester of ours: its record belongs to the
    capture's customer (who sees it, whose money trail it is), and so does its audit line."""
    from payments.domain import paypal_refunds

    lines = []
    monkeypatch.setattr(paypal_refunds, "audit", lambda action, **fields: lines.append((action, fields)))
    order_id = create_order(amount=40, user="user-carol").body["order_id"]
    paypal_fake.approve(order_id)
    capture_id = paypal_call("paypal_capture_order", {"order_id": order_id}, user="user-carol").body["capture_id"]
    refunded = paypal_fake.dashboard_refund(capture_id, "15.00")
    assert deliver_paypal_webhook(paypal_fake, paypal_fake.events[-1]).body["outcome"] == "applied"
    _, [recorded], _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (recorded["object_id"], recorded["owner"]) == (refunded["id"], "user-carol")
    assert lines == [
        (
            "paypal.capture_refunded",
            {"user_id": "user-carol", "capture_id": capture_id, "refund_id": refunded["id"], "amount": "15.00", "currency": "USD"},
        )
    ]


def test_a_reversal_in_another_currency_than_its_capture_is_rejected_for_a_person(dynamodb, paypal_fake, caplog):
    """As a refund in another currency: a reversal's amount cannot be counted against the capture's
    (rejected for good, nothing recorded, logged with why)."""
    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    paypal_fake.reverse_capture(capture_id)
    reversed_ = copy.deepcopy(paypal_fake.events[-1])
    reversed_["resource"]["amount"]["currency_code"] = "EUR"
    result = deliver_paypal_webhook(paypal_fake, reversed_)
    assert (result.status, result.body["outcome"]) == (200, "rejected")
    capture, refunds, _ = refund_records(dynamodb, capture_id)
    assert (capture["refunded_minor"], capture["refundable_minor"], refunds) == (0, 4000, [])
    [line] = [r for r in caplog.records if r.getMessage() == "Webhook event rejected for good"]
    assert (line.__dict__["event_id"], line.__dict__["reason"]) == (reversed_["id"], "Refund currency differs from the capture's")


def test_a_refund_event_names_its_capture_only_by_its_up_link(dynamodb, paypal_fake):
    """A refund's capture is its "up" link. An event carrying the capture itself (whose links name
    the capture as "self", its refund action, and its order as "up") names no refund's capture: it
    refunds nothing and waits (deferred), never counted as a refund of the whole capture."""
    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    completed = next(event for event in paypal_fake.events if event["event_type"] == "PAYMENT.CAPTURE.COMPLETED")
    assert [link["rel"] for link in completed["resource"]["links"]] == ["self", "refund", "up"]
    not_a_refund = copy.deepcopy(completed) | {"id": "WH-CAPTURE-AS-REFUND", "event_type": "PAYMENT.CAPTURE.REFUNDED"}
    assert deliver_paypal_webhook(paypal_fake, not_a_refund).body["outcome"] == "deferred"
    capture, refunds, _ = refund_records(dynamodb, capture_id)
    assert (capture["status"], capture["refunded_minor"], capture["refundable_minor"], refunds) == ("COMPLETED", 0, 4000, [])


def test_forged_events_are_400_and_change_nothing(dynamodb, paypal_fake):
    order_id = create_order().body["order_id"]
    paypal_fake.approve(order_id)
    event = copy.deepcopy(paypal_fake.events[-1])
    headers = paypal_fake.sign(b"{}", event)
    event["resource"]["status"] = "COMPLETED"  # tampered after signing
    result = deliver_paypal_webhook(paypal_fake, event, headers)
    assert (result.status, result.body) == (400, {"error": "Invalid PayPal signature"})
    forged_headers = {**paypal_fake.sign(b"{}", paypal_fake.events[-1]), "PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk"}
    assert deliver_paypal_webhook(paypal_fake, paypal_fake.events[-1], forged_headers).status == 400
    assert items_with_prefix(dynamodb, PAYMENTS, "WEBHOOK#") == []


def test_a_certificate_not_from_paypal_is_refused_before_asking_paypal(dynamodb, paypal_fake):
    order_id = create_order().body["order_id"]
    paypal_fake.approve(order_id)
    event = paypal_fake.events[-1]
    headers = {**paypal_fake.sign(b"", event), "PAYPAL-CERT-URL": "https://evil.example/cert.pem"}
    calls_before = len(paypal_fake.exchanges)
    assert deliver_paypal_webhook(paypal_fake, event, headers).status == 400
    assert len(paypal_fake.exchanges) == calls_before


def test_missing_signature_headers_are_400(dynamodb, paypal_fake):
    result = deliver_paypal_webhook(paypal_fake, {"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"}, headers={})
    assert result.status == 400
    assert result.body["error"].startswith("Missing PayPal signature header")


def test_the_certificate_url_check():
    from payments.providers.paypal_signature import trusted_cert_url

    assert trusted_cert_url("https://api.paypal.com/v1/notifications/certs/CERT-1", "https://api-m.sandbox.paypal.com")
    assert trusted_cert_url("https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1", "https://api-m.sandbox.paypal.com")
    assert not trusted_cert_url("http://api.paypal.com/v1/notifications/certs/CERT-1", "https://api-m.sandbox.paypal.com")
    assert not trusted_cert_url("https://api.paypal.com.evil.example/cert", "https://api-m.sandbox.paypal.com")
    assert not trusted_cert_url("https://evilpaypal.com/cert", "https://api-m.sandbox.paypal.com")


# every exchange against PayPal's descriptions --------------------------------------------------------
def test_every_request_and_answer_matches_paypals_openapi_descriptions(dynamodb, paypal_fake):
    order_id, capture_id = approved_and_captured(paypal_fake, amount=30)
    paypal_call("paypal_get_order", {"order_id": order_id})
    refund(capture_id, amount=10, currency="USD", note_to_payer="Partial refund")
    refund(capture_id, amount=25, currency="USD")  # refused by our records: no PayPal call
    payments.refund_capture(paypal_fake, {}, capture_id)
    paypal_call("paypal_capture_order", {"order_id": create_order().body["order_id"]})  # a PayPal 422
    paypal_call("paypal_get_order", {"order_id": order_id})
    event = paypal_fake.events[-1]
    assert deliver_paypal_webhook(paypal_fake, event).status == 200  # verified offline: no call to PayPal
    exchanges = [exchange for exchange in paypal_fake.exchanges if not exchange.path.startswith("/v1/oauth2")]
    assert {exchange.path.split("/")[2] for exchange in exchanges} == {"checkout", "payments"}
    assert any(exchange.status == 422 for exchange in exchanges)
    for exchange in exchanges:
        validate_exchange(exchange)


def test_a_dashboard_refund_on_an_older_capture_is_found_whatever_the_last_run(dynamodb, paypal_fake, stripe_fake, monkeypatch):
    """Found by `make proof`: the capture check used the checkpoint's window, so a capture older than
    the last complete run was never looked at again."""
    import time

    from payments import wiring
    from tests.support.lambdas import LambdaContext, load_module, sample_event

    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    reconcile = load_module("reconcile_payments")
    reconcile.lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))
    later = time.time() + 6 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    wiring.reset()
    reconcile.lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))  # the checkpoint moves on
    paypal_fake.dashboard_refund(capture_id, "15.00")  # its webhook lost
    report = reconcile.lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))
    assert report["repaired"] == 1
    capture, _, _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["refunded_minor"], capture["status"]) == (1500, "PARTIALLY_REFUNDED")


# What PayPal does that the local PayPal once did not (issue 25) --------------------------------
def fake_capture(fake, value="40.00"):
    """An order created, approved and captured at the local PayPal directly (no API of ours)."""
    order = orders.create(fake, {"intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": value}}]})
    fake.approve(order["id"])
    captured = orders.capture(fake, {}, order["id"])
    return order["id"], captured["purchase_units"][0]["payments"]["captures"][0]["id"]


def paypal_get(fake, path):
    token = requests.post(
        f"{fake.public_url}/v1/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(fake.client_id, fake.client_secret),
        timeout=10,
    ).json()["access_token"]
    answer = requests.get(f"{fake.public_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_get_order_shows_a_refunded_capture_as_paypal_does(paypal_fake):
    order_id, capture_id = fake_capture(paypal_fake)
    paypal_fake.dashboard_refund(capture_id, "10.00")
    [shown] = paypal_get(paypal_fake, f"/v2/checkout/orders/{order_id}")["purchase_units"][0]["payments"]["captures"]
    assert shown["status"] == "PARTIALLY_REFUNDED"
    paypal_fake.dashboard_refund(capture_id)
    order = paypal_get(paypal_fake, f"/v2/checkout/orders/{order_id}")
    assert order["purchase_units"][0]["payments"]["captures"][0]["status"] == "REFUNDED"
    assert [r["amount"]["value"] for r in order["purchase_units"][0]["payments"]["refunds"]] == ["10.00", "30.00"]


@pytest.mark.parametrize(("settle", "status", "event_type"), [("complete", "COMPLETED", "COMPLETED"), ("deny", "DECLINED", "DENIED")])
def test_a_capture_pending_at_paypal_completes_or_is_denied_later(paypal_fake, settle, status, event_type):
    assert requests.post(f"{paypal_fake.public_url}/_fake/captures/pend-next", json={"reason": "ECHECK"}, timeout=5).ok
    order_id, capture_id = fake_capture(paypal_fake)
    pending = paypal_fake.events[-1]
    assert pending["event_type"] == "PAYMENT.CAPTURE.PENDING"
    assert (pending["resource"]["status"], pending["resource"]["status_details"]) == ("PENDING", {"reason": "ECHECK"})
    with pytest.raises(PayPalError) as refused:  # nothing to refund before the money arrived
        payments.refund_capture(paypal_fake, {}, capture_id)
    assert refused.value.status == 422
    settled = requests.post(f"{paypal_fake.public_url}/_fake/captures/{capture_id}/{settle}", timeout=5).json()
    assert settled["status"] == status and "status_details" not in settled
    assert paypal_fake.events[-1]["event_type"] == f"PAYMENT.CAPTURE.{event_type}"
    assert paypal_get(paypal_fake, f"/v2/payments/captures/{capture_id}")["status"] == status
    assert paypal_get(paypal_fake, f"/v2/checkout/orders/{order_id}")["purchase_units"][0]["payments"]["captures"][0]["status"] == status


def test_paypal_reverses_what_is_left_of_a_capture(paypal_fake):
    _, capture_id = fake_capture(paypal_fake)
    paypal_fake.dashboard_refund(capture_id, "10.00")
    reversal = requests.post(f"{paypal_fake.public_url}/_fake/captures/{capture_id}/reverse", timeout=5).json()
    event = paypal_fake.events[-1]
    assert (event["event_type"], event["resource_type"], event["resource"]["id"]) == ("PAYMENT.CAPTURE.REVERSED", "refund", reversal["id"])
    assert reversal["amount"] == {"currency_code": "USD", "value": "30.00"}
    assert paypal_get(paypal_fake, f"/v2/payments/captures/{capture_id}")["status"] == "REFUNDED"
    assert paypal_fake.refunded_total(capture_id) == Decimal("40.00")
    with pytest.raises(PayPalError):
        payments.refund_capture(paypal_fake, {}, capture_id)


# captures PayPal holds, and captures PayPal reverses (issue 24) ------------------------------------
def captured_pending(fake, amount=50):
    """An order captured through the API while PayPal holds the capture (PENDING, an eCheck)."""
    order_id = create_order(amount).body["order_id"]
    fake.approve(order_id)
    fake.pend_next("ECHECK")
    captured = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert (captured.status, captured.body["capture_status"], captured.body["captured"]) == (200, "PENDING", False)
    return order_id, captured.body["capture_id"]


def reconcile_paypal():
    from tests.support.lambdas import LambdaContext, load_module, sample_event

    return load_module("reconcile_payments").lambda_handler(sample_event("reconcile_payments"), LambdaContext(remaining_millis=300_000))


def test_a_pending_capture_completed_later_with_its_webhook_lost_is_found_by_the_reconciliation(dynamodb, paypal_fake, stripe_fake):
    _, capture_id = captured_pending(paypal_fake)
    paypal_fake.complete_capture(capture_id)  # its PAYMENT.CAPTURE.COMPLETED is lost
    for _ in range(20):  # and PayPal's list of events fails too (past our retries): the capture is looked up
        paypal_fake.fail_next("/v1/notifications/webhooks-events", 500)
    with pytest.raises(RuntimeError, match="could not be reconciled"):
        reconcile_paypal()
    paypal_fake.reset_failures()
    assert capture_record(dynamodb, capture_id)["status"] == "COMPLETED"
    assert reconcile_paypal()["repaired"] == 0
    assert refund(capture_id, amount=20, currency="USD").status == 200
    assert_counters_add_up(dynamodb, paypal_fake, capture_id)


def test_a_pending_capture_refunded_since_reports_its_completion_and_its_refund_as_repaired(dynamodb, paypal_fake, monkeypatch):
    """The reconciliation's step for a capture we hold as pending: PayPal completed it and a refund
    was made in its dashboard since, both webhooks lost. The capture is recorded completed, then its
    refund; what was repaired lists both (the run's ``repaired`` counts them), and the completion is
    audited as its webhook would have been: its customer and amount."""
    from payments import wiring
    from payments.domain import paypal_refunds

    lines = []
    monkeypatch.setattr(paypal_refunds, "audit", lambda action, **fields: lines.append((action, fields)))
    _, capture_id = captured_pending(paypal_fake)
    paypal_fake.complete_capture(capture_id)
    refund_id = paypal_fake.dashboard_refund(capture_id, "20.00")["id"]
    pending = capture_record(dynamodb, capture_id)
    assert pending["status"] == "PENDING"
    repaired = wiring.paypal_refund_service().refresh_capture(pending)
    assert repaired == [f"capture {capture_id} PENDING -> COMPLETED", f"refund {refund_id} recorded"]
    capture, [recorded], _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["status"], capture["refunded_minor"], recorded["object_id"]) == ("PARTIALLY_REFUNDED", 2000, refund_id)
    completed = [fields for action, fields in lines if action == "paypal.capture_completed"]
    assert completed == [{"user_id": "user-alice", "capture_id": capture_id, "amount": "50.00"}]


def test_a_refund_of_a_capture_we_hold_as_pending_asks_paypal_first(dynamodb, paypal_fake):
    _, capture_id = captured_pending(paypal_fake)
    still_pending = refund(capture_id, amount=20, currency="USD")
    assert (still_pending.status, still_pending.body["error"]) == (400, "amount: the capture is pending")
    assert paypal_fake.refunds == {}
    paypal_fake.complete_capture(capture_id)  # its webhook is lost
    result = refund(capture_id, amount=20, currency="USD")
    assert result.status == 200, result.body
    capture, [recorded], _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["status"], capture["refunded_minor"], recorded["object_id"]) == ("PARTIALLY_REFUNDED", 2000, result.body["refund_id"])


def test_a_denied_pending_capture_is_recorded_declined_and_never_refunded(dynamodb, paypal_fake, stripe_fake):
    _, capture_id = captured_pending(paypal_fake)
    paypal_fake.deny_capture(capture_id)  # its webhook is lost
    reconcile_paypal()
    assert capture_record(dynamodb, capture_id)["status"] == "DECLINED"
    assert refund(capture_id, amount=20, currency="USD").status == 400
    assert paypal_fake.refunds == {}


def test_a_reversal_returns_what_was_left_and_the_sums_per_capture_add_up(dynamodb, paypal_fake):
    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    assert refund(capture_id, amount=10, currency="USD").status == 200
    reversal = paypal_fake.reverse_capture(capture_id)  # a chargeback PayPal decided for the payer
    event = paypal_fake.events[-1]
    assert deliver_paypal_webhook(paypal_fake, event).body["outcome"] == "applied"
    assert deliver_paypal_webhook(paypal_fake, event).body["outcome"] == "duplicate"
    capture, recorded, _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["status"], capture["refunded_minor"], capture["refundable_minor"]) == ("REFUNDED", 5000, 0)
    assert {r["object_id"]: r.get("reason") for r in recorded}[reversal["id"]] == "reversal"
    refused = refund(capture_id, key="after-the-reversal")
    assert refused.status == 400
    assert len(paypal_fake.refunds) == 2  # the refund and the reversal: nothing asked of PayPal after it


def test_a_reversal_while_a_refund_waits_for_paypals_answer_still_adds_up(dynamodb, paypal_fake, monkeypatch):
    from payments import wiring

    _, capture_id = approved_and_captured(paypal_fake, amount=50)
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "0")
    wiring.reset()
    paypal_fake.fail_next("/v2/payments/captures/", 503)
    assert refund(capture_id, amount=15, currency="USD").status == 503  # held 15, PayPal's answer unknown
    paypal_fake.reverse_capture(capture_id)  # PayPal takes back all 50
    assert deliver_paypal_webhook(paypal_fake, paypal_fake.events[-1]).body["outcome"] == "applied"
    capture, _, [held] = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (held["state"], capture["refunded_minor"]) == ("reserved", 5000)
    assert refund(capture_id, amount=1, currency="USD", key="more").status == 400


def test_a_reservation_is_conditioned_on_the_remainder_it_takes_not_on_what_was_read(dynamodb):
    """Two refunds read the same remainder; the second to write finds it taken by the first and is
    refused, whatever it read: the condition is on the remainder itself, in the same write."""
    from payments import wiring
    from payments.domain.paypal_objects import capture_state
    from payments.domain.paypal_refunds import NotRefundable
    from payments.repositories.paypal_refunds import PayPalRefundRepository

    client, table = wiring.dynamodb.get_client(), wiring.settings.get_settings().payments_table
    capture = {"id": "CAPTURE-RACE", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "50.00"}}
    wiring.paypal_objects().record("capture", "CAPTURE-RACE", "user-alice", capture_state(capture, "ORDER-RACE"), now=1)
    other = PayPalRefundRepository(client, table)

    class ReadThenOvertaken:
        """The first refund's client: between its read and its write, the other refund reserves."""

        overtaken = False

        def __getattr__(self, name):
            return getattr(client, name)

        def transact_write_items(self, **request):
            if not self.overtaken:
                self.overtaken = True
                other.reserve("second", "CAPTURE-RACE", 3000, "user-staff", now=2)
            return client.transact_write_items(**request)

    first = PayPalRefundRepository(ReadThenOvertaken(), table)
    with pytest.raises(NotRefundable) as refused:
        first.reserve("first", "CAPTURE-RACE", 3000, "user-staff", now=2)
    assert refused.value.remaining_minor == 2000
    record = wiring.paypal_objects().get("capture", "CAPTURE-RACE")
    assert (record["refundable_minor"], first.reservation("first"), other.reservation("second").amount_minor) == (2000, None, 3000)


def test_a_reversal_whose_webhook_was_lost_is_found_by_the_reconciliation(dynamodb, paypal_fake, stripe_fake):
    """PayPal lists its event notifications: the reconciliation applies a reversal whose webhook
    never arrived, once."""
    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    reversal = paypal_fake.reverse_capture(capture_id)  # its PAYMENT.CAPTURE.REVERSED is lost
    report = reconcile_paypal()
    assert any(reversal_event.startswith("PAYMENT.CAPTURE.REVERSED") for reversal_event in report["repairs"])
    capture, recorded, _ = assert_counters_add_up(dynamodb, paypal_fake, capture_id)
    assert (capture["status"], capture["refunded_minor"], [r["object_id"] for r in recorded]) == ("REFUNDED", 4000, [reversal["id"]])
    assert reconcile_paypal()["repaired"] == 0
    assert deliver_paypal_webhook(paypal_fake, paypal_fake.events[-1]).body["outcome"] == "duplicate"  # the late delivery


def test_a_lost_paypal_event_the_reconciliation_applies_is_audited_with_its_id_and_type(dynamodb, paypal_fake, stripe_fake, monkeypatch):
    """The repair's audit line names the event (id and type): what a person needs to find it in
    PayPal's dashboard."""
    from payments.domain import reconciliation

    _, capture_id = approved_and_captured(paypal_fake, amount=40)
    paypal_fake.reverse_capture(capture_id)  # its PAYMENT.CAPTURE.REVERSED is lost
    reversed_ = paypal_fake.events[-1]
    lines = []
    monkeypatch.setattr(reconciliation, "audit", lambda action, **fields: lines.append((action, fields)))
    reconcile_paypal()
    repair = f"PAYMENT.CAPTURE.REVERSED {reversed_['id']} applied"
    assert [fields for action, fields in lines if action == "reconcile.repair" and fields["repair"] == repair] == [
        {"repair": repair, "event_id": reversed_["id"], "event_type": "PAYMENT.CAPTURE.REVERSED"}
    ]


def test_the_reconciliation_counts_each_capture_it_examines_once(dynamodb, paypal_fake, stripe_fake, monkeypatch):
    """The run's report says how many objects it looked at: two captures not fully refunded (their
    orders completed, PayPal listing no event) are two."""
    from payments.providers.paypal_client import PayPalClient

    approved_and_captured(paypal_fake, amount=40)
    approved_and_captured(paypal_fake, amount=15)
    monkeypatch.setattr(PayPalClient, "list_events", lambda self, event_type, start_time, end_time: iter(()))
    report = reconcile_paypal()
    assert (report["checked"], report["repaired"], report["failed"]) == (2, 0, 0)


def test_each_paypal_event_listing_that_fails_counts_as_one_failure(dynamodb, paypal_fake, stripe_fake, monkeypatch, caplog):
    """The reconciliation lists PayPal's events one type at a time; each listing PayPal cannot answer
    (past our retries) is one failure of the run, and logged: two failed, two counted."""
    from payments import wiring
    from payments.errors import ProviderUnavailable
    from payments.providers.paypal_client import PayPalClient

    types = wiring.paypal_webhooks().event_types()
    assert len(types) >= 2
    failing = set(types[:2])

    def list_events(self, event_type, start_time, end_time):
        if event_type in failing:
            raise ProviderUnavailable("PayPal is unavailable")
        return iter(())

    monkeypatch.setattr(PayPalClient, "list_events", list_events)
    caplog.clear()
    report = wiring.reconciler().run()
    assert report.failed == 2
    logged = [getattr(r, "event_type", None) for r in caplog.records if r.getMessage() == "Reconciliation could not list PayPal events"]
    assert sorted(logged) == sorted(failing)


def test_the_reconciliation_leaves_an_order_paypal_has_not_moved_as_it_was(dynamodb, paypal_fake, stripe_fake, monkeypatch):
    """An order created and not paid yet: PayPal gives the status we hold. Nothing is repaired and
    its record is not written (its state's time stays that of the fact that set it, so a later
    webhook of the buyer's approval is not taken for older than our record)."""
    from payments import wiring
    from payments.providers.paypal_client import PayPalClient

    order_id = create_order(20).body["order_id"]
    before = wiring.paypal_objects().get("order", order_id)
    assert before is not None and before["status"] == "CREATED"
    monkeypatch.setattr(PayPalClient, "list_events", lambda self, event_type, start_time, end_time: iter(()))
    report = wiring.reconciler().run()
    assert report.complete and not [repair for repair in report.repairs if order_id in repair], report.repairs
    assert wiring.paypal_objects().get("order", order_id) == before


def test_the_reconciliation_records_the_status_paypal_gives_an_order(dynamodb, paypal_fake, stripe_fake, monkeypatch):
    """The capture call's answer is lost: PayPal completed the order, our record still says it was
    created, and its webhooks are lost. The reconciliation looks the order up and records PayPal's
    status on our record."""
    from payments import wiring

    order_id = create_order(20).body["order_id"]
    paypal_fake.approve(order_id)
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "0")  # the capture call gives up: no retry into the replay
    wiring.reset()
    paypal_fake.lose_next_answer("/v2/checkout/orders/")
    assert paypal_call("paypal_capture_order", {"order_id": order_id}).status >= 500
    before = wiring.paypal_objects().get("order", order_id)
    assert before is not None and before["status"] != "COMPLETED"
    # its webhooks are lost and PayPal lists none of them: only the order's own look-up can find it
    from payments.providers.paypal_client import PayPalClient

    monkeypatch.setattr(PayPalClient, "list_events", lambda self, event_type, start_time, end_time: iter(()))
    report = wiring.reconciler().run()
    assert f"order {order_id} {before['status']} -> COMPLETED" in report.repairs
    after = wiring.paypal_objects().get("order", order_id)
    assert after is not None and after["status"] == "COMPLETED"
