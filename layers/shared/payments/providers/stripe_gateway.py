"""Stripe through the official SDK: one client per container, errors translated to API errors,
an idempotency key on every call that creates or moves money."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import stripe

from payments.errors import ProviderFailure, ProviderRejected, ProviderUnavailable
from payments.observability import logger
from payments.retries import with_backoff
from payments.secrets import resolve_secret
from payments.settings import get_settings


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    status: str
    payment_status: str
    payment_intent: str | None
    ticket_id: int | None
    amount_total: int | None
    currency: str | None

    @property
    def is_paid(self) -> bool:
        return self.status == "complete" and self.payment_status in ("paid", "no_payment_required")


def expandable_id(value: Any) -> str | None:
    """An id Stripe may send as a string or, expanded, as the object itself."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


def subscription_periods(subscription: dict[str, Any]) -> tuple[int | None, int | None]:
    """Stripe moved the billing period from the subscription onto its items (API 2025-03-31)."""
    start, end = subscription.get("current_period_start"), subscription.get("current_period_end")
    items = (subscription.get("items") or {}).get("data") or []
    if items and (start is None or end is None):
        start, end = items[0].get("current_period_start"), items[0].get("current_period_end")
    return start, end


def checkout_session_from_dict(data: Mapping[str, Any]) -> CheckoutSession:
    metadata = data.get("metadata") or {}
    ticket_ref = metadata.get("ticket_id") or data.get("client_reference_id")
    return CheckoutSession(
        id=str(data["id"]),
        url=data.get("url"),
        status=str(data.get("status")),
        payment_status=str(data.get("payment_status")),
        payment_intent=expandable_id(data.get("payment_intent")),
        ticket_id=int(ticket_ref) if ticket_ref and str(ticket_ref).isdigit() else None,
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
    )


# Stripe's messages may quote part of a key ("Invalid API Key provided: sk_test_****1234").
_KEY_MATERIAL = re.compile(r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+")


def redact_keys(message: str) -> str:
    return _KEY_MATERIAL.sub("[redacted]", message)


@contextmanager
def _translated_errors(action: str) -> Iterator[None]:
    try:
        yield
    except stripe.AuthenticationError as error:
        logger.error("Stripe rejected our credentials", extra={"action": action})
        raise ProviderRejected(redact_keys(error.user_message or "Stripe authentication failed")) from None
    except (stripe.CardError, stripe.InvalidRequestError, stripe.IdempotencyError) as error:
        logger.info("Stripe refused the request", extra={"action": action, "code": error.code})
        raise ProviderRejected(redact_keys(error.user_message or "The payment provider refused the request")) from None
    except (stripe.RateLimitError, stripe.APIConnectionError):
        logger.warning("Stripe unreachable or throttling", extra={"action": action})
        raise ProviderUnavailable() from None
    except stripe.StripeError as error:
        logger.error("Stripe failed", extra={"action": action, "http_status": error.http_status})
        raise ProviderFailure() from None


class StripeGateway:
    def __init__(self, client: stripe.StripeClient, retry_budget_seconds: float = 6.0, automatic_payment_methods: bool = True) -> None:
        self._client = client
        self._retry_budget = retry_budget_seconds
        self._automatic_payment_methods = automatic_payment_methods

    def _call[T](self, action: str, call: Callable[[], T]) -> T:
        # Stripe asks clients to back off on 429; the SDK itself retries only connection errors and 5xx.
        with _translated_errors(action):
            return with_backoff(call, stripe.RateLimitError, self._retry_budget)

    # payment intents ---------------------------------------------------------------------------
    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], description: str | None, idempotency_key: str
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"amount": amount, "currency": currency, "metadata": metadata}
        if self._automatic_payment_methods:
            params["automatic_payment_methods"] = {"enabled": True}
        if description:
            params["description"] = description
        intent = self._call(
            "payment_intents.create",
            lambda: self._client.v1.payment_intents.create(params=params, options={"idempotency_key": idempotency_key}),  # type: ignore[arg-type]
        )
        return intent.to_dict()

    def confirm_payment_intent(
        self, intent_id: str, *, payment_method: str | None, return_url: str | None, idempotency_key: str
    ) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if payment_method:
            params["payment_method"] = payment_method
        if return_url:
            params["return_url"] = return_url
        intent = self._call(
            "payment_intents.confirm",
            lambda: self._client.v1.payment_intents.confirm(intent_id, params=params, options={"idempotency_key": idempotency_key}),  # type: ignore[arg-type]
        )
        return intent.to_dict()

    def retrieve_payment_intent(self, intent_id: str) -> dict[str, Any]:
        return self._call("payment_intents.retrieve", lambda: self._client.v1.payment_intents.retrieve(intent_id)).to_dict()

    # customers and subscriptions ------------------------------------------------------------------
    def create_customer(self, *, email: str, name: str | None, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        params: dict[str, Any] = {"email": email, "metadata": metadata}
        if name:
            params["name"] = name
        customer = self._call(
            "customers.create",
            lambda: self._client.v1.customers.create(params=params, options={"idempotency_key": idempotency_key}),  # type: ignore[arg-type]
        )
        return customer.to_dict()

    def create_subscription(self, *, customer: str, price: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        params: dict[str, Any] = {"customer": customer, "items": [{"price": price}], "metadata": metadata}
        subscription = self._call(
            "subscriptions.create",
            lambda: self._client.v1.subscriptions.create(params=params, options={"idempotency_key": idempotency_key}),  # type: ignore[arg-type]
        )
        return subscription.to_dict()

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._call("subscriptions.cancel", lambda: self._client.v1.subscriptions.cancel(subscription_id)).to_dict()

    # listing, for reconciliation ------------------------------------------------------------------
    def recent_checkout_sessions(self, created_since: int) -> list[CheckoutSession]:
        listed = self._call(
            "checkout.sessions.list",
            lambda: self._client.v1.checkout.sessions.list(params={"created": {"gte": created_since}, "limit": 100}),
        )
        return [checkout_session_from_dict(session.to_dict()) for session in listed.auto_paging_iter()]

    def recent_payment_intents(self, created_since: int) -> list[dict[str, Any]]:
        listed = self._call(
            "payment_intents.list", lambda: self._client.v1.payment_intents.list(params={"created": {"gte": created_since}, "limit": 100})
        )
        return [intent.to_dict() for intent in listed.auto_paging_iter()]

    # checkout sessions -------------------------------------------------------------------------

    def create_checkout_session(
        self,
        *,
        ticket_id: int,
        product_name: str,
        currency: str,
        unit_amount: int,
        quantity: int,
        success_url: str,
        cancel_url: str,
        expires_at: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> CheckoutSession:
        session = self._call(
            "checkout.sessions.create",
            lambda: self._client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "line_items": [
                        {
                            "price_data": {"currency": currency, "unit_amount": unit_amount, "product_data": {"name": product_name}},
                            "quantity": quantity,
                        }
                    ],
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "expires_at": expires_at,
                    "client_reference_id": str(ticket_id),
                    "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                },
                options={"idempotency_key": idempotency_key},
            ),
        )
        return checkout_session_from_dict(session.to_dict())

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession | None:
        try:
            with _translated_errors("checkout.sessions.retrieve"):
                session = self._client.v1.checkout.sessions.retrieve(session_id)
        except ProviderRejected:
            return None
        return checkout_session_from_dict(session.to_dict())

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        """Expires an open session; a session that is no longer open is returned as Stripe has it."""
        try:
            with _translated_errors("checkout.sessions.expire"):
                session = self._client.v1.checkout.sessions.expire(session_id)
        except ProviderRejected:
            current = self.retrieve_checkout_session(session_id)
            if current is None:
                raise
            return current
        return checkout_session_from_dict(session.to_dict())

    def refund_payment_intent(self, payment_intent: str, *, metadata: dict[str, str], idempotency_key: str) -> str:
        with _translated_errors("refunds.create"):
            refund = self._client.v1.refunds.create(
                params={"payment_intent": payment_intent, "reason": "requested_by_customer", "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )
        return str(refund.id)


@functools.cache
def get_stripe_client() -> stripe.StripeClient:
    settings = get_settings()
    api_key = resolve_secret(settings.stripe_secret_key, settings.stripe_secret_key_parameter, "Stripe secret key")
    base_addresses: Any = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(
        api_key,
        base_addresses=base_addresses,
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.new_default_http_client(timeout=settings.stripe_timeout_seconds),
    )


@functools.cache
def get_stripe_gateway() -> StripeGateway:
    settings = get_settings()
    return StripeGateway(get_stripe_client(), settings.stripe_retry_budget_seconds, settings.stripe_automatic_payment_methods)


def verify_webhook(payload: bytes, signature_header: str | None) -> None:
    """Raises stripe.SignatureVerificationError unless the payload is signed with our endpoint secret
    within Stripe's 300 s tolerance."""
    settings = get_settings()
    secret = resolve_secret(settings.stripe_webhook_secret, settings.stripe_webhook_secret_parameter, "Stripe webhook secret")
    stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature_header, secret, tolerance=300)
