import os
from decimal import Decimal

import msgspec
import pytest

from payments.settings import get_settings

REQUIRED = {"TICKETS_TABLE": "tickets", "PAYMENTS_TABLE": "payments"}


@pytest.fixture
def environment(monkeypatch):
    def set_environment(**variables):
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in {**REQUIRED, **variables}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return get_settings()

    yield set_environment
    get_settings.cache_clear()


def test_values_come_typed_from_the_environment(environment):
    settings = environment(
        MAX_TICKETS_PER_ORDER="4", STRIPE_AUTOMATIC_PAYMENT_METHODS="false", ALLOWED_CURRENCIES=" USD, eur,, ", MAX_PAYMENT_AMOUNT="99.50"
    )
    assert settings.max_tickets_per_order == 4
    assert settings.stripe_automatic_payment_methods is False
    assert settings.allowed_currencies == ("usd", "eur")
    assert settings.max_payment_amount == Decimal("99.50")
    assert settings.reservation_seconds == 1860


def test_secrets_never_show_in_a_repr(environment):
    settings = environment(STRIPE_SECRET_KEY="sk_test_do_not_print", PAYPAL_CLIENT_SECRET="also-secret")
    assert settings.stripe_secret_key is not None
    assert settings.stripe_secret_key.get_secret_value() == "sk_test_do_not_print"
    assert "sk_test_do_not_print" not in repr(settings)
    assert "also-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"RESERVATION_SECONDS": "60"}, "RESERVATION_SECONDS"),
        ({"MAX_TICKETS_PER_ORDER": "many"}, "MAX_TICKETS_PER_ORDER"),
        ({"MAX_PAYMENT_AMOUNT": "0"}, "MAX_PAYMENT_AMOUNT"),
    ],
)
def test_a_wrong_value_stops_start_up_naming_the_variable(environment, variables, named):
    with pytest.raises(msgspec.ValidationError, match=named):
        environment(**variables)


def test_a_missing_table_stops_start_up(environment, monkeypatch):
    environment()
    monkeypatch.delenv("TICKETS_TABLE")
    get_settings.cache_clear()
    with pytest.raises(msgspec.ValidationError, match="TICKETS_TABLE"):
        get_settings()
