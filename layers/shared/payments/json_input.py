"""JSON from outside, parsed in one place and refused whole when it is hostile: not JSON, nested
deeper than any request or provider event needs, or holding strings that are not Unicode text
(lone surrogates, which no later step could encode). Each refusal is a 400, never a 500."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from payments.errors import BadRequest

# Our request bodies nest 3 levels, Stripe's and PayPal's events about 10.
MAX_DEPTH = 64


def load_json(data: bytes, what: str = "Request body") -> Any:
    try:
        parsed = json.loads(data, parse_float=Decimal)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"{what} is not valid JSON") from None
    _check_structure(parsed, what)
    return parsed


def _check_structure(value: Any, what: str) -> None:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"{what} is nested too deeply")
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, what)
                pending.append((child, depth + 1))
        elif isinstance(item, list):
            pending += [(child, depth + 1) for child in item]


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} holds a string that is not valid Unicode text") from None
