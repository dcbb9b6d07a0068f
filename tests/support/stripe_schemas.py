"""JSON Schemas of Stripe's objects and request parameters at the API version the installed SDK pins,
derived from the SDK's own typed classes (which Stripe generates from its OpenAPI description of that
version): every field an object may carry (none required: Stripe leaves out what a request did not
include or expand), its type and nullability, and every enum. A field the version does not have is
an error, so an object shaped after an older version fails.

Request parameters come from the SDK's ``*Params`` typed dicts, as they cross the wire: form-encoded,
so numbers and booleans are checked as their text."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import types
import typing
from decimal import Decimal
from typing import Any

import jsonschema
import stripe
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._request_options import RequestOptions
from stripe._stripe_object import StripeObject, UntypedStripeObject
from typing_extensions import is_typeddict

from tests.support.inspection import Inspection

# The SDK's parameter classes for each API route the local Stripe serves ("{id}" stands for any id).
PARAMS: dict[tuple[str, str], str] = {
    ("POST", "/v1/checkout/sessions"): "checkout.SessionCreateParams",
    ("GET", "/v1/checkout/sessions"): "checkout.SessionListParams",
    ("GET", "/v1/checkout/sessions/{id}"): "checkout.SessionRetrieveParams",
    ("POST", "/v1/checkout/sessions/{id}/expire"): "checkout.SessionExpireParams",
    ("POST", "/v1/payment_intents"): "PaymentIntentCreateParams",
    ("GET", "/v1/payment_intents"): "PaymentIntentListParams",
    ("GET", "/v1/payment_intents/{id}"): "PaymentIntentRetrieveParams",
    ("POST", "/v1/payment_intents/{id}/confirm"): "PaymentIntentConfirmParams",
    ("POST", "/v1/payment_intents/{id}/cancel"): "PaymentIntentCancelParams",
    ("POST", "/v1/refunds"): "RefundCreateParams",
    ("GET", "/v1/refunds"): "RefundListParams",
    ("GET", "/v1/disputes"): "DisputeListParams",
    ("GET", "/v1/events"): "EventListParams",
    ("POST", "/v1/customers"): "CustomerCreateParams",
    ("GET", "/v1/customers/{id}"): "CustomerRetrieveParams",
    ("POST", "/v1/prices"): "PriceCreateParams",
    ("GET", "/v1/prices/{id}"): "PriceRetrieveParams",
    ("POST", "/v1/subscriptions"): "SubscriptionCreateParams",
    ("GET", "/v1/subscriptions/{id}"): "SubscriptionRetrieveParams",
    ("DELETE", "/v1/subscriptions/{id}"): "SubscriptionCancelParams",
}

# Stripe sends decimal amounts (``unit_amount_decimal``) as strings; the SDK reads them as Decimal.
_DECIMAL_TEXT = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    Decimal: _DECIMAL_TEXT,
}
# The same scalars as form encoding carries them.
_FORM_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "string", "pattern": r"^-?[0-9]+$"},
    float: _DECIMAL_TEXT,
    bool: {"enum": ["true", "false"]},
    Decimal: _DECIMAL_TEXT,
}


@functools.cache
def _namespace(module_name: str) -> dict[str, Any]:
    """The module's globals plus what it imports only for type checkers, to resolve its annotations."""
    module = importlib.import_module(module_name)
    names = dict(vars(module))
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    imported = importlib.import_module(statement.module)
                    for alias in statement.names:
                        names[alias.asname or alias.name] = getattr(imported, alias.name)
    return names


def _hints(cls: type) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each field's annotation with the namespace that resolves it: the module of the class that
    declares the field, with its type-checking imports and that class's nested classes."""
    hints: dict[str, tuple[Any, dict[str, Any]]] = {}
    declaring = [cls] if is_typeddict(cls) else list(reversed(cls.__mro__))
    for klass in declaring:
        annotations = klass.__annotations__ if is_typeddict(klass) else vars(klass).get("__annotations__", {})
        if not annotations:
            continue
        namespace = {**_namespace(klass.__module__), **vars(klass)}
        for key, hint in annotations.items():
            hints[key] = (typing.ForwardRef(hint) if isinstance(hint, str) else hint, namespace)
    return hints


def _def_name(cls: type, form: bool) -> str:
    return f"{'form:' if form else ''}{cls.__module__}.{cls.__qualname__}"


class _Builder:
    def __init__(self, form: bool) -> None:
        self.form = form
        self.defs: dict[str, Any] = {}

    def schema(self, hint: Any, namespace: dict[str, Any]) -> dict[str, Any]:
        if isinstance(hint, typing.ForwardRef):
            hint = eval(hint.__forward_arg__, namespace)
        if typing.get_origin(hint) in (typing.ClassVar, typing.NotRequired, typing.Required):
            return self.schema(typing.get_args(hint)[0], namespace)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any or isinstance(hint, typing.TypeVar):
            return {}
        if hint is type(None):
            return {"type": "null"}
        if hint in _SCALARS:
            return (_FORM_SCALARS if self.form else _SCALARS)[hint]
        if origin is typing.Literal:
            return {"enum": [str(value) if self.form else value for value in args]}
        if origin in (typing.Union, types.UnionType):
            if str in args and any(typing.get_origin(arg) is typing.Literal for arg in args):
                # The SDK opens its enums with ``| str`` so that values of later versions still load;
                # at the pinned version the literals are all there is.
                args = tuple(arg for arg in args if arg is not str)
            return {"anyOf": [self.schema(arg, namespace) for arg in args]}
        if origin is list:
            return {"type": "array", "items": self.schema(args[0], namespace)}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.schema(args[1], namespace)}
        cls = origin or hint
        if isinstance(cls, type) and issubclass(cls, UntypedStripeObject):
            return {"type": "object", "additionalProperties": self.schema(args[0], namespace) if args else {}}
        if isinstance(cls, type) and issubclass(cls, ListObject):
            item = self.schema(args[0], namespace) if args else {}
            envelope = {"object": {"const": "list"}, "data": {"type": "array", "items": item}, "has_more": {"type": "boolean"}}
            return {"type": "object", "properties": {**envelope, "url": {"type": "string"}}, "additionalProperties": False}
        if isinstance(cls, type) and (issubclass(cls, StripeObject) or is_typeddict(cls)):
            return {"$ref": f"#/$defs/{self.define(cls)}"}
        raise TypeError(f"no JSON Schema for {hint!r}")

    def define(self, cls: type) -> str:
        name = _def_name(cls, self.form)
        if name in self.defs:
            return name
        self.defs[name] = {}  # placeholder: classes refer to themselves
        properties: dict[str, Any] = {}
        hints = _hints(cls)
        if is_typeddict(cls):
            own = {key: hint for key, hint in hints.items() if key not in RequestOptions.__annotations__}
            required = sorted(key for key in own if key in getattr(cls, "__required_keys__", ()))
        else:
            remapped = getattr(cls, "_field_remappings", {})
            own = {remapped.get(key, key): hint for key, hint in hints.items() if not key.startswith("_") and not _is_class_var(hint[0])}
            required = []
        for key, (hint, namespace) in own.items():
            properties[key] = self.schema(hint, namespace)
        definition: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            definition["required"] = required
        self.defs[name] = definition
        return name


def _is_class_var(hint: Any) -> bool:
    text = hint.__forward_arg__ if isinstance(hint, typing.ForwardRef) else str(hint)
    return text.startswith(("ClassVar", "typing.ClassVar"))


@functools.cache
def _validator(kind: str, target: str) -> jsonschema.protocols.Validator:
    builder = _Builder(form=kind == "params")
    root = builder.define(object_class(target) if kind == "object" else params_class(target))
    schema = {"$defs": builder.defs, "$ref": f"#/$defs/{root}"}
    return jsonschema.Draft202012Validator(schema)


def object_class(object_name: str) -> type:
    module, name = OBJECT_CLASSES[object_name]
    return typing.cast(type, getattr(importlib.import_module(module), name))


def params_class(dotted: str) -> type:
    holder: Any = stripe.params
    for part in dotted.split("."):
        holder = getattr(holder, part)
    return typing.cast(type, holder)


def object_schema(object_name: str) -> dict[str, Any]:
    return typing.cast(dict[str, Any], _validator("object", object_name).schema)


def object_errors(obj: Any, where: str = "") -> list[str]:
    """What in this object (and in every object nested in it that names its type) departs from
    Stripe's definition of its type at the pinned version."""
    problems: list[str] = []
    if isinstance(obj, dict):
        name = obj.get("object")
        if isinstance(name, str) and name in OBJECT_CLASSES and name != "list":
            problems += [f"{where or name}: {_describe(error)}" for error in _validator("object", name).iter_errors(obj)]
        for key, value in obj.items():
            problems += object_errors(value, f"{where}.{key}" if where else f"{name or ''}.{key}")
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            problems += object_errors(item, f"{where}[{index}]")
    return problems


def _describe(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    return f"{path or '(object)'}: {error.message[:300]}"


def route_of(method: str, path: str) -> tuple[str, str] | None:
    parts = path.split("?", maxsplit=1)[0].strip("/").split("/")
    for route in PARAMS:
        wanted = route[1].strip("/").split("/")
        if route[0] == method and len(wanted) == len(parts) and all(w in ("{id}", p) for w, p in zip(wanted, parts, strict=True)):
            return route
    return None


def params_errors(method: str, path: str, params: Any) -> list[str]:
    route = route_of(method, path)
    if route is None:
        return [f"{method} {path}: no parameter definition for this route"]
    return [f"{method} {path} params: {_describe(error)}" for error in _validator("params", PARAMS[route]).iter_errors(params)]


def error_errors(body: Any) -> list[str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(body) != {"error"}:
        return [f"error body not shaped as Stripe's: {body!r}"[:300]]
    known = set(_hints(stripe._error_object.ErrorObject))
    return [f"error field {key!r} is not one of Stripe's" for key in error if key not in known]


class Tally(Inspection):
    """An inspector for the local Stripe: checks every request it receives, every answer it gives and
    every event it sends as they happen, counts them, and keeps what departs from Stripe's definitions."""

    def exchange(self, exchange: Any) -> None:
        if exchange.params is not None:
            self.note("requests", params_errors(exchange.method, exchange.path, exchange.params))
        answer = exchange.answer()
        self.note("answers", error_errors(answer) if exchange.status >= 400 else object_errors(answer))

    def event(self, event: dict[str, Any]) -> None:
        self.note("events", object_errors(event))

    def summary(self) -> str:
        return (
            f"{self.counts['requests']} requests, {self.counts['answers']} answers and {self.counts['events']} events of the local "
            f"Stripe checked against stripe {stripe.VERSION}'s types (API {stripe.api_version}): {len(self.problems)} invalid"
        )


TALLY = Tally()
