"""POST /api/payments/create-payment-intent/ (seed 004)."""

import time
import uuid
from urllib.parse import parse_qs, urlparse

import pytest

from local.stripe_fake import payment_intents
from tests.support.dynamo import TICKETS, items_with_prefix
from tests.support.flows import buy, cancel, create_event, get_event, verify
from tests.support.lambdas import call
from tests.unit.test_qr import decode_qr


def test_free_event_issues_the_ticket_at_once_as_the_seed_shows(dynamodb, stripe_fake):
    # Given a free event
    event_id = create_event(price=0, capacity=5)
    # When a customer asks for two tickets
    result = buy(event_id, 2)
    # Then the seed's free-event answer comes back, field by field and type by type
    assert result.status == 200
    body = result.body
    assert body["detail"] == "Successfully purchased tickets"
    assert isinstance(body["ticket_id"], int)
    assert isinstance(body["ticket_code"], str)
    assert uuid.UUID(body["ticket_code"]).version == 4
    assert decode_qr(body["qr_code_data"]) == body["ticket_code"]
    # And the seats are taken, with no call to Stripe
    assert get_event(event_id)["available"] == 3
    assert stripe_fake.requests == []


def test_paid_event_reserves_and_opens_a_checkout_session_as_the_seed_shows(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=10)
    before = int(time.time())
    result = buy(event_id, 2)
    assert result.status == 200
    body = result.body
    assert set(body) >= {"checkout_url", "session_id", "ticket_id", "ticket_code"}
    assert isinstance(body["checkout_url"], str)
    assert isinstance(body["ticket_id"], int)
    assert body["session_id"].startswith("cs_test_")
    uuid.UUID(body["ticket_code"])
    assert "qr_code_data" not in body
    # The session is Stripe's: price from the event record, the seed's return addresses, an expiry
    session = stripe_fake.sessions[body["session_id"]]
    assert body["checkout_url"] == session["url"]
    assert (session["amount_total"], session["currency"]) == (5000, "usd")
    assert (
        session["success_url"] == f"http://localhost:5173/payment/success?session_id={{CHECKOUT_SESSION_ID}}&ticket_id={body['ticket_id']}"
    )
    assert session["cancel_url"] == f"http://localhost:5173/payment/cancel?ticket_id={body['ticket_id']}"
    assert before + 1800 <= session["expires_at"] <= before + 86400
    assert session["expires_at"] == body["expires_at"]
    assert session["metadata"] == {"ticket_id": str(body["ticket_id"]), "event_id": str(event_id), "user_id": "user-alice"}
    assert get_event(event_id)["available"] == 8
    # And the call carried an idempotency key
    [(method, path, key)] = stripe_fake.requests
    assert (method, path, key) == ("POST", "/v1/checkout/sessions", f"ticket-checkout-{body['ticket_id']}")


def test_a_client_cannot_set_the_price(dynamodb, stripe_fake):
    """Seed 004 tells the frontend it need not send ``total_amount`` (the backend prices the order):
    a frontend that still sends it is served at the event's price; a ``price`` is refused."""
    event_id = create_event(price=25, capacity=10)
    result = call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "total_amount": 0.01})
    assert result.status == 200
    assert stripe_fake.sessions[result.body["session_id"]]["amount_total"] == 2500
    refused = call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "total_amount": 0.01, "price": 0})
    assert (refused.status, refused.body) == (400, {"error": "price: unknown field"})
    assert len(stripe_fake.sessions) == 1


def test_zero_decimal_currency_goes_to_stripe_unscaled(dynamodb, stripe_fake):
    event_id = create_event(price=1500, currency="jpy", capacity=10)
    result = buy(event_id, 3)
    assert stripe_fake.sessions[result.body["session_id"]]["amount_total"] == 4500


def test_isk_goes_to_stripe_with_two_decimals_of_whole_kronur(dynamodb, stripe_fake):
    event_id = create_event(price=450, currency="isk", capacity=10)
    result = buy(event_id, 2)
    assert stripe_fake.sessions[result.body["session_id"]]["amount_total"] == 90000


def test_the_stripe_fake_refuses_isk_amounts_that_are_not_whole_kronur(stripe_fake):
    from local.stripe_fake.objects import StripeError

    with pytest.raises(StripeError, match="evenly divisible by 100"):
        payment_intents.create(stripe_fake, {"amount": "45050", "currency": "isk"})


def test_not_enough_tickets_is_400_and_takes_nothing(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=3)
    result = buy(event_id, 4)
    assert result.status == 400
    assert "Not enough tickets" in result.body["error"]
    assert get_event(event_id)["available"] == 3
    assert items_with_prefix(dynamodb, TICKETS, "TICKET#") == []
    assert stripe_fake.requests == []


def test_unknown_event_is_404(dynamodb, stripe_fake):
    result = buy(12345, 1)
    assert (result.status, result.body) == (404, {"error": "Event not found"})


def test_stripe_refusing_is_400_and_gives_the_seats_back(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=5)
    stripe_fake.fail_next("/v1/checkout/sessions", status=400, type_="invalid_request_error", message="Invalid currency.", code=None)
    result = buy(event_id, 2)
    assert result.status == 400
    assert result.body["error"] == "Invalid currency."
    assert get_event(event_id)["available"] == 5
    [ticket] = items_with_prefix(dynamodb, TICKETS, "TICKET#")
    assert ticket["status"] == "cancelled"


def test_a_reservation_released_after_stripe_refused_its_checkout_says_when(dynamodb, stripe_fake):
    """The cancelled ticket keeps when its seats went back, as every release does (the sweep's, a
    cancel's): what an operator reads to tell when a reservation ended."""
    event_id = create_event(price=25, capacity=5)
    stripe_fake.fail_next("/v1/checkout/sessions", status=400, type_="invalid_request_error", message="Invalid currency.", code=None)
    assert buy(event_id, 2).status == 400
    [ticket] = items_with_prefix(dynamodb, TICKETS, "TICKET#")
    assert ticket["status"] == "cancelled"
    assert ticket["released_at"] >= ticket["created_at"]


def test_a_rate_limited_call_is_retried_with_the_same_idempotency_key(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=5)
    stripe_fake.rate_limit_next("/v1/checkout/sessions")
    result = buy(event_id, 1)
    assert result.status == 200
    keys = [key for method, path, key in stripe_fake.requests if path == "/v1/checkout/sessions"]
    assert keys == [f"ticket-checkout-{result.body['ticket_id']}"] * 2


def test_stripe_rate_limiting_past_the_budget_is_503_not_500(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=5)
    stripe_fake.rate_limit_next("/v1/checkout/sessions", times=20)
    result = buy(event_id, 1)
    assert result.status == 503
    assert get_event(event_id)["available"] == 5


@pytest.mark.parametrize("status", [401, 403])
def test_stripe_refusing_our_key_is_our_fault_a_502_and_never_shows_the_key(dynamodb, stripe_fake, status, caplog):
    event_id = create_event(price=25, capacity=5)
    stripe_fake.fail_next(
        "/v1/checkout/sessions",
        status=status,
        type_="invalid_request_error",
        message="Invalid API Key provided: sk_test_****1234",
        code=None,
    )
    result = buy(event_id, 1)
    assert (result.status, result.body) == (502, {"error": "The payment provider rejected the server's credentials"})
    assert get_event(event_id)["available"] == 5
    assert "sk_test" not in caplog.text


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"quantity": 1}', "event_id"),
        ('{"event_id": 1}', "quantity"),
        ('{"event_id": "one", "quantity": 1}', "event_id"),
        ('{"event_id": 1, "quantity": "2"}', "quantity"),
        ('{"event_id": 1, "quantity": 0}', "quantity"),
        ('{"event_id": 1, "quantity": -1}', "quantity"),
        ('{"event_id": 1, "quantity": 1000000}', "quantity"),
        ('{"event_id": 1, "quantity": 1.5}', "quantity"),
        ('{"event_id": 1, "quantity": null}', "quantity"),
        ("{bad json", None),
        ('"just a string"', None),
        ("", None),
    ],
)
def test_bad_bodies_are_400_and_nothing_is_written(dynamodb, stripe_fake, raw, field):
    event_id = create_event(price=25, capacity=5)
    raw = raw.replace('"event_id": 1', f'"event_id": {event_id}')
    result = call("create_ticket_checkout", raw_body=raw)
    assert result.status == 400
    if field:
        assert result.body["error"].startswith(f"{field}:")
    assert items_with_prefix(dynamodb, TICKETS, "TICKET#") == []
    assert get_event(event_id)["available"] == 5
    assert stripe_fake.requests == []


def test_no_caller_is_401(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=5)
    result = call("create_ticket_checkout", {"event_id": event_id, "quantity": 1}, user=None)
    assert result.status == 401
    assert items_with_prefix(dynamodb, TICKETS, "TICKET#") == []


def test_success_address_names_the_real_session_when_stripe_redirects(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=5)
    body = buy(event_id, 1).body
    stripe_fake.complete_session(body["session_id"])
    redirect = stripe_fake.sessions[body["session_id"]]["success_url"].replace("{CHECKOUT_SESSION_ID}", body["session_id"])
    query = parse_qs(urlparse(redirect).query)
    assert query == {"session_id": [body["session_id"]], "ticket_id": [str(body["ticket_id"])]}


def test_one_account_cannot_hold_an_event_out_unpaid(dynamodb, stripe_fake, monkeypatch):
    from tests.conftest import clear_container_caches

    monkeypatch.setenv("MAX_UNPAID_SEATS_PER_EVENT", "3")
    clear_container_caches()
    event_id = create_event(price=25, capacity=20)
    first = buy(event_id, 2, user="user-hoarder")
    assert buy(event_id, 1, user="user-hoarder").status == 200
    refused = buy(event_id, 1, user="user-hoarder")
    assert (refused.status, refused.body) == (
        400,
        {"error": "quantity: you already hold 3 unpaid seats for this event and may hold at most 3; pay for or cancel them first"},
    )
    assert get_event(event_id)["available"] == 17
    assert len(stripe_fake.sessions) == 2  # nothing reached Stripe for the refused one
    assert buy(event_id, 3, user="user-other").status == 200  # the limit is per account
    assert cancel(first.body["ticket_id"], user="user-hoarder").status == 200
    again = buy(event_id, 2, user="user-hoarder")
    assert again.status == 200
    stripe_fake.complete_session(again.body["session_id"])
    assert verify(again.body["session_id"], again.body["ticket_id"], user="user-hoarder").status == 200
    assert buy(event_id, 2, user="user-hoarder").status == 200  # paid seats no longer count as held unpaid


def test_the_unpaid_limit_defaults_to_one_order(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=50)
    assert buy(event_id, 10, user="user-hoarder").status == 200
    assert buy(event_id, 1, user="user-hoarder").status == 400
