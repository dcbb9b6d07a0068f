"""Currency rules per provider: how many decimals an amount may carry, how it is written in the
provider's minor units, Stripe's minimum charges.

Each provider has its own rules, and they differ for the same currency:

- **Stripe** (https://docs.stripe.com/currencies): amounts in the currency's smallest unit;
  zero-decimal currencies in whole units; three-decimal currencies in thousandths whose last
  digit is 0 (multiples of 0.010); ISK is written with two decimals that must be 00 (whole
  krónur only, "amount must be evenly divisible by 100"). HUF and TWD are charged with two
  decimals (Stripe treats them as zero-decimal for payouts only, which this API does not make);
  UGX is zero-decimal for charges.
- **PayPal** (https://developer.paypal.com/reference/currency-codes/): a decimal string;
  HUF, JPY and TWD take no decimals; the other supported currencies two; no three-decimal
  currency is supported.

Amounts are ``Decimal`` throughout; an amount with more decimals than a provider takes is
refused, never rounded."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Provider(StrEnum):
    STRIPE = "stripe"
    PAYPAL = "paypal"


@dataclass(frozen=True)
class CurrencyRule:
    exponent: int  # the provider's minor unit is 10**-exponent of the major unit
    places: int  # decimals an amount may carry
    why: str = ""  # what the refusal of a finer amount says


STRIPE_ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
STRIPE_THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
STRIPE_WHOLE_UNITS_ONLY = frozenset(["isk"])
PAYPAL_NO_DECIMALS = frozenset(["huf", "jpy", "twd"])

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


def rule(currency: str, provider: Provider = Provider.STRIPE) -> CurrencyRule:
    code = currency.lower()
    if provider is Provider.PAYPAL:
        return CurrencyRule(0, 0) if code in PAYPAL_NO_DECIMALS else CurrencyRule(2, 2)
    if code in STRIPE_ZERO_DECIMAL:
        return CurrencyRule(0, 0)
    if code in STRIPE_THREE_DECIMAL:
        return CurrencyRule(3, 2, "must be a multiple of 0.010")
    if code in STRIPE_WHOLE_UNITS_ONLY:
        return CurrencyRule(2, 0)
    return CurrencyRule(2, 2)


def exponent(currency: str, provider: Provider = Provider.STRIPE) -> int:
    return rule(currency, provider).exponent


def decimal_places(amount: Decimal) -> int:
    exp = amount.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def check_amount_precision(amount: Decimal, currency: str, provider: Provider = Provider.STRIPE) -> None:
    """Raises ValueError when the amount is finer than the provider takes in this currency."""
    currency_rule = rule(currency, provider)
    if decimal_places(amount) > currency_rule.places:
        raise ValueError(f"{currency.upper()} amounts {currency_rule.why or f'allow at most {currency_rule.places} decimal places'}")


def to_minor_units(amount: Decimal, currency: str, provider: Provider = Provider.STRIPE) -> int:
    check_amount_precision(amount, currency, provider)
    return int(amount.scaleb(exponent(currency, provider)))


def to_major_units(minor: int, currency: str, provider: Provider = Provider.STRIPE) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency, provider))


# Stripe charges at most 8 digits of minor units ("Amount must be no more than 999,999.99 USD").
STRIPE_MAXIMUM_MINOR = 99_999_999


def maximum_charge(currency: str) -> Decimal:
    """The largest amount one Stripe charge can take in this currency."""
    return to_major_units(STRIPE_MAXIMUM_MINOR - STRIPE_MAXIMUM_MINOR % _step(currency), currency)


def _step(currency: str) -> int:
    """The smallest move of a chargeable amount, in Stripe's minor units (ISK whole krónur: 100)."""
    currency_rule = rule(currency)
    return int(10 ** (currency_rule.exponent - currency_rule.places))


def minimum_charge(currency: str) -> Decimal:
    return MINIMUM_CHARGE.get(currency.lower(), Decimal("0.50"))
