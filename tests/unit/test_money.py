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


@pytest.mark.parametrize(
    ("amount", "currency", "stripe_minor", "paypal_minor"),
    [
        ("5000", "huf", 500000, 5000),  # Stripe: two decimals; PayPal: none
        ("300", "twd", 30000, 300),
        ("5000", "jpy", 5000, 5000),
        ("29.99", "usd", 2999, 2999),
        ("45", "isk", 4500, None),  # ISK: written with two decimals at Stripe; PayPal does not take it
        ("20000", "ugx", 20000, None),
    ],
)
def test_each_provider_writes_the_same_amount_its_own_way(amount, currency, stripe_minor, paypal_minor):
    assert money.to_minor_units(Decimal(amount), currency, money.Provider.STRIPE) == stripe_minor
    if paypal_minor is not None:
        assert money.to_minor_units(Decimal(amount), currency, money.Provider.PAYPAL) == paypal_minor
        assert money.to_major_units(paypal_minor, currency, money.Provider.PAYPAL) == Decimal(amount)
    assert money.to_major_units(stripe_minor, currency, money.Provider.STRIPE) == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "currency", "provider", "says"),
    [
        ("5000.50", "huf", money.Provider.PAYPAL, "HUF amounts allow at most 0 decimal places"),
        ("300.10", "twd", money.Provider.PAYPAL, "TWD amounts allow at most 0 decimal places"),
        ("45.50", "isk", money.Provider.STRIPE, "ISK amounts allow at most 0 decimal places"),
        ("1.005", "kwd", money.Provider.STRIPE, "KWD amounts must be a multiple of 0.010"),
        ("10.5", "ugx", money.Provider.STRIPE, "UGX amounts allow at most 0 decimal places"),
        ("29.999", "usd", money.Provider.PAYPAL, "USD amounts allow at most 2 decimal places"),
        ("1.234", "kwd", money.Provider.PAYPAL, "KWD amounts allow at most 2 decimal places"),  # no thousandths at PayPal
    ],
)
def test_amounts_finer_than_the_provider_takes_are_refused(amount, currency, provider, says):
    with pytest.raises(ValueError, match=says):
        money.to_minor_units(Decimal(amount), currency, provider)


def test_stripe_charges_huf_and_twd_with_decimals_that_paypal_refuses():
    assert money.to_minor_units(Decimal("5000.50"), "huf", money.Provider.STRIPE) == 500050
    assert money.to_minor_units(Decimal("300.10"), "twd", money.Provider.STRIPE) == 30010


@pytest.mark.parametrize(
    ("currency", "largest"),
    [("usd", "999999.99"), ("jpy", "99999999"), ("kwd", "99999.990"), ("isk", "999999")],
)
def test_the_largest_stripe_charge_per_currency(currency, largest):
    assert money.maximum_charge(currency) == Decimal(largest)
    assert money.to_minor_units(Decimal(largest), currency) <= money.STRIPE_MAXIMUM_MINOR
