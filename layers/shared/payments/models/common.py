"""Request models: msgspec structs, the field types they share, and the one validation step.

msgspec rather than pydantic: it validates the same shapes but imports in ~8 ms instead of ~90 ms,
which is a third of a function's whole cold start (see the README's Performance section).

A model is validated in two steps by ``validate``: msgspec converts the parsed JSON into the struct
(types, lengths and patterns declared on the fields; the field types below for what JSON numbers
and URL parameters need), then the model's ``check`` applies the rules that need the handler's
limits or another field. Every failure names its field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Self

import msgspec

from payments import money
from payments.errors import InvalidField

Context = Mapping[str, Any]


class RequestModel(msgspec.Struct, forbid_unknown_fields=True):
    """A request body, path or query; unknown fields are refused unless a model says otherwise."""

    def check(self, context: Context) -> None:
        """Rules that need the handler's limits (``context``) or more than one field."""


def _from_json(type_: type, value: Any) -> Any:
    # msgspec calls this for the field types below; a ValueError becomes an error at the field's path.
    parse = getattr(type_, "from_json", None)
    if parse is None:
        raise NotImplementedError(type_)
    return parse(value)


_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")
_AT_PATH = re.compile(r"^(?P<message>.*) - at `\$\.?(?P<path>[^`]*)`$", re.DOTALL)


def invalid_field(error: msgspec.ValidationError) -> InvalidField:
    """msgspec's message as the field it is about and what is wrong with it."""
    text = str(error)
    if match := _MISSING.match(text):
        return InvalidField(match["field"], "field required")
    if match := _UNKNOWN.match(text):
        return InvalidField(match["field"], "unknown field")
    if match := _AT_PATH.match(text):
        return InvalidField(match["path"].replace("[...]", "") or "body", _plain(match["message"]))
    return InvalidField("body", _plain(text))


def _plain(message: str) -> str:
    # "Expected `int` >= 1" reads "expected int >= 1" after the field's name.
    message = message.replace("`", "")
    return message[:1].lower() + message[1:]


def validate[ModelT: RequestModel](model: type[ModelT], data: object, context: Context | None = None) -> ModelT:
    """``data`` (parsed JSON, or URL parameters) as ``model``; raises InvalidField naming the field."""
    try:
        request = msgspec.convert(data, model, dec_hook=_from_json)
    except msgspec.ValidationError as error:
        raise invalid_field(error) from None
    request.check(context or {})
    return request


def payload(request: RequestModel) -> dict[str, Any]:
    """The request as plain JSON values (Decimals as exact strings), e.g. for an idempotency hash."""
    result: dict[str, Any] = msgspec.to_builtins(request, enc_hook=_to_json)
    return result


def _to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        # One text per value: 10, 10.0 and 1E+1 are the same amount, so the same request.
        return format(value.normalize(), "f")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise NotImplementedError(type(value))


def _is_integral(value: Decimal) -> bool:
    return value.is_finite() and value == value.to_integral_value()


class ObjectId(int):
    """A positive id: a JSON number, or a URL parameter's string of digits; nothing else."""

    @classmethod
    def from_json(cls, value: Any) -> Self:
        number = QueryInt.from_json(value)
        if number < 1:
            raise ValueError("must be greater than or equal to 1")
        return cls(number)


class QueryInt(int):
    """A whole number from a JSON number or a URL parameter's string of digits."""

    @classmethod
    def from_json(cls, value: Any) -> Self:
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
            return cls(int(value))
        return cls(WholeNumber.from_json(value))


class WholeNumber(int):
    """A whole JSON number (``2`` or ``2.0``); strings and booleans are not numbers."""

    @classmethod
    def from_json(cls, value: Any) -> Self:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise ValueError("must be a whole number")
        if isinstance(value, Decimal) and not _is_integral(value):
            raise ValueError("must be a whole number")
        return cls(int(value))


class Amount(Decimal):
    """An exact JSON number (parsed as Decimal by payments.http); strings and booleans are not."""

    @classmethod
    def from_json(cls, value: Any) -> Self:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise ValueError("must be a number")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError("must be a finite number")
        return cls(value)


class CurrencyCode(str):
    """A three-letter ISO currency code, lower-cased as Stripe and our records use it."""

    __slots__ = ()

    @classmethod
    def from_json(cls, value: Any) -> Self:
        if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
            raise ValueError("must be a three-letter currency code")
        return cls(value.lower())


class Text(str):
    """Text with surrounding whitespace removed, then held to a length and, optionally, a pattern."""

    __slots__ = ()
    min_length: ClassVar[int] = 1
    max_length: ClassVar[int]
    pattern: ClassVar[re.Pattern[str] | None] = None
    pattern_says: ClassVar[str] = ""

    @classmethod
    def from_json(cls, value: Any) -> Self:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        text = value.strip()
        if not cls.min_length <= len(text) <= cls.max_length:
            raise ValueError(f"must be {cls.min_length} to {cls.max_length} characters")
        if cls.pattern is not None and not cls.pattern.fullmatch(text):
            raise ValueError(cls.pattern_says)
        return cls(text)


def currency_allowed(field: str, value: str, context: Context) -> None:
    """The currency must be in the handler's ``allowed_currencies`` context."""
    allowed = context.get("allowed_currencies")
    if allowed is not None and value not in allowed:
        raise InvalidField(field, f"must be one of {', '.join(sorted(allowed))}")


def check_positive_amount(field: str, value: Decimal, currency: str, context: Context, provider: money.Provider) -> None:
    """A positive amount no finer than the provider takes in this currency, within the context's
    ``max_amount``; at Stripe, at least Stripe's minimum charge."""
    if value <= 0:
        raise InvalidField(field, "must be greater than 0")
    check_precision(field, value, currency, provider)
    if provider is money.Provider.STRIPE and value < money.minimum_charge(currency):
        raise InvalidField(field, f"must be at least {money.minimum_charge(currency)} {currency.upper()}")
    maximum = context.get("max_amount")
    if maximum is not None and value > maximum:
        raise InvalidField(field, f"must be at most {maximum} {currency.upper()}")


def check_precision(field: str, value: Decimal, currency: str, provider: money.Provider = money.Provider.STRIPE) -> None:
    try:
        money.check_amount_precision(value, currency, provider)
    except ValueError as error:
        raise InvalidField(field, str(error)) from None


def check_range(field: str, value: int, minimum: int, maximum: int) -> None:
    if not minimum <= value <= maximum:
        raise InvalidField(field, f"must be between {minimum} and {maximum}")
