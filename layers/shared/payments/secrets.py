"""Secrets: from the environment locally, from SSM Parameter Store in AWS (cached across warm invocations)."""

from __future__ import annotations

from payments.errors import ConfigurationError
from payments.settings import Secret

SECRET_MAX_AGE_SECONDS = 300


def resolve_secret(value: Secret | None, parameter_name: str | None, label: str) -> str:
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    if parameter_name:
        # Imported here: only functions configured with a parameter pay for the Parameters utility.
        from aws_lambda_powertools.utilities import parameters

        secret = parameters.get_parameter(parameter_name, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)
        if isinstance(secret, str) and secret:
            return secret
    raise ConfigurationError(f"{label} is not configured")
