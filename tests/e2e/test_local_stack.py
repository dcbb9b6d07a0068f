"""The local stack as a newcomer and a frontend meet it: one process, real HTTP."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from local.jwt_keys import AUDIENCE, ISSUER, LocalAuthority
from tests.support import proof
from tests.unit.test_qr import decode_qr

pytestmark = pytest.mark.e2e


def create_event(stack, http, price, capacity=10, currency="usd"):
    response = http.post(
        f"{stack.api}/api/events/",
        json={"name": f"E2E {price}", "price": price, "currency": currency, "capacity": capacity},
        headers=stack.headers("e2e-staff", staff=True),
    )
    assert response.status_code == 201, response.text
    return response.json()["event_id"]


def available(stack, http, event_id):
    return http.get(f"{stack.api}/api/events/{event_id}/", headers=stack.headers()).json()["available"]


def test_the_banner_says_where_everything_is(stack):
    text = stack.output.read_text()
    assert stack.api in text
    assert "export USER_TOKEN=ey" in text
    assert "export STAFF_TOKEN=ey" in text
    assert "Open Rehearsal (free)" in text
    assert "Summer Jazz Night" in text


def test_free_ticket_flow(stack, http):
    event_id = create_event(stack, http, price=0, capacity=3)
    response = http.post(
        f"{stack.api}/api/payments/create-payment-intent/", json={"event_id": event_id, "quantity": 2}, headers=stack.headers()
    )
    assert response.status_code == 200
    body = response.json()
    assert body["detail"] == "Successfully purchased tickets"
    assert decode_qr(body["qr_code_data"]) == body["ticket_code"]
    assert available(stack, http, event_id) == 1


def test_paid_flow_through_the_local_checkout_page(stack, http):
    # Given a paid event and a customer who starts a checkout
    event_id = create_event(stack, http, price=12.5, capacity=5)
    started = http.post(
        f"{stack.api}/api/payments/create-payment-intent/", json={"event_id": event_id, "quantity": 2}, headers=stack.headers()
    ).json()
    assert started["checkout_url"].startswith(stack.stripe)
    # When they open the Checkout page and pay
    page = http.get(started["checkout_url"])
    assert page.status_code == 200
    assert 'id="pay"' in page.text
    paid = http.post(started["checkout_url"], data={"action": "pay"}, allow_redirects=False)
    # Then Stripe sends them to the success page with the real session id
    assert paid.status_code == 303
    success = urlparse(paid.headers["Location"])
    assert f"{success.scheme}://{success.netloc}{success.path}" == "http://localhost:5173/payment/success"
    query = parse_qs(success.query)
    assert query == {"session_id": [started["session_id"]], "ticket_id": [str(started["ticket_id"])]}
    # And the success page's verify call returns the QR code
    verified = http.post(
        f"{stack.api}/api/payments/verify/",
        json={"session_id": query["session_id"][0], "ticket_id": query["ticket_id"][0]},
        headers=stack.headers(),
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["detail"] == "Payment successful"
    assert decode_qr(verified.json()["qr_code_data"]) == started["ticket_code"]
    assert available(stack, http, event_id) == 3
    # And the signed webhook reached the API too (a deadline for a delivery that never comes, not a
    # pace: retried deliveries on a busy machine take seconds)
    deadline = time.monotonic() + 60
    while "POST /api/v1/payments/webhooks/stripe/ -> 200" not in stack.output.read_text():
        assert time.monotonic() < deadline, "the checkout.session.completed webhook never arrived"
        time.sleep(0.1)


def test_abandoned_checkout_returns_to_the_cancel_page_and_cancel_releases_the_seats(stack, http):
    event_id = create_event(stack, http, price=20, capacity=4)
    started = http.post(
        f"{stack.api}/api/payments/create-payment-intent/", json={"event_id": event_id, "quantity": 3}, headers=stack.headers()
    ).json()
    assert available(stack, http, event_id) == 1
    left = http.post(started["checkout_url"], data={"action": "cancel"}, allow_redirects=False)
    assert left.status_code == 303
    assert left.headers["Location"] == f"http://localhost:5173/payment/cancel?ticket_id={started['ticket_id']}"
    cancelled = http.post(f"{stack.api}/api/payments/cancel/", json={"ticket_id": started["ticket_id"]}, headers=stack.headers())
    assert (cancelled.status_code, cancelled.json()["detail"]) == (200, "Payment cancelled")
    assert available(stack, http, event_id) == 4


def forged_token(**overrides):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, **overrides}
    return jwt.encode(claims, other_key, algorithm="RS256")


def unsigned_token():
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    now = int(time.time())
    payload = base64.urlsafe_b64encode(
        json.dumps({"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}).encode()
    )
    return f"{header}.{payload.rstrip(b'=').decode()}."


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "wrong-signature",
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "alg-none",
    ],
)
def test_bad_tokens_are_401_before_any_handler_runs(stack, http, authorization):
    authority: LocalAuthority = stack.authority
    tokens = {
        "wrong-signature": lambda: f"Bearer {forged_token()}",
        "expired": lambda: f"Bearer {authority.issue('mallory', lifetime_s=-120)}",
        "wrong-audience": lambda: f"Bearer {LocalAuthority(authority.private_key, audience='another-api').issue('mallory')}",
        "wrong-issuer": lambda: f"Bearer {LocalAuthority(authority.private_key, issuer='https://evil.example').issue('mallory')}",
        "alg-none": lambda: f"Bearer {unsigned_token()}",
    }
    headers = {}
    if authorization is not None:
        headers["Authorization"] = tokens[authorization]() if authorization in tokens else authorization
    response = http.post(f"{stack.api}/api/events/", json={"name": "x", "price": 0, "currency": "usd", "capacity": 1}, headers=headers)
    proof.add("attacks_tried")
    proof.add("requests")
    # API Gateway's JWT authorizer's own answer (its body cannot be changed); the reason is in our log.
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    assert response.headers["www-authenticate"].startswith('Bearer scope="" error="invalid_token" error_description="the token ')
    proof.add("attacks_refused")


def test_the_webhook_route_is_open_and_guarded_by_the_signature(stack, http):
    response = http.post(f"{stack.api}/api/v1/payments/webhooks/stripe/", data=b'{"id": "evt_x", "type": "checkout.session.completed"}')
    assert (response.status_code, response.json()) == (400, {"error": "Invalid Stripe signature"})


def test_cors_allows_the_frontend_origin_only(stack, http):
    preflight = {
        "Origin": "http://localhost:5173",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = http.options(f"{stack.api}/api/payments/verify/", headers=preflight)
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    refused = http.options(f"{stack.api}/api/payments/verify/", headers={**preflight, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_an_unknown_route_is_404_with_an_error_body(stack, http):
    response = http.get(f"{stack.api}/api/nothing-here/", headers=stack.headers())
    assert (response.status_code, response.json()) == (404, {"error": "Not Found"})


def test_paypal_order_approved_in_the_local_approval_page_captured_and_refunded(stack, http):
    # Given a customer creates a PayPal order
    created = http.post(
        f"{stack.api}/api/v1/payments/paypal/create-order/",
        json={"amount": 29.99, "currency": "USD", "description": "Course enrollment"},
        headers=stack.headers(),
    )
    assert created.status_code == 200, created.text
    order = created.json()
    assert order["approval_url"].startswith(stack.paypal)
    # When they approve it on the approval page
    page = http.get(order["approval_url"])
    assert 'id="approve"' in page.text and "29.99 USD" in page.text
    approved = http.post(f"{stack.paypal}/checkoutnow", data={"token": order["order_id"], "action": "approve"}, allow_redirects=False)
    assert approved.status_code == 303
    assert approved.headers["Location"].startswith(f"http://localhost:5173/paypal/return?token={order['order_id']}")
    # Then the frontend captures it, and staff can refund it
    captured = http.post(
        f"{stack.api}/api/v1/payments/paypal/capture-order/", json={"order_id": order["order_id"]}, headers=stack.headers()
    )
    assert (captured.status_code, captured.json()["captured"]) == (200, True)
    refunded = http.post(
        f"{stack.api}/api/v1/payments/paypal/refund-payment/",
        json={"capture_id": captured.json()["capture_id"], "amount": 29.99, "currency": "USD"},
        headers=stack.headers("e2e-staff", staff=True),
    )
    assert (refunded.status_code, refunded.json()["status"]) == (200, "COMPLETED")
    # And PayPal's signed webhooks reached the API and were verified (waited for as above)
    deadline = time.monotonic() + 60
    while stack.output.read_text().count("POST /api/v1/payments/webhooks/paypal/ -> 200") < 3:
        assert time.monotonic() < deadline, stack.output.read_text()[-2000:]
        time.sleep(0.1)


def test_a_stripe_payment_intent_through_the_direct_endpoints(stack, http):
    created = http.post(
        f"{stack.api}/api/v1/payments/stripe/create-payment-intent/", json={"amount": 12.5, "currency": "eur"}, headers=stack.headers()
    )
    assert created.status_code == 200, created.text
    intent = created.json()
    confirmed = http.post(
        f"{stack.api}/api/v1/payments/stripe/confirm-payment/",
        json={"payment_intent_id": intent["payment_intent_id"], "payment_method": "pm_card_visa"},
        headers=stack.headers(),
    )
    assert confirmed.json() == {
        "confirmed": True,
        "payment_intent_id": intent["payment_intent_id"],
        "status": "succeeded",
        "requires_action": False,
    }
    other = http.post(
        f"{stack.api}/api/v1/payments/stripe/retrieve-payment/",
        json={"payment_intent_id": intent["payment_intent_id"]},
        headers=stack.headers("someone-else"),
    )
    assert other.status_code == 403


def test_the_openapi_document_and_its_browsable_page_are_served(stack, http):
    document = http.get(f"{stack.api}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"][0]["url"] == stack.api
    assert "/api/payments/verify/" in document["paths"]
    page = http.get(f"{stack.api}/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert http.get(f"{stack.api}/docs/static/swagger-ui-bundle.js").status_code == 200
    assert http.get(f"{stack.api}/docs/static/../../../../etc/passwd").status_code == 404
