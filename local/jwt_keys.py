"""The local stand-in for the HTTP API's JWT authorizer: a development RSA key, tokens signed with
it, and the same checks (signature, issuer, audience, expiry) before any handler runs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.template import ROOT
from payments.local_authorizer import TokenRejected, claims_as_http_api_passes_them, verify_bearer
from payments.settings import is_group_name

__all__ = ["AUDIENCE", "ISSUER", "LocalAuthority", "TokenRejected", "claims_as_http_api_passes_them"]

DEFAULT_KEY_PATH = Path(os.environ.get("LOCAL_JWT_KEY_FILE", ROOT / ".local" / "jwt-signing-key.pem"))
ISSUER = "http://127.0.0.1/local-issuer"
AUDIENCE = "payments-api-local"
KEY_ID = "local-dev-key"


@dataclass
class LocalAuthority:
    private_key: rsa.RSAPrivateKey
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @classmethod
    def load_or_create(cls, path: Path = DEFAULT_KEY_PATH) -> LocalAuthority:
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return cls(key)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        path.write_bytes(pem)
        path.chmod(0o600)
        return cls(key)

    def issue(
        self, user_id: str, *, staff: bool = False, groups: list[str] | None = None, lifetime_s: int = 12 * 3600, **extra: Any
    ) -> str:
        # Cognito's group names hold no whitespace, and payments.auth reads HTTP API's flattened list
        # of them on that ground: the local issuer makes no token Cognito could not.
        odd = [name for name in groups or [] if not is_group_name(name)]
        if odd:
            raise ValueError(f"not a group name Cognito allows (no whitespace): {odd[0]!r}")
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": user_id,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + lifetime_s,
            "cognito:groups": sorted({*(groups or []), *(["staff"] if staff else [])}),
            **extra,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": KEY_ID})

    def verify(self, authorization: str | None) -> dict[str, Any]:
        return verify_bearer(authorization, public_key=self.private_key.public_key(), issuer=self.issuer, audience=self.audience)

    def public_key_pem(self) -> str:
        return (
            self.private_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        )
