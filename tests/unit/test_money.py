from decimal import Decimal

import pytest

from payments import money


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("29.99", "usd", 2999),
        ("29.9", "usd", 2990),
        ("30", "eur", 3000),
        ("5000", "jpy", 5000),
        ("1.25", "kwd", 1250),
        ("0.5", "USD", 50),
    ],
)
def test_to_minor_units_respects_the_currency_exponent(amount, currency, minor):
    assert money.to_minor_units(Decimal(amount), currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [("29.999", "usd"), ("10.5", "jpy"), ("1.234", "kwd")])
def test_more_decimals_than_the_currency_allows_is_refused_not_rounded(amount, currency):
    with pytest.raises(ValueError, match=currency.upper()):
        money.to_minor_units(Decimal(amount), currency)


def test_trailing_zeros_do_not_count_as_decimals():
    assert money.to_minor_units(Decimal("12.500"), "usd") == 1250


def test_to_major_units_is_the_inverse():
    assert money.to_major_units(2999, "usd") == Decimal("29.99")
    assert money.to_major_units(5000, "jpy") == Decimal("5000")
    assert money.to_major_units(1250, "kwd") == Decimal("1.250")


def test_exponents_and_minimums():
    assert (money.exponent("JPY"), money.exponent("usd"), money.exponent("kwd")) == (0, 2, 3)
    assert money.minimum_charge("gbp") == Decimal("0.30")
    assert money.minimum_charge("sek") == Decimal("0.50")
