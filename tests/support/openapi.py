"""Validation of recorded PayPal exchanges against PayPal's own OpenAPI descriptions."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

# PayPal's descriptions, vendored unchanged (Apache-2.0) from shared/provider-specs/paypal.
SPECS = Path(__file__).resolve().parents[1] / "fixtures" / "paypal"
SANDBOX = "https://api-m.sandbox.paypal.com"


def _without_read_only(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_read_only(value) for key, value in node.items() if key != "readOnly"}
    if isinstance(node, list):
        return [_without_read_only(item) for item in node]
    return node


@functools.cache
def paypal_api(name: str) -> Any:
    spec = json.loads((SPECS / name).read_text())
    if name == "notifications_webhooks_v1.json":
        # PayPal marks every property of `event` read-only, yet verify-webhook-signature requires the
        # event in its request body; only that contradiction is lifted.
        spec["components"]["schemas"]["event"] = _without_read_only(spec["components"]["schemas"]["event"])
    # PayPal's descriptions are theirs: we validate exchanges against them, not them against the
    # OpenAPI meta-schema (newer jsonschema releases reject one of their email patterns).
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def api_for(path: str) -> Any:
    if path.startswith("/v2/checkout/"):
        return paypal_api("checkout_orders_v2.json")
    if path.startswith("/v2/payments/"):
        return paypal_api("payments_payment_v2.json")
    if path.startswith("/v1/notifications/"):
        return paypal_api("notifications_webhooks_v1.json")
    return None


def validate_exchange(exchange: Any) -> None:
    """Raises when the request or the response departs from PayPal's description."""
    api = api_for(exchange.path)
    if api is None:
        return
    request = requests.Request(
        exchange.method,
        f"{SANDBOX}{exchange.path}",
        data=exchange.body or None,
        headers={k: v for k, v in exchange.headers.items() if k.lower() != "host"},
    ).prepare()
    openapi_request = RequestsOpenAPIRequest(request)
    api.validate_request(openapi_request)
    response = requests.Response()
    response.status_code = exchange.status
    response._content = exchange.response_body
    response.headers.update(exchange.response_headers)
    response.request = request
    api.validate_response(openapi_request, RequestsOpenAPIResponse(response))
