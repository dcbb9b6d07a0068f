"""What Stripe itself defines, read from the installed SDK (which Stripe generates from its OpenAPI
description of the pinned API version) rather than written down here: the parameters each route
knows, for Stripe's ``parameter_unknown``, and the error types Stripe sends."""

from __future__ import annotations

import functools
import re
import sys
import typing
from typing import Any

import stripe
from stripe._payment_intent import PaymentIntent
from stripe._request_options import RequestOptions

# The request options the SDK sends as headers, never as parameters.
_OPTIONS = frozenset(RequestOptions.__annotations__)
_NAMES = re.compile(r"\b[A-Z][A-Za-z0-9]*Params[A-Za-z0-9]*\b")


def _literals(hint: Any) -> set[str]:
    found: set[str] = set()
    for arg in typing.get_args(hint):
        if typing.get_origin(arg) is typing.Literal:
            found |= {str(value) for value in typing.get_args(arg)}
    return found


# The error types of Stripe's API error (the SDK's enum: LastPaymentError is the API's error object).
ERROR_TYPES = frozenset(_literals(PaymentIntent.LastPaymentError.__annotations__["type"]))


def params_class(dotted: str) -> type:
    holder: Any = stripe.params
    for part in dotted.split("."):
        holder = getattr(holder, part)
    return typing.cast(type, holder)


@functools.cache
def _fields(cls: type) -> dict[str, tuple[type, ...]]:
    """Each parameter of a params class with the params classes its value may be (nested objects,
    or list items): read from the annotations' text, since the SDK imports some names for type
    checkers only."""
    module = sys.modules[cls.__module__]
    fields: dict[str, tuple[type, ...]] = {}
    for name, hint in cls.__annotations__.items():
        if name in _OPTIONS:
            continue
        text = hint.__forward_arg__ if isinstance(hint, typing.ForwardRef) else str(hint)
        nested = (getattr(module, found, None) for found in _NAMES.findall(text))
        fields[name] = tuple(kind for kind in nested if isinstance(kind, type) and hasattr(kind, "__annotations__"))
    return fields


def unknown_parameter(dotted: str, params: dict[str, Any]) -> str | None:
    """The first parameter (as Stripe names it, ``line_items[0][foo]``) that the route's params
    class does not define, or None."""
    return _unknown(params_class(dotted), params, "")


def _unknown(cls: type, params: dict[str, Any], prefix: str) -> str | None:
    fields = _fields(cls)
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in fields:
            return name
        for nested in fields[key][:1]:  # a field with a nested object; free-form maps have none
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    found = _unknown(nested, item, f"{name}[{index}]" if isinstance(value, list) else name)
                    if found:
                        return found
    return None
