"""What every Stripe resource of the fake shares: Stripe's error, ids, objects laid over Stripe's own
examples, parameter and amount checks, and the list envelope."""

from __future__ import annotations

import copy
import json
import operator
import secrets
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.provider_fake import ProviderError

FIXTURES: dict[str, dict[str, Any]] = json.loads((Path(__file__).with_name("fixtures3.json")).read_text())["resources"]

# Amounts Stripe refuses whatever their size (https://docs.stripe.com/currencies#special-cases):
# ISK in whole krónur (two decimals that must be 00), three-decimal currencies ending in 0.
WHOLE_UNIT_CURRENCIES = {"isk": 100}
THREE_DECIMAL_CURRENCIES = {"bhd", "jod", "kwd", "omr", "tnd"}
MAXIMUM_AMOUNT = 99_999_999  # eight digits, in any currency's minor unit
# Stripe's zero-decimal currencies (https://docs.stripe.com/currencies#zero-decimal): amounts are whole units.
ZERO_DECIMAL_CURRENCIES = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}


def major_units(amount: int, currency: str) -> str:
    """An amount in Stripe's minor units as a person reads it, with the currency's own decimals:
    2500 usd is "25.00 USD", 5000 jpy "5,000 JPY", 1250 kwd "1.250 KWD", 45000 isk "450 ISK"."""
    code = currency.lower()
    if code in ZERO_DECIMAL_CURRENCIES:
        places, value = 0, Decimal(amount)
    elif code in THREE_DECIMAL_CURRENCIES:
        places, value = 3, Decimal(amount).scaleb(-3)
    else:
        # ISK: Stripe counts it in hundredths that must be 00; krónur have no decimals.
        places, value = (0 if code in WHOLE_UNIT_CURRENCIES else 2), Decimal(amount).scaleb(-2)
    return f"{value:,.{places}f} {code.upper()}"


Params = dict[str, Any]


class StripeError(ProviderError):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.type, self.message, self.code, self.param = status, type_, message, code, param
        # Stripe keeps no answer under the idempotency key for parameters that fail validation:
        # the endpoint never began executing (docs.stripe.com/api/idempotent_requests).
        self.saved = not (code or "").startswith("parameter_")
        # What Stripe tells its SDKs about retrying a rate-limited or unavailable request.
        self.headers = {"Stripe-Should-Retry": "false" if status == 429 else "true"} if status in (429, 503) else {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(name: str) -> StripeError:
    return StripeError(400, "invalid_request_error", f"Missing required param: {name}.", "parameter_missing", name)


def unknown(name: str) -> StripeError:
    return StripeError(400, "invalid_request_error", f"Received unknown parameter: {name}", "parameter_unknown", name)


def rate_limited() -> StripeError:
    """Stripe's 429: an invalid request with code ``rate_limit`` (there is no rate-limit error type)."""
    return StripeError(
        429,
        "invalid_request_error",
        "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
        "rate_limit",
    )


def existing(objects: dict[str, dict[str, Any]], kind: str, object_id: str, param: str) -> dict[str, Any]:
    """The stored object, or Stripe's 404 naming it."""
    found = objects.get(object_id)
    if found is None:
        raise StripeError(404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing", param)
    return found


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def from_fixture(fixture: str, /, **fields: Any) -> dict[str, Any]:
    """A new object of Stripe's example shape with our values laid over it."""
    obj = copy.deepcopy(FIXTURES[fixture])
    obj.update(fields)
    return obj


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Stripe shows it: without the fake's own bookkeeping (keys starting with ``_``)."""
    return {key: value for key, value in obj.items() if not key.startswith("_")}


def int_param(params: Params, name: str, required: bool = True) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, "invalid_request_error", f"Invalid integer: {value}", "parameter_invalid_integer", name) from None


def check_charge_amount(amount: int, currency: str, param: str) -> None:
    step = WHOLE_UNIT_CURRENCIES.get(currency) or (10 if currency in THREE_DECIMAL_CURRENCIES else 1)
    if amount % step:
        raise StripeError(
            400,
            "invalid_request_error",
            f"Invalid amount. Currency {currency.upper()} amounts must be evenly divisible by {step}.",
            "invalid_charge_amount",
            param,
        )


def too_large(param: str) -> StripeError:
    return StripeError(400, "invalid_request_error", "Amount must be no more than 999,999.99", "amount_too_large", param)


# created[gt]=... and the others, and a bare ``created`` for one exact second.
CREATED_BOUNDS: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "": operator.eq,
}


def _created_filter(params: Params) -> Callable[[int], bool]:
    """``created`` as Stripe's list endpoints take it: an exact timestamp or any of gt, gte, lt, lte."""
    created = params.get("created")
    bounds = {} if created is None else created if isinstance(created, dict) else {"": created}
    checks: list[tuple[Callable[[int, int], bool], int]] = []
    for name, value in bounds.items():
        param = f"created[{name}]" if name else "created"
        if name not in CREATED_BOUNDS:
            raise unknown(param)
        checks.append((CREATED_BOUNDS[name], int_param({param: value}, param) or 0))
    return lambda at: all(check(at, bound) for check, bound in checks)


def list_of(url: str, objects: Iterable[dict[str, Any]], params: Params) -> dict[str, Any]:
    """Stripe's list envelope, newest first, filtered by ``created`` (exact, or gt/gte/lt/lte), one page
    after ``starting_after`` or before ``ending_before``, cut at ``limit``."""
    limit = int_param(params, "limit", required=False) or 10
    if not 1 <= limit <= 100:
        raise StripeError(400, "invalid_request_error", "This value must be between 1 and 100.", "parameter_invalid_integer", "limit")
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        only_one = "You may only specify one of these parameters: ending_before, starting_after."
        raise StripeError(400, "invalid_request_error", only_one, "parameters_exclusive", "ending_before")
    wanted = _created_filter(params)
    listed = list(objects)
    order = {obj["id"]: index for index, obj in enumerate(listed)}  # creation order breaks ties in `created`
    matching = sorted((obj for obj in listed if wanted(obj["created"])), key=lambda obj: (obj["created"], order[obj["id"]]), reverse=True)
    ids = [obj["id"] for obj in matching]
    cursor, name = (after, "starting_after") if after else (before, "ending_before")
    if cursor and cursor not in ids:
        raise StripeError(400, "invalid_request_error", f"No such object: '{cursor}'", "resource_missing", name)
    if before:
        # The page just before the cursor (newer objects), still newest first.
        newer = matching[: ids.index(before)]
        return {"object": "list", "url": url, "has_more": len(newer) > limit, "data": newer[-limit:]}
    if after:
        matching = matching[ids.index(after) + 1 :]
    return {"object": "list", "url": url, "has_more": len(matching) > limit, "data": matching[:limit]}
