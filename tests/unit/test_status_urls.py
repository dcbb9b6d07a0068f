"""The queue status URL (payments.status_urls): signed for CloudFront as CloudFront verifies it (a
canned policy, RSA with SHA-256 under the key group's public key), covering exactly this URL (this
event's status path and the buyer's pass) and expiring with the pass; on the API itself when no
distribution is configured."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from payments.status_urls import StatusUrls, api_url

CDN = "https://d111111abcdef8.cloudfront.net"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
PASS = "eyJlIjoxNSwicCI6NDJ9.c2lnbmF0dXJl"
EXPIRES_MS = 1_800_000_900_500


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def cloudfront_b64decode(text: str) -> bytes:
    """CloudFront's URL-safe base64: '+' '=' '/' written '-' '_' '~'."""
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def signed_url(key: rsa.RSAPrivateKey, event_id: int = 15) -> str:
    return StatusUrls(lambda: CDN, KEY_PAIR_ID, lambda: pem(key)).url(event_id, PASS, EXPIRES_MS, "https://api.example")


SIGNING_PARAMETERS = ("Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm")


def canned_policy(url: str) -> bytes:
    """The policy CloudFront rebuilds for a canned-policy URL (no ``Policy`` parameter), in its
    documented form: the URL without its signing parameters as the resource, ``Expires`` as the time."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert "Policy" not in query
    kept = "&".join(p for p in parts.query.split("&") if p.partition("=")[0] not in SIGNING_PARAMETERS)
    resource = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{kept}" if kept else "")
    condition = f'{{"DateLessThan":{{"AWS:EpochTime":{query["Expires"][0]}}}}}'
    return f'{{"Statement":[{{"Resource":"{resource}","Condition":{condition}}}]}}'.encode()


def test_the_url_verifies_with_the_public_key_and_its_policy_covers_this_url_until_the_pass_expires(private_key):
    signed = signed_url(private_key)
    url = urlsplit(signed)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{CDN}/api/events/15/queue/status/"
    assert (query["queue_pass"], query["Key-Pair-Id"], query["Hash-Algorithm"]) == ([PASS], [KEY_PAIR_ID], ["SHA256"])
    policy = canned_policy(signed)
    # CloudFront checks the signature over the policy it rebuilds from the URL, with the key group's public key.
    private_key.public_key().verify(cloudfront_b64decode(query["Signature"][0]), policy, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        private_key.public_key().verify(cloudfront_b64decode(query["Signature"][0]), policy + b" ", padding.PKCS1v15(), hashes.SHA256())
    [statement] = json.loads(policy)["Statement"]
    assert statement == {
        "Resource": f"{CDN}/api/events/15/queue/status/?queue_pass={PASS}",
        "Condition": {"DateLessThan": {"AWS:EpochTime": EXPIRES_MS // 1000}},
    }


def test_the_signature_covers_this_events_status_with_this_pass_and_nothing_else(private_key):
    """A canned policy's resource is the URL itself: another path, event or pass is not covered (a
    custom policy's ``.../status/?*`` would cover any path below the status, ``?`` and ``*`` matching
    any characters)."""
    resource = json.loads(canned_policy(signed_url(private_key)))["Statement"][0]["Resource"]
    assert resource == f"{CDN}/api/events/15/queue/status/?queue_pass={PASS}"
    for elsewhere in (
        f"{CDN}/api/events/16/queue/status/?queue_pass={PASS}",  # another event's status
        f"{CDN}/api/events/15/queue/status/x/../../16/queue/status/?queue_pass={PASS}",
        f"{CDN}/api/events/15/queue/?queue_pass={PASS}",  # the buyer's own place
        f"{CDN}/api/events/15/queue/status/?queue_pass=another.pass",
        f"https://d222222abcdef8.cloudfront.net/api/events/15/queue/status/?queue_pass={PASS}",
    ):
        assert resource != elsewhere, elsewhere


def test_a_key_that_is_not_rsa_is_refused():
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    text = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(TypeError):
        StatusUrls(lambda: CDN, KEY_PAIR_ID, lambda: text).url(15, PASS, EXPIRES_MS, "https://api.example")


def test_without_a_cdn_the_url_is_the_apis_own_and_nothing_is_signed():
    def no_key() -> str:
        raise AssertionError("no key is asked for without a distribution")

    url = StatusUrls(lambda: None, None, no_key).url(15, PASS, EXPIRES_MS, "http://127.0.0.1:3000")
    assert url == f"http://127.0.0.1:3000/api/events/15/queue/status/?queue_pass={PASS}"


def test_a_cdn_address_that_is_not_https_is_refused():
    with pytest.raises(ValueError, match="https"):
        StatusUrls(lambda: "http://d111111abcdef8.cloudfront.net", KEY_PAIR_ID, lambda: "").url(15, PASS, EXPIRES_MS, "https://api.example")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"requestContext": {"domainName": "abc.execute-api.eu-west-1.amazonaws.com"}, "headers": {"x-forwarded-proto": "https"}},
            "https://abc.execute-api.eu-west-1.amazonaws.com",
        ),
        ({"requestContext": {"domainName": "127.0.0.1:3000"}, "headers": {"X-Forwarded-Proto": "http"}}, "http://127.0.0.1:3000"),
        ({"requestContext": {}, "headers": {"host": "api.example"}}, "https://api.example"),
    ],
)
def test_the_api_url_is_the_address_the_request_came_in_on(event: dict[str, Any], expected: str):
    assert api_url(event) == expected
