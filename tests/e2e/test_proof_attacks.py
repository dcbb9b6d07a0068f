"""Attacks, each answered with the right status and nothing written: another user's ids on every
endpoint, staff actions by customers, forged, stale and replayed webhooks of both providers, and
oversized, malformed, mistyped and hostile bodies."""

from __future__ import annotations

import json
import time

import pytest
import requests

from local.stack import LOCAL_WEBHOOK_SECRET
from local.stripe_fake import sign_payload
from tests.support import proof

pytestmark = pytest.mark.e2e

HOSTILE_STRINGS = [
    "Robert'); DROP TABLE tickets;--",
    '{"$ne": null}',
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "../../../../etc/passwd",
    "\u0000\u202e\ufeff",
    "🎟️" * 50,
    "A" * 70_000,
]


def post(stack, path, body, user="attacker", staff=False, **kwargs):
    headers = kwargs.pop("headers", None) or stack.headers(user, staff)
    return requests.post(f"{stack.api}{path}", json=body, headers=headers, timeout=60, **kwargs)


def refused(response, *statuses):
    """An attack answered with one of ``statuses`` and the contract's error body; counted per family
    (the test's name) for the proof's table, refused only once the checks held."""
    family = proof.attack_family()
    proof.add("attacks_tried")
    proof.add(f"attack:{family}:tried")
    proof.add("requests")
    if response.status_code >= 500:
        proof.add("5xx")
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    if response.status_code == 401 and response.json() == {"message": "Unauthorized"}:
        # API Gateway's JWT authorizer answers a refused token itself, with its own body and challenge.
        assert response.headers["www-authenticate"].startswith('Bearer scope="" error="invalid_token" error_description="')
    else:
        assert set(response.json()) == {"error"}
    proof.add("attacks_refused")
    proof.add(f"attack:{family}:refused")


@pytest.fixture(scope="module")
def victims(stack):
    """Objects of user A that user B will try to reach."""
    alice = "victim-alice"
    event = post(
        stack, "/api/events/", {"name": "Victim event", "price": 10, "currency": "usd", "capacity": 50}, "victim-staff", staff=True
    ).json()
    ticket = post(stack, "/api/payments/create-payment-intent/", {"event_id": event["event_id"], "quantity": 1}, alice).json()
    intent = post(stack, "/api/v1/payments/stripe/create-payment-intent/", {"amount": 25, "currency": "usd"}, alice).json()
    customer = post(stack, "/api/v1/payments/stripe/create-customer/", {"email": "alice@example.com"}, alice).json()
    subscription = post(
        stack,
        "/api/v1/payments/stripe/create-subscription/",
        {"customer_id": customer["customer_id"], "price_id": "price_local_monthly"},
        alice,
    ).json()
    order = post(stack, "/api/v1/payments/paypal/create-order/", {"amount": 15, "currency": "USD"}, alice).json()
    requests.post(f"{stack.paypal}/_fake/orders/{order['order_id']}/approve", timeout=30)
    capture = post(stack, "/api/v1/payments/paypal/capture-order/", {"order_id": order["order_id"]}, alice).json()
    return {
        "event": event,
        "ticket": ticket,
        "intent": intent,
        "customer": customer,
        "subscription": subscription,
        "order": order,
        "capture": capture,
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/payments/verify/", lambda v: {"session_id": v["ticket"]["session_id"], "ticket_id": v["ticket"]["ticket_id"]}),
        ("/api/payments/cancel/", lambda v: {"ticket_id": v["ticket"]["ticket_id"]}),
        (
            "/api/v1/payments/stripe/confirm-payment/",
            lambda v: {"payment_intent_id": v["intent"]["payment_intent_id"], "payment_method": "pm_card_visa"},
        ),
        ("/api/v1/payments/stripe/retrieve-payment/", lambda v: {"payment_intent_id": v["intent"]["payment_intent_id"]}),
        (
            "/api/v1/payments/stripe/create-subscription/",
            lambda v: {"customer_id": v["customer"]["customer_id"], "price_id": "price_local_monthly"},
        ),
        ("/api/v1/payments/stripe/cancel-subscription/", lambda v: {"subscription_id": v["subscription"]["subscription_id"]}),
        ("/api/v1/payments/paypal/capture-order/", lambda v: {"order_id": v["order"]["order_id"]}),
        ("/api/v1/payments/paypal/get-order/", lambda v: {"order_id": v["order"]["order_id"]}),
    ],
)
def test_user_b_with_user_as_ids_is_refused(stack, victims, path, body):
    refused(post(stack, path, body(victims), "intruder-bob"), 403)


def test_the_victims_objects_are_untouched(stack, victims):
    event = requests.get(f"{stack.api}/api/events/{victims['event']['event_id']}/", headers=stack.headers(), timeout=30).json()
    assert event["available"] == 49  # alice's reservation still holds its seat
    intent = post(
        stack, "/api/v1/payments/stripe/retrieve-payment/", {"payment_intent_id": victims["intent"]["payment_intent_id"]}, "victim-alice"
    ).json()
    assert intent["status"] == "requires_payment_method"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/events/", lambda v: {"name": "Mine now", "price": 0, "currency": "usd", "capacity": 1}),
        ("/api/v1/payments/paypal/refund-payment/", lambda v: {"capture_id": v["capture"]["capture_id"]}),
        ("/api/tickets/check-in/", lambda v: {"ticket_code": v["ticket"]["ticket_code"], "event_id": v["event"]["event_id"]}),
    ],
)
def test_staff_actions_by_a_customer_are_refused(stack, victims, path, body):
    refused(post(stack, path, body(victims), "victim-alice"), 403)


def test_another_users_ticket_and_an_events_sales_are_refused(stack, victims):
    def get(path, user):
        return requests.get(f"{stack.api}{path}", headers=stack.headers(user), timeout=30)

    refused(get(f"/api/tickets/{victims['ticket']['ticket_id']}/", "intruder-bob"), 403)
    refused(get(f"/api/events/{victims['event']['event_id']}/sales/", "victim-alice"), 403)
    refused(get(f"/api/tickets/?after={victims['ticket']['ticket_id']}", "intruder-bob"), 400)
    listed = get("/api/tickets/", "intruder-bob").json()
    assert victims["ticket"]["ticket_id"] not in [ticket["ticket_id"] for ticket in listed["tickets"]]


def stripe_event(stack):
    return {
        "id": f"evt_attack_{time.time_ns()}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"object": {"id": "cs_test_x", "metadata": {"ticket_id": "1"}}},
    }


@pytest.mark.parametrize("attack", ["forged", "stale", "unsigned", "tampered"])
def test_forged_and_stale_stripe_webhooks_are_refused(stack, attack):
    event = stripe_event(stack)
    payload = json.dumps(event).encode()
    signatures = {
        "forged": sign_payload(payload, "whsec_guessed"),
        "stale": sign_payload(payload, LOCAL_WEBHOOK_SECRET, int(time.time()) - 3600),
        "unsigned": "",
        "tampered": sign_payload(b'{"id": "evt_other"}', LOCAL_WEBHOOK_SECRET),
    }
    response = requests.post(
        f"{stack.api}/api/v1/payments/webhooks/stripe/",
        data=payload,
        headers={"Stripe-Signature": signatures[attack], "Content-Type": "application/json"},
        timeout=30,
    )
    refused(response, 400)


def test_a_replayed_stripe_webhook_changes_nothing(stack):
    event = stripe_event(stack)
    event["type"] = "customer.created"
    payload = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign_payload(payload, LOCAL_WEBHOOK_SECRET), "Content-Type": "application/json"}
    first = requests.post(f"{stack.api}/api/v1/payments/webhooks/stripe/", data=payload, headers=headers, timeout=30).json()
    replay = requests.post(f"{stack.api}/api/v1/payments/webhooks/stripe/", data=payload, headers=headers, timeout=30).json()
    proof.add("attacks_tried")
    proof.add("requests", 2)
    assert (first["outcome"], replay["outcome"]) == ("ignored", "ignored")


def test_forged_paypal_webhooks_are_refused(stack):
    event = {"id": "WH-FORGED", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {"id": "X", "status": "COMPLETED"}}
    headers = {
        "PAYPAL-TRANSMISSION-ID": "forged",
        "PAYPAL-TRANSMISSION-TIME": "2026-11-22T00:00:00Z",
        "PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk",
        "PAYPAL-CERT-URL": f"{stack.paypal}/v1/notifications/certs/CERT-1",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    }
    refused(requests.post(f"{stack.api}/api/v1/payments/webhooks/paypal/", json=event, headers=headers, timeout=30), 400)
    refused(
        requests.post(
            f"{stack.api}/api/v1/payments/webhooks/paypal/",
            json=event,
            headers={**headers, "PAYPAL-CERT-URL": "https://evil.example/c"},
            timeout=30,
        ),
        400,
    )
    refused(requests.post(f"{stack.api}/api/v1/payments/webhooks/paypal/", json=event, timeout=30), 400)


def test_oversized_and_malformed_bodies_are_refused(stack, victims):
    headers = {**stack.headers("hostile"), "Content-Type": "application/json"}
    refused(requests.post(f"{stack.api}/api/payments/verify/", data="{" * 10, headers=headers, timeout=30), 400)
    refused(
        requests.post(
            f"{stack.api}/api/payments/verify/",
            data=json.dumps({"session_id": "cs_" + "a" * 70_000, "ticket_id": 1}),
            headers=headers,
            timeout=30,
        ),
        413,
    )
    refused(requests.post(f"{stack.api}/api/payments/verify/", data=b"\xff\xfe\x00", headers=headers, timeout=30), 400)
    refused(requests.post(f"{stack.api}/api/payments/verify/", data="[]", headers=headers, timeout=30), 400)


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
@pytest.mark.parametrize(
    ("path", "body", "staff"),
    [
        ("/api/payments/verify/", lambda s: {"session_id": s, "ticket_id": s}, False),
        ("/api/payments/create-payment-intent/", lambda s: {"event_id": s, "quantity": s}, False),
        ("/api/v1/payments/stripe/create-payment-intent/", lambda s: {"amount": 10, "currency": s, "metadata": {"k": s}}, False),
        ("/api/v1/payments/stripe/create-customer/", lambda s: {"email": s, "name": s}, False),
        ("/api/v1/payments/paypal/create-order/", lambda s: {"amount": s, "currency": "USD", "description": s}, False),
        ("/api/v1/payments/paypal/get-order/", lambda s: {"order_id": s}, False),
        ("/api/v1/payments/paypal/refund-payment/", lambda s: {"capture_id": s, "note_to_payer": s}, True),
        ("/api/tickets/check-in/", lambda s: {"ticket_code": s, "event_id": s, "count": s}, True),
    ],
)
def test_hostile_strings_in_string_fields_are_refused_cleanly(stack, victims, path, body, staff, hostile):
    response = post(stack, path, body(hostile), "hostile", staff=staff)
    refused(response, 400, 413)


def test_hostile_event_names_are_stored_as_text(stack):
    for name in HOSTILE_STRINGS[:7]:
        created = post(stack, "/api/events/", {"name": name, "price": 0, "currency": "usd", "capacity": 1}, "staff", staff=True)
        proof.add("attacks_tried")
        proof.add("requests")
        if created.status_code == 201:
            read = requests.get(f"{stack.api}/api/events/{created.json()['event_id']}/", headers=stack.headers(), timeout=30).json()
            assert read["name"] == name.strip()
        else:
            assert created.status_code == 400 and set(created.json()) == {"error"}
        proof.add("attacks_refused")


# hostile input (issue 12): every malformed input a 400 with {"error"}, never a 500 -----------------
JSON_ROUTES = [
    ("/api/events/", True),
    ("/api/payments/create-payment-intent/", False),
    ("/api/payments/verify/", False),
    ("/api/payments/cancel/", False),
    ("/api/payments/refund/", True),
    ("/api/v1/payments/stripe/create-payment-intent/", False),
    ("/api/v1/payments/stripe/confirm-payment/", False),
    ("/api/v1/payments/stripe/retrieve-payment/", False),
    ("/api/v1/payments/stripe/create-customer/", False),
    ("/api/v1/payments/stripe/create-subscription/", False),
    ("/api/v1/payments/stripe/cancel-subscription/", False),
    ("/api/v1/payments/paypal/create-order/", False),
    ("/api/v1/payments/paypal/capture-order/", False),
    ("/api/v1/payments/paypal/get-order/", False),
    ("/api/v1/payments/paypal/refund-payment/", True),
    ("/api/tickets/check-in/", True),
]


@pytest.mark.parametrize(
    ("shape", "body"),
    [
        ("deep arrays", '{"a": ' + "[" * 20_000 + "]" * 20_000 + "}"),
        ("deep objects", '{"a": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"),
        ("nested within the recursion limit", '{"metadata": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}"),
        ("lone surrogate in a value", '{"session_id": "cs_\\ud800", "name": "\\udfff", "email": "\\ud83d@x.io"}'),
        ("lone surrogate in a key", '{"\\ud800": 1}'),
    ],
)
@pytest.mark.parametrize(("path", "staff"), JSON_ROUTES)
def test_hostile_json_is_400_on_every_json_route(stack, path, staff, shape, body):
    headers = {**stack.headers("hostile", staff), "Content-Type": "application/json"}
    refused(requests.post(f"{stack.api}{path}", data=body.encode(), headers=headers, timeout=60), 400)


@pytest.mark.parametrize("signature", ["t=1,v1=\u00e9\u00e8", "t=\u00ff", "\u00a0"])
def test_a_non_ascii_stripe_signature_is_400(stack, signature):
    headers = {"Stripe-Signature": signature.encode("latin-1"), "Content-Type": "application/json"}
    refused(requests.post(f"{stack.api}/api/v1/payments/webhooks/stripe/", data=b"{}", headers=headers, timeout=30), 400)


@pytest.mark.parametrize(
    "body",
    [b"{" * 10, b'{"id": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", b'{"id": "\\ud800", "event_type": "X"}', b"\xff\xfe"],
)
def test_a_malformed_paypal_webhook_body_is_400(stack, body):
    headers = {
        "PAYPAL-TRANSMISSION-ID": "t",
        "PAYPAL-TRANSMISSION-TIME": "2026-11-22T00:00:00Z",
        "PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk",
        "PAYPAL-CERT-URL": f"{stack.paypal}/v1/notifications/certs/CERT-1",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "Content-Type": "application/json",
    }
    refused(requests.post(f"{stack.api}/api/v1/payments/webhooks/paypal/", data=body, headers=headers, timeout=30), 400)


@pytest.mark.parametrize(
    "claims",
    [
        {"groups": ["not-staff", "staff-ish"]},
        {"groups": ["staffing"]},
        {"groups": ["Staff"]},
        {"groups": [], "roles": ["staff"], "custom:role": "staff", "role": "admin staff", "groups_claim": "staff"},
    ],
)
def test_staff_rights_only_from_exact_membership_in_the_configured_claim(stack, claims):
    groups = claims.pop("groups")
    token = stack.authority.issue("near-miss", groups=groups, **claims)
    headers = {"Authorization": f"Bearer {token}"}
    body = {"name": "Not staff", "price": 0, "currency": "usd", "capacity": 1}
    refused(requests.post(f"{stack.api}/api/events/", json=body, headers=headers, timeout=30), 403)


# the local runner answers like the API: JSON {"error"} with a 4xx, never an HTML page or a 500 -------
def raw_request(stack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    import socket
    from urllib.parse import urlparse

    address = urlparse(stack.api)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return status, headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70_000 + b"\r\nConnection: close\r\n\r\n",
        b"GET /api/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(b"X-H%d: v\r\n" % n for n in range(150))
        + b"Connection: close\r\n\r\n",
        b"GET /api/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 12_000 + b"\r\nConnection: close\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET /api/events/%ff/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /api/events/1%00/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET //api//events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /api/events/" + b"9" * 400 + b"/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /api/../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"BREW /api/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /demo/%00 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /demo/%c0%ae%c0%ae/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /demo/%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"POST /_local/token HTTP/1.1\r\nHost: rebound.example:3000\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        b"GET /demo/ HTTP/1.1\r\nHost: rebound.example\r\nConnection: close\r\n\r\n",
    ],
    ids=[
        "header-70k",
        "150-headers",
        "headers-over-10k",
        "garbage",
        "bad-utf8",
        "nul",
        "double-slash",
        "long-id",
        "dotdot",
        "method",
        "star",
        "demo-nul",
        "demo-overlong-utf8",
        "demo-bad-percent",
        "rebound-host-token",
        "rebound-host-demo",
    ],
)
def test_the_local_runner_answers_odd_requests_with_a_json_4xx(stack, request_bytes):
    status, headers, body = raw_request(stack, request_bytes)
    family = proof.attack_family()
    proof.add("attacks_tried")
    proof.add(f"attack:{family}:tried")
    proof.add("requests")
    if status >= 500:
        proof.add("5xx")
    assert 400 <= status < 500, (status, body[:200])
    assert headers.get("content-type", "").startswith("application/json"), (headers, body[:200])
    # A route that needs a token and got none: API Gateway's own 401 body; everything else ours.
    assert set(json.loads(body)) == ({"message"} if status == 401 else {"error"})
    proof.add("attacks_refused")
    proof.add(f"attack:{family}:refused")
