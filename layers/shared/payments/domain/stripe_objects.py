"""Reading Stripe's objects as they arrive (from a call, a webhook or a listing): pure functions over
Stripe's JSON, shared by the provider's gateway and the domain's services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payments.domain.lifecycle import CheckoutSession


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
        # Ours are ASCII digits of an id's length; "²" is a digit to isdigit() and not to int().
        ticket_id=int(ticket_ref)
        if ticket_ref and str(ticket_ref).isascii() and str(ticket_ref).isdigit() and len(str(ticket_ref)) <= 18
        else None,
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
    )
