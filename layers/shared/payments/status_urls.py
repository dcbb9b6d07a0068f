"""``queue_status_url``: where a waiting buyer's page asks for its queue's status
(docs/on-sales.md#the-queues-status).

Behind CloudFront it is a signed URL (``botocore.signers.CloudFrontSigner``, RSA with SHA-256 over
a canned policy, ``Hash-Algorithm=SHA256``; CloudFront verifies them at the edge itself): a canned
policy's resource is the exact URL, this event's status path with the buyer's ``queue_pass``, so the
URL opens no other path (a custom policy's wildcards would: ``?`` and ``*`` match any characters,
``/x/../../16/...`` included) and the pass is under the signature; it expires with the pass. The distribution's cache keys on the
path alone, so every buyer of an event shares one cached answer; the origin still checks the
``queue_pass`` the URL carries (CloudFront forwards that one parameter), so the route is never open,
whether reached through CloudFront or directly. Without a distribution (locally, under sam local,
in the tests) the URL is the API's own status route with the pass, unsigned.

``cryptography`` (the RSA key) and botocore's signer are loaded on the first signature, so a
function that never signs (no distribution configured) never loads them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from botocore.signers import CloudFrontSigner

STATUS_PATH = "/api/events/{event_id}/queue/status/"
# The signature's hash, named in the URL: CloudFront verifies SHA-1 unless told SHA-256.
HASH_ALGORITHM = "Hash-Algorithm=SHA256"


def status_path(event_id: int) -> str:
    return STATUS_PATH.format(event_id=event_id)


def status_resource(cdn_url: str, event_id: int, queue_pass: str) -> str:
    """What a signed URL of ``event_id``'s status opens: exactly its path with this ``queue_pass``."""
    return f"{cdn_url}{status_path(event_id)}?{urlencode({'queue_pass': queue_pass})}"


class StatusUrls:
    """``cdn_url``: the distribution's address (``https://d111111abcdef8.cloudfront.net``), or None
    for none, asked for on first use (in AWS from an SSM parameter the stack writes: the functions
    cannot name the distribution in their environment, as the API that invokes them is its origin);
    ``key_pair_id``: the id of the public key in the distribution's trusted key group;
    ``private_key``: the RSA private key's PEM, asked for on the first signature (SSM in AWS)."""

    def __init__(self, cdn_url: Callable[[], str | None], key_pair_id: str | None, private_key: Callable[[], str]) -> None:
        self._cdn_url_of = cdn_url
        self._key_pair_id = key_pair_id or ""
        self._private_key = private_key

    @functools.cached_property
    def _cdn_url(self) -> str | None:
        url = self._cdn_url_of()
        if url and not url.startswith("https://"):
            raise ValueError("The queue status CDN URL must be an https:// address")
        return url.rstrip("/") if url else None

    def url(self, event_id: int, queue_pass: str, expires_ms: int, api_url: str) -> str:
        """The status URL for a buyer holding ``queue_pass`` (which expires at ``expires_ms``):
        signed for the distribution, else on ``api_url`` (the API the buyer called)."""
        cdn_url = self._cdn_url
        if cdn_url is None:
            return f"{api_url.rstrip('/')}{status_path(event_id)}?{urlencode({'queue_pass': queue_pass})}"
        expires = datetime.fromtimestamp(expires_ms // 1000, UTC)
        # Canned (no ``policy``): its resource is the URL itself, so the signature covers the path and the pass.
        signed = self._signer().generate_presigned_url(status_resource(cdn_url, event_id, queue_pass), date_less_than=expires)
        return f"{signed}&{HASH_ALGORITHM}"

    @functools.cached_property
    def _rsa_signer(self) -> Callable[[bytes], bytes]:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        key = serialization.load_pem_private_key(self._private_key().encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("The queue status signing key must be an RSA private key (CloudFront's key groups take RSA 2048)")

        def sign(message: bytes) -> bytes:
            # RSA, PKCS#1 v1.5, SHA-256: CloudFront takes SHA-256 when the URL says Hash-Algorithm=SHA256
            # (its examples use SHA-1, which botocore's signer leaves to the signing function).
            return key.sign(message, padding.PKCS1v15(), hashes.SHA256())

        return sign

    def _signer(self) -> CloudFrontSigner:
        from botocore.signers import CloudFrontSigner

        return CloudFrontSigner(self._key_pair_id, self._rsa_signer)


def api_url(event: dict[str, Any]) -> str:
    """The address the request came in on (API Gateway's domain and scheme), for a status URL on
    the API itself when no distribution is configured."""
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    host = (event.get("requestContext") or {}).get("domainName") or headers.get("host", "localhost")
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    return f"{scheme}://{host}"
