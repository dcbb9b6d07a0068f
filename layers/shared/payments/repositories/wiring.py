"""Repositories built once per container from the settings and the shared DynamoDB client."""

from __future__ import annotations

import functools

from payments.dynamodb import get_client
from payments.repositories.provider_objects import ProviderObjectRepository
from payments.repositories.tickets import TicketRepository
from payments.repositories.webhook_events import WebhookEventRepository
from payments.settings import get_settings


@functools.cache
def get_ticket_repository() -> TicketRepository:
    settings = get_settings()
    return TicketRepository(get_client(), settings.tickets_table, settings.payments_table)


@functools.cache
def get_webhook_event_repository() -> WebhookEventRepository:
    return WebhookEventRepository(get_client(), get_settings().payments_table)


@functools.cache
def get_stripe_object_repository() -> ProviderObjectRepository:
    return ProviderObjectRepository(get_client(), get_settings().payments_table, "stripe")


@functools.cache
def get_paypal_object_repository() -> ProviderObjectRepository:
    return ProviderObjectRepository(get_client(), get_settings().payments_table, "paypal")
