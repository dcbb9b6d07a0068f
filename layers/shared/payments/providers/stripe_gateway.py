"""Stripe through the official SDK: one client per container, errors translated to API errors,
an idempotency key on every call that creates or moves money."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import stripe

from payments.domain.lifecycle import CheckoutSession, StripeRefund
from payments.domain.ports import SignatureRefused
from payments.domain.stripe_objects import checkout_session_from_dict
from payments.errors import ChargeDisputed, ProviderFailure, ProviderRejected, ProviderUnavailable, Unprocessable
from payments.observability import logger
from payments.retries import with_backoff
from payments.secrets import resolve_secret
from payments.settings import Settings

# Stripe's messages may quote part of a key ("Invalid API Key provided: sk_test_****1234").
_KEY_MATERIAL = re.compile(r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+")


def redact_keys(message: str) -> str:
    return _KEY_MATERIAL.sub("[redacted]", message)


@contextmanager
def _translated_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (stripe.AuthenticationError, stripe.PermissionError):
        # Our key is wrong, revoked or lacks a permission: our misconfiguration, not the caller's (502, alarmed).
        logger.error("Stripe rejected our credentials", extra={"action": action})
        raise ProviderFailure("The payment provider rejected the server's credentials") from None
    except stripe.IdempotencyError:
        # Stripe's message quotes the idempotency key, which we derive: never shown.
        logger.info("Stripe refused a reused idempotency key", extra={"action": action})
        raise Unprocessable("Idempotency-Key was already used with a different request body") from None
    except stripe.InvalidRequestError as error:
        if error.code == "charge_disputed":
            logger.info("Stripe refuses to refund a disputed charge", extra={"action": action})
            raise ChargeDisputed("The payment is disputed: its money goes where the dispute decides, not by a refund") from None
        logger.info("Stripe refused the request", extra={"action": action, "code": error.code})
        raise ProviderRejected(redact_keys(error.user_message or "The payment provider refused the request")) from None
    except stripe.CardError as error:
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
        # default_incomplete: the subscription waits, incomplete, until the customer confirms its first
        # invoice's payment in Stripe.js with the invoice's confirmation secret (expanded here).
        params: dict[str, Any] = {
            "customer": customer,
            "items": [{"price": price}],
            "metadata": metadata,
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "expand": ["latest_invoice.confirmation_secret"],
        }
        subscription = self._call(
            "subscriptions.create",
            lambda: self._client.v1.subscriptions.create(params=params, options={"idempotency_key": idempotency_key}),  # type: ignore[arg-type]
        )
        return subscription.to_dict()

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._call("subscriptions.cancel", lambda: self._client.v1.subscriptions.cancel(subscription_id)).to_dict()

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._call("subscriptions.retrieve", lambda: self._client.v1.subscriptions.retrieve(subscription_id)).to_dict()

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

    def retrieve_payment_intent_status(self, intent_id: str) -> str:
        return str(self.retrieve_payment_intent(intent_id)["status"])

    def refunds_of(self, payment_intent: str) -> list[StripeRefund]:
        """Every refund of a payment, whatever its status (a failed one did not return the money),
        with our reason from its metadata when we made it."""
        listed = self._call("refunds.list", lambda: self._client.v1.refunds.list(params={"payment_intent": payment_intent, "limit": 100}))
        return [_refund_of(refund.to_dict()) for refund in listed.auto_paging_iter()]

    def refund_rest(self, payment_intent: str, *, metadata: dict[str, str], idempotency_key: str) -> StripeRefund | None:
        """Refunds what has not been refunded of the payment yet (Stripe's default amount), so that a
        retry under the same key is the same request whatever was refunded meanwhile. None when a
        refund raced this one and nothing is left ("charge_already_refunded": the Dashboard, a
        retry past the key's 24 hours): the payment's refunds are then the truth. ChargeDisputed
        when Stripe refuses because the charge is disputed."""
        try:
            refund = self._call(
                "refunds.create",
                lambda: self._client.v1.refunds.create(
                    params={"payment_intent": payment_intent, "reason": "requested_by_customer", "metadata": metadata},
                    options={"idempotency_key": idempotency_key},
                ),
            )
        except ChargeDisputed:
            raise
        except ProviderRejected:
            intent = self.retrieve_payment_intent(payment_intent)
            received = int(intent.get("amount_received") or 0)
            made = sum(refund.amount for refund in self.refunds_of(payment_intent) if refund.returned)
            if received and made >= received:
                return None
            raise
        return _refund_of(refund.to_dict())

    def refund_part(self, payment_intent: str, amount: int, *, metadata: dict[str, str], idempotency_key: str) -> StripeRefund:
        """Refunds ``amount`` (minor units) of the payment: a staff refund of some seats, its key and
        its metadata (``seat_refund``: the key, so that the refund is found again for ever, past the
        key's 24 hours) the same on every retry. ChargeDisputed when the charge is disputed;
        ProviderRejected when Stripe refuses otherwise (more than is left: ``amount_too_large``)."""
        refund = self._call(
            "refunds.create",
            lambda: self._client.v1.refunds.create(
                params={"payment_intent": payment_intent, "amount": amount, "reason": "requested_by_customer", "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            ),
        )
        return _refund_of(refund.to_dict())

    def disputes_of(self, payment_intent: str) -> list[dict[str, Any]]:
        """The disputes of a payment, newest first."""
        page = self._call("disputes.list", lambda: self._client.v1.disputes.list(params={"payment_intent": payment_intent, "limit": 100}))
        return [dispute.to_dict() for dispute in page.data]

    # listing, for reconciliation ------------------------------------------------------------------
    def listed(
        self, kind: str, created_since: int, starting_after: str | None = None, types: list[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stripe's objects of a kind (``events``, ``checkout.sessions``, ``payment_intents``,
        ``refunds``, ``disputes``) created since a time, newest first, one at a time across pages; a
        caller that stops part-way continues later with ``starting_after`` the last id it handled.
        ``types`` narrows events to those types (Stripe takes up to 20)."""
        service: Any = self._client.v1
        for part in kind.split("."):
            service = getattr(service, part)
        params: dict[str, Any] = {"created": {"gte": created_since}, "limit": 100}
        if types:
            params["types"] = types
        if starting_after:
            params["starting_after"] = starting_after
        page = self._call(f"{kind}.list", lambda: service.list(params=params))
        while True:
            yield from (item.to_dict() for item in page.data)
            if not page.has_more or not page.data:
                return
            params["starting_after"] = page.data[-1].id
            page = self._call(f"{kind}.list", lambda: service.list(params=params))

    def events(self, types: list[str], created_since: int, starting_after: str | None = None) -> Iterator[dict[str, Any]]:
        """Stripe's events of these types created since a time (Stripe keeps 30 days), newest first."""
        return self.listed("events", created_since, starting_after, types)


def stripe_client(settings: Settings) -> stripe.StripeClient:
    api_key = resolve_secret(settings.stripe_secret_key, settings.stripe_secret_key_parameter, "Stripe secret key")
    base_addresses: Any = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(
        api_key,
        base_addresses=base_addresses,
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.new_default_http_client(timeout=(settings.provider_connect_timeout_seconds, settings.stripe_timeout_seconds)),
    )


class WebhookSignatures:
    """Stripe's webhook signature as the domain's port (``payments.domain.ports.StripeSignatures``):
    any refusal, the SDK's or a body that is not UTF-8, is SignatureRefused."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def verify(self, payload: bytes, signature_header: str | None) -> None:
        try:
            verify_webhook(payload, signature_header, self._settings)
        except (stripe.SignatureVerificationError, UnicodeError) as refused:
            raise SignatureRefused(str(refused)) from None


def verify_webhook(payload: bytes, signature_header: str | None, settings: Settings) -> None:
    """Raises stripe.SignatureVerificationError unless the payload is signed with our endpoint secret
    within Stripe's 300 s tolerance."""
    if signature_header is not None and not signature_header.isascii():
        # Stripe's header is ASCII; the SDK's constant-time comparison refuses anything else with a TypeError.
        raise stripe.SignatureVerificationError("Signature header is not ASCII", signature_header)  # type: ignore[no-untyped-call]
    secret = resolve_secret(settings.stripe_webhook_secret, settings.stripe_webhook_secret_parameter, "Stripe webhook secret")
    stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature_header, secret, tolerance=300)


def _refund_of(refund: dict[str, Any]) -> StripeRefund:
    """A refund as the ticket service reads it: ours carry our reason and, for a staff refund of some
    seats, its key, for a staff request's whole refund, the request's tag, in their metadata."""
    metadata = refund.get("metadata") or {}
    return StripeRefund(
        str(refund["id"]),
        int(refund["amount"]),
        str(refund["currency"]),
        str(refund["status"]),
        metadata.get("reason"),
        metadata.get("seat_refund"),
        metadata.get("refund_request"),
    )
