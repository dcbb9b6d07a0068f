"""JSON from outside, parsed in one place and refused whole when it is hostile: not JSON, nested
deeper than any request or provider event needs, holding strings that are not Unicode text (lone
surrogates, which no later step could encode), or holding a number no later step could afford or
store. Each refusal is a 400, never a 500.

Numbers are bounded while they are parsed, before anything converts them: the parser hands each
number's literal text to ``_parse_int`` / ``_parse_float``, which refuse it by its length and its
exponent alone. Without that, ``1e1000000`` is a valid JSON number whose conversion to an integer
is quadratic (seconds to minutes of CPU for a 40-byte body), and a 4,301-digit integer stops
Python's ``int`` with a ValueError. The bounds are DynamoDB's own number range (magnitudes from
1E-130 to below 1E+126): nothing outside it could ever be stored or compared with what is. A
refused number is a 400 naming its field, in the API's words (``quantity: must be ...``)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from payments.errors import BadRequest, InvalidField

# Our request bodies nest 3 levels, Stripe's and PayPal's events about 10.
MAX_DEPTH = 64
# A number's literal, sign, point and exponent included: DynamoDB keeps 38 significant digits, so
# 100 characters leave room for any honest way of writing one.
MAX_NUMBER_CHARS = 100
# DynamoDB's range: positive and negative magnitudes from 1E-130 to 9.99...E+125.
MIN_ADJUSTED_EXPONENT = -130
MAX_ADJUSTED_EXPONENT = 125

TOO_LONG = f"must be a number of at most {MAX_NUMBER_CHARS} characters"
OUT_OF_RANGE = "must be a number of magnitude 1E-130 to 1E+125"


class RefusedNumber:
    """What the parser holds in place of a number it refused; the structure check names its field."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse_int(literal: str) -> int | RefusedNumber:
    if len(literal) > MAX_NUMBER_CHARS:
        return RefusedNumber(TOO_LONG)  # refused by its length: no conversion is ever attempted
    return int(literal)


def _parse_float(literal: str) -> Decimal | RefusedNumber:
    if len(literal) > MAX_NUMBER_CHARS:
        return RefusedNumber(TOO_LONG)
    try:
        value = Decimal(literal)  # exact, and cheap for 100 characters whatever the exponent says
    except InvalidOperation:  # an exponent beyond even Decimal's range
        return RefusedNumber(OUT_OF_RANGE)
    # Zero too: 0E+999999999 is zero, but no honest client writes it, and it would carry its exponent on.
    if not MIN_ADJUSTED_EXPONENT <= value.adjusted() <= MAX_ADJUSTED_EXPONENT:
        return RefusedNumber(OUT_OF_RANGE)
    return value


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: JSON leaves a repeated key's meaning open, and the
    parser's "last one wins" would let a body say two things (``"quantity": 50, "quantity": 1``,
    or a key spelled again with an escape) where a log or a firewall reads the first."""
    built = dict(pairs)
    if len(built) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return built


def load_json(data: bytes, what: str = "Request body") -> Any:
    try:
        parsed = json.loads(data, parse_float=_parse_float, parse_int=_parse_int, object_pairs_hook=_object_without_repeats)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    except _RepeatedKey as repeated:
        # The key is named only when it is a plain field name: it has not been checked as text yet.
        plain = repeated.key.isascii() and repeated.key.replace("_", "").isalnum() and len(repeated.key) <= 64
        raise BadRequest(f"{repeated.key}: repeated field" if plain else f"{what} repeats a field") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"{what} is not valid JSON") from None
    _check_structure(parsed, what)
    return parsed


def _check_structure(value: Any, what: str) -> None:
    # Each container with its depth and the top-level field it sits in (as pydantic's errors name a
    # field). Scalars are checked where they are met, so that a body of 30,000 numbers costs
    # milliseconds, not a queue entry each.
    pending: list[tuple[Any, int, str]] = [([value], 0, "body")]
    while pending:
        item, depth, field = pending.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"{what} is nested too deeply")
        pairs = item.items() if type(item) is dict else ((None, child) for child in item)
        for key, child in pairs:
            if key is not None:
                _check_text(key, what)
            name = key if depth == 1 and key is not None else field
            kind = type(child)
            if kind is str:
                _check_text(child, what)
            elif kind is dict or kind is list:
                pending.append((child, depth + 1, name))
            elif kind is RefusedNumber:
                raise InvalidField(name, child.reason)


def _check_text(text: str, what: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} holds a string that is not valid Unicode text") from None
