"""The one place where the per-container objects are built: clients, repositories, services.

Each is built on first use and kept for the container's life (a warm invocation reuses it); each
service receives what it uses through its constructor. Modules are imported inside the factories,
so that a function only loads what it calls (a PayPal function never imports ``stripe``).
``reset()`` forgets them all: what a fresh container starts with (the tests call it)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from payments import dynamodb, idempotency, secrets, settings

if TYPE_CHECKING:
    from payments.domain.attendees import AttendeeService
    from payments.domain.door import DoorService
    from payments.domain.events import EventService
    from payments.domain.my_tickets import MyTicketsService
    from payments.domain.pacing import SessionPacer
    from payments.domain.paypal_orders import PayPalOrdersService
    from payments.domain.paypal_refunds import PayPalRefundService
    from payments.domain.paypal_webhooks import PayPalWebhooks
    from payments.domain.queue import QueueService
    from payments.domain.reconciliation import Reconciler
    from payments.domain.stripe_payments import StripePaymentsService
    from payments.domain.stripe_webhooks import StripeWebhooks
    from payments.domain.tickets import TicketService
    from payments.domain.webhooks import WebhookLedger
    from payments.providers.paypal_client import PayPalClient
    from payments.providers.stripe_gateway import StripeGateway
    from payments.repositories.provider_objects import ProviderObjectRepository
    from payments.repositories.tickets import TicketRepository
    from payments.status_urls import StatusUrls

_built: list[Any] = [settings.get_settings, dynamodb.botocore_session, dynamodb.get_client, idempotency.persistence_layer]


def _component[T](factory: Callable[[], T]) -> Callable[[], T]:
    cached = functools.cache(factory)
    _built.append(cached)
    return cached


def reset() -> None:
    for cached in _built:
        cached.cache_clear()
    secrets.forget()


def _with_provider(module: str) -> None:
    """Loads a provider's module, and its SDK, with the service that is handed its gateway: the
    domain no longer imports the providers, and the SDK's import stays part of building the service
    rather than of its first call to the provider (free tickets build the service, never the client)."""
    importlib.import_module(module)


# providers -----------------------------------------------------------------------------------
@_component
def stripe_gateway() -> StripeGateway:
    from payments.providers.stripe_gateway import StripeGateway, stripe_client

    config = settings.get_settings()
    return StripeGateway(stripe_client(config), config.stripe_retry_budget_seconds, config.stripe_automatic_payment_methods)


@_component
def paypal_client() -> PayPalClient:
    from payments.providers.paypal_client import PayPalClient

    config = settings.get_settings()
    return PayPalClient(
        config.paypal_api_base,
        lambda: PayPalClient.credentials(config),
        timeout_seconds=config.paypal_timeout_seconds,
        connect_timeout_seconds=config.provider_connect_timeout_seconds,
        retry_budget_seconds=config.paypal_retry_budget_seconds,
    )


# repositories --------------------------------------------------------------------------------
@_component
def ticket_repository() -> TicketRepository:
    from payments.repositories.tickets import TicketRepository

    config = settings.get_settings()
    return TicketRepository(dynamodb.get_client(), config.tickets_table, config.payments_table)


@_component
def stripe_objects() -> ProviderObjectRepository:
    from payments.repositories.provider_objects import ProviderObjectRepository

    return ProviderObjectRepository(dynamodb.get_client(), settings.get_settings().payments_table, "stripe")


@_component
def paypal_objects() -> ProviderObjectRepository:
    from payments.repositories.provider_objects import ProviderObjectRepository

    return ProviderObjectRepository(dynamodb.get_client(), settings.get_settings().payments_table, "paypal")


@_component
def webhook_ledger() -> WebhookLedger:
    from payments.domain.webhooks import WebhookLedger
    from payments.repositories.webhook_events import WebhookEventRepository

    return WebhookLedger(WebhookEventRepository(dynamodb.get_client(), settings.get_settings().payments_table))


# services ------------------------------------------------------------------------------------
@_component
def ticket_service() -> TicketService:
    from payments.domain.tickets import TicketService

    _with_provider("payments.providers.stripe_gateway")
    return TicketService(ticket_repository(), stripe_gateway, settings.get_settings(), queue=queue_service, pacer=session_pacer())


@_component
def session_pacer() -> SessionPacer:
    """Checkout Sessions at Stripe's rate, one slot item each in the tickets table (docs/on-sales.md)."""
    from payments.domain.pacing import SessionPacer
    from payments.repositories.stripe_slots import StripeSlotRepository

    config = settings.get_settings()
    return SessionPacer(StripeSlotRepository(dynamodb.get_client(), config.tickets_table), config.stripe_session_rate_per_second)


@_component
def queue_service() -> QueueService:
    """The on-sale queues: joins and polls, the admission a queued purchase uses, and the admitter."""
    from payments.domain.admission import AdmissionPolicy
    from payments.domain.queue import QueueService
    from payments.repositories.queue import QueueRepository

    config = settings.get_settings()
    tickets = ticket_repository()
    policy = AdmissionPolicy(
        rate_per_second=config.stripe_session_rate_per_second,
        window_ms=config.queue_admission_window_seconds * 1000,
        completion_percent=config.queue_completion_percent,
        poll_budget_per_second=config.queue_poll_budget_per_second,
    )
    return QueueService(
        tickets.get_event,
        lambda event_id: sum(tickets.availability(event_id).values()),
        QueueRepository(dynamodb.get_client(), config.tickets_table),
        _queue_pass_key,
        policy,
        config.queue_pass_seconds,
    )


@_component
def queue_status_urls() -> StatusUrls:
    """The queue_status_url of join and place answers: signed for CloudFront when a distribution is
    configured, else the API's own status route (docs/on-sales.md#the-queues-status)."""
    from payments.status_urls import StatusUrls

    config = settings.get_settings()
    return StatusUrls(_queue_status_cdn_url, config.queue_status_key_pair_id, _queue_status_signing_key)


def _queue_status_cdn_url() -> str | None:
    """The distribution's address: the environment's, or the SSM parameter the stack writes; None
    when neither is configured (no distribution: the status URL is the API's own)."""
    config = settings.get_settings()
    if config.queue_status_cdn_url or not config.queue_status_cdn_url_parameter:
        return config.queue_status_cdn_url
    return secrets.resolve_secret(None, config.queue_status_cdn_url_parameter, "Queue status CDN URL")


def _queue_status_signing_key() -> str:
    """The RSA private key (PEM) that signs the status URLs: the environment's locally, SSM's in AWS."""
    config = settings.get_settings()
    return secrets.resolve_secret(config.queue_status_signing_key, config.queue_status_signing_key_parameter, "Queue status signing key")


def _queue_pass_key() -> bytes:
    """The queue pass's HMAC key: the environment's locally, SSM's in AWS (cached, as the other secrets)."""
    config = settings.get_settings()
    return secrets.resolve_secret(config.queue_pass_key, config.queue_pass_key_parameter, "Queue pass key").encode()


@_component
def my_tickets_service() -> MyTicketsService:
    from payments.domain.my_tickets import MyTicketsService

    return MyTicketsService(ticket_repository())


@_component
def door_service() -> DoorService:
    from payments.domain.door import DoorService

    return DoorService(ticket_repository())


@_component
def event_service() -> EventService:
    from payments.domain.events import EventService

    return EventService(ticket_repository())


@_component
def attendee_service() -> AttendeeService:
    from payments.domain.attendees import AttendeeService
    from payments.repositories.attendees import AttendeeRepository

    return AttendeeService(ticket_repository(), AttendeeRepository(dynamodb.get_client(), settings.get_settings().tickets_table))


@_component
def stripe_payments_service() -> StripePaymentsService:
    from payments.domain.stripe_payments import StripePaymentsService

    _with_provider("payments.providers.stripe_gateway")
    return StripePaymentsService(stripe_gateway, stripe_objects(), settings.get_settings())


@_component
def paypal_orders_service() -> PayPalOrdersService:
    from payments.domain.paypal_orders import PayPalOrdersService

    _with_provider("payments.providers.paypal_client")
    return PayPalOrdersService(paypal_client, paypal_objects(), settings.get_settings())


@_component
def paypal_refund_service() -> PayPalRefundService:
    from payments.domain.paypal_refunds import PayPalRefundService
    from payments.repositories.paypal_refunds import PayPalRefundRepository

    refunds = PayPalRefundRepository(dynamodb.get_client(), settings.get_settings().payments_table)
    return PayPalRefundService(paypal_client, paypal_objects(), refunds)


@_component
def stripe_webhooks() -> StripeWebhooks:
    from payments.domain.stripe_webhooks import StripeWebhooks
    from payments.providers.stripe_gateway import WebhookSignatures

    return StripeWebhooks(ticket_service(), stripe_objects(), webhook_ledger(), WebhookSignatures(settings.get_settings()))


@_component
def paypal_webhooks() -> PayPalWebhooks:
    from payments.domain.paypal_webhooks import PayPalWebhooks
    from payments.providers.paypal_signature import PayPalSignatureVerifier
    from payments.repositories.webhook_events import WebhookEventRepository

    config = settings.get_settings()
    roots = config.paypal_certificate_roots.encode() if config.paypal_certificate_roots else None
    verifier = PayPalSignatureVerifier(config.paypal_api_base, roots, tolerance_seconds=config.paypal_webhook_tolerance_seconds)
    transmissions = WebhookEventRepository(dynamodb.get_client(), config.payments_table)
    return PayPalWebhooks(verifier, paypal_objects(), paypal_refund_service(), webhook_ledger(), config, transmissions)


@_component
def reconciler() -> Reconciler:
    from payments.domain.reconciliation import Reconciler
    from payments.repositories.checkpoints import CheckpointRepository

    config = settings.get_settings()
    checkpoints = CheckpointRepository(dynamodb.get_client(), config.payments_table)
    # PayPal's events are listed only where PayPal is configured: a Stripe-only deployment has none.
    paypal_configured = bool(config.paypal_client_id or config.paypal_client_id_parameter)
    return Reconciler(
        ticket_service(),
        ticket_repository(),
        lambda types, since, after: stripe_gateway().events(types, since, after),
        stripe_webhooks,
        paypal_client,
        (lambda event_type, start, end: paypal_client().list_events(event_type, start, end)) if paypal_configured else None,
        paypal_webhooks,
        paypal_objects(),
        paypal_refund_service(),
        checkpoints,
    )
