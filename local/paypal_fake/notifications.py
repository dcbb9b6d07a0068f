"""Webhook notifications: deliveries signed as PayPal signs them (RSA-SHA256 with a certificate
served at ``PAYPAL-CERT-URL``), and the verify-webhook-signature API for callers that still ask."""

from __future__ import annotations

import base64
import hmac
import secrets
import zlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from local.paypal_fake.objects import Body, invalid, now_text
from local.provider_fake import Kind, Route

if TYPE_CHECKING:
    from local.paypal_fake.app import PayPalFake

CERT_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-local"


class Signer:
    """The fake's own message-signing certificate (subject as PayPal's), issued by its own root."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        now = datetime.now(UTC)
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local PayPal Root CA")])
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.paypal.com")]))
            .issuer_name(root_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(root_key, hashes.SHA256())
        )
        self.root_pem = root.public_bytes(serialization.Encoding.PEM).decode()
        self.chain_pem = leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return base64.b64encode(self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def delivery_headers(fake: PayPalFake, payload: bytes, event: dict[str, Any], webhook_id: str) -> dict[str, str]:
    """Headers of a delivery, as PayPal signs it: RSA-SHA256 over transmission id, time, webhook id
    and the body's CRC32, with the certificate served at PAYPAL-CERT-URL."""
    transmission_id = secrets.token_hex(16)
    transmission_time = now_text()
    signature = fake.signer.sign(f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(payload)}".encode())
    fake.deliveries[transmission_id] = {"event": event, "webhook_id": webhook_id, "signature": signature, "time": transmission_time}
    return {
        "Content-Type": "application/json",
        "PAYPAL-TRANSMISSION-ID": transmission_id,
        "PAYPAL-TRANSMISSION-TIME": transmission_time,
        "PAYPAL-TRANSMISSION-SIG": signature,
        "PAYPAL-CERT-URL": f"{fake.public_url}{CERT_PATH}",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    }


def certificate(fake: PayPalFake, request: Request) -> Response:
    return Response(fake.signer.chain_pem, mimetype="application/x-pem-file")


def verify_webhook_signature(fake: PayPalFake, body: Body) -> dict[str, Any]:
    required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id", "webhook_event")
    missing = [name for name in required if not body.get(name)]
    if missing:
        raise invalid("MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.", f"/{missing[0]}")
    delivery = fake.deliveries.get(str(body["transmission_id"]))
    genuine = (
        delivery is not None
        and hmac.compare_digest(delivery["signature"], str(body["transmission_sig"]))
        and delivery["webhook_id"] == body["webhook_id"] == fake.webhook_id
        and delivery["time"] == body["transmission_time"]
        and delivery["event"] == body["webhook_event"]
    )
    return {"verification_status": "SUCCESS" if genuine else "FAILURE"}


ROUTES = (
    Route("POST", "/v1/notifications/verify-webhook-signature", verify_webhook_signature),
    Route("GET", CERT_PATH, certificate, Kind.PAGE),
)
