"""Issue 25's attacks on the PayPal webhook, through the webhook function against the local PayPal:
a certificate address that our check and the HTTP client read differently (a blind SSRF), a
certificate for PayPal's signing name issued by an ordinary leaf, and a genuine signature replayed
over another body with the same CRC32. Each is refused with the answer a forged delivery gets, and
nothing is written; a genuine retransmission still passes."""

from __future__ import annotations

import copy
import hashlib
import json
import zlib
from datetime import datetime
from typing import Any

import pytest
import urllib3.util.connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import paypal_attacks as attacks
from tests.support.dynamo import PAYMENTS, scan
from tests.support.flows import paypal_call
from tests.support.lambdas import ApiResult, api_event, invoke

FORGED = (400, {"error": "Invalid PayPal signature"})


def deliver(body: bytes, headers: dict[str, str]) -> ApiResult:
    request = api_event("paypal_webhook", raw_body=body.decode())
    request["headers"] = {"content-type": "application/json", **headers}
    return invoke("paypal_webhook", request)


def approved_event(fake: Any) -> dict[str, Any]:
    """PayPal's CHECKOUT.ORDER.APPROVED for an order of ours, not yet delivered."""
    body = {"amount": 29.99, "currency": "USD", "description": "Course enrollment", "custom_id": "payment_123"}
    order_id = paypal_call("paypal_create_order", body).body["order_id"]
    fake.approve(order_id)
    return copy.deepcopy(fake.events[-1])


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection the function opens; only the loopback (the local PayPal) is reachable."""
    opened: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        opened.append(address)
        if address[0] != "127.0.0.1":
            raise OSError(f"test: no connection to {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return opened


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://evil.example\\@api.paypal.com/v1/notifications/certs/CERT-1",
        "https://evil.example:8443\\@api.paypal.com/v1/notifications/certs/CERT-1",
        "https://169.254.169.254\\@api-m.paypal.com/v1/notifications/certs/CERT-1",
        "https://evil.example\\@api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
    ],
)
def test_a_certificate_address_read_two_ways_is_refused_and_never_fetched(dynamodb, paypal_fake, connections, cert_url):
    # Given a delivery whose certificate address urllib.parse reads as PayPal's host and urllib3 as another
    event = approved_event(paypal_fake)
    body = json.dumps(event).encode()
    headers = attacks.signed_headers(paypal_fake.signer, body, paypal_fake.webhook_id, cert_url)
    before = scan(dynamodb, PAYMENTS)
    connections.clear()  # the order's own calls to the local PayPal
    # When it is delivered
    result = deliver(body, headers)
    # Then it is refused as forged, no connection was opened anywhere, and nothing is written
    assert (result.status, result.body) == FORGED
    assert connections == []
    assert scan(dynamodb, PAYMENTS) == before


@pytest.mark.parametrize(
    "forge",
    [attacks.leaf_issued_by_a_leaf, attacks.leaf_issued_by_a_ca_without_key_cert_sign],
    ids=["issuer-is-not-a-ca", "issuer-without-keyCertSign"],
)
def test_a_signing_certificate_issued_by_a_non_ca_is_refused(dynamodb, paypal_fake, monkeypatch, forge):
    # Given a chain to the trusted root whose issuer of "messageverificationcerts.paypal.com" is no CA,
    # served from the configured PayPal's own certificate address, and a delivery signed with its key
    forged = forge(paypal_fake.signer)
    monkeypatch.setattr(paypal_fake.signer, "chain_pem", forged.chain_pem)
    event = approved_event(paypal_fake)
    event["resource"]["status"] = "COMPLETED"
    body = json.dumps(event).encode()
    headers = attacks.signed_headers(forged, body, paypal_fake.webhook_id, attacks.fake_cert_url(paypal_fake))
    before = scan(dynamodb, PAYMENTS)
    # When it is delivered, then it is refused and nothing is written
    result = deliver(body, headers)
    assert (result.status, result.body) == FORGED
    assert scan(dynamodb, PAYMENTS) == before


def test_a_genuine_signature_replayed_over_another_body_with_its_crc32_is_refused(dynamodb, paypal_fake):
    # Given a genuine delivery, accepted
    event = approved_event(paypal_fake)
    genuine = json.dumps(event).encode()
    headers = {name.lower(): value for name, value in paypal_fake.sign(genuine, event).items()}
    assert deliver(genuine, headers).body["outcome"] == "applied"
    # And another event (a new id, so event de-duplication does not stop it) with the same CRC32
    forged_event = {**event, "id": "WH-REPLAYED-0000000000-0000000000", "resource": {**event["resource"], "status": "COMPLETED"}}
    template = json.dumps({**forged_event, "pad": attacks.SLOT.decode()}).encode()
    forged = attacks.same_crc32(template, zlib.crc32(genuine))
    assert forged != genuine and zlib.crc32(forged) == zlib.crc32(genuine)
    before = scan(dynamodb, PAYMENTS)
    # When the genuine headers are replayed with it within the tolerance
    result = deliver(forged, headers)
    # Then it is refused as forged and nothing is written
    assert (result.status, result.body) == FORGED
    assert scan(dynamodb, PAYMENTS) == before


def test_a_replayed_transmission_is_told_apart_from_a_bad_signature_in_the_log(dynamodb, paypal_fake, caplog):
    # The caller gets a forged delivery's answer either way; the log is the operator's only sign that
    # a genuine signature was replayed over another body, not merely a bad signature.
    event = approved_event(paypal_fake)
    genuine = json.dumps(event).encode()
    headers = {name.lower(): value for name, value in paypal_fake.sign(genuine, event).items()}
    assert deliver(genuine, headers).body["outcome"] == "applied"
    # another body with the same CRC32, so that the signature itself checks out
    template = json.dumps({**event, "id": "WH-REPLAYED-0000000000-0000000001", "pad": attacks.SLOT.decode()}).encode()
    forged = attacks.same_crc32(template, zlib.crc32(genuine))
    caplog.clear()
    result = deliver(forged, headers)
    assert (result.status, result.body) == FORGED
    reasons = [getattr(record, "reason", None) for record in caplog.records if record.getMessage() == "PayPal webhook refused"]
    assert reasons == ["transmission id already delivered with another body"]


def test_a_genuine_retransmission_with_the_same_id_and_body_still_passes(dynamodb, paypal_fake):
    event = approved_event(paypal_fake)
    body = json.dumps(event).encode()
    headers = {name.lower(): value for name, value in paypal_fake.sign(body, event).items()}
    first, again = deliver(body, headers), deliver(body, headers)
    assert (first.status, first.body["outcome"]) == (200, "applied")
    assert (again.status, again.body["outcome"]) == (200, "duplicate")


def test_the_transmission_is_recorded_with_its_body_digest_beyond_the_tolerance(dynamodb, paypal_fake):
    event = approved_event(paypal_fake)
    body = json.dumps(event).encode()
    headers = {name.lower(): value for name, value in paypal_fake.sign(body, event).items()}
    assert deliver(body, headers).status == 200
    [record] = [item for item in scan(dynamodb, PAYMENTS) if str(item["pk"]).startswith("WEBHOOK_TRANSMISSION#paypal#")]
    assert record["pk"] == f"WEBHOOK_TRANSMISSION#paypal#{headers['paypal-transmission-id']}"
    assert record["body_sha256"] == hashlib.sha256(body).hexdigest()
    # a delivery of this id passes the time check until its transmission time plus the tolerance: kept beyond that
    transmitted = datetime.fromisoformat(headers["paypal-transmission-time"].replace("Z", "+00:00")).timestamp()
    assert record["ttl"] > transmitted + 900


def test_a_transmission_id_is_kept_with_its_first_body_in_one_conditional_write(dynamodb):
    from payments.repositories.webhook_events import WebhookEventRepository

    transmissions = WebhookEventRepository(dynamodb, PAYMENTS)
    first, other = hashlib.sha256(b"first").hexdigest(), hashlib.sha256(b"other").hexdigest()
    assert transmissions.record_transmission("paypal", "t-1", first, now=1000, keep_until=5000)
    assert transmissions.record_transmission("paypal", "t-1", first, now=1001, keep_until=5001)  # a retransmission
    assert not transmissions.record_transmission("paypal", "t-1", other, now=1002, keep_until=5002)
    [record] = [item for item in scan(dynamodb, PAYMENTS) if item["pk"] == "WEBHOOK_TRANSMISSION#paypal#t-1"]
    assert (record["body_sha256"], record["ttl"]) == (first, 5001)
    assert transmissions.record_transmission("paypal", "t-2", other, now=1003, keep_until=5003)  # ids are apart


SIGNATURE_HEADERS = ("paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig", "paypal-cert-url", "paypal-auth-algo")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    overrides=st.dictionaries(
        st.sampled_from(SIGNATURE_HEADERS),
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(["SHA256withRSA", "https://evil.example\\@api.paypal.com/v1/notifications/certs/CERT-1", "Zm9yZ2Vk"]),
        ),
    ),
    body=st.binary(max_size=64),
)
def test_any_signature_headers_of_an_anonymous_caller_are_a_400_and_write_nothing(dynamodb, paypal_fake, connections, overrides, body):
    genuine = attacks.signed_headers(paypal_fake.signer, b"{}", paypal_fake.webhook_id, attacks.fake_cert_url(paypal_fake))
    headers = {name: value for name, value in {**genuine, **overrides}.items() if "\r" not in value and "\n" not in value}
    request = api_event("paypal_webhook", raw_body=body.decode("latin-1"))
    request["headers"] = {"content-type": "application/json", **headers}
    result = invoke("paypal_webhook", request)
    assert result.status == 400, result.body
    assert result.body["error"] == "Invalid PayPal signature" or result.body["error"].startswith("Missing PayPal signature header")
    assert all(host == "127.0.0.1" for host, _ in connections)
    assert scan(dynamodb, PAYMENTS) == []
