"""The HTTP API's JWT authorizer as local runs need it: a bearer token verified (signature, issuer,
audience, expiry) and its claims handed over as API Gateway hands them to Lambda.

Two users: the local runner (``python -m local``), which plays API Gateway in front of the
functions, and the functions themselves under ``sam local``, whose local API skips JWT authorizers.
In the second case the path is open only where SAM's emulation runs the function: ``AWS_SAM_LOCAL``
is exactly ``"true"`` (SAM sets it; Lambda never does) and ``SAM_LOCAL_AUTHORIZER`` names the local
development key (the template declares it empty). In AWS the authorizer's claims are always there
and this module is never imported."""

from __future__ import annotations

import json
import os
from typing import Any

import jwt

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]


class TokenRejected(Exception):
    """Why the authorizer refuses a request; the message goes back in the 401."""


def verify_bearer(authorization: str | None, *, public_key: Any, issuer: str, audience: str) -> dict[str, Any]:
    """The token's claims, or ``TokenRejected``. ``public_key``: a PEM string or a key object."""
    if not authorization:
        raise TokenRejected("Missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("Authorization header must be 'Bearer <token>'")
    try:
        return jwt.decode(
            token.strip(), public_key, algorithms=[ALGORITHM], audience=audience, issuer=issuer, options={"require": REQUIRED_CLAIMS}
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected("Token has expired") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected("Token audience is not accepted") from None
    except jwt.InvalidIssuerError:
        raise TokenRejected("Token issuer is not accepted") from None
    except jwt.InvalidTokenError:
        raise TokenRejected("Token is invalid") from None


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
