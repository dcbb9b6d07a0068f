"""Request models: pydantic v2 models, the field types they share, and the one validation step.

Every model is built lazily (``defer_build``): a function pays for the schema of the models it
validates on its first request, not for every model of its module at import. A model is validated
in two steps by ``validate``: pydantic checks the parsed JSON against the model (types, lengths,
patterns, unknown fields refused; the field types below for what JSON numbers and URL parameters
need), then the model's ``check`` applies the rules that need the handler's limits or another field.
The providers' webhook payloads (``ProviderPayload``) are the one kind of model that ignores fields.

Every failure names its field: the message is built from pydantic's structured error (its ``loc``
and ``type``, and for our own field types the ``ValueError`` they raised), never from its text, in
the words the API has always used (``quantity: must be between 1 and 10``, ``phone: unknown field``,
``metadata: expected str, got int``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from payments import money
from payments.errors import InvalidField

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

Context = Mapping[str, Any]


class RequestModel(BaseModel):
    """A request body, path or query of our API: a field it does not declare is refused (a 400 naming
    it), on every route alike. A field an existing client sends is declared, never let through."""

    # strict: no coercion behind our back ("5" is not 5, true is not 1); the field types below say
    # where a string of digits (a URL parameter) or a whole Decimal is welcome.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    def check(self, context: Context) -> None:
        """Rules that need the handler's limits (``context``) or more than one field."""


class ProviderPayload(BaseModel):
    """What Stripe or PayPal sends us (a webhook event, a listed event): not our contract but theirs,
    and they add fields without notice, so what a model does not read is ignored. The one exception
    to refusing unknown fields; never a base for our own requests."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, defer_build=True)


# The JSON types of what came in, named as the API's messages always named them.
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (Decimal, "float"),
    (float, "float"),
    (str, "str"),
    (list, "array"),
    (tuple, "array"),
    (dict, "object"),
    (type(None), "null"),
)
# pydantic's type errors, by the type they expected.
_EXPECTED = {
    "string_type": "str",
    "int_type": "int",
    "bool_type": "bool",
    "decimal_type": "float",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
}


def _json_type(value: object) -> str:
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def invalid_field(error: ErrorDetails) -> InvalidField:
    """One structured pydantic error as the field it is about and what is wrong with it."""
    field = next((str(part) for part in error["loc"] if isinstance(part, str)), "body")
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return InvalidField(field, "field required")
    if kind == "extra_forbidden":
        return InvalidField(field, "unknown field")
    if kind == "value_error" and "error" in context:
        return InvalidField(field, str(context["error"]))  # our own field type's words
    if kind in _EXPECTED:
        return InvalidField(field, f"expected {_EXPECTED[kind]}, got {_json_type(error['input'])}")
    if kind == "string_pattern_mismatch":
        return InvalidField(field, f"expected str matching regex {context['pattern']!r}")
    if kind == "string_too_long":
        return InvalidField(field, f"expected str of length <= {context['max_length']}")
    if kind == "string_too_short":
        return InvalidField(field, f"expected str of length >= {context['min_length']}")
    return InvalidField(field, f"invalid ({kind})")


def validate[ModelT: RequestModel](model: type[ModelT], data: object, context: Context | None = None) -> ModelT:
    """``data`` (parsed JSON, or URL parameters) as ``model``; raises InvalidField naming the field."""
    try:
        request = model.model_validate(data)
    except ValidationError as error:
        raise invalid_field(error.errors(include_url=False)[0]) from None
    request.check(context or {})
    return request


def payload(request: RequestModel) -> dict[str, Any]:
    """The request as plain JSON values (Decimals as exact strings), e.g. for an idempotency hash."""
    return {name: _plain(value) for name, value in request.model_dump().items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # One text per value: 10, 10.0 and 1E+1 are the same amount, so the same request.
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


# Field types ------------------------------------------------------------------------------------
# Whole numbers (ids, quantities, counts, limits) have at most 18 digits: ids are counters and
# URL parameters have always been held to 18 digits; every other whole number has a far smaller
# range of its own. Anything longer is refused before it is converted, whatever its exponent says.
MAX_WHOLE_DIGITS = 18
MAX_ID = 10**MAX_WHOLE_DIGITS - 1


def _is_integral(value: Decimal) -> bool:
    return value.is_finite() and value == value.to_integral_value()


def _whole_number(value: Any) -> int:
    """A whole JSON number (``2`` or ``2.0``) of at most 18 digits; strings and booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a whole number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("must be a whole number")
        # adjusted() is the power of ten of the leading digit: read from the number, not computed.
        if value and value.adjusted() >= MAX_WHOLE_DIGITS:
            raise ValueError(f"must be a whole number of at most {MAX_WHOLE_DIGITS} digits")
        if not _is_integral(value):
            raise ValueError("must be a whole number")
    elif abs(value) > MAX_ID:
        raise ValueError(f"must be a whole number of at most {MAX_WHOLE_DIGITS} digits")
    return int(value)


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _query_int(value: Any) -> int:
    """A whole number from a JSON number or a URL parameter's string of digits."""
    if isinstance(value, str) and _digits(value):
        if len(value) > MAX_WHOLE_DIGITS:
            raise ValueError(f"must be a whole number of at most {MAX_WHOLE_DIGITS} digits")
        return int(value)
    return _whole_number(value)


def _object_id(value: Any) -> int:
    """A positive id of at most 18 digits: a JSON number, or a URL parameter's string of digits."""
    # Out of range is said in the id's own terms, before anything converts it.
    if isinstance(value, str) and _digits(value) and len(value) > MAX_WHOLE_DIGITS:
        raise ValueError(f"must be between 1 and {MAX_ID}")
    if isinstance(value, Decimal) and value.is_finite() and value and value.adjusted() >= MAX_WHOLE_DIGITS:
        raise ValueError(f"must be between 1 and {MAX_ID}")
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_ID:
        raise ValueError(f"must be between 1 and {MAX_ID}")
    number = _query_int(value)
    if number < 1:
        raise ValueError("must be greater than or equal to 1")
    return number


def _amount(value: Any) -> Decimal:
    """An exact JSON number (parsed as Decimal by payments.json_input, never through float)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("must be a finite number")
    return Decimal(value)


def _currency_code(value: Any) -> str:
    """A three-letter ISO currency code, lower-cased as Stripe and our records use it."""
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise ValueError("must be a three-letter currency code")
    return value.lower()


WholeNumber = Annotated[int, BeforeValidator(_whole_number), WithJsonSchema({"type": "integer"})]
QueryInt = Annotated[
    int, BeforeValidator(_query_int), WithJsonSchema({"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]{1,18}$"}]})
]
ObjectId = Annotated[
    int,
    BeforeValidator(_object_id),
    WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "string", "pattern": "^[0-9]{1,18}$"}]}),
]
Amount = Annotated[Decimal, BeforeValidator(_amount), WithJsonSchema({"type": "number"})]
CurrencyCode = Annotated[str, BeforeValidator(_currency_code), WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]{3}$"})]


@dataclass(frozen=True)
class Text:
    """``Annotated[str, Text(200)]``: text with surrounding whitespace removed (and lower-cased where
    asked), then held to a length and, optionally, a pattern that ``says`` what it wants."""

    max_length: int
    min_length: int = 1
    pattern: str | None = None
    says: str = ""
    lower: bool = False

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        text = value.strip().lower() if self.lower else value.strip()
        if not self.min_length <= len(text) <= self.max_length:
            raise ValueError(f"must be {self.min_length} to {self.max_length} characters")
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            raise ValueError(self.says)
        return text

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "minLength": self.min_length, "maxLength": self.max_length}


# Rules across fields and limits ------------------------------------------------------------------
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
