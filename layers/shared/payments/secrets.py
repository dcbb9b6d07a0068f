"""Secrets: from the environment locally; in AWS from SSM Parameter Store, cached for five minutes
across warm invocations.

The secrets a caller needs together (PayPal's client id and secret) come in one ``GetParameters``
call, through a botocore client made from the session the DynamoDB client already loaded: no boto3
and no Powertools parameters utility, which would import boto3 into the first request (about
190 ms of a cold start, measured by ``make bench``)."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from payments.dynamodb import botocore_session
from payments.errors import ConfigurationError

if TYPE_CHECKING:
    from pydantic import SecretStr

SECRET_MAX_AGE_SECONDS = 300

# parameter name -> (fetched at, value)
_fetched: dict[str, tuple[float, str]] = {}


@functools.cache
def _ssm() -> Any:
    from payments.settings import get_settings

    settings = get_settings()
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=settings.provider_connect_timeout_seconds,
        read_timeout=settings.provider_connect_timeout_seconds,
    )
    return botocore_session().create_client("ssm", config=config)


def resolve_secrets(*wanted: tuple[SecretStr | None, str | None, str]) -> list[str]:
    """Each (value from the environment, SSM parameter name, label) as its secret: the environment's
    value where set, else the parameter's, all missing ones in one call. ConfigurationError (a 500,
    logged) names a secret neither gives."""
    now = time.monotonic()
    missing = [
        parameter
        for value, parameter, _ in wanted
        if not _given(value) and parameter and (parameter not in _fetched or now - _fetched[parameter][0] > SECRET_MAX_AGE_SECONDS)
    ]
    if missing:
        answer = _ssm().get_parameters(Names=sorted(set(missing)), WithDecryption=True)
        for parameter in answer.get("Parameters", []):
            _fetched[parameter["Name"]] = (now, str(parameter.get("Value") or ""))
    secrets = []
    for value, parameter, label in wanted:
        secret = _given(value) or (_fetched.get(parameter, (0.0, ""))[1] if parameter else "")
        if not secret:
            raise ConfigurationError(f"{label} is not configured")
        secrets.append(secret)
    return secrets


def _given(value: SecretStr | None) -> str:
    """The environment's value of a secret; empty when it gives none."""
    return value.get_secret_value() if value is not None else ""


def resolve_secret(value: SecretStr | None, parameter_name: str | None, label: str) -> str:
    return resolve_secrets((value, parameter_name, label))[0]


def forget() -> None:
    """What a fresh container starts with (the tests call it)."""
    _fetched.clear()
    _ssm.cache_clear()
