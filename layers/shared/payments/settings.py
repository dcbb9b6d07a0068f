"""Configuration parsed once per container from the environment into a typed model.

Each field is read from the environment variable of the same name in upper case."""

from __future__ import annotations

import functools
import os
import unicodedata
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AliasGenerator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr


def _comma_separated(value: Any) -> Any:
    """``usd, EUR`` in the environment; ``("usd", "eur")`` in the settings."""
    if isinstance(value, str):
        return tuple(part.strip().lower() for part in value.split(",") if part.strip())
    return value


CommaSeparated = Annotated[tuple[str, ...], BeforeValidator(_comma_separated)]


def is_group_name(value: str) -> bool:
    """A group name as Cognito allows one (CreateGroup's ``[\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+``, 1 to 128
    characters): letters, marks, symbols, digits and punctuation; no whitespace or control character,
    so that HTTP API's flattened claim (names joined by spaces) never holds one inside a longer name
    (see payments.auth)."""
    return 1 <= len(value) <= 128 and all(unicodedata.category(char)[0] in "LMSNP" for char in value)


def _group_name(value: str) -> str:
    if not is_group_name(value):
        raise ValueError("must be a group name of 1 to 128 letters, marks, symbols, digits or punctuation (no whitespace)")
    return value


GroupName = Annotated[str, AfterValidator(_group_name)]
# A secret from the environment; its repr never shows it, so it cannot end up in a log line.
Secret = SecretStr


class Settings(BaseModel):
    # Each field from the environment variable of its name in upper case; the rest of the
    # environment is not ours. Environment values are strings: converted to the fields' types.
    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=AliasGenerator(validation_alias=str.upper))

    tickets_table: str
    payments_table: str
    frontend_url: str = "http://localhost:5173"
    staff_group: GroupName = "staff"
    staff_claim: str = "cognito:groups"
    max_tickets_per_order: Annotated[int, Field(ge=1, le=1000)] = 10
    # Seats one customer may hold unpaid per event (reserved or processing); default: one order's worth.
    max_unpaid_seats_per_event: Annotated[int, Field(ge=1, le=100_000)] | None = None
    # Free seats one customer may hold per event (a free ticket is never cancelled unpaid nor
    # refunded, only given back); default: one order's worth.
    max_free_seats_per_event: Annotated[int, Field(ge=1, le=100_000)] | None = None
    # Stripe accepts a Checkout Session expiry between 30 minutes and 24 hours ahead; the
    # reservation lasts exactly as long as its session, with a minute of margin for clock skew.
    reservation_seconds: Annotated[int, Field(ge=1860, le=86_000)] = 1860
    # The sweep waits this long past a reservation's expiry so Stripe's own expiry webhook goes first.
    sweep_grace_seconds: Annotated[int, Field(ge=0)] = 300
    allowed_currencies: CommaSeparated = ("usd", "eur", "gbp", "jpy", "kwd", "isk", "huf")
    max_event_capacity: Annotated[int, Field(ge=1)] = 100_000
    dynamodb_endpoint: str | None = None
    # Every wait below is bounded, and their worst case together fits the function's timeout (a test
    # reads template.yaml): DynamoDB unreachable is a 503 in a few seconds, not a timeout.
    dynamodb_connect_timeout_seconds: Annotated[float, Field(gt=0)] = 1.0
    dynamodb_read_timeout_seconds: Annotated[float, Field(gt=0)] = 2.0
    dynamodb_max_attempts: Annotated[int, Field(ge=1, le=5)] = 2
    provider_connect_timeout_seconds: Annotated[float, Field(gt=0)] = 1.5

    stripe_api_base: str | None = None
    stripe_secret_key: Secret | None = None
    stripe_secret_key_parameter: str | None = None
    stripe_webhook_secret: Secret | None = None
    stripe_webhook_secret_parameter: str | None = None
    # Off for accounts that list payment method types explicitly (and for emulators without the parameter).
    stripe_automatic_payment_methods: bool = True
    stripe_max_network_retries: Annotated[int, Field(ge=0, le=5)] = 1
    stripe_timeout_seconds: Annotated[float, Field(gt=0)] = 4.0  # read timeout of one attempt
    # Rate-limited Stripe calls are retried with backoff for at most this long, inside the function's timeout.
    stripe_retry_budget_seconds: Annotated[float, Field(ge=0)] = 2.0
    paypal_api_base: str = "https://api-m.sandbox.paypal.com"
    paypal_client_id: Secret | None = None
    paypal_client_id_parameter: str | None = None
    paypal_client_secret: Secret | None = None
    paypal_client_secret_parameter: str | None = None
    paypal_webhook_id: Secret | None = None
    paypal_webhook_id_parameter: str | None = None
    paypal_currencies: CommaSeparated = ("usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "huf", "twd")
    # PEM roots that PayPal's signing certificate must chain to; unset: the public CA bundle (certifi).
    # Only the local PayPal, whose certificate is its own, needs it.
    paypal_certificate_roots: str | None = None
    paypal_webhook_tolerance_seconds: Annotated[int, Field(ge=60, le=86_400)] = 900
    paypal_return_path: str = "/paypal/return"
    # Where Stripe sends a customer back after a redirect-based payment method (under FRONTEND_URL).
    stripe_return_path: str = "/payment/complete"
    paypal_cancel_path: str = "/paypal/cancel"
    paypal_timeout_seconds: Annotated[float, Field(gt=0)] = 4.0  # read timeout of one request
    paypal_retry_budget_seconds: Annotated[float, Field(ge=0)] = 2.0
    max_payment_amount: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] = Decimal("10000")
    # The on-sale queue (payments.domain.queue): admissions a second at most, Stripe's Checkout
    # Session rate (its default per endpoint; raise it when Stripe raises yours), the seconds an
    # admitted buyer has to reserve (the reservation then holds the seat on its own: the window
    # covers the way to the purchase button), the share of admitted buyers who reserve (percent:
    # an open admission counts for that share; 100 counts it whole until its window ends), the
    # polls a second the waiting buyers' hints ask for together (below the poll route's
    # throttle), how long a queue pass lasts (each poll answers a fresh one), and the pass's HMAC
    # key (from SSM in AWS).
    stripe_session_rate_per_second: Annotated[int, Field(ge=2, le=10_000)] = 25  # 1: no margin (pacing)
    queue_admission_window_seconds: Annotated[int, Field(ge=60, le=3600)] = 180
    queue_completion_percent: Annotated[int, Field(ge=1, le=100)] = 90
    queue_poll_budget_per_second: Annotated[int, Field(ge=1, le=100_000)] = 3000
    queue_pass_seconds: Annotated[int, Field(ge=60, le=86_400)] = 900
    queue_pass_key: Secret | None = None
    queue_pass_key_parameter: str | None = None
    # The queue's status behind CloudFront (payments.status_urls): the distribution's address (unset,
    # and no parameter: the status URL is the API's own; in AWS an SSM parameter the stack writes),
    # the id of the public key in its trusted key group, and the RSA private key that signs the URLs
    # (from SSM in AWS).
    queue_status_cdn_url: Annotated[str, Field(pattern=r"^https://[^/?#\s]+$")] | None = None
    queue_status_cdn_url_parameter: str | None = None
    queue_status_key_pair_id: str | None = None
    queue_status_signing_key: Secret | None = None
    queue_status_signing_key_parameter: str | None = None
    # How long one scheduled admitter run steps its queues (once a second), within its timeout.
    queue_admitter_seconds: Annotated[float, Field(ge=0, le=840)] = 58
    idempotency_table: str | None = None
    idempotency_ttl_seconds: Annotated[int, Field(ge=60)] = 24 * 3600

    @property
    def unpaid_seat_limit(self) -> int:
        return self.max_unpaid_seats_per_event or self.max_tickets_per_order

    @property
    def free_seat_limit(self) -> int:
        return self.max_free_seats_per_event or self.max_tickets_per_order

    # The longest each dependency can hold a request (everything timing out, every retry taken).
    def dynamodb_worst_seconds(self) -> float:
        # botocore's standard retry mode sleeps at most 2**n seconds (jittered) before attempt n + 2.
        waits = sum(min(2.0**attempt, 20.0) for attempt in range(self.dynamodb_max_attempts - 1))
        return self.dynamodb_max_attempts * (self.dynamodb_connect_timeout_seconds + self.dynamodb_read_timeout_seconds) + waits

    def stripe_worst_seconds(self) -> float:
        # The SDK retries connection errors and 5xx, sleeping 0.5 s doubling up to 5 s; we retry 429s
        # within the budget, and the last attempt may start just before the budget ends.
        waits = sum(min(0.5 * 2.0**retry, 5.0) for retry in range(self.stripe_max_network_retries))
        attempt = self.provider_connect_timeout_seconds + self.stripe_timeout_seconds
        return self.stripe_retry_budget_seconds + (self.stripe_max_network_retries + 1) * attempt + waits

    def paypal_worst_seconds(self) -> float:
        # One attempt: the request, a token renewal after a 401, and the request again.
        request = self.provider_connect_timeout_seconds + self.paypal_timeout_seconds
        return self.paypal_retry_budget_seconds + 3 * request


@functools.cache
def get_settings() -> Settings:
    """Read once per container; tests call ``get_settings.cache_clear()`` after changing the environment.
    A wrong value stops the function at start-up with the variable's name (``RESERVATION_SECONDS``)."""
    # An empty variable is an unset one: the template declares the local-only variables empty
    # (SAM's --env-vars fills only declared variables).
    return Settings.model_validate({name: value for name, value in os.environ.items() if value})
