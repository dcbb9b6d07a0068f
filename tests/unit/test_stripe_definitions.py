"""The JSON Schemas derived from the installed SDK's typed classes: they refuse what Stripe's pinned
API version does not have, Stripe's own example objects pass them (except fields Stripe has removed
since, listed), every route of the local Stripe has its parameter definition, and every field the
project reads from a Stripe object exists at the pinned version."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import stripe
from stripe._object_classes import OBJECT_CLASSES

from local.provider_fake import Kind
from local.stripe_fake import StripeFake
from local.stripe_fake.objects import FIXTURES
from tests.support import stripe_schemas
from tests.support.stripe_schemas import object_errors, object_schema, params_errors

ROOT = Path(__file__).resolve().parents[2]

# Fields of Stripe's example objects (fixtures3.json) that the pinned API version no longer has.
REMOVED_SINCE_THE_EXAMPLES = {
    "invoice: (object): Additional properties are not allowed ('subscription' was unexpected)": "2025-03-31: parent.subscription_details",
    "event.data.object: (object): Additional properties are not allowed ('aggregate_usage' was unexpected)": "2025-03-31: plans lost it",
    "reserve.release: .reason: 'bulk_hold_expiry' is not valid under any of the given schemas": "a reason the pinned version lacks",
}

# Every field the project reads from each Stripe object (dotted; ``[]`` steps into a list's items).
FIELDS_READ: dict[str, list[str]] = {
    "checkout.session": [
        "id",
        "url",
        "status",
        "payment_status",
        "payment_intent",
        "metadata",
        "client_reference_id",
        "amount_total",
        "currency",
    ],
    "payment_intent": [
        "id",
        "status",
        "amount",
        "amount_received",
        "currency",
        "client_secret",
        "created",
        "metadata",
        "next_action.type",
        "last_payment_error.code",
    ],
    "customer": ["id", "email", "name"],
    "subscription": [
        "id",
        "status",
        "canceled_at",
        "cancel_at_period_end",
        "latest_invoice.confirmation_secret.client_secret",
        "items.data[].current_period_start",
        "items.data[].current_period_end",
    ],
    "invoice": ["id", "amount_due", "parent.subscription_details.subscription"],
    "charge": ["id", "payment_intent", "amount", "amount_captured", "amount_refunded"],
    "refund": ["id", "amount", "currency", "status", "payment_intent"],
    "dispute": ["id", "payment_intent", "amount", "reason", "status"],
    "event": ["id", "type", "created", "data.object"],
}
# Read only as a fallback, for webhook endpoints still on a version before 2025-03-31: these must be
# absent at the pinned version (were they back, the fallback would be the primary read).
LEGACY_FALLBACKS = {"subscription": ["current_period_start", "current_period_end"], "invoice": ["subscription"]}


def resolve(schema: dict[str, Any], defs: dict[str, Any], path: str) -> bool:
    """Whether ``path`` exists in ``schema``: through references, nullable and expandable unions."""
    if not path:
        return True
    if "$ref" in schema:
        return resolve(defs[schema["$ref"].split("/")[-1]], defs, path)
    if "anyOf" in schema:
        return any(resolve(option, defs, path) for option in schema["anyOf"])
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        field = schema.get("properties", {}).get(head[:-2])
        return field is not None and any(
            resolve(branch.get("items", {}), defs, rest) for branch in _branches(field, defs) if "items" in branch
        )
    field = schema.get("properties", {}).get(head)
    return field is not None and resolve(field, defs, rest)


def _branches(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in schema:
        return _branches(defs[schema["$ref"].split("/")[-1]], defs)
    if "anyOf" in schema:
        return [branch for option in schema["anyOf"] for branch in _branches(option, defs)]
    if schema.get("properties", {}).get("data"):  # a list envelope
        return [schema["properties"]["data"]]
    return [schema]


def exists(object_name: str, path: str) -> bool:
    schema = object_schema(object_name)
    return resolve(schema, schema["$defs"], path)


@pytest.mark.parametrize(("object_name", "path"), [(name, path) for name, paths in FIELDS_READ.items() for path in paths])
def test_every_field_the_project_reads_exists_at_the_pinned_version(object_name: str, path: str) -> None:
    assert exists(object_name, path), f"{object_name}.{path} is not in stripe {stripe.VERSION} (API {stripe.api_version})"


@pytest.mark.parametrize(("object_name", "field"), [(name, field) for name, fields in LEGACY_FALLBACKS.items() for field in fields])
def test_legacy_fallbacks_are_absent_at_the_pinned_version(object_name: str, field: str) -> None:
    assert not exists(object_name, field)


def test_the_list_of_fields_read_names_only_what_the_code_reads() -> None:
    """A field in FIELDS_READ that no source of ours names is a stale entry."""
    sources = "\n".join(path.read_text() for folder in ("layers", "functions") for path in (ROOT / folder).rglob("*.py"))
    named = set(re.findall(r"[\"'](\w+)[\"']|\.(\w+)\b", sources))
    words = {word for pair in named for word in pair if word}
    listed = {
        segment.removesuffix("[]")
        for paths in (*FIELDS_READ.values(), *LEGACY_FALLBACKS.values())
        for p in paths
        for segment in p.split(".")
    }
    assert listed - words - {"data"} == set()


def test_the_resolver_can_say_no() -> None:
    assert exists("invoice", "parent.subscription_details.subscription")
    assert not exists("invoice", "parent.subscription_details.nonsense")
    assert not exists("subscription", "items.data[].nonsense")
    assert not exists("checkout.session", "nonsense")


def test_stripes_examples_pass_except_the_fields_removed_since() -> None:
    problems = [problem for obj in FIXTURES.values() if isinstance(obj, dict) for problem in object_errors(obj)]
    checked = sum(1 for obj in FIXTURES.values() if isinstance(obj, dict) and obj.get("object") in OBJECT_CLASSES)
    assert checked > 100
    assert set(problems) == set(REMOVED_SINCE_THE_EXAMPLES), "\n".join(problems)


def test_an_object_shaped_after_an_older_version_or_with_a_wrong_value_is_refused() -> None:
    intent = copy.deepcopy(FIXTURES["payment_intent"])
    assert object_errors(intent) == []
    older = {**intent, "charges": {"object": "list", "data": [], "has_more": False, "url": "/v1/charges"}}  # removed in 2022-11-15
    assert any("'charges' was unexpected" in problem for problem in object_errors(older))
    assert any(".status: 'paid' is not" in problem for problem in object_errors({**intent, "status": "paid"}))
    assert any("is not of type 'integer'" in problem for problem in object_errors({**intent, "amount": "2000"}))
    assert any("None is not valid" in problem or "None is not of type" in problem for problem in object_errors({**intent, "id": None}))
    event = copy.deepcopy(FIXTURES["event"])
    event["data"]["object"] = {**intent, "status": "paid"}
    assert any(problem.startswith("event.data.object") for problem in object_errors(event))
    assert any(".type: 'payment_intent.paid' is not" in problem for problem in object_errors({**event, "type": "payment_intent.paid"}))


def test_request_parameters_are_checked_as_form_encoding_carries_them() -> None:
    good = {"amount": "2000", "currency": "usd", "metadata": {"ticket_id": "7"}, "automatic_payment_methods": {"enabled": "true"}}
    assert params_errors("POST", "/v1/payment_intents", good) == []
    assert params_errors("POST", "/v1/payment_intents/pi_1/confirm", {"payment_method": "pm_card_visa", "return_url": "https://x"}) == []
    assert params_errors("GET", "/v1/refunds?limit=100", {"created": {"gte": "1700000000"}, "limit": "100"}) == []
    problems = params_errors(
        "POST", "/v1/payment_intents", {"amount": "20.5", "currency": "usd", "confirmation_method": "sometimes", "nonsense": "1"}
    )
    assert len(problems) == 3, problems
    assert params_errors("POST", "/v1/payment_intents", {"amount": "2000"}) != []  # currency is required
    assert params_errors("POST", "/v1/charges", {}) == ["POST /v1/charges: no parameter definition for this route"]


def test_every_api_route_of_the_local_stripe_has_its_parameter_definition() -> None:
    routes = [route for route in StripeFake()._routes if route.kind is Kind.API]
    assert len(routes) == len(stripe_schemas.PARAMS)
    for route in routes:
        path = re.sub(r"<\w+>", "x_1", route.rule)
        assert stripe_schemas.route_of(route.method, path) is not None, route.rule


def test_a_tally_keeps_what_an_answer_or_event_gets_wrong() -> None:
    from local.provider_fake import Exchange

    tally = stripe_schemas.Tally()
    intent = copy.deepcopy(FIXTURES["payment_intent"])
    good = Exchange("GET", "/v1/payment_intents/pi_1", {}, b"", {}, 200, {}, json.dumps(intent).encode())
    tally.exchange(good)
    assert tally.problems == []
    tally.exchange(
        Exchange("GET", "/v1/payment_intents/pi_1", {}, b"", {"expand": "x"}, 200, {}, json.dumps({**intent, "status": "paid"}).encode())
    )
    tally.exchange(
        Exchange(
            "POST", "/v1/refunds", {}, b"", {}, 400, {}, json.dumps({"error": {"type": "invalid_request_error", "hint": "x"}}).encode()
        )
    )
    tally.event({**FIXTURES["event"], "type": "nonsense", "data": {"object": intent}})
    assert len(tally.problems) == 4, tally.problems
    assert tally.counts == {"requests": 3, "answers": 3, "events": 1}
