"""Stripe through the official SDK: one client per container, errors translated to API errors,
an idempotency key on every call that creates or moves money."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import stripe

from payments.errors import ProviderFailure, ProviderRejected, ProviderUnavailable
from payments.observability import logger
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


def _expandable_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return str(value.get("id"))
    return str(value) if value else None


def checkout_session_from_dict(data: Mapping[str, Any]) -> CheckoutSession:
    metadata = data.get("metadata") or {}
    ticket_ref = metadata.get("ticket_id") or data.get("client_reference_id")
    return CheckoutSession(
        id=str(data["id"]),
        url=data.get("url"),
        status=str(data.get("status")),
        payment_status=str(data.get("payment_status")),
        payment_intent=_expandable_id(data.get("payment_intent")),
        ticket_id=int(ticket_ref) if ticket_ref and str(ticket_ref).isdigit() else None,
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
    )


@contextmanager
def _translated_errors(action: str) -> Iterator[None]:
    try:
        yield
    except stripe.AuthenticationError:
        # Stripe's message quotes part of the key; it stays out of the answer.
        logger.error("Stripe rejected our credentials", extra={"action": action})
        raise ProviderFailure("The payment provider rejected the server's credentials") from None
    except (stripe.CardError, stripe.InvalidRequestError, stripe.IdempotencyError) as error:
        logger.info("Stripe refused the request", extra={"action": action, "code": error.code})
        raise ProviderRejected(error.user_message or "The payment provider refused the request") from None
    except (stripe.RateLimitError, stripe.APIConnectionError):
        logger.warning("Stripe unreachable or throttling", extra={"action": action})
        raise ProviderUnavailable() from None
    except stripe.StripeError as error:
        logger.error("Stripe failed", extra={"action": action, "http_status": error.http_status})
        raise ProviderFailure() from None


class StripeGateway:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

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
        with _translated_errors("checkout.sessions.create"):
            session = self._client.v1.checkout.sessions.create(
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
    return StripeGateway(get_stripe_client())


def verify_webhook(payload: bytes, signature_header: str | None) -> None:
    """Raises stripe.SignatureVerificationError unless the payload is signed with our endpoint secret
    within Stripe's 300 s tolerance."""
    settings = get_settings()
    secret = resolve_secret(settings.stripe_webhook_secret, settings.stripe_webhook_secret_parameter, "Stripe webhook secret")
    stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature_header, secret, tolerance=300)
