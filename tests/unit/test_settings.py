import os
from decimal import Decimal

import pytest
from pydantic import ValidationError

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
    with pytest.raises(ValidationError, match=named):
        environment(**variables)


def test_a_missing_table_stops_start_up(environment, monkeypatch):
    environment()
    monkeypatch.delenv("TICKETS_TABLE")
    get_settings.cache_clear()
    with pytest.raises(ValidationError, match="TICKETS_TABLE"):
        get_settings()


def test_every_wait_fits_inside_the_functions_timeout(environment):
    """For each function behind the API: its DynamoDB calls timing out, the contention retries, and
    its provider timing out on every attempt still end before Lambda's timeout, which itself ends
    before API Gateway's 30 s. Values from template.yaml, as deployed."""
    from local.template import load_template, resources_of_type
    from payments.domain.pacing import MOST_WAIT_SECONDS
    from payments.dynamodb import CONTENTION_BUDGET_SECONDS

    template = load_template()
    settings = environment()
    default_timeout = template["Globals"]["Function"]["Timeout"]
    checked = 0
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = function["Properties"]
        events = properties.get("Events") or {}
        if not any(event["Type"] == "HttpApi" for event in events.values()):
            continue
        timeout = properties.get("Timeout", default_timeout)
        code = properties["CodeUri"]
        provider = settings.paypal_worst_seconds() if "paypal" in code else settings.stripe_worst_seconds()
        worst = settings.dynamodb_worst_seconds() + CONTENTION_BUDGET_SECONDS + provider
        if code.endswith("create_ticket_checkout"):
            # The wait for a Checkout Session's slot, and for a second one when the reservation outlasted the first.
            worst += 2 * MOST_WAIT_SECONDS
        assert worst + 1 <= timeout < 30, f"{name}: waits up to {worst:.1f} s, times out at {timeout} s"
        checked += 1
    assert checked >= 19


def test_the_worst_waits_add_up_as_the_clients_are_configured(environment):
    settings = environment()
    assert settings.dynamodb_worst_seconds() == 2 * (1.0 + 2.0) + 1.0
    assert settings.stripe_worst_seconds() == 2.0 + 2 * (1.5 + 4.0) + 0.5
    assert settings.paypal_worst_seconds() == 2.0 + 3 * (1.5 + 4.0)
    slower = environment(STRIPE_TIMEOUT_SECONDS="8", STRIPE_MAX_NETWORK_RETRIES="2")
    assert slower.stripe_worst_seconds() > 20
