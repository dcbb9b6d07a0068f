"""The HTTP API's JWT authorizer as local runs need it: a bearer token verified (signature, issuer,
audience, expiry) and its claims handed over as API Gateway hands them to Lambda.

Two users: the local runner (``python -m local``), which plays API Gateway in front of the
functions, and the functions themselves under ``sam local``, whose local API skips JWT authorizers.
In the second case the path is open only where SAM's emulation runs the function: ``AWS_SAM_LOCAL``
is exactly ``"true"`` (SAM sets it; Lambda never does) and ``SAM_LOCAL_AUTHORIZER`` names the local
development key (the template declares it empty). In AWS the authorizer's claims are always there
and this module is never imported.

A refused token is answered as API Gateway's JWT authorizer answers it: status 401, the body
``{"message":"Unauthorized"}`` (API Gateway's own; an HTTP API cannot change it) and a
``www-authenticate`` header in the form AWS documents (``Bearer scope="" error="invalid_token"
error_description="the token does not have a valid audience"``). AWS publishes that one
description; the others here follow its form and words, and no client should parse them. The
reason in our own words goes to the server's log only. As at AWS, the Authorization header may
carry the token alone or prefixed with ``Bearer``."""

from __future__ import annotations

import json
import os
from typing import Any

import jwt

from payments.errors import UNAUTHORIZED_BODY

__all__ = ["UNAUTHORIZED_BODY", "TokenRejected", "claims_as_http_api_passes_them", "claims_under_sam_local", "verify_bearer"]

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]


class TokenRejected(Exception):
    """Why the authorizer refuses a request: ``reason`` for the server's log, ``description`` for the
    ``www-authenticate`` header, in API Gateway's words."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.description = description

    def challenge(self) -> str:
        """The ``www-authenticate`` value, laid out as API Gateway's documentation shows it."""
        return f'Bearer scope="" error="invalid_token" error_description="{self.description}"'

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "www-authenticate": self.challenge()}


def verify_bearer(authorization: str | None, *, public_key: Any, issuer: str, audience: str) -> dict[str, Any]:
    """The token's claims, or ``TokenRejected``. ``public_key``: a PEM string or a key object."""
    if not authorization or not authorization.strip():
        raise TokenRejected("Missing Authorization header", "the token is missing")
    # API Gateway takes the token alone or prefixed with Bearer (its identitySource rule).
    scheme, _, rest = authorization.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else authorization.strip()
    try:
        return jwt.decode(token, public_key, algorithms=[ALGORITHM], audience=audience, issuer=issuer, options={"require": REQUIRED_CLAIMS})
    except jwt.ExpiredSignatureError:
        raise TokenRejected("Token has expired", "the token has expired") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected("Token audience is not accepted", "the token does not have a valid audience") from None
    except jwt.InvalidIssuerError:
        raise TokenRejected("Token issuer is not accepted", "the token does not have a valid issuer") from None
    except jwt.InvalidTokenError:
        raise TokenRejected("Token is invalid", "the token could not be validated") from None


def claims_as_http_api_passes_them(claims: dict[str, Any]) -> dict[str, str]:
    """HTTP API hands claims to Lambda as strings, arrays flattened to "[a b]"."""
    flat: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            flat[name] = "[" + " ".join(str(item) for item in value) + "]"
        else:
            flat[name] = str(value)
    return flat


def claims_under_sam_local(event: dict[str, Any]) -> dict[str, str]:
    """What the cloud authorizer would have put in ``requestContext.authorizer.jwt.claims``.
    ``SAM_LOCAL_AUTHORIZER``: ``{"issuer", "audience", "public_key"}`` (PEM), written by
    ``python -m local sam-env``."""
    authorizer = json.loads(os.environ["SAM_LOCAL_AUTHORIZER"])
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    claims = verify_bearer(
        headers.get("authorization"), public_key=authorizer["public_key"], issuer=authorizer["issuer"], audience=authorizer["audience"]
    )
    return claims_as_http_api_passes_them(claims)
