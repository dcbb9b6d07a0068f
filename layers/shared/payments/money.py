"""Currency rules: exponents, Stripe's minimum charges, conversion between major and minor units."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 exponents as Stripe applies them (https://docs.stripe.com/currencies).
ZERO_DECIMAL = frozenset(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"])
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])

# Stripe's minimum charge amounts in major units; currencies not listed use the USD-equivalent floor of 0.50.
MINIMUM_CHARGE = {
    "usd": Decimal("0.50"),
    "eur": Decimal("0.50"),
    "gbp": Decimal("0.30"),
    "jpy": Decimal("50"),
    "kwd": Decimal("0.200"),
    "chf": Decimal("0.50"),
    "cad": Decimal("0.50"),
    "aud": Decimal("0.50"),
}


def exponent(currency: str) -> int:
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def decimal_places(amount: Decimal) -> int:
    exp = amount.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def check_amount_precision(amount: Decimal, currency: str) -> None:
    """Raises ValueError when the amount has more decimals than the currency allows."""
    allowed = exponent(currency)
    if decimal_places(amount) > allowed:
        raise ValueError(f"{currency.upper()} amounts allow at most {allowed} decimal places")
    # Stripe charges three-decimal currencies in multiples of 10 minor units.
    if allowed == 3 and decimal_places(amount) > 2:
        raise ValueError(f"{currency.upper()} amounts must be a multiple of 0.010")


def to_minor_units(amount: Decimal, currency: str) -> int:
    check_amount_precision(amount, currency)
    return int(amount.scaleb(exponent(currency)))


def to_major_units(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def minimum_charge(currency: str) -> Decimal:
    return MINIMUM_CHARGE.get(currency.lower(), Decimal("0.50"))
