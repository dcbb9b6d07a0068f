"""What an attacker of the PayPal webhook can make: certificate chains that a careless verifier
accepts, deliveries signed with the attacker's own key, and a second body with a genuine body's
CRC32 (PayPal signs the CRC32, not the body)."""

from __future__ import annotations

import base64
import secrets
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from local.paypal_fake.notifications import CERT_PATH, SIGNING_NAME, Signer, issue_certificate, pem

if TYPE_CHECKING:
    from cryptography import x509

    from local.paypal_fake import PayPalFake


@dataclass(frozen=True)
class ForgedChain:
    """A leaf named as PayPal's with the attacker's key, and the certificates it is served with."""

    key: rsa.RSAPrivateKey
    chain_pem: bytes

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def _leaf_under(issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], *served: x509.Certificate, **options: object) -> ForgedChain:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = options.pop("dns_names", (SIGNING_NAME,))
    common_name = str(options.pop("common_name", SIGNING_NAME))
    leaf = issue_certificate(common_name, key, issuer, ca=False, dns_names=names, **options)  # type: ignore[arg-type]
    return ForgedChain(key, pem(leaf, *served))


def leaf_issued_by_a_leaf(signer: Signer) -> ForgedChain:
    """The attack of issue 25: any public CA gives anyone an ordinary certificate for their own
    domain; its key then "issues" a certificate for PayPal's signing name."""
    own_key = ec.generate_private_key(ec.SECP256R1())
    own = issue_certificate(
        "attacker.example", own_key, (signer.intermediate, signer.intermediate_key), ca=False, dns_names=("attacker.example",)
    )
    return _leaf_under((own, own_key), own, signer.intermediate)


def leaf_issued_by_a_ca_without_key_cert_sign(signer: Signer) -> ForgedChain:
    """An issuer that says CA=true but whose key usage does not allow signing certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = issue_certificate("Not A Certificate Signer", key, (signer.root, signer.root_key), ca=True, key_cert_sign=False)
    return _leaf_under((issuer, key), issuer)


def leaf_for_another_name(signer: Signer, *dns_names: str) -> ForgedChain:
    """Properly issued, but not to PayPal's signing name (the subject's common name still says it)."""
    return _leaf_under((signer.intermediate, signer.intermediate_key), signer.intermediate, dns_names=dns_names)


def leaf_not_for_signatures(signer: Signer) -> ForgedChain:
    """PayPal's name, properly issued, but a key usage without digitalSignature."""
    return _leaf_under((signer.intermediate, signer.intermediate_key), signer.intermediate, digital_signature=False)


def leaf_valid_between(signer: Signer, not_before: datetime, not_after: datetime) -> ForgedChain:
    return _leaf_under((signer.intermediate, signer.intermediate_key), signer.intermediate, not_before=not_before, not_after=not_after)


def self_signed_in_paypals_name() -> ForgedChain:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ForgedChain(key, pem(issue_certificate(SIGNING_NAME, key, ca=False, dns_names=(SIGNING_NAME,))))


def expired(days: int = 1) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=days + 30), now - timedelta(days=days)


def not_yet_valid(days: int = 1) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now + timedelta(days=days), now + timedelta(days=days + 30)


def signed_headers(
    signer: Signer | ForgedChain, body: bytes, webhook_id: str, cert_url: str, transmission_id: str | None = None, when: str | None = None
) -> dict[str, str]:
    """Lower-case delivery headers signed with ``signer``'s key, as PayPal computes them."""
    transmission_id = transmission_id or secrets.token_hex(16)
    when = when or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = signer.sign(f"{transmission_id}|{when}|{webhook_id}|{zlib.crc32(body)}".encode())
    return {
        "paypal-transmission-id": transmission_id,
        "paypal-transmission-time": when,
        "paypal-transmission-sig": signature,
        "paypal-cert-url": cert_url,
        "paypal-auth-algo": "SHA256withRSA",
    }


def fake_cert_url(fake: PayPalFake) -> str:
    return f"{fake.public_url}{CERT_PATH}"


# A second body with the same CRC32 ------------------------------------------------------------------
SLOT = b"A" * 48  # where the forged body carries its filler, inside a JSON string


def same_crc32(template: bytes, target: int) -> bytes:
    """``template`` (which holds ``SLOT`` once) with the slot's letters turned into A or C so that
    the result's CRC32 is ``target``. CRC32 is affine over GF(2) for messages of one length:
    crc(m ^ d1 ^ d2) = crc(m) ^ (crc(m ^ d1) ^ crc(m)) ^ (crc(m ^ d2) ^ crc(m)); flipping bit 1 of
    any slot letter (A <-> C) adds a fixed 32-bit vector, and 48 of them span the 32 bits."""
    start = template.index(SLOT)
    base = zlib.crc32(template)
    effects = []
    for offset in range(len(SLOT)):
        flipped = bytearray(template)
        flipped[start + offset] ^= 0x02
        effects.append(zlib.crc32(bytes(flipped)) ^ base)
    flips = _subset_with_xor(effects, target ^ base)
    forged = bytearray(template)
    for offset in range(len(SLOT)):
        if flips >> offset & 1:
            forged[start + offset] ^= 0x02
    assert zlib.crc32(bytes(forged)) == target
    return bytes(forged)


def _subset_with_xor(vectors: list[int], want: int) -> int:
    """A bit mask of ``vectors`` whose XOR is ``want`` (Gaussian elimination over GF(2))."""
    basis: dict[int, tuple[int, int]] = {}  # leading bit -> (vector, mask of the inputs it combines)
    for index, given in enumerate(vectors):
        vector, mask = given, 1 << index
        for bit in sorted(basis, reverse=True):
            if vector >> bit & 1:
                vector, mask = vector ^ basis[bit][0], mask ^ basis[bit][1]
        if vector:
            basis[vector.bit_length() - 1] = (vector, mask)
    chosen = 0
    for bit in sorted(basis, reverse=True):
        if want >> bit & 1:
            want, chosen = want ^ basis[bit][0], chosen ^ basis[bit][1]
    if want:
        raise ValueError("the slot's letters cannot reach this CRC32")
    return chosen
