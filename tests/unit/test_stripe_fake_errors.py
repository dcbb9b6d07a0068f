"""Every error the local Stripe can answer carries a `type` and `code` from Stripe's own enums at the
pinned API version (read from the installed SDK's generated types), so a test never passes on an
error real Stripe could not send."""

import ast
import inspect
import re
from pathlib import Path

import pytest
import stripe._payment_intent
from werkzeug.test import Client

from local.provider_fake import Kind
from local.stripe_fake import StripeFake
from tests.support.stripe_schemas import PARAMS, route_of

FAKE = Path(__file__).resolve().parents[2] / "local" / "stripe_fake"


def stripe_enum(field: str) -> set[str]:
    """The literal values the SDK's PaymentIntent.LastPaymentError (Stripe's API error) allows."""
    tree = ast.parse(inspect.getsource(stripe._payment_intent))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "LastPaymentError":
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and getattr(item.target, "id", None) == field:
                    return {c.value for c in ast.walk(item.annotation) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    raise AssertionError(f"LastPaymentError.{field} not found in the SDK")


def fake_errors() -> list[tuple[str, str, str | None]]:
    """(place, type, code) of every StripeError the fake constructs with literal values."""
    found = []
    for module in sorted(FAKE.glob("*.py")):
        found += errors_in(module)
    return found


def errors_in(module: Path) -> list[tuple[str, str, str | None]]:
    found = []
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "StripeError" and len(node.args) >= 2:
            kind = node.args[1]
            code = node.args[3] if len(node.args) > 3 else None
            if isinstance(kind, ast.Constant):
                code_value = code.value if isinstance(code, ast.Constant) and code.value is not None else None
                found.append((f"{module.name}:{node.lineno}", str(kind.value), None if code_value is None else str(code_value)))
    return found


def test_every_error_type_and_code_of_the_fake_is_stripes():
    types, codes = stripe_enum("type"), stripe_enum("code")
    assert {"card_error", "invalid_request_error", "api_error"} <= types and len(codes) > 100
    errors = fake_errors()
    assert len(errors) >= 30
    wrong = [(line, kind, code) for line, kind, code in errors if kind not in types or (code is not None and code not in codes)]
    assert wrong == [], f"not in Stripe's enums: {wrong}"
    print(f"\n{len(errors)} fake errors checked against {len(types)} types and {len(codes)} codes")


# What the local Stripe refuses as Stripe does (issue 25) ---------------------------------------
AUTH = {"Authorization": "Bearer sk_test_local"}
INTENT = {"amount": "2000", "currency": "usd"}


@pytest.fixture
def local_stripe():
    fake = StripeFake()
    return fake, Client(fake)


def post(client, path, data, key=None):
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    return client.post(path, data=data, headers=headers)


def test_every_api_route_names_the_sdks_definition_of_its_parameters():
    for route in (r for r in StripeFake()._routes if r.kind is Kind.API):
        served = route_of(route.method, re.sub(r"<[^>]+>", "x_1", route.rule))
        assert served is not None and route.params == PARAMS[served], (route.method, route.rule)


def test_an_unknown_parameter_is_refused_by_name_and_nothing_is_created(local_stripe):
    fake, client = local_stripe
    answer = post(client, "/v1/payment_intents", {**INTENT, "colour": "blue"})
    assert answer.status_code == 400
    assert answer.json["error"] == {
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "param": "colour",
        "message": "Received unknown parameter: colour",
    }
    nested_unknown = {**INTENT, "automatic_payment_methods[enabled]": "true", "automatic_payment_methods[x]": "1"}
    nested = post(client, "/v1/payment_intents", nested_unknown)
    assert nested.json["error"]["param"] == "automatic_payment_methods[x]"
    assert fake.payment_intents == {}
    # Free-form maps (metadata) take any key.
    assert post(client, "/v1/payment_intents", {**INTENT, "metadata[anything]": "1"}).status_code == 200


def test_an_idempotency_key_is_the_accounts_not_the_endpoints(local_stripe):
    fake, client = local_stripe
    assert post(client, "/v1/customers", {"email": "a@example.com"}, key="k1").status_code == 200
    reused = post(client, "/v1/payment_intents", INTENT, key="k1")
    assert reused.status_code == 400
    assert reused.json["error"]["type"] == "idempotency_error"
    assert "/v1/customers" in reused.json["error"]["message"]
    assert fake.payment_intents == {}


def test_a_request_that_fails_validation_is_not_saved_under_its_key(local_stripe):
    """Stripe saves a result only once the endpoint began executing: a retry with the parameters
    corrected and the same key is carried out."""
    fake, client = local_stripe
    assert post(client, "/v1/payment_intents", {"amount": "2000"}, key="k2").json["error"]["code"] == "parameter_missing"
    assert post(client, "/v1/payment_intents", {**INTENT, "colour": "x"}, key="k2").json["error"]["code"] == "parameter_unknown"
    retried = post(client, "/v1/payment_intents", INTENT, key="k2")
    assert retried.status_code == 200 and len(fake.payment_intents) == 1
    # A refusal once the endpoint ran (a declined card) is saved and replayed.
    declined = {**INTENT, "payment_method": "pm_card_chargeDeclined"}
    pid = post(client, "/v1/payment_intents", declined).json["id"]
    first = post(client, f"/v1/payment_intents/{pid}/confirm", {}, key="k3")
    again = post(client, f"/v1/payment_intents/{pid}/confirm", {}, key="k3")
    assert (first.status_code, again.status_code, again.headers.get("Idempotent-Replayed")) == (402, 402, "true")


def test_a_rate_limited_request_is_stripes_429(local_stripe):
    fake, client = local_stripe
    fake.rate_limit_next("/v1/payment_intents")
    answer = post(client, "/v1/payment_intents", INTENT)
    assert answer.status_code == 429
    assert (answer.json["error"]["type"], answer.json["error"]["code"]) == ("invalid_request_error", "rate_limit")
    with pytest.raises(ValueError, match="rate_limit_error"):
        fake.fail_next("/v1/", status=429, type_="rate_limit_error", message="Too many requests", code="rate_limit")
    refused = client.post("/_fake/fail-next", json={"type": "rate_limit_error", "status": 429})
    assert refused.status_code == 400


def test_capture_method_defaults_to_automatic_async(local_stripe):
    """Stripe's default since API version 2024-04-10."""
    _, client = local_stripe
    assert post(client, "/v1/payment_intents", INTENT).json["capture_method"] == "automatic_async"
    assert post(client, "/v1/payment_intents", {**INTENT, "capture_method": "manual"}).json["capture_method"] == "manual"


def test_lists_page_backwards_and_filter_by_creation_time(local_stripe):
    fake, client = local_stripe
    ids = []
    for second in range(5):
        fake.clock_offset = second * 10
        ids.append(post(client, "/v1/payment_intents", INTENT).json["id"])
    created = [fake.payment_intents[pid]["created"] for pid in ids]  # oldest first
    newest_first = ids[::-1]

    def listed(query):
        answer = client.get(f"/v1/payment_intents?{query}", headers=AUTH)
        assert answer.status_code == 200, answer.json
        return [obj["id"] for obj in answer.json["data"]], answer.json["has_more"]

    assert listed(f"ending_before={ids[1]}&limit=2") == (newest_first[1:3], True)
    assert listed(f"ending_before={ids[3]}&limit=2") == (newest_first[0:1], False)
    assert listed(f"created[lt]={created[2]}")[0] == [ids[1], ids[0]]
    assert listed(f"created[lte]={created[2]}")[0] == [ids[2], ids[1], ids[0]]
    assert listed(f"created[gt]={created[2]}")[0] == [ids[4], ids[3]]
    assert listed(f"created[gte]={created[3]}&created[lt]={created[4]}")[0] == [ids[3]]
    assert listed(f"created={created[1]}")[0] == [ids[1]]
    both = client.get(f"/v1/payment_intents?ending_before={ids[1]}&starting_after={ids[3]}", headers=AUTH)
    assert (both.status_code, both.json["error"]["code"]) == (400, "parameters_exclusive")
