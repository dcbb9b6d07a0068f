"""PayPal webhook signatures verified offline, with the local PayPal's real RSA certificate: genuine
deliveries pass; forged, tampered, foreign, stale and mis-addressed ones are refused."""

import base64
import json
import time

import pytest

from local.paypal_fake import PayPalFake
from payments.providers.paypal_signature import PayPalSignatureVerifier, SignatureRefused

WEBHOOK_ID = "8PT597110X687430LKGECATA"


@pytest.fixture(scope="module")
def fake():
    return PayPalFake(public_url="http://127.0.0.1:12112", webhook_id=WEBHOOK_ID)


def verifier_for(fake, *, roots=None, fetched=None, clock=time.time):
    chain = fetched if fetched is not None else fake.signer.chain_pem
    fetches = []

    def fetch(url):
        fetches.append(url)
        return chain

    verifier = PayPalSignatureVerifier(fake.public_url, (roots or fake.certificate_roots_pem).encode(), fetch, clock)
    return verifier, fetches


def delivery(fake, body=b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"}'):
    headers = {name.lower(): value for name, value in fake.sign(body, json.loads(body)).items()}
    return headers, body


def test_a_genuine_delivery_passes_and_the_certificate_is_fetched_once(fake):
    verifier, fetches = verifier_for(fake)
    for _ in range(3):
        headers, body = delivery(fake)
        verifier.verify(headers, body, WEBHOOK_ID)
    assert len(fetches) == 1


def test_the_bytes_as_received_are_what_is_checked(fake):
    verifier, _ = verifier_for(fake)
    headers, body = delivery(fake, b'{"id":"WH-2",  "event_type":"X"}')  # spacing a re-serialisation would change
    verifier.verify(headers, body, WEBHOOK_ID)
    with pytest.raises(SignatureRefused, match="does not match"):
        verifier.verify(headers, json.dumps(json.loads(body)).encode(), WEBHOOK_ID)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: (h, b.replace(b"WH-1", b"WH-9")), "does not match"),
        (lambda h, b: ({**h, "paypal-transmission-id": "other"}, b), "does not match"),
        (lambda h, b: ({**h, "paypal-transmission-sig": base64.b64encode(b"forged" * 40).decode()}, b), "does not match"),
        (lambda h, b: ({**h, "paypal-transmission-sig": "not base64!"}, b), "not base64"),
        (lambda h, b: ({**h, "paypal-auth-algo": "SHA1withRSA"}, b), "algorithm"),
        (lambda h, b: ({**h, "paypal-cert-url": "https://evil.example/cert.pem"}, b), "not PayPal's"),
        (lambda h, b: ({**h, "paypal-transmission-time": "2020-01-01T00:00:00Z"}, b), "tolerance"),
        (lambda h, b: ({**h, "paypal-transmission-time": "yesterday"}, b), "timestamp"),
    ],
)
def test_forged_tampered_and_stale_deliveries_are_refused(fake, tamper, reason):
    verifier, _ = verifier_for(fake)
    headers, body = tamper(*delivery(fake))
    with pytest.raises(SignatureRefused, match=reason):
        verifier.verify(headers, body, WEBHOOK_ID)


def test_a_delivery_for_another_webhook_is_refused(fake):
    verifier, _ = verifier_for(fake)
    headers, body = delivery(fake)
    with pytest.raises(SignatureRefused, match="does not match"):
        verifier.verify(headers, body, "ANOTHER-WEBHOOK")


def test_a_certificate_that_does_not_chain_to_a_trusted_root_is_refused(fake):
    stranger = PayPalFake(public_url=fake.public_url, webhook_id=WEBHOOK_ID)  # same subject, its own root
    verifier, _ = verifier_for(fake, fetched=stranger.signer.chain_pem)
    headers, body = delivery(stranger)
    with pytest.raises(SignatureRefused, match="trusted root"):
        verifier.verify(headers, body, WEBHOOK_ID)


def test_a_certificate_outside_its_dates_is_refused(fake):
    verifier, _ = verifier_for(fake, clock=lambda: time.time() + 2 * 365 * 86400)
    headers, body = delivery(fake)
    headers["paypal-transmission-time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2 * 365 * 86400))
    with pytest.raises(SignatureRefused, match="dates"):
        verifier.verify(headers, body, WEBHOOK_ID)


def test_a_certificate_that_is_not_paypals_signing_certificate_is_refused(fake):
    root_only = fake.certificate_roots_pem.encode()  # the root itself: trusted, but not the signing subject
    verifier, _ = verifier_for(fake, fetched=root_only)
    headers, body = delivery(fake)
    with pytest.raises(SignatureRefused):
        verifier.verify(headers, body, WEBHOOK_ID)


def test_a_cached_certificate_is_refused_once_it_expires_in_a_warm_container(fake):
    now = [time.time()]
    verifier, fetches = verifier_for(fake, clock=lambda: now[0])
    headers, body = delivery(fake)
    verifier.verify(headers, body, WEBHOOK_ID)
    now[0] += 2 * 365 * 86400  # the container lives on; the certificate (valid a year) does not
    headers, body = delivery(fake)
    headers["paypal-transmission-time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now[0]))
    with pytest.raises(SignatureRefused, match="dates"):
        verifier.verify(headers, body, WEBHOOK_ID)
    assert len(fetches) == 1
