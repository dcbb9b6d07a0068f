"""OAuth 2.0 client credentials: the access tokens every other call needs."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from local.paypal_fake.objects import now_text
from local.provider_fake import Kind, Route

if TYPE_CHECKING:
    from local.paypal_fake.app import PayPalFake


def issue_token(fake: PayPalFake, request: Request) -> Response:
    fake.token_requests += 1
    auth = request.authorization
    if auth is None or (auth.username, auth.password) != (fake.client_id, fake.client_secret):
        return fake.json_response(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
    if request.form.get("grant_type") != "client_credentials":
        return fake.json_response(400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"})
    token = "A21AA" + secrets.token_urlsafe(40)
    fake.tokens[token] = time.time() + fake.token_lifetime
    return fake.json_response(
        200,
        {
            "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": fake.token_lifetime,
            "nonce": f"{now_text()}{secrets.token_hex(8)}",
        },
    )


ROUTES = (Route("POST", "/v1/oauth2/token", issue_token, Kind.ENDPOINT),)
