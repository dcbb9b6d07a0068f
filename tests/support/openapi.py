"""Validation of the local PayPal's exchanges and webhook events against PayPal's own OpenAPI descriptions."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_schema_validator import OAS30ReadValidator

from tests.support.inspection import Inspection

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
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))  # type: ignore[arg-type]  # None switches the check off, as documented


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


# What each webhook event's resource is, in PayPal's descriptions.
EVENT_RESOURCES = {
    "capture": ("payments_payment_v2.json", "capture-2"),
    "refund": ("payments_payment_v2.json", "refund"),
    "checkout-order": ("checkout_orders_v2.json", "order"),
}


@functools.cache
def schema_validator(name: str, schema: str) -> Any:
    """A validator of one of PayPal's component schemas, as a response (read) carries it."""
    components = json.loads((SPECS / name).read_text())["components"]
    return OAS30ReadValidator({"$ref": f"#/components/schemas/{schema}", "components": components})


def event_errors(event: dict[str, Any]) -> list[str]:
    problems = [f"event: {error.message[:300]}" for error in schema_validator("notifications_webhooks_v1.json", "event").iter_errors(event)]
    resource = EVENT_RESOURCES.get(str(event.get("resource_type")))
    if resource is None:
        return [*problems, f"event resource_type {event.get('resource_type')!r} is not one the fake may send"]
    return problems + [
        f"{event['event_type']} resource: {error.message[:300]}" for error in schema_validator(*resource).iter_errors(event["resource"])
    ]


def explain(error: BaseException) -> str:
    """openapi-core's error with the schema errors it wraps."""
    reasons: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        reasons.append(repr(cause))
        reasons += [schema_error.message[:200] for schema_error in getattr(cause, "schema_errors", [])]
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(reasons)


class PayPalTally(Inspection):
    """An inspector for the local PayPal: checks every exchange and every webhook event against
    PayPal's descriptions as they happen, counts them, and keeps what departs."""

    def exchange(self, exchange: Any) -> None:
        try:
            validate_exchange(exchange)
            found = []
        except Exception as error:
            found = [f"{exchange.method} {exchange.path} -> {exchange.status}: {explain(error)}"[:800]]
        self.note("exchanges", found, counted=api_for(exchange.path) is not None)

    def event(self, event: dict[str, Any]) -> None:
        self.note("events", event_errors(event))

    def summary(self) -> str:
        return (
            f"{self.counts['exchanges']} exchanges and {self.counts['events']} events of the local PayPal checked against "
            f"PayPal's OpenAPI descriptions: {len(self.problems)} invalid"
        )


PAYPAL_TALLY = PayPalTally()
