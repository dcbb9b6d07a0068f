"""Secrets from SSM Parameter Store, as deployed: one GetParameters call for what a caller needs
together, through botocore (no boto3 imported by the function), cached across warm invocations."""

import boto3
import pytest

from payments.errors import ConfigurationError


@pytest.fixture
def ssm_calls(dynamodb, monkeypatch):
    from payments import secrets, wiring

    client = boto3.client("ssm", region_name="eu-west-1")
    client.put_parameter(Name="/test/paypal/client-id", Value="client-from-ssm", Type="SecureString")
    client.put_parameter(Name="/test/paypal/client-secret", Value="secret-from-ssm", Type="SecureString")
    calls: list[list[str]] = []
    wiring.reset()
    secrets._ssm().meta.events.register(
        "before-parameter-build.ssm.*", lambda model, params, **_: calls.append([model.name, *params["Names"]])
    )
    return calls


def test_a_group_of_secrets_comes_in_one_call_and_is_kept(ssm_calls, monkeypatch):
    from payments.secrets import resolve_secrets

    wanted = ((None, "/test/paypal/client-id", "PayPal client id"), (None, "/test/paypal/client-secret", "PayPal client secret"))
    assert resolve_secrets(*wanted) == ["client-from-ssm", "secret-from-ssm"]
    assert resolve_secrets(*wanted) == ["client-from-ssm", "secret-from-ssm"]  # a warm invocation
    assert ssm_calls == [["GetParameters", "/test/paypal/client-id", "/test/paypal/client-secret"]]


def test_a_secret_in_the_environment_is_not_fetched_and_a_missing_one_is_named(ssm_calls):
    from payments.secrets import resolve_secret
    from payments.settings import SecretStr

    assert resolve_secret(SecretStr("from-env"), "/test/paypal/client-id", "PayPal client id") == "from-env"
    assert ssm_calls == []
    with pytest.raises(ConfigurationError, match="Stripe secret key is not configured"):
        resolve_secret(None, "/test/nowhere", "Stripe secret key")


def test_the_paypal_client_reads_its_credentials_from_ssm_in_one_call(ssm_calls, monkeypatch):
    from payments.providers.paypal_client import PayPalClient
    from payments.settings import get_settings

    monkeypatch.delenv("PAYPAL_CLIENT_ID", raising=False)
    monkeypatch.delenv("PAYPAL_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("PAYPAL_CLIENT_ID_PARAMETER", "/test/paypal/client-id")
    monkeypatch.setenv("PAYPAL_CLIENT_SECRET_PARAMETER", "/test/paypal/client-secret")
    get_settings.cache_clear()
    assert PayPalClient.credentials(get_settings()) == ("client-from-ssm", "secret-from-ssm")
    assert len(ssm_calls) == 1
