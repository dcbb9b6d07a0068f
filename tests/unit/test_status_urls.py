"""The queue status URL (payments.status_urls): signed for CloudFront as CloudFront verifies it (a
custom policy, RSA with SHA-256 under the key group's public key), covering exactly this event's
status path and expiring with the pass; on the API itself when no distribution is configured."""

from __future__ import annotations

import base64
import fnmatch
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


def test_the_url_verifies_with_the_public_key_and_its_policy_covers_this_events_status_until_the_pass_expires(private_key):
    url = urlsplit(signed_url(private_key))
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{CDN}/api/events/15/queue/status/"
    assert (query["queue_pass"], query["Key-Pair-Id"], query["Hash-Algorithm"]) == ([PASS], [KEY_PAIR_ID], ["SHA256"])
    policy = cloudfront_b64decode(query["Policy"][0])
    # CloudFront checks the signature over the policy exactly as sent, with the key group's public key.
    private_key.public_key().verify(cloudfront_b64decode(query["Signature"][0]), policy, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        private_key.public_key().verify(cloudfront_b64decode(query["Signature"][0]), policy + b" ", padding.PKCS1v15(), hashes.SHA256())
    [statement] = json.loads(policy)["Statement"]
    assert statement == {
        "Resource": f"{CDN}/api/events/15/queue/status/?*",
        "Condition": {"DateLessThan": {"AWS:EpochTime": EXPIRES_MS // 1000}},
    }


def covers(resource: str, url: str) -> bool:
    """CloudFront's wildcards in a policy's resource: '*' any characters, '?' exactly one."""
    return fnmatch.fnmatchcase(url, resource)


def test_the_policy_covers_this_events_status_with_any_query_and_nothing_else(private_key):
    query = parse_qs(urlsplit(signed_url(private_key)).query)
    resource = json.loads(cloudfront_b64decode(query["Policy"][0]))["Statement"][0]["Resource"]
    assert covers(resource, f"{CDN}/api/events/15/queue/status/?queue_pass={PASS}")
    for elsewhere in (
        f"{CDN}/api/events/16/queue/status/?queue_pass={PASS}",  # another event's status
        f"{CDN}/api/events/150/queue/status/?queue_pass={PASS}",
        f"{CDN}/api/events/15/queue/?queue_pass={PASS}",  # the buyer's own place
        f"{CDN}/api/events/15/?queue_pass={PASS}",
        f"{CDN}/api/payments/create-payment-intent/?x=1",
        f"https://d222222abcdef8.cloudfront.net/api/events/15/queue/status/?queue_pass={PASS}",
    ):
        assert not covers(resource, elsewhere), elsewhere


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
