"""Configuration parsed once per container from the environment into a typed model."""

from __future__ import annotations

import functools
import os
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip().lower() for part in value.split(",") if part.strip())
    return value


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    tickets_table: str = Field(alias="TICKETS_TABLE")
    payments_table: str = Field(alias="PAYMENTS_TABLE")
    frontend_url: str = Field("http://localhost:5173", alias="FRONTEND_URL")
    staff_group: str = Field("staff", alias="STAFF_GROUP")
    max_tickets_per_order: int = Field(10, alias="MAX_TICKETS_PER_ORDER", ge=1, le=1000)
    # Stripe accepts a Checkout Session expiry between 30 minutes and 24 hours ahead; the
    # reservation lasts exactly as long as its session, with a minute of margin for clock skew.
    reservation_seconds: int = Field(1860, alias="RESERVATION_SECONDS", ge=1860, le=86_000)
    # The sweep waits this long past a reservation's expiry so Stripe's own expiry webhook goes first.
    sweep_grace_seconds: int = Field(300, alias="SWEEP_GRACE_SECONDS", ge=0)
    allowed_currencies: Annotated[tuple[str, ...], BeforeValidator(_split_csv)] = Field(
        ("usd", "eur", "gbp", "jpy", "kwd"), alias="ALLOWED_CURRENCIES"
    )
    max_event_capacity: int = Field(100_000, alias="MAX_EVENT_CAPACITY", ge=1)
    dynamodb_endpoint: str | None = Field(None, alias="DYNAMODB_ENDPOINT")

    stripe_api_base: str | None = Field(None, alias="STRIPE_API_BASE")
    stripe_secret_key: SecretStr | None = Field(None, alias="STRIPE_SECRET_KEY")
    stripe_secret_key_parameter: str | None = Field(None, alias="STRIPE_SECRET_KEY_PARAMETER")
    stripe_webhook_secret: SecretStr | None = Field(None, alias="STRIPE_WEBHOOK_SECRET")
    stripe_webhook_secret_parameter: str | None = Field(None, alias="STRIPE_WEBHOOK_SECRET_PARAMETER")
    # Off for accounts that list payment method types explicitly (and for emulators without the parameter).
    stripe_automatic_payment_methods: bool = Field(True, alias="STRIPE_AUTOMATIC_PAYMENT_METHODS")
    stripe_max_network_retries: int = Field(2, alias="STRIPE_MAX_NETWORK_RETRIES", ge=0, le=5)
    stripe_timeout_seconds: float = Field(8.0, alias="STRIPE_TIMEOUT_SECONDS", gt=0)
    # Rate-limited Stripe calls are retried with backoff for at most this long, inside the function's timeout.
    stripe_retry_budget_seconds: float = Field(6.0, alias="STRIPE_RETRY_BUDGET_SECONDS", ge=0)
    paypal_api_base: str = Field("https://api-m.sandbox.paypal.com", alias="PAYPAL_API_BASE")
    paypal_client_id: SecretStr | None = Field(None, alias="PAYPAL_CLIENT_ID")
    paypal_client_id_parameter: str | None = Field(None, alias="PAYPAL_CLIENT_ID_PARAMETER")
    paypal_client_secret: SecretStr | None = Field(None, alias="PAYPAL_CLIENT_SECRET")
    paypal_client_secret_parameter: str | None = Field(None, alias="PAYPAL_CLIENT_SECRET_PARAMETER")
    paypal_webhook_id: SecretStr | None = Field(None, alias="PAYPAL_WEBHOOK_ID")
    paypal_webhook_id_parameter: str | None = Field(None, alias="PAYPAL_WEBHOOK_ID_PARAMETER")
    paypal_currencies: Annotated[tuple[str, ...], BeforeValidator(_split_csv)] = Field(
        ("usd", "eur", "gbp", "jpy", "cad", "aud", "chf"), alias="PAYPAL_CURRENCIES"
    )
    paypal_return_path: str = Field("/paypal/return", alias="PAYPAL_RETURN_PATH")
    paypal_cancel_path: str = Field("/paypal/cancel", alias="PAYPAL_CANCEL_PATH")
    paypal_timeout_seconds: float = Field(10.0, alias="PAYPAL_TIMEOUT_SECONDS", gt=0)
    paypal_retry_budget_seconds: float = Field(6.0, alias="PAYPAL_RETRY_BUDGET_SECONDS", ge=0)
    max_payment_amount: Decimal = Field(Decimal("10000"), alias="MAX_PAYMENT_AMOUNT", gt=0)
    idempotency_table: str | None = Field(None, alias="IDEMPOTENCY_TABLE")
    idempotency_ttl_seconds: int = Field(24 * 3600, alias="IDEMPOTENCY_TTL_SECONDS", ge=60)


@functools.cache
def get_settings() -> Settings:
    """Read once per container; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings.model_validate(dict(os.environ))
