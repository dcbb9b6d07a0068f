"""Property-based fuzzing of every route of docs/openapi.yaml against the running local stack
(schemathesis): no 5xx, every 4xx carries the contract's error body, and no answer leaks a stack
trace, a secret or card data."""

from __future__ import annotations

import json
import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.template import ROOT
from tests.e2e.test_proof_attacks import HOSTILE_STRINGS, JSON_ROUTES, refused
from tests.support import proof

pytestmark = pytest.mark.e2e

schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.yaml")

LEAKS = re.compile(r"Traceback|File \"/|sk_(test|live)_|whsec_|local-paypal-secret|A21AA|\b4242424242424242\b|_secret_[A-Za-z0-9]{8}")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_route_fails_leaks_or_answers_off_contract(case, stack):
    staff = "refund" in case.path or case.path == "/api/events/"
    headers = {**(case.headers or {}), "Authorization": f"Bearer {stack.token('fuzzer', staff=staff)}"}
    response = case.call(base_url=stack.api, headers=headers, timeout=60)
    proof.add("fuzz_cases")
    proof.add("requests")
    if response.status_code >= 500:
        proof.add("5xx")
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    text = response.text
    if response.status_code == 401 and "authorization" not in {name.lower() for name in response.request.headers}:
        # schemathesis also sends each secured route without its token (the header dropped): that refusal
        # is API Gateway's JWT authorizer's, with its own body and challenge, never a function's.
        assert response.json() == {"message": "Unauthorized"}, text[:300]
        (challenge,) = response.headers["www-authenticate"]  # schemathesis keeps each header's values as a list
        assert challenge.startswith('Bearer scope="" error="invalid_token"')
    elif response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and isinstance(body["error"], str), text[:300]
    # A client secret is part of create-payment-intent's contract; nothing else may look like one.
    scrubbed = re.sub(r'"client_secret": "[^"]*"', "", text)
    assert not LEAKS.search(scrubbed), scrubbed[:300]


# Hostile input, not only schema-valid shapes: every JSON route gets bodies built from hostile strings,
# odd numbers and deep structures, and hostile headers; the answer is never a 5xx, and every refusal
# is the contract's error body.

FIELDS = ["event_id", "quantity", "ticket_id", "session_id", "amount", "currency", "metadata", "name", "price", "capacity"]
FIELDS += ["payment_intent_id", "payment_method", "email", "customer_id", "price_id", "subscription_id", "order_id", "capture_id"]
FIELDS += ["note_to_payer", "description", "custom_id", "reason", "return_url"]

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_STRINGS[:-1]),
    st.text(max_size=300),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u202e", "%00", "1e309", "-0", "NaN"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4), max_leaves=30
)


def deep(depth: int, opener: str) -> str:
    closer = "]" if opener == "[" else "}"
    inner = "[" if opener == "[" else '{"a": '
    return '{"metadata": ' + inner * depth + "1" + closer * depth + "}"


bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6).map(json.dumps),
    json_values.map(json.dumps),
    st.builds(deep, st.integers(50, 3000), st.sampled_from(["[", "{"])),
)
header_names = st.sampled_from(
    ["Idempotency-Key", "Content-Type", "Authorization", "X-Forwarded-For", "Origin", "Stripe-Signature", "PAYPAL-CERT-URL", "X-Custom"]
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=2000)


@pytest.mark.parametrize(("path", "staff"), JSON_ROUTES)
@given(body=bodies)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_bodies_on_every_route_are_never_a_5xx(stack, path, staff, body):
    headers = {**stack.headers("hostile-fuzzer", staff), "Content-Type": "application/json"}
    response = requests.post(f"{stack.api}{path}", data=body.encode("utf-8", "surrogatepass"), headers=headers, timeout=60)
    proof.add("fuzz_cases")
    if response.status_code < 400:
        proof.add("requests")
        return  # a hostile-looking body can be a valid request (a name with quotes is a name)
    refused(response, response.status_code if response.status_code < 500 else 400)


@pytest.mark.parametrize(("path", "staff"), [*JSON_ROUTES[:3], ("/api/v1/payments/webhooks/stripe/", False)])
@given(name=header_names, value=header_values)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_headers_are_never_a_5xx(stack, path, staff, name, value):
    headers = {**stack.headers("header-fuzzer", staff), "Content-Type": "application/json", name: value.encode("latin-1")}
    response = requests.post(f"{stack.api}{path}", data=b'{"event_id": 1, "quantity": 1}', headers=headers, timeout=60)
    proof.add("fuzz_cases")
    if response.status_code < 400:
        proof.add("requests")
        return
    refused(response, response.status_code if response.status_code < 500 else 400)
