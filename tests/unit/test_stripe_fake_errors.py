"""Every error the local Stripe can answer carries a `type` and `code` from Stripe's own enums at the
pinned API version (read from the installed SDK's generated types), so a test never passes on an
error real Stripe could not send."""

import ast
import inspect
from pathlib import Path

import stripe._payment_intent

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
